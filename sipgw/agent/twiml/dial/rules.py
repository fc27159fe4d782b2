"""A ``<Dial>``'s rules, sans-IO: its outcome in Twilio's words, the caller id it may carry,
what the caller hears while it rings.

- :func:`dial_status`: how a bridged second leg ended, as ``DialCallStatus``: ``completed``
  (it was answered, whoever hung up), ``busy`` (486 Busy Here, 600 Busy Everywhere, 603
  Decline), ``no-answer`` (no answer within ``timeout``: our CANCEL; 408, 480), ``failed``
  (anything else: unreachable, refused, not allowed), ``canceled`` (the caller hung up
  while it rang). :func:`refer_status` reads a REFER's final NOTIFY the same way.
- :class:`DialResult`: the form the ``action`` gets, as Twilio's ``<Dial>`` page lists it
  (``DialCallStatus``, ``DialCallSid``, ``DialCallDuration`` when answered, ``DialBridged``,
  the recording's fields when recorded), and for a ``<Sip>`` target what its page adds
  (``DialSipCallId``, ``DialSipResponseCode``, ``DialSipHeader_<name>``: :func:`sip_fields`).
- :func:`usable_caller_id`: ``callerId`` is honoured when it is the caller's own number or
  the number they called (what Twilio accepts without a verified number: the call's own
  numbers); any other is refused (the gateway's own caller id goes out), so an app cannot
  make the gateway present numbers it does not own.
- :func:`ringback_frame`: the ring tone the caller hears while a target rings, as Twilio
  plays it: by default 440 + 480 Hz, 2 s on, 4 s off (as North American networks play
  it), or the country's ``ringTone`` names (:data:`RING_TONES`).
- :func:`leg_login`: the digest login of a ``<Sip username password>`` leg.
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
from sipgw.twilio.document import DialTarget

__all__ = [
    "DialCallStatus",
    "DialResult",
    "RING_TONES",
    "dial_status",
    "leg_login",
    "refer_status",
    "ringback_frame",
    "sip_fields",
    "usable_caller_id",
]

DialCallStatus = Literal["completed", "answered", "busy", "no-answer", "failed", "canceled"]
"""Twilio's ``DialCallStatus`` values (``answered``: a conference joined)."""
_BRIDGED: Final = ("completed", "answered")
"""The statuses of a caller connected to the party dialled (``DialBridged=true``)."""

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
    sip: tuple[tuple[str, str], ...] = ()
    """A ``<Sip>`` leg's ``DialSipCallId``, ``DialSipResponseCode`` and ``DialSipHeader_<name>``
    fields (:func:`sip_fields`)."""

    @property
    def bridged(self) -> bool:
        """The caller was connected to the party dialled (Twilio's ``DialBridged``)."""
        return self.status in _BRIDGED

    def params(self) -> tuple[tuple[str, str], ...]:
        """The fields posted to ``action`` beside the call's."""
        fields: list[tuple[str, str]] = [("DialCallStatus", self.status)]
        if self.sid:
            fields.append(("DialCallSid", self.sid))
        if self.duration is not None:
            fields.append(("DialCallDuration", str(self.duration)))
        fields.append(("DialBridged", "true" if self.bridged else "false"))
        return (*fields, *self.sip, *self.recording)


def sip_fields(
    target: DialTarget,
    call_id: str,
    status: int | None,
    answered: bool,
    custom: tuple[tuple[str, str], ...] = (),
) -> tuple[tuple[str, str], ...]:
    """What the ``action`` gets beside Twilio's ``<Dial>`` fields when ``target`` is a
    ``<Sip>`` (Twilio's ``<Sip>`` page: "the SIP CallID header, the response code of the
    invite attempt, any X-headers passed back on the final SIP response"):
    ``DialSipCallId`` (the leg's Call-ID, ``call_id``; none when no INVITE went out),
    ``DialSipResponseCode`` (``status``, the INVITE's final response; 200 when
    ``answered``; none when no response came) and one ``DialSipHeader_<name>`` per ``X-``
    header of that final response (``custom``: name as sent, value). Nothing for another
    target."""
    if target.kind != "sip":
        return ()
    fields: list[tuple[str, str]] = []
    if call_id:
        fields.append(("DialSipCallId", call_id))
    code = 200 if answered else status
    if code is not None:
        fields.append(("DialSipResponseCode", str(code)))
    fields.extend((f"DialSipHeader_{name}", value) for name, value in custom)
    return tuple(fields)


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

_NORTH_AMERICA: Final = ((440, 480), (2.0, 4.0))
_EUROPE: Final = ((425,), (1.0, 4.0))
_DOUBLE_RING: Final = (0.4, 0.2, 0.4, 2.0)
RING_TONES: Final[dict[str, tuple[tuple[int, ...], tuple[float, ...]]]] = {
    "at": ((420,), (1.0, 5.0)),
    "au": ((400, 450), _DOUBLE_RING),
    "be": ((425,), (1.0, 3.0)),
    "bg": _EUROPE,
    "br": _EUROPE,
    "ch": _EUROPE,
    "cl": ((400,), (1.0, 3.0)),
    "cn": ((450,), (1.0, 4.0)),
    "cz": _EUROPE,
    "de": _EUROPE,
    "dk": _EUROPE,
    "ee": _EUROPE,
    "es": ((425,), (1.5, 3.0)),
    "fi": _EUROPE,
    "fr": ((440,), (1.5, 3.5)),
    "gr": _EUROPE,
    "hu": ((425,), (1.25, 3.75)),
    "il": ((400,), (1.0, 3.0)),
    "in": ((400,), _DOUBLE_RING),
    "it": _EUROPE,
    "jp": ((400,), (1.0, 2.0)),
    "lt": _EUROPE,
    "mx": _EUROPE,
    "my": ((425,), _DOUBLE_RING),
    "nl": _EUROPE,
    "no": _EUROPE,
    "nz": ((400, 450), _DOUBLE_RING),
    "ph": ((425, 480), (1.0, 4.0)),
    "pl": _EUROPE,
    "pt": ((425,), (1.0, 5.0)),
    "ru": ((425,), (0.8, 3.2)),
    "se": ((425,), (1.0, 5.0)),
    "sg": ((425,), _DOUBLE_RING),
    "th": ((420,), (1.0, 5.0)),
    "tw": ((440, 480), (1.0, 2.0)),
    "uk": ((400, 450), _DOUBLE_RING),
    "us": _NORTH_AMERICA,
    "us-old": _NORTH_AMERICA,
    "ve": _EUROPE,
    "za": ((400,), _DOUBLE_RING),
}
"""``<Dial ringTone>``'s country codes (Twilio's list): the ring tone's frequencies (Hz,
summed) and cadence (seconds on, off, on, off...), after ITU-T E.180 Supplement 2 (as
Asterisk's ``indications.conf`` carries it). Where a country modulates its tone (India
400 x 25 Hz, Japan 400 x 16 Hz, Singapore 425 x 24 Hz, South Africa 400 x 33 Hz) the
carrier is played unmodulated."""


@lru_cache(maxsize=len(RING_TONES))
def _ringback(country: str) -> bytes:
    """One cycle of ``country``'s ring tone, μ-law (each tone under the level by the
    number of tones, summed)."""
    freqs, cadence = RING_TONES[country]
    amplitude = 32767 * 10 ** (_RING_LEVEL_DBFS / 20) / len(freqs)
    pcm = bytearray()
    for i, seconds in enumerate(cadence):
        count = round(seconds * 8000)
        if i % 2:
            pcm += b"\x00\x00" * count
            continue
        samples = [
            round(amplitude * sum(math.sin(2 * math.pi * f * n / 8000) for f in freqs))
            for n in range(count)
        ]
        pcm += struct.pack(f"<{count}h", *samples)
    return linear_to_ulaw(bytes(pcm))


def ringback_frame(n: int, country: str = "us") -> bytes:
    """The ``n``-th 20 ms of ``country``'s ring tone (160 octets of μ-law), looping
    (:data:`RING_TONES`; an unknown code rings as ``us``)."""
    tone = _ringback(country if country in RING_TONES else "us")
    start = (n * 160) % len(tone)
    return tone[start : start + 160]


def leg_login(target: DialTarget) -> tuple[str, str] | None:
    """The digest login a ``<Sip username password>`` gives its leg (None: none)."""
    return (target.username, target.password) if target.username else None
