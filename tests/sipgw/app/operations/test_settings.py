"""The operations settings sections (sipgw/app/operations/settings.py): overload's
thresholds, read, checked together and described."""

from __future__ import annotations

import pytest

from sipgw.app.operations.settings import OverloadConfig
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_thresholds_are_read_and_described() -> None:
    config = load(
        OverloadConfig,
        Sources({"SIPGW_OVERLOAD_LATENESS_MS": "20"}, {"--overload-cpu-percent": "0"}),
    )
    assert (config.lateness_ms, config.cpu_percent, config.enabled) == (20.0, 0.0, True)
    assert "p99 tick lateness > 20 ms" in config.describe() and "CPU >" not in config.describe()
    off = OverloadConfig(lateness_ms=0, cpu_percent=0)
    assert not off.enabled and off.describe() == "overload protection off"


def test_a_recover_threshold_above_its_enter_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="^--overload-recover-cpu-percent 95 must not exceed"):
        load(OverloadConfig, Sources({}, {"--overload-recover-cpu-percent": "95"}))
    with pytest.raises(ConfigError, match="SIPGW_OVERLOAD_RECOVER_LATENESS_MS=11 must not"):
        load(OverloadConfig, Sources({"SIPGW_OVERLOAD_RECOVER_LATENESS_MS": "11"}))
    # with the signal off, its recover threshold does not matter
    load(
        OverloadConfig,
        Sources({"SIPGW_OVERLOAD_LATENESS_MS": "0", "SIPGW_OVERLOAD_RECOVER_LATENESS_MS": "11"}),
    )
