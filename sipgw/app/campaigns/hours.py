"""Calling hours in a contact's own time zone (``zoneinfo``; no I/O, time passed in).

A window ``start``-``end`` (minutes after local midnight) opens on the days it allows;
one whose end is before its start runs past midnight into the next day. Local times are
read with the zone's rules for that date, so a daylight-saving change moves the window
with the clock on the wall (a wall time a spring change skips: see :func:`_local`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sipgw.app.campaigns.model import CallingHours

__all__ = ["is_open", "next_open"]


def _windows(hours: CallingHours, zone: ZoneInfo, now: float) -> list[tuple[float, float]]:
    """The windows (epoch seconds) that start from the day before ``now`` to a week after."""
    today = datetime.fromtimestamp(now, zone).date()
    spans = []
    for offset in range(-1, 8):
        day = today + timedelta(days=offset)
        if day.weekday() not in hours.days:
            continue
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        start = _local(midnight, hours.start, zone)
        length = (hours.end - hours.start) % (24 * 60) or 24 * 60
        end = _local(midnight, hours.start + length, zone)
        spans.append((start, end))
    return spans


def _local(midnight: datetime, minutes: int, zone: ZoneInfo) -> float:
    """Epoch seconds of ``minutes`` after ``midnight`` on the wall clock of ``zone``.

    A wall time a spring change skips is read with the offset before the change
    (PEP 495, ``fold=0``), which is the instant as long after the change as the wall time
    was after its start: 02:30 skipped from 02:00 to 03:00 is 03:30."""
    naive = midnight.replace(tzinfo=None) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone).timestamp()


def is_open(hours: CallingHours, zone: str, now: float) -> bool:
    """Whether a contact in ``zone`` may be called at ``now`` (epoch seconds)."""
    return any(start <= now < end for start, end in _windows(hours, ZoneInfo(zone), now))


def next_open(hours: CallingHours, zone: str, now: float) -> float:
    """``now`` when open, else when the next window opens (at most a week on)."""
    spans = _windows(hours, ZoneInfo(zone), now)
    if any(start <= now < end for start, end in spans):
        return now
    later = [start for start, _ in spans if start > now]
    return min(later) if later else now + 7 * 86400.0
