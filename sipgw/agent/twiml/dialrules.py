"""A ``<Dial>``'s rules, sans-IO: its outcome in Twilio's words, the caller id it may carry,
what the caller hears while it rings.

- :func:`dial_status`: how a bridged second leg ended, as ``DialCallStatus``: ``completed``
  (it was answered, whoever hung up), ``busy`` (486 Busy Here, 600 Busy Everywhere, 603
  Decline), ``no-answer`` (no answer within ``timeout``: our CANCEL; 408, 480), ``failed``
  (anything else: unreachable, refused, not allowed), ``canceled`` (the caller hung up
  while it rang). :func:`refer_status` reads a REFER's final NOTIFY the same way.
- :class:`DialResult`: the form the ``action`` gets (``DialCallStatus``, ``DialCallSid``,
  ``DialCallDuration`` when answered, the recording's fields when recorded).
- :func:`usable_caller_id`: ``callerId`` is honoured when it is the caller's own number or
  the number they called (what Twilio accepts without a verified number: the call's own
  numbers); any other is refused (the gateway's own caller id goes out), so an app cannot
  make the gateway present numbers it does not own.
- :func:`ringback_frame`: the ring tone (440 + 480 Hz, 2 s on, 4 s off, as North American
  networks play it) the caller hears while a target rings, as Twilio plays it.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from sipgw.agent.base import CallDetails
from sipgw.media.g711 import linear_to_ulaw

__all__ = [
    "DialCallStatus",
    "DialResult",
    "dial_status",
    "refer_status",
    "ringback_frame",
    "usable_caller_id",
]

DialCallStatus = Literal["completed", "busy", "no-answer", "failed", "canceled"]
"""Twilio's ``DialCallStatus`` values."""

_UNANSWERED: Final[dict[str, DialCallStatus]] = {
    "busy": "busy",
    "declined": "busy",
    "no-answer": "no-answer",
}
"""A placed call's outcome kind (``sipgw.agent.transfer.warm.LegEnded.kind``) when unanswered."""


def dial_status(kind: str | None, answered: bool, caller_left: bool = False) -> DialCallStatus:
    """``DialCallStatus`` of a second leg that ended as ``kind`` (``busy``, ``declined``,
    ``no-answer``, ``unreachable``, ``failed``, ``answered``; None: it never went out);
    ``answered``: it was; ``caller_left``: the caller hung up first."""
    if answered:
        return "completed"
    if caller_left:
        return "canceled"
    status = _UNANSWERED.get(kind or "")
    return status if status is not None else "failed"


def refer_status(status: int) -> DialCallStatus:
    """``DialCallStatus`` of a REFER whose target answered ``status`` (its final NOTIFY)."""
    if status in (486, 600, 603):
        return "busy"
    if status in (408, 480, 487):
        return "no-answer"
    return "failed"


@dataclass(frozen=True, slots=True)
class DialResult:
    """How a ``<Dial>`` ended, as its ``action`` gets it."""

    status: DialCallStatus
    sid: str = ""
    """The second leg's ``DialCallSid`` ("" when none was placed)."""
    duration: int | None = None
    """Whole seconds the two talked (None: not answered)."""
    recording: tuple[tuple[str, str], ...] = ()
    """``RecordingUrl``, ``RecordingSid``, ``RecordingDuration`` when recorded."""

    def params(self) -> tuple[tuple[str, str], ...]:
        """The fields posted to ``action`` beside the call's."""
        fields: list[tuple[str, str]] = [("DialCallStatus", self.status)]
        if self.sid:
            fields.append(("DialCallSid", self.sid))
        if self.duration is not None:
            fields.append(("DialCallDuration", str(self.duration)))
        return (*fields, *self.recording)


_DIGITS: Final = re.compile(r"\D")


def usable_caller_id(asked: str, details: CallDetails) -> str:
    """The call's own number that ``asked`` (a ``callerId``) names, compared by digits:
    the caller's number or the called number, as the call carries it; "" when it names
    neither (or nothing was asked)."""
    digits = _DIGITS.sub("", asked)
    if not digits:
        return ""
    for number in (details.caller_number, details.called_number):
        if number and _DIGITS.sub("", number) == digits:
            return number
    return ""


RINGBACK_ON: Final = 2.0
RINGBACK_OFF: Final = 4.0
_RING_LEVEL_DBFS: Final = -20.0


@lru_cache(maxsize=1)
def _ringback() -> bytes:
    """One cycle of ring tone, μ-law (each tone 6 dB under the level, summed)."""
    amplitude = 32767 * 10 ** (_RING_LEVEL_DBFS / 20) / 2
    on = round(RINGBACK_ON * 8000)
    samples = [
        round(amplitude * (math.sin(2 * math.pi * 440 * n / 8000)
                           + math.sin(2 * math.pi * 480 * n / 8000)))
        for n in range(on)
    ]  # fmt: skip
    pcm = struct.pack(f"<{on}h", *samples) + b"\x00\x00" * round(RINGBACK_OFF * 8000)
    return linear_to_ulaw(pcm)


def ringback_frame(n: int) -> bytes:
    """The ``n``-th 20 ms of ring tone (160 octets of μ-law), looping."""
    tone = _ringback()
    start = (n * 160) % len(tone)
    return tone[start : start + 160]
