"""Calling hours in a contact's time zone: windows, days, midnight, daylight saving."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sipgw.app.campaigns.hours import is_open, next_open
from sipgw.app.campaigns.model import CallingHours

NINE_TO_FIVE = CallingHours(9 * 60, 17 * 60, frozenset(range(5)))


def at(zone: str, *when: int) -> float:
    return datetime(*when, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[arg-type,misc]


def test_the_window_is_read_on_the_contacts_wall_clock() -> None:
    now = at("UTC", 2026, 1, 14, 15, 0)  # a Wednesday
    assert is_open(NINE_TO_FIVE, "America/New_York", now)  # 10:00 there
    assert not is_open(NINE_TO_FIVE, "Asia/Tokyo", now)  # 00:00 Thursday there
    assert next_open(NINE_TO_FIVE, "Asia/Tokyo", now) == at("Asia/Tokyo", 2026, 1, 15, 9, 0)
    assert next_open(NINE_TO_FIVE, "America/New_York", now) == now
    # the end is excluded
    assert not is_open(NINE_TO_FIVE, "UTC", at("UTC", 2026, 1, 14, 17, 0))


def test_days_not_allowed_are_skipped() -> None:
    friday_evening = at("Europe/Paris", 2026, 1, 16, 18, 0)
    assert next_open(NINE_TO_FIVE, "Europe/Paris", friday_evening) == at(
        "Europe/Paris", 2026, 1, 19, 9, 0
    )


def test_a_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    night = CallingHours(22 * 60, 2 * 60, frozenset({0}))  # Monday 22:00 to Tuesday 02:00
    assert is_open(night, "UTC", at("UTC", 2026, 1, 20, 1, 0))  # Tuesday 01:00
    assert not is_open(night, "UTC", at("UTC", 2026, 1, 21, 1, 0))  # Wednesday 01:00
    assert next_open(night, "UTC", at("UTC", 2026, 1, 20, 3, 0)) == at("UTC", 2026, 1, 26, 22, 0)


def test_daylight_saving_moves_the_window_with_the_wall_clock() -> None:
    every_day = CallingHours(9 * 60, 17 * 60)
    # New York springs forward on 2026-03-08: 09:00 is 14:00 UTC before, 13:00 UTC after
    assert next_open(every_day, "America/New_York", at("UTC", 2026, 3, 7, 0, 0)) == at(
        "UTC", 2026, 3, 7, 14, 0
    )
    assert next_open(every_day, "America/New_York", at("UTC", 2026, 3, 9, 0, 0)) == at(
        "UTC", 2026, 3, 9, 13, 0
    )
    # a start the change skips (02:30 on 2026-03-08) opens as long after 02:00 as it was:
    early = CallingHours(2 * 60 + 30, 5 * 60)
    opens = next_open(early, "America/New_York", at("America/New_York", 2026, 3, 8, 0, 0))
    assert opens == at("UTC", 2026, 3, 8, 7, 30)  # 03:30 EDT


def test_no_allowed_day_at_all_waits_a_week() -> None:
    never = CallingHours(9 * 60, 17 * 60, frozenset())
    now = at("UTC", 2026, 1, 14, 12, 0)
    assert not is_open(never, "UTC", now)
    assert next_open(never, "UTC", now) == now + 7 * 86400
