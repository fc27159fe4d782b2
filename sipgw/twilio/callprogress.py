"""Twilio's call progress events (``StatusCallbackEvent``): their names, and a request's
list of them read as Twilio reads it. Used by the REST subset's status callbacks and by a
line's ``status_callback_events`` (docs/twilio-api.md, docs/lines.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["EVENTS", "parse_events"]

EVENTS: Final = ("initiated", "ringing", "answered", "completed")
"""Twilio's call progress events (``StatusCallbackEvent``), in the order they happen."""


def parse_events(values: Iterable[str]) -> frozenset[str]:
    """``StatusCallbackEvent`` values (repeated, or several in one separated by blanks, as
    Twilio takes them); none = ``completed`` only.

    Raises:
        ValueError: naming a value that is not one of :data:`EVENTS`.
    """
    names = [name for value in values for name in value.replace(",", " ").split()]
    for name in names:
        if name not in EVENTS:
            raise ValueError(f"StatusCallbackEvent {name!r}: must be among {', '.join(EVENTS)}")
    return frozenset(names) or frozenset({"completed"})
