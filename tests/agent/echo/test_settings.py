"""The echo agent's settings: its section read from the flag, the environment or the default."""

from __future__ import annotations

import pytest

from sipgw.agent.echo.settings import EchoSection, EchoSettings
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_delay_comes_from_the_environment_else_the_default() -> None:
    assert load(EchoSection, Sources({"SIPGW_ECHO_DELAY_MS": "40"})).delay_ms == 40
    assert load(EchoSection, Sources({})).delay_ms == EchoSettings().delay_ms == 500


def test_a_delay_that_is_no_duration_stops_the_start_naming_its_variable() -> None:
    with pytest.raises(ConfigError, match="SIPGW_ECHO_DELAY_MS"):
        load(EchoSection, Sources({"SIPGW_ECHO_DELAY_MS": "soon"}))
