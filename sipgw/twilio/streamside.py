"""Twilio's side of one Media Stream, sans-IO: the messages Twilio sends, and the app's audio.

sipgw opens the WebSocket to the app's stream URL and speaks as Twilio does (Twilio's
"Media Streams - WebSocket Messages" page; docs/cloud-apis.md):

- to the app: ``connected`` (protocol ``Call``, version ``1.0.0``), then ``start`` (the
  ``streamSid``, ``callSid``, ``accountSid``, ``tracks``, the ``<Parameter>`` nouns as
  ``customParameters``, ``mediaFormat`` audio/x-mulaw at 8000 Hz, one channel), then one
  ``media`` per 20 ms of the call (``track``, ``chunk`` from 1, ``timestamp`` in ms from
  the stream's start, base64 ``payload``), ``dtmf`` (bidirectional only), ``mark`` echoes,
  and ``stop`` last. Every message but ``connected`` carries a ``sequenceNumber`` from 1;
  numbers are written as strings of digits, as in Twilio's own messages.
- from the app (bidirectional streams): ``media`` (μ-law "of any size", played in the
  order received), ``mark`` (echoed once the audio sent before it has been played, or at
  once if nothing is buffered) and ``clear`` (the buffered audio is dropped at once, and
  the marks it held are echoed).

Played means handed to the caller's RTP: :meth:`StreamSide.next_frame` is called once per
20 ms tick (or once ahead of it, when the app's audio comes to an empty buffer:
:class:`AudioWaiting`), takes the next frame of the app's audio and returns the echoes of
the marks that audio reached. What an app sends is bounded (:data:`MAX_BUFFERED_FRAMES`); a
message that is not JSON, or a ``media`` whose payload is not base64, is counted and dropped.

An app that streams in real time (Twilio's own pace, a frame each 20 ms) has its frame sent
as it arrives: :class:`AudioWaiting` takes the next tick's place (that tick sends nothing
more), so the frame waits no tick's phase and the RTP timestamps stay on the ticks.

A standing backlog is shed in the app's silence. An app that streams in real time (a frame
each 20 ms, its own silences included) against the gateway's ticker keeps one frame queued
for good once two of its frames arrive between two ticks (network or scheduling jitter):
in equal rates nothing drains it, and every frame after waits a whole tick more. When a
frame has waited behind another at each of :data:`STANDING_TICKS` ticks in a row and the
queue is short (a real-time app's, not an app that sends its speech ahead), one quiet frame
(:func:`quiet`) with audio behind it is dropped, as a jitter buffer adapts: 20 ms of the
app's silence go unplayed, the pacing stays one frame a tick, marks keep their place.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "FRAME_BYTES",
    "MAX_BUFFERED_FRAMES",
    "STANDING_TICKS",
    "AppCleared",
    "AudioWaiting",
    "StreamSide",
    "quiet",
]

FRAME_BYTES: Final = 160
"""20 ms of 8 kHz μ-law."""
MAX_BUFFERED_FRAMES: Final = 6000
"""Most app audio held for the caller: 120 s (past it, what comes is dropped and counted)."""
STANDING_TICKS: Final = 10
"""Ticks in a row (200 ms) with a frame waiting behind the one played: a standing backlog."""
_SHORT_QUEUE: Final = 4
"""At most this many frames queued for a backlog to be shed (a real-time app's queue)."""
_SILENCE: Final = b"\xff" * FRAME_BYTES
_QUIET_BYTES: Final = bytes(b for b in range(256) if not (~b & 0x70))
"""μ-law octets of exponent 0 (G.711: |sample| <= 31 of 8159, about -48 dBFS at most)."""


def quiet(frame: bytes) -> bool:
    """Whether every sample of a μ-law ``frame`` is near silence (exponent 0)."""
    return not frame.translate(None, _QUIET_BYTES)


@dataclass(frozen=True, slots=True)
class AppCleared:
    """The app sent ``clear``: ``frames`` of its audio were dropped unheard."""

    frames: int


@dataclass(frozen=True, slots=True)
class AudioWaiting:
    """The app's audio came to an empty buffer (after a silence, or as it streams in real
    time): its frame may go to the caller now, ahead of the tick (``CallControl.audio_ready``
    with ``continuing``)."""


class StreamSide:
    """One stream as Twilio runs it (see the module docstring).

    Args:
        stream_sid: ``MZ`` and 32 hex digits.
        call_sid: the call's ``CA...``.
        account_sid: the configured ``AC...``.
        parameters: the ``<Parameter>`` name/value pairs.
        tracks: the tracks the app gets (``inbound``, ``outbound``).
        bidirectional: ``<Connect><Stream>``: the app may send audio, marks and clears.
    """

    def __init__(
        self,
        stream_sid: str,
        call_sid: str,
        account_sid: str,
        parameters: Mapping[str, str] | tuple[tuple[str, str], ...] = (),
        tracks: tuple[Literal["inbound", "outbound"], ...] = ("inbound",),
        bidirectional: bool = True,
    ) -> None:
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.account_sid = account_sid
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        self.parameters = dict(pairs)
        self.tracks = tracks
        self.bidirectional = bidirectional
        self._sequence = 0
        self._chunks = dict.fromkeys(tracks, 0)
        self._queue: deque[bytes | str] = deque()  # frames, and mark names between them
        self._partial = b""
        self._frames = 0
        self.stopped = False
        self.frames_received = 0
        self.frames_dropped = 0
        self.frames_cleared = 0
        self.frames_shed = 0
        self._standing = 0
        self.bad_messages = 0
        self.clears = 0

    # ------------------------------------------------------------------ what Twilio sends

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def opening(self) -> list[str]:
        """``connected`` and ``start``: the first two messages."""
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": list(self.tracks),
                "customParameters": self.parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": self.stream_sid,
        }
        return [_dump(connected), _dump(start)]

    def media(self, track: Literal["inbound", "outbound"], frame: bytes | None) -> str | None:
        """``media`` for one 20 ms tick of ``track`` (None: silence); None if the stream has
        no such track or has stopped. ``timestamp`` is the chunk's start in ms (20 per chunk)."""
        if self.stopped or track not in self._chunks:
            return None
        chunk = self._chunks[track] + 1
        self._chunks[track] = chunk
        payload = base64.b64encode(frame if frame else _SILENCE).decode("ascii")
        return _dump(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "media": {
                    "track": track,
                    "chunk": str(chunk),
                    "timestamp": str((chunk - 1) * 20),
                    "payload": payload,
                },
                "streamSid": self.stream_sid,
            }
        )

    def dtmf(self, digit: str) -> str | None:
        """``dtmf`` for a key the caller pressed (bidirectional streams only)."""
        if self.stopped or not self.bidirectional:
            return None
        return _dump(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def stop(self) -> str | None:
        """``stop``: the last message (None once sent)."""
        if self.stopped:
            return None
        self.stopped = True
        return _dump(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                "streamSid": self.stream_sid,
            }
        )

    def _echo(self, name: str) -> str:
        return _dump(
            {
                "event": "mark",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    # ------------------------------------------------------------------ what the app sends

    def receive(self, text: str | bytes) -> list[str | AppCleared | AudioWaiting]:
        """Take one message from the app: its audio queued, its mark placed after it, its
        ``clear`` carried out. Returns the echoes due now (text), for a clear what it
        dropped (:class:`AppCleared`), and :class:`AudioWaiting` when audio now waits where
        none did (its first frame need not wait for the tick)."""
        if not self.bidirectional or self.stopped:
            return []
        try:
            message = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict):
            self.bad_messages += 1
            return []
        event = message.get("event")
        if event == "media":
            media = message.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            try:
                audio = (
                    base64.b64decode(payload, validate=True) if isinstance(payload, str) else None
                )
            except (binascii.Error, ValueError):
                audio = None
            if audio is None:
                self.bad_messages += 1
                return []
            idle = self._frames == 0
            self._add_audio(audio)
            return [AudioWaiting()] if idle and self._frames else []
        if event == "mark":
            mark = message.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str):
                self.bad_messages += 1
                return []
            self._flush_partial()
            if not self._queue:  # nothing buffered: echoed at once
                return [self._echo(name)]
            self._queue.append(name)
            return []
        if event == "clear":
            return self._clear()
        self.bad_messages += 1
        return []

    def _add_audio(self, audio: bytes) -> None:
        data = self._partial + audio
        whole = len(data) - len(data) % FRAME_BYTES
        for start in range(0, whole, FRAME_BYTES):
            if self._frames >= MAX_BUFFERED_FRAMES:
                self.frames_dropped += (whole - start) // FRAME_BYTES
                break
            self._queue.append(data[start : start + FRAME_BYTES])
            self._frames += 1
            self.frames_received += 1
        self._partial = data[whole:]

    def _flush_partial(self) -> None:
        """The audio short of a whole frame, padded with silence: it plays before a mark."""
        if self._partial:
            partial, self._partial = self._partial, b""
            self._add_audio(partial + b"\xff" * (FRAME_BYTES - len(partial)))

    def _clear(self) -> list[str | AppCleared | AudioWaiting]:
        out: list[str | AppCleared | AudioWaiting] = []
        dropped = self._frames + (1 if self._partial else 0)
        for item in self._queue:
            if isinstance(item, str):
                out.append(self._echo(item))
        self._queue.clear()
        self._partial = b""
        self._frames = 0
        self.frames_cleared += dropped
        self.clears += 1
        out.append(AppCleared(dropped))
        return out

    # ------------------------------------------------------------------ the tick

    def next_frame(self) -> tuple[bytes | None, list[str]]:
        """The app's next 20 ms for the caller (None: nothing buffered), and the echoes of the
        marks whose audio has now all been handed out (called once per tick)."""
        echoes: list[str] = []
        queue = self._queue
        while queue and isinstance(queue[0], str):  # the audio before them was played
            echoes.append(self._echo(queue.popleft()))  # type: ignore[arg-type]
        if not queue and self._partial:  # the app's last words, short of a frame
            self._flush_partial()
        if not queue:
            return None, echoes
        frame = queue.popleft()
        assert isinstance(frame, bytes)
        self._frames -= 1
        if 1 <= self._frames < _SHORT_QUEUE:  # a frame waits behind this one
            self._standing += 1
            behind = queue[0]
            if self._standing >= STANDING_TICKS and isinstance(behind, bytes) and quiet(frame):
                queue.popleft()  # 20 ms of the app's silence go unplayed
                frame = behind
                self._frames -= 1
                self.frames_shed += 1
                self._standing = 0
        else:
            self._standing = 0
        return frame, echoes

    @property
    def buffered_frames(self) -> int:
        """The app's frames not handed out yet."""
        return self._frames


def _base64(payload: object) -> bytes | None:
    if not isinstance(payload, str):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _dump(message: Mapping[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"))
