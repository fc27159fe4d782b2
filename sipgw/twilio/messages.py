"""Twilio Media Streams on the wire: the JSON text frames of a bidirectional stream, sans-IO.

What Twilio sends (docs/cloud-apis.md, "Twilio Media Streams"; Twilio's "Media Streams -
WebSocket Messages" page): ``connected`` first, then ``start`` once (the stream's and call's
SIDs, ``tracks``, the ``customParameters`` of the TwiML's ``<Parameter>`` nouns and the
``mediaFormat``, always ``audio/x-mulaw`` at 8000 Hz, one channel), then ``media`` (base64 μ-law
with ``track``, ``chunk`` and ``timestamp``, milliseconds from the start of the stream),
``dtmf`` (bidirectional streams only), ``mark`` (the echo of one of ours) and ``stop`` last.
The docs' examples write ``sequenceNumber``, ``chunk`` and ``timestamp`` as strings; both
strings of digits and JSON integers are accepted.

What we send back: ``media`` (base64 μ-law, "of any size", "buffered and played in the order
received"), ``mark`` (echoed by Twilio once the audio before it has played, or at once when
nothing is buffered) and ``clear`` (drops the buffered audio and echoes the pending marks).

:func:`parse_message` returns one event per frame and raises only :class:`MalformedMessage`
(a ``ValueError``): bad JSON, a missing or mistyped field, bad base64, an oversized frame. An
``event`` the docs do not list comes back as :class:`OtherEvent`, so that a field Twilio adds
later is no error.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = [
    "DTMF_DIGITS",
    "MAX_MESSAGE_CHARS",
    "MalformedMessage",
    "MarkEchoed",
    "MediaFormat",
    "MediaReceived",
    "OtherEvent",
    "StreamConnected",
    "StreamEvent",
    "StreamStarted",
    "StreamStopped",
    "DtmfReceived",
    "clear_message",
    "mark_message",
    "media_message",
    "media_payload",
    "media_prefix",
    "parse_message",
]

MAX_MESSAGE_CHARS: Final = 65_536
"""Longest text frame accepted: 64 KiB, about 4.8 s of μ-law in one ``media`` message.

Twilio sends 20 ms chunks (a few hundred characters); ``start`` with its custom parameters
(each name and value under 500 characters, the ``<Parameter>`` limit) fits many times over.
"""
DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")
"""The keys a ``dtmf`` message may name (a telephone keypad, with the A-D column)."""
_MAX_NUMBER_DIGITS: Final = (
    15  # sequence numbers, chunks and timestamps: far beyond a call's length
)


class MalformedMessage(ValueError):
    """A text frame that is not a Media Streams message we can read (the reason says why)."""


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """``start.mediaFormat``: the format of the audio in ``media`` messages."""

    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """``connected``: the first message; names the protocol for the connection's lifetime."""

    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """``start``: the stream's metadata, sent once, right after ``connected``."""

    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    """The ``<Parameter>`` names and values of the ``<Stream>`` TwiML, as Twilio sent them."""
    media_format: MediaFormat = MediaFormat()
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class MediaReceived:
    """``media``: one chunk of the call's audio (the caller, on the ``inbound`` track)."""

    stream_sid: str
    track: str
    chunk: int
    """1 for the first chunk, +1 for each one after."""
    timestamp_ms: int
    """Presentation time of the chunk, milliseconds from the start of the stream."""
    payload: bytes
    """The audio, decoded from base64 (μ-law, 8 kHz)."""
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class MarkEchoed:
    """``mark``: Twilio's echo of a mark we sent (its audio played, or was cleared)."""

    stream_sid: str
    name: str
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """``dtmf``: the caller pressed a key (bidirectional streams only)."""

    stream_sid: str
    digit: str
    track: str = "inbound_track"
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """``stop``: the stream stopped or the call ended; the last message."""

    stream_sid: str
    call_sid: str = ""
    account_sid: str = ""
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A message whose ``event`` the docs do not list (kept, not an error)."""

    event: str


StreamEvent: TypeAlias = (
    StreamConnected
    | StreamStarted
    | MediaReceived
    | MarkEchoed
    | DtmfReceived
    | StreamStopped
    | OtherEvent
)
"""Whatever :func:`parse_message` returns."""


# -- parsing ----------------------------------------------------------------------------


def parse_message(text: str | bytes) -> StreamEvent:
    """The event one WebSocket text frame from Twilio carries.

    Raises:
        MalformedMessage: a binary frame, more than :data:`MAX_MESSAGE_CHARS`, not a JSON
            object, or a listed event whose fields are missing or of the wrong type.
    """
    if not isinstance(text, str):
        raise MalformedMessage("a binary frame: Media Streams messages are JSON text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise MalformedMessage(f"a {len(text)}-character message (at most {MAX_MESSAGE_CHARS})")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedMessage("not a JSON object")
    event = message.get("event")
    if not isinstance(event, str):
        raise MalformedMessage("no 'event' string")
    reader = _READERS.get(event)
    if reader is None:
        return OtherEvent(event)
    return reader(message)


def _connected(message: dict[str, object]) -> StreamConnected:
    return StreamConnected(
        protocol=_text(message, "protocol", default=""),
        version=_text(message, "version", default=""),
    )


def _start(message: dict[str, object]) -> StreamStarted:
    start = _object(message, "start")
    stream_sid = _text(start, "streamSid", default="") or _text(message, "streamSid", default="")
    if not stream_sid:
        raise MalformedMessage("'start' without a streamSid")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise MalformedMessage("'start.tracks' is not a list of strings")
    parameters = start.get("customParameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise MalformedMessage("'start.customParameters' is not an object of strings")
    media_format = MediaFormat()
    if "mediaFormat" in start:
        fmt = _object(start, "mediaFormat")
        media_format = MediaFormat(
            encoding=_text(fmt, "encoding", default=media_format.encoding),
            sample_rate=_number(fmt, "sampleRate", default=media_format.sample_rate),
            channels=_number(fmt, "channels", default=media_format.channels),
        )
    return StreamStarted(
        stream_sid=stream_sid,
        call_sid=_text(start, "callSid", default=""),
        account_sid=_text(start, "accountSid", default=""),
        tracks=tuple(tracks),
        custom_parameters=dict(parameters),
        media_format=media_format,
        sequence_number=_sequence(message),
    )


def _media(message: dict[str, object]) -> MediaReceived:
    media = _object(message, "media")
    encoded = _text(media, "payload")
    try:  # strict: only the base64 alphabet, padded (what validate=True checks, in C)
        payload = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedMessage("'media.payload' is not base64") from None
    return MediaReceived(
        stream_sid=_text(message, "streamSid", default=""),
        track=_text(media, "track", default="inbound"),
        chunk=_number(media, "chunk", default=0),
        timestamp_ms=_number(media, "timestamp", default=0),
        payload=payload,
        sequence_number=_sequence(message),
    )


def _mark(message: dict[str, object]) -> MarkEchoed:
    return MarkEchoed(
        stream_sid=_text(message, "streamSid", default=""),
        name=_text(_object(message, "mark"), "name"),
        sequence_number=_sequence(message),
    )


def _dtmf(message: dict[str, object]) -> DtmfReceived:
    dtmf = _object(message, "dtmf")
    digit = _text(dtmf, "digit").upper()
    if digit not in DTMF_DIGITS or len(digit) != 1:
        raise MalformedMessage(f"'dtmf.digit' {digit[:8]!r} is not a keypad key")
    return DtmfReceived(
        stream_sid=_text(message, "streamSid", default=""),
        digit=digit,
        track=_text(dtmf, "track", default="inbound_track"),
        sequence_number=_sequence(message),
    )


def _stop(message: dict[str, object]) -> StreamStopped:
    stop = message.get("stop")
    details = stop if isinstance(stop, dict) else {}
    return StreamStopped(
        stream_sid=_text(message, "streamSid", default=""),
        call_sid=_text(details, "callSid", default=""),
        account_sid=_text(details, "accountSid", default=""),
        sequence_number=_sequence(message),
    )


_READERS: Final[dict[str, Callable[[dict[str, object]], StreamEvent]]] = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": _stop,
}

_MISSING: Final = object()


def _object(message: Mapping[str, object], key: str) -> dict[str, object]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise MalformedMessage(f"no {key!r} object")
    return value


def _text(message: Mapping[str, object], key: str, default: object = _MISSING) -> str:
    value = message.get(key, default)
    if value is _MISSING:
        raise MalformedMessage(f"no {key!r}")
    if not isinstance(value, str):
        raise MalformedMessage(f"{key!r} is not a string")
    return value


def _number(message: Mapping[str, object], key: str, default: int) -> int:
    """A non-negative integer, written as a JSON number or (as in the docs) a string of digits."""
    value = message.get(key, default)
    if isinstance(value, bool):
        raise MalformedMessage(f"{key!r} is not a number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > _MAX_NUMBER_DIGITS:
            raise MalformedMessage(f"{key!r} has too many digits")
        number = int(value)
    else:
        raise MalformedMessage(f"{key!r} is not a number")
    if not 0 <= number < 10**_MAX_NUMBER_DIGITS:
        raise MalformedMessage(f"{key!r} is out of range")
    return number


def _sequence(message: Mapping[str, object]) -> int | None:
    if message.get("sequenceNumber") is None:
        return None
    return _number(message, "sequenceNumber", default=0)


# -- building ---------------------------------------------------------------------------


def _dump(message: dict[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"))


def media_message(stream_sid: str, audio: bytes) -> str:
    """``media`` to Twilio: ``audio`` (raw μ-law at 8 kHz, no file header) to play on the call."""
    return media_prefix(stream_sid) + media_payload(audio)


def media_prefix(stream_sid: str) -> str:
    """What every ``media`` message of a stream starts with (:func:`media_payload` ends it)."""
    return '{"event":"media","streamSid":' + json.dumps(stream_sid) + ',"media":{"payload":"'


def media_payload(audio: bytes) -> str:
    """The rest of a ``media`` message after :func:`media_prefix`: base64 needs no escaping,
    so the text is built without a JSON encoder (one message every 20 ms a call)."""
    return binascii.b2a_base64(audio, newline=False).decode("ascii") + '"}}'


def mark_message(stream_sid: str, name: str) -> str:
    """``mark`` to Twilio: echoed with the same name once the audio sent before it has played."""
    return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """``clear`` to Twilio: drop the buffered audio; the pending marks are echoed."""
    return _dump({"event": "clear", "streamSid": stream_sid})
