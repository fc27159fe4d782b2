"""One bidirectional Twilio Media Stream's audio, sans-IO: text frames and ticks in, frames out.

Theory of operation
-------------------
**The caller's audio.** Twilio sends the call's inbound track as ``media`` messages of μ-law
over TCP: nothing is lost or reordered, but the frames arrive in bursts (TCP, Twilio's edge,
the WebSocket). Each chunk becomes an RTP-shaped packet and goes through the same stages as a
SIP call's RTP: the jitter buffer for the agent's per-tick frame, and the ingress stage for the
listeners' tap (speech recognition) at arrival. Its timestamp is where the chunk falls in the
audio received so far (the bytes are contiguous); Twilio's ``timestamp`` moves it only when it
says the audio jumped ahead by more than a frame (Twilio had nothing to send), rounded to the
20 ms grid, so a presentation time that jitters by a millisecond never tears a frame in two.

**The agent's audio, paced.** Twilio "buffers and plays in the order received" whatever we
send. We send paced, one 20 ms frame per tick of the shared ticker, as :meth:`send_frame` is
called, never a reply's audio in one burst: then what Twilio holds is only what is in flight
(a few frames), a pause of the agent (the caller may be barging in) is silence at once as on
SIP, and the agent's playout keeps its meaning ("a frame went out" is "a frame is being
heard"). Between utterances nothing is sent: Twilio plays silence when its buffer is empty, and
any delay a late burst built up in Twilio's buffer drains away instead of lasting the call.

**Marks: what the caller heard.** Every :attr:`MediaStreamConfig.mark_every` frames, and at the
end of each talkspurt, a ``mark`` named after the count of frames sent so far follows the
audio. Twilio echoes it "when that media message's playback is complete", so
:attr:`MediaStreamSession.frames_played` is exact to the mark interval, and
:attr:`MediaStreamSession.frames_in_flight` is what was sent and not yet heard.

**Clear.** :meth:`MediaStreamSession.clear` (barge-in) builds ``clear``: Twilio "empties the
audio buffer and sends back mark messages matching any remaining mark messages". Those echoes
say *cleared*, not *played*, so marks sent before the clear and echoed after it do not count
as played; the :class:`Clearing` tells how many frames were dropped unheard (at most: a mark
played just before Twilio read the clear is counted as dropped, an error of the one-way
transit time, toward "not heard").
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.received import CallerAudio
from sipgw.media.rtp import RtpPacket
from sipgw.twilio.messages import (
    DtmfReceived,
    MarkEchoed,
    MediaReceived,
    OtherEvent,
    StreamEvent,
    StreamStarted,
    StreamStopped,
    clear_message,
    mark_message,
    media_payload,
    media_prefix,
    parse_message,
)

__all__ = [
    "Clearing",
    "MediaStreamConfig",
    "MediaStreamError",
    "MediaStreamSession",
    "MediaStreamStats",
    "StreamState",
    "UnexpectedMessage",
    "UnsupportedFormat",
]

FRAME_BYTES: Final = 160
"""One 20 ms frame of 8 kHz μ-law."""
_SSRC: Final = 0x7E1110  # one source per stream: the RTP-shaped packets need one
_TWILIO_FORMAT = ("audio/x-mulaw", 8000, 1)


class MediaStreamError(Exception):
    """A stream that cannot go on as Twilio's docs describe it (subclasses say why)."""


class UnexpectedMessage(MediaStreamError):
    """A message out of place: media before ``start``, a second ``start``, another stream's SID."""


class UnsupportedFormat(MediaStreamError):
    """``start.mediaFormat`` is not 8 kHz mono μ-law (the docs say it always is)."""


class StreamState(enum.Enum):
    """Where a stream is: waiting for ``start``, streaming, or stopped."""

    AWAITING_START = "awaiting-start"
    STREAMING = "streaming"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class MediaStreamConfig:
    """Settings of one stream."""

    mark_every: int = 5
    """Frames between two marks (100 ms): how exactly the caller's hearing is known."""
    jitter: JitterBufferConfig = JitterBufferConfig()
    """The caller's playout buffer (μ-law is forced)."""

    def __post_init__(self) -> None:
        if self.mark_every < 1:
            raise ValueError(f"mark_every must be at least 1 frame, not {self.mark_every}")


@dataclass(slots=True)
class MediaStreamStats:
    """Counters of one stream."""

    messages_in: int = 0
    media_in: int = 0
    bytes_in: int = 0
    other_track: int = 0
    """``media`` of a track other than ``inbound`` (not the caller): dropped."""
    other_events: int = 0
    marks_played: int = 0
    marks_cleared: int = 0
    unknown_marks: int = 0
    """Echoes of marks we never sent (or already counted)."""
    frames_out: int = 0
    marks_out: int = 0
    clears: int = 0
    frames_cleared: int = 0
    reanchors: int = 0
    """Times Twilio's timestamps said the caller's audio jumped ahead."""


@dataclass(frozen=True, slots=True)
class Clearing:
    """What :meth:`MediaStreamSession.clear` did."""

    message: str
    """The ``clear`` text frame to send."""
    unheard_frames: int
    """Frames sent but not yet confirmed played, now dropped: at most what the caller missed."""


class MediaStreamSession(CallerAudio):
    """One stream: parse Twilio's frames, buffer the caller, pace and mark the agent.

    Args:
        now: the current time (seconds), for :meth:`idle_for`.
        config: the settings.

    Attributes:
        on_audio: the listeners' tap: in-order μ-law frames at arrival (as
            :attr:`sipgw.media.session.MediaSession.on_audio`).
        started: the ``start`` message, once it came.
    """

    def __init__(self, now: float, config: MediaStreamConfig | None = None) -> None:
        self.config = config or MediaStreamConfig()
        super().__init__(self.config.jitter)
        self.state = StreamState.AWAITING_START
        self.started: StreamStarted | None = None
        self.stats = MediaStreamStats()
        self.last_received = now
        self._position = 0  # samples of caller audio so far: the next chunk's timestamp
        self._chunk = 0
        self.frames_sent = 0
        self.frames_played = 0
        """Agent frames Twilio confirmed it played (a mark's echo)."""
        self.frames_dropped = 0
        """Agent frames dropped by our clears before they were confirmed played."""
        self._settled = 0  # frames_sent up to which we know: played or dropped
        self._marked = 0  # frames_sent when the last mark went out
        self._pending: deque[int] = deque()  # marks sent, not echoed yet, in order
        self._cleared_upto = 0  # marks up to this count were sent before the last clear
        self._media_prefix = ""  # every media message's start, once the stream's SID is known

    # ------------------------------------------------------------------ from Twilio

    @property
    def stream_sid(self) -> str:
        """The stream's SID ("" before ``start``)."""
        return "" if self.started is None else self.started.stream_sid

    def receive_text(self, text: str | bytes, now: float) -> StreamEvent:
        """One text frame from Twilio; returns its event (the caller's audio is taken here).

        Raises:
            MalformedMessage: the frame is not a message (:func:`parse_message`).
            UnexpectedMessage: media, a mark or DTMF before ``start``, a second ``start``,
                or a message naming another stream.
            UnsupportedFormat: ``start`` announces audio other than 8 kHz mono μ-law.
        """
        event = parse_message(text)
        self.stats.messages_in += 1
        if isinstance(event, StreamStarted):
            self._start(event)
        elif isinstance(event, MediaReceived | MarkEchoed | DtmfReceived):
            self._check_stream(event.stream_sid, type(event).__name__)
            if isinstance(event, MediaReceived):
                self._media(event, now)
            elif isinstance(event, MarkEchoed):
                self._mark_echoed(event.name)
        elif isinstance(event, StreamStopped):
            self.state = StreamState.STOPPED
        elif isinstance(event, OtherEvent):
            self.stats.other_events += 1
        return event

    def _start(self, event: StreamStarted) -> None:
        if self.state is not StreamState.AWAITING_START:
            raise UnexpectedMessage(f"a second 'start' (stream {event.stream_sid})")
        fmt = event.media_format
        if (fmt.encoding, fmt.sample_rate, fmt.channels) != _TWILIO_FORMAT:
            raise UnsupportedFormat(
                f"stream {event.stream_sid} carries {fmt.encoding} at {fmt.sample_rate} Hz, "
                f"{fmt.channels} channel(s); only audio/x-mulaw at 8000 Hz, mono, is handled"
            )
        self.started = event
        self.state = StreamState.STREAMING
        self._media_prefix = media_prefix(event.stream_sid)

    def _check_stream(self, stream_sid: str, what: str) -> None:
        if self.state is not StreamState.STREAMING:
            raise UnexpectedMessage(f"{what} while the stream is {self.state.value}")
        if stream_sid and stream_sid != self.stream_sid:
            raise UnexpectedMessage(f"{what} for stream {stream_sid!r}, not {self.stream_sid!r}")

    def _media(self, event: MediaReceived, now: float) -> None:
        if event.track not in ("inbound", "inbound_track"):
            self.stats.other_track += 1
            return
        payload = event.payload
        if not payload:
            return
        self.stats.media_in += 1
        self.stats.bytes_in += len(payload)
        self.last_received = now
        stated = event.timestamp_ms * 8
        if stated > self._position + FRAME_BYTES:  # Twilio skipped audio: follow it
            self._position = stated - stated % FRAME_BYTES
            self.stats.reanchors += 1
        packet = RtpPacket(
            payload_type=0,
            sequence_number=self._chunk & 0xFFFF,
            timestamp=self._position & 0xFFFFFFFF,
            ssrc=_SSRC,
            payload=payload,
        )
        self._chunk += 1
        self._position += len(payload)
        self.push(packet, now)

    def _mark_echoed(self, name: str) -> None:
        count = int(name) if name.isascii() and name.isdigit() and len(name) < 16 else -1
        if count not in self._pending:
            self.stats.unknown_marks += 1
            return
        while self._pending and self._pending[0] <= count:  # echoes come in order
            self._pending.popleft()
        if count <= self._cleared_upto:
            self.stats.marks_cleared += 1  # echoed by the clear: dropped, not played
            return
        self.stats.marks_played += 1
        if count > self._settled:
            self.frames_played += count - self._settled
            self._settled = count

    # ------------------------------------------------------------------ the tick

    def send_frame(self, frame: bytes | None) -> list[str]:
        """The text frames that carry this tick's agent frame (None: silence) to Twilio.

        Call once per tick. Silence sends nothing, except the mark that closes a talkspurt.
        Nothing is sent before ``start`` (there is no stream SID to address) or after ``stop``.
        """
        if self.state is not StreamState.STREAMING:
            return []
        sid = self.stream_sid
        if frame is None:
            if self.frames_sent > self._marked:
                return [self._mark(sid)]
            return []
        self.frames_sent += 1
        self.stats.frames_out += 1
        out = [self._media_prefix + media_payload(frame)]
        if self.frames_sent - self._marked >= self.config.mark_every:
            out.append(self._mark(sid))
        return out

    def _mark(self, sid: str) -> str:
        self._marked = self.frames_sent
        self._pending.append(self.frames_sent)
        self.stats.marks_out += 1
        return mark_message(sid, str(self.frames_sent))

    def clear(self) -> Clearing:
        """Drop what Twilio still buffers (barge-in): the ``clear`` message and what it drops."""
        unheard = self.frames_in_flight
        self.frames_dropped += unheard
        self._settled = self._cleared_upto = self.frames_sent
        self._marked = self.frames_sent  # the frames after the last mark are dropped too
        self.stats.clears += 1
        self.stats.frames_cleared += unheard
        return Clearing(clear_message(self.stream_sid), unheard)

    def skip(self, ticks: int) -> None:
        """Ticks the ticker dropped after a stall: nothing to catch up (no timestamps to keep)."""

    # ------------------------------------------------------------------ what we know

    @property
    def frames_in_flight(self) -> int:
        """Agent frames sent and neither confirmed played nor dropped by a clear."""
        return self.frames_sent - self._settled

    @property
    def marks_pending(self) -> int:
        """Marks sent that Twilio has not echoed yet."""
        return len(self._pending)

    @property
    def played_out(self) -> bool:
        """All agent audio sent so far was confirmed played (or was cleared): nothing is left
        to hear, so the call may end without cutting the agent's last words."""
        return self.frames_sent == self._settled

    def idle_for(self, now: float) -> float:
        """Seconds since the last ``media`` from the caller."""
        return now - self.last_received
