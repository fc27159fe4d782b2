"""When a callback is due: the time the model passes to ``schedule_callback``, as epoch seconds.

The model is told the current date and time (the assistant adds it to the
system prompt) and passes either an ISO 8601 date and time, e.g.
``2025-06-03T15:00`` (no offset: the callback time zone, see
:class:`~sipgw.agent.tools.settings.BuiltinToolSettings`), or a relative time: ``now``,
``in 10 minutes``, ``in 2 hours``, ``in 1 day``.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MAX_AHEAD", "callback_zone", "describe_now", "parse_callback_time"]

MAX_AHEAD = 366 * 86400.0
"""How far ahead a callback may be scheduled, seconds."""
_PAST_SLACK = 300.0
"""A time this little in the past counts as "now" (the model's clock reading lags)."""

_NOW_WORDS = frozenset({"now", "asap", "immediately", "right away", "right now", "straight away"})
_UNITS = {"minute": 60.0, "min": 60.0, "hour": 3600.0, "h": 3600.0, "day": 86400.0}
_RELATIVE = re.compile(r"in\s+(an?|\d+(?:\.\d+)?)\s*(minute|min|hour|h|day)s?\.?")


def callback_zone(name: str) -> tzinfo | None:
    """The time zone ``name`` (IANA, e.g. ``Europe/Berlin``); "" = the server's local zone (None).

    Raises:
        ValueError: an unknown zone name.
    """
    if not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name.strip()!r} (use an IANA name)") from None


def describe_now(now: float, zone: tzinfo | None) -> str:
    """``"Tuesday 2025-06-03 14:05 (UTC+02:00)"``: the current time as the model is told it."""
    local = datetime.fromtimestamp(now, zone).astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%A %Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def parse_callback_time(text: str, now: float, zone: tzinfo | None) -> float:
    """The epoch seconds ``text`` means (see the module docstring).

    Raises:
        ValueError: not a time we understand, in the past, or too far ahead; the
            message says what is expected and what time it is now.
    """
    spoken = " ".join(text.strip().lower().split())
    if spoken in _NOW_WORDS:
        return now
    if match := _RELATIVE.fullmatch(spoken):
        count = 1.0 if match[1] in ("a", "an") else float(match[1])
        return _checked(now + count * _UNITS[match[2]], now, zone)
    try:
        when = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"cannot read the time {text.strip()!r}: give an ISO 8601 date and time such as "
            f"2025-06-03T15:00, or 'now', or 'in 10 minutes'; it is now {describe_now(now, zone)}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone) if zone is not None else when.astimezone()
    return _checked(when.timestamp(), now, zone)


def _checked(due: float, now: float, zone: tzinfo | None) -> float:
    if due < now - _PAST_SLACK:
        raise ValueError(f"that time has passed: it is now {describe_now(now, zone)}")
    if due > now + MAX_AHEAD:
        raise ValueError("that is more than a year ahead")
    return max(due, now)
