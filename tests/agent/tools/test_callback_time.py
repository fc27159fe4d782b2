"""When a callback is due (sipgw.agent.tools.callback_time): the time the model passes, read as
epoch seconds, on a fixed clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sipgw.agent.tools.callback_time import (
    MAX_AHEAD,
    callback_zone,
    describe_now,
    parse_callback_time,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 6, 3, 14, 5, tzinfo=BERLIN).timestamp()
"""Tuesday 2025-06-03 14:05 in Berlin (summer time, UTC+2)."""


@pytest.mark.parametrize(
    ("name", "zone"),
    [("", None), ("  ", None), ("Europe/Berlin", BERLIN), (" UTC ", ZoneInfo("UTC"))],
)
def test_the_callback_zone(name: str, zone: ZoneInfo | None) -> None:
    assert callback_zone(name) == zone


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "CEST+2", "../../etc/passwd"])
def test_an_unknown_zone_names_what_was_written(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown time zone .* \(use an IANA name\)"):
        callback_zone(name)


@pytest.mark.parametrize(
    ("when", "zone", "told"),
    [
        (NOW, BERLIN, "Tuesday 2025-06-03 14:05 (UTC+02:00)"),
        (NOW, ZoneInfo("UTC"), "Tuesday 2025-06-03 12:05 (UTC+00:00)"),
        (NOW, ZoneInfo("Asia/Kolkata"), "Tuesday 2025-06-03 17:35 (UTC+05:30)"),
        (datetime(2025, 1, 7, 9, 0, tzinfo=BERLIN).timestamp(), BERLIN,
         "Tuesday 2025-01-07 09:00 (UTC+01:00)"),  # winter time
    ],
)  # fmt: skip
def test_the_time_the_model_is_told(when: float, zone: ZoneInfo, told: str) -> None:
    assert describe_now(when, zone) == told


@pytest.mark.parametrize(
    ("text", "ahead"),
    [
        ("now", 0.0),
        (" ASAP ", 0.0),
        ("right   now", 0.0),
        ("in 10 minutes", 600.0),
        ("In 10 Minutes.", 600.0),
        ("in 5 min", 300.0),
        ("in an hour", 3600.0),
        ("in 1.5 hours", 5400.0),
        ("in 2 h", 7200.0),
        ("in a day", 86400.0),
    ],
)
def test_now_and_relative_times(text: str, ahead: float) -> None:
    assert parse_callback_time(text, NOW, BERLIN) == NOW + ahead


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("2025-06-03T15:00", datetime(2025, 6, 3, 13, 0, tzinfo=UTC)),  # Berlin summer time
        ("2025-12-03T15:00", datetime(2025, 12, 3, 14, 0, tzinfo=UTC)),  # Berlin winter time
        ("2025-06-03 16:30", datetime(2025, 6, 3, 14, 30, tzinfo=UTC)),
        ("2025-06-03T15:00+00:00", datetime(2025, 6, 3, 15, 0, tzinfo=UTC)),  # its own offset
        ("2025-06-03T15:00Z", datetime(2025, 6, 3, 15, 0, tzinfo=UTC)),
        ("2025-06-03t15:00z", datetime(2025, 6, 3, 15, 0, tzinfo=UTC)),
    ],
)
def test_iso_times_are_in_the_callback_zone_unless_they_say_otherwise(
    text: str, due: datetime
) -> None:
    assert parse_callback_time(text, NOW, BERLIN) == due.timestamp()


def test_without_a_zone_the_servers_local_time_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        due = parse_callback_time("2025-06-03T15:00", NOW, None)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert due == datetime(2025, 6, 3, 19, 0, tzinfo=UTC).timestamp()  # 15:00 EDT


def test_a_time_just_past_is_now_and_one_well_past_is_refused() -> None:
    """The model's clock reading lags a little: up to 5 minutes ago counts as now."""
    assert parse_callback_time("2025-06-03T14:01", NOW, BERLIN) == NOW
    with pytest.raises(ValueError) as refused:
        parse_callback_time("2025-06-03T13:59", NOW, BERLIN)
    assert str(refused.value) == (
        "that time has passed: it is now Tuesday 2025-06-03 14:05 (UTC+02:00)"
    )


def test_a_year_ahead_at_most() -> None:
    assert parse_callback_time(f"in {MAX_AHEAD / 86400:.0f} days", NOW, BERLIN) == NOW + MAX_AHEAD
    with pytest.raises(ValueError, match="more than a year ahead"):
        parse_callback_time("in 367 days", NOW, BERLIN)
    with pytest.raises(ValueError, match="more than a year ahead"):
        parse_callback_time("2026-06-05T15:00", NOW, BERLIN)


@pytest.mark.parametrize("text", ["tomorrow at 3 pm", "in a while", "15 Uhr", "in -5 minutes"])
def test_what_cannot_be_read_says_what_is_expected_and_what_time_it_is(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_callback_time(text, NOW, BERLIN)
    message = str(refused.value)
    assert message.startswith(f"cannot read the time {text!r}: give an ISO 8601 date and time")
    assert message.endswith("it is now Tuesday 2025-06-03 14:05 (UTC+02:00)")
