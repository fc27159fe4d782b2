"""TwiML attribute values that several elements share, read as Twilio reads them.

A flag is ``true`` or ``false`` (any case; absent or empty: the element's default), a
callback's method ``POST`` or ``GET`` (absent or empty: ``POST``), a forked audio's
``track`` one of :data:`TRACKS`, a recording's ``recordingStatusCallbackEvent`` words of
:data:`RECORDING_EVENTS`. Each reader raises ``ValueError`` naming the element and
the attribute (``<Gather bargeIn='yes'>: true or false``); the document's parser turns it
into a :class:`~sipgw.twilio.document.TwimlError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = [
    "RECORDING_EVENTS",
    "TRACKS",
    "post_or_get",
    "recording_events",
    "track_value",
    "true_or_false",
]

TRACKS: Final = ("inbound_track", "outbound_track", "both_tracks")
"""``track``'s values (``<Stream>``, ``<Siprec>``, ``<Transcription>``)."""
RECORDING_EVENTS: Final = frozenset({"in-progress", "completed", "absent"})
"""``recordingStatusCallbackEvent``'s words (Twilio's)."""


def true_or_false(attrs: Mapping[str, str], name: str, default: bool, tag: str) -> bool:
    """``<tag name=...>``: ``true`` or ``false``; ``default`` when absent or empty.

    Raises:
        ValueError: any other value.
    """
    value = attrs.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("true", "false"):
        raise ValueError(f"<{tag} {name}={value[:40]!r}>: true or false")
    return value == "true"


def post_or_get(attrs: Mapping[str, str], name: str, tag: str) -> str:
    """``<tag name=...>``: a callback's method, ``POST`` (also when absent or empty) or
    ``GET``, upper-cased.

    Raises:
        ValueError: any other method.
    """
    method = attrs.get(name, "").strip().upper() or "POST"
    if method not in ("POST", "GET"):
        raise ValueError(f"<{tag} {name}={method[:40]!r}>: POST or GET")
    return method


def track_value(attrs: Mapping[str, str], tag: str, default: str = "both_tracks") -> str:
    """``<tag track=...>``: one of :data:`TRACKS`; ``default`` when absent or empty.

    Raises:
        ValueError: any other value.
    """
    value = attrs.get("track", "").strip() or default
    if value not in TRACKS:
        raise ValueError(f"<{tag} track={value[:40]!r}>: one of {', '.join(TRACKS)}")
    return value


def recording_events(attrs: Mapping[str, str], tag: str) -> frozenset[str]:
    """``<tag recordingStatusCallbackEvent=...>``: words of :data:`RECORDING_EVENTS`,
    blank- or comma-separated; ``completed`` when absent or empty.

    Raises:
        ValueError: another word.
    """
    words = attrs.get("recordingStatusCallbackEvent", "").strip() or "completed"
    events = frozenset(w for w in re.split(r"[\s,]+", words) if w)
    if events - RECORDING_EVENTS:
        raise ValueError(
            f"<{tag} recordingStatusCallbackEvent={words[:40]!r}>: in-progress, completed, absent"
        )
    return events
