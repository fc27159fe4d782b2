"""SourceLog: at most one warning line per source address per interval (sipgw.aio.sourcelog)."""

from __future__ import annotations

import logging

import pytest

from sipgw.aio.sourcelog import SourceLog

LOGGER = "test.sourcelog"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def test_source_log_logs_each_address_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warnings = SourceLog(logging.getLogger(LOGGER), interval=60.0, max_sources=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for n in range(100):
            warnings.warn("198.51.100.1", n * 0.1, "bad %s", "peer")
        warnings.warn("198.51.100.1", 61.0, "bad %s", "peer")
        for host in ("198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"):
            warnings.warn(host, 61.5, "bad %s", host)
    logged = lines(caplog)
    assert logged[:2] == ["bad peer", "bad peer (+99 more since the last line)"]
    assert logged[2] == "bad 198.51.100.2"
    assert logged[3] == "1 more warnings from other addresses"  # over max_sources
    assert len(logged) == 4
    assert warnings.count == 105


def test_a_scan_from_many_addresses_is_summed_up_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Memory stays at ``max_sources`` entries; the rest are counted in one line."""
    warnings = SourceLog(
        logging.getLogger(LOGGER), interval=10.0, max_sources=3,
        overflow="%(count)d more (over %(max_sources)d addresses)",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for n in range(1000):
            warnings.warn(f"198.18.{n // 256}.{n % 256}", n * 0.001, "scan from %s", n)
        warnings.warn("203.0.113.9", 5.0, "late %s", "one")  # still within the interval
    logged = lines(caplog)
    assert logged[:3] == ["scan from 0", "scan from 1", "scan from 2"]
    assert logged[3:] == ["1 more (over 3 addresses)"]  # the other 997 wait for the next line
    assert len(warnings._sources) == 3
    assert warnings.count == 1001


def test_quiet_addresses_make_room_for_new_ones(caplog: pytest.LogCaptureFixture) -> None:
    warnings = SourceLog(logging.getLogger(LOGGER), interval=10.0, max_sources=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        warnings.warn("192.0.2.1", 0.0, "from %s", "a")
        warnings.warn("192.0.2.2", 0.0, "from %s", "b")
        warnings.warn("192.0.2.3", 5.0, "from %s", "c")  # both remembered lately: summed up
        warnings.warn("192.0.2.3", 10.0, "from %s", "c")  # a and b are old now: c is logged
    assert lines(caplog) == [
        "from a", "from b", "1 more warnings from other addresses", "from c",
    ]  # fmt: skip
    assert set(warnings._sources) == {"192.0.2.3"}
