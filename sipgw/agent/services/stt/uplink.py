"""The caller's audio on its way to a streaming speech-to-text service, sans-IO.

Theory of operation
-------------------
A vendor client (``agent/stt/<vendor>.py``) gets the caller's audio one 20 ms
frame at a time, as it arrives (:meth:`sipgw.agent.services.stt.base.SpeechToText.send_audio`),
and sends it over its own socket. What happens in between is the same for
every service that takes raw audio in messages of bounded length and must
not get it faster than real time; :class:`AudioUplink` does it, with the time
passed in and no I/O:

* **Batching** (:class:`ChunkQueue`). Frames are joined into chunks of
  ``chunk_ms``, cut on sample boundaries, within the vendor's smallest and
  largest message (``min_chunk_ms``, ``max_chunk_ms``). The size changes
  mid-call (:meth:`AudioUplink.set_chunk_ms`: the turn-taking machine asks for
  small chunks right after the caller stops talking, while the service counts
  the silence that ends the turn, and larger ones while nobody talks; audio
  already batched goes at once, in one message, if it holds a chunk of the new
  size). When the caller goes quiet
  (:meth:`AudioUplink.mark_speech_end`) a chunk is made to end exactly where
  the service's end-of-turn silence is complete, so the audio that ends the
  turn leaves at once instead of waiting for its chunk to fill.
* **Outages** (:meth:`AudioUplink.begin_outage`). While the client reconnects
  the audio keeps coming and is queued, at most ``max_backlog_seconds`` of it
  (the oldest is dropped, and counted). A backlog can only be drained at real
  time, so it would make every later transcript lag by the outage; from the
  start of an outage until the queue has drained, *silent* frames (RMS below
  :data:`SILENCE_DBFS`) are left out, except a tail after each stretch of
  speech (``keep_silence_ms``) so that turn boundaries survive.
* **Pacing** (:class:`RealTimePacer`). A token bucket that starts each session
  (:meth:`AudioUplink.begin_session`) with ``burst`` seconds of credit and
  refills at one second of audio per second: the audio sent in a session
  never exceeds its age plus the burst. Live audio, produced in real time,
  goes out as each chunk completes; a backlog drains at exactly real time.

The client's sender task asks :meth:`AudioUplink.wait_before_next` (None:
nothing queued, wait for :meth:`AudioUplink.push` to say a chunk is ready;
else the seconds the pacer wants), then takes :meth:`AudioUplink.pop`, sends
it, and reports :meth:`AudioUplink.sent` (or :meth:`AudioUplink.put_back` if
the socket closed first).

Vendors, by their own documentation:

==================  ============================  ===============================
                    AssemblyAI streaming v3       Amazon Transcribe streaming
==================  ============================  ===============================
audio               μ-law or s16le, 8 kHz here    16-bit signed PCM (s16le) only
one message         50-1000 ms (else close 3007)  1 s at most; 50-200 ms advised
pace                never above real time (3007)  as close to real time as can be
==================  ============================  ===============================

AssemblyAI: docs/cloud-apis.md, "AssemblyAI streaming v3" (``agent/services/assemblyai/stt.py``
uses this module with ``min_chunk_ms=50, max_chunk_ms=1000``). Amazon Transcribe:
``AudioEvent.AudioChunk`` ("a maximum duration of 1 second") and "Transcribing
streaming audio", best practices ("set each chunk between 50 ms and 200 ms",
"make sure that the stream is as close to real-time as possible"),
https://docs.aws.amazon.com/transcribe/latest/dg/streaming.html: an
``AudioUplink(AudioFormat("pcm_s16le", 8000), chunk_ms=100,
min_chunk_ms=50, max_chunk_ms=200, ...)`` (``tests/agent/services/stt/test_uplink.py`` checks that
configuration).
"""

from __future__ import annotations

import array
import math
import sys
from collections import deque
from dataclasses import dataclass
from typing import Final

from sipgw.media.g711 import rms_dbfs

__all__ = [
    "SILENCE_DBFS",
    "AudioFormat",
    "AudioUplink",
    "ChunkQueue",
    "RealTimePacer",
    "frame_dbfs",
]

SILENCE_DBFS: Final = -50.0
"""Frames quieter than this (RMS, dBFS) count as silence when draining a backlog."""

_SAMPLE_BYTES: Final[dict[str, int]] = {"pcm_mulaw": 1, "pcm_s16le": 2}


def frame_dbfs(frame: bytes, encoding: str = "pcm_mulaw") -> float:
    """Return the RMS level of ``frame`` in dBFS (``-inf`` for digital silence).

    Args:
        frame: μ-law octets, or s16le samples when ``encoding`` is ``pcm_s16le``.
        encoding: ``pcm_mulaw`` or ``pcm_s16le``.
    """
    if encoding == "pcm_mulaw":
        return rms_dbfs(frame)
    samples = array.array("h", frame[: len(frame) & ~1])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -math.inf
    rms = math.sqrt(math.fsum(s * s for s in samples) / len(samples))
    return 20.0 * math.log10(rms / 32768.0) if rms else -math.inf


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """The raw audio a service is sent.

    Attributes:
        encoding: ``pcm_mulaw`` (1 byte per sample) or ``pcm_s16le`` (2 bytes).
        sample_rate: samples per second.
    """

    encoding: str
    sample_rate: int

    def __post_init__(self) -> None:
        """Reject an encoding or rate no message could be cut for."""
        if self.encoding not in _SAMPLE_BYTES:
            raise ValueError(f"unsupported encoding {self.encoding!r}")
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample."""
        return _SAMPLE_BYTES[self.encoding]

    @property
    def bytes_per_second(self) -> int:
        """Bytes of audio per second."""
        return self.sample_rate * self.sample_bytes

    def bytes_for(self, ms: float) -> int:
        """The bytes of ``ms`` milliseconds of audio, whole samples."""
        size = int(ms * self.bytes_per_second / 1000)
        return size - size % self.sample_bytes


PACER_SLACK: Final = 1e-6
"""Seconds of audio the pacer lets go early rather than wait for (a microsecond: under one
sample at any rate the services take)."""


class RealTimePacer:
    """Token bucket: audio sent never exceeds the time since creation plus ``burst``.

    Time is passed in, so the arithmetic is testable without a clock.
    """

    def __init__(self, now: float, burst: float, capacity: float) -> None:
        self._tokens = burst
        self._capacity = max(capacity, burst)
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self._capacity, self._tokens + (now - self._last))
            self._last = now

    def delay(self, seconds: float, now: float) -> float:
        """Return how long to wait before ``seconds`` of audio may be sent.

        A wait under :data:`PACER_SLACK` is none: the tokens are sums of clock differences,
        and their rounding can leave 1e-17 s, which a loop whose clock counts whole
        milliseconds (uvloop) would spin on until its clock moved.
        """
        self._refill(now)
        wait = seconds - self._tokens
        return wait if wait > PACER_SLACK else 0.0

    def consume(self, seconds: float, now: float) -> None:
        """Account for ``seconds`` of audio sent at ``now``."""
        self._refill(now)
        self._tokens -= seconds


class ChunkQueue:
    """Chunking, backlog cap and silence skipping for outgoing audio (no I/O).

    Args:
        chunk_bytes: bytes per chunk (changed later through :attr:`chunk_bytes`).
        bytes_per_second: of the audio.
        max_bytes: the most audio kept; older chunks are dropped (counted in
            :attr:`overflow_bytes`).
        encoding: of the audio, for telling silence.
        min_chunk_bytes: the service's smallest message.
        max_chunk_bytes: the service's largest message.
    """

    def __init__(
        self,
        *,
        chunk_bytes: int,
        bytes_per_second: int,
        max_bytes: int,
        encoding: str,
        min_chunk_bytes: int,
        max_chunk_bytes: int,
    ) -> None:
        self.chunk_bytes = chunk_bytes
        self.bytes_per_second = bytes_per_second
        self.max_bytes = max(max_bytes, chunk_bytes)
        self.encoding = encoding
        self.catching_up = False
        self.keep_silence_bytes = 0
        self.overflow_bytes = 0
        self.skipped_bytes = 0
        self._silent_run = 0
        self._partial = bytearray()
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self.min_chunk_bytes = min_chunk_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self._pushed = 0  # bytes of the stream accepted so far
        self._align_at: int | None = None  # stream position where a chunk must end

    def set_keep_silence_ms(self, ms: float) -> None:
        """Set how much silence after speech survives while catching up."""
        self.keep_silence_bytes = int(ms * self.bytes_per_second / 1000)

    def push(self, frame: bytes) -> bool:
        """Add caller audio; return True if at least one chunk completed."""
        if self.catching_up and self._skip(frame):
            return False
        self._partial += frame
        self._pushed += len(frame)
        if self._align_at is not None:
            if not self.catching_up:
                return self._cut_aligned(self._align_at - self._pushed)
            self._align_at = None  # a backlog is being drained: no boundary to keep
        return self._cut()

    def align_chunk_end(self, after_bytes: int) -> None:
        """Make a chunk end exactly ``after_bytes`` after the audio pushed so far.

        Until then, whatever is pending goes out as soon as both it and the
        rest before the boundary can form chunks of the minimum size.
        """
        self._align_at = self._pushed + after_bytes

    def flush(self) -> bool:
        """Send what is batched as one chunk if it holds a chunk's worth or more (within the
        service's limits, no boundary pending); True when it did."""
        pending = len(self._partial)
        if self._align_at is not None or not self.chunk_bytes <= pending <= self.max_chunk_bytes:
            return False
        self._append(bytes(self._partial))
        self._partial.clear()
        return True

    def _cut(self) -> bool:
        completed = False
        while len(self._partial) >= self.chunk_bytes:
            self._append(bytes(self._partial[: self.chunk_bytes]))
            del self._partial[: self.chunk_bytes]
            completed = True
        return completed

    def _cut_aligned(self, rest: int) -> bool:
        pending = len(self._partial)
        if rest <= 0:
            self._align_at = None  # the boundary: cut here
            if self.min_chunk_bytes <= pending <= self.max_chunk_bytes:
                self._append(bytes(self._partial))
                self._partial.clear()
                return True
            return self._cut()
        if pending >= self.min_chunk_bytes:
            if rest >= self.min_chunk_bytes:
                self._append(bytes(self._partial))  # both sides of the cut are large enough
                self._partial.clear()
                return True
            if pending + rest > self.max_chunk_bytes:
                self._align_at = None  # the last chunk would be too long: give up
                return self._cut()
        return False

    def _skip(self, frame: bytes) -> bool:
        if frame_dbfs(frame, self.encoding) >= SILENCE_DBFS:
            self._silent_run = 0
            return False
        self._silent_run += len(frame)
        if self._silent_run <= self.keep_silence_bytes:
            return False
        self.skipped_bytes += len(frame)
        return True

    def _append(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._queued += len(chunk)
        self._enforce_cap()

    def _enforce_cap(self) -> None:
        """Drop the oldest chunks beyond ``max_bytes`` (keeping at least one)."""
        while self._queued > self.max_bytes and len(self._chunks) > 1:
            dropped = self._chunks.popleft()
            self._queued -= len(dropped)
            self.overflow_bytes += len(dropped)

    def has_chunk(self) -> bool:
        """Whether a complete chunk is waiting."""
        return bool(self._chunks)

    def next_chunk_seconds(self) -> float:
        """Length of the oldest complete chunk in seconds (0 when there is none)."""
        return len(self._chunks[0]) / self.bytes_per_second if self._chunks else 0.0

    def pop(self) -> bytes | None:
        """Take the oldest complete chunk."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._queued -= len(chunk)
        return chunk

    def push_front(self, chunk: bytes) -> None:
        """Put back a chunk that could not be sent."""
        self._chunks.appendleft(chunk)
        self._queued += len(chunk)
        self._enforce_cap()

    def begin_outage(self) -> None:
        """Start skipping silence; leading silence of the outage is skipped too."""
        self.catching_up = True
        self._silent_run = self.keep_silence_bytes

    @property
    def backlog_bytes(self) -> int:
        """Queued audio, complete chunks and the partial one."""
        return self._queued + len(self._partial)


class AudioUplink:
    """One call's audio to a streaming STT service: frames in, paced chunks out.

    See the module docstring. Args:
        audio_format: what the frames are (and the service is sent).
        chunk_ms: audio per message, within ``min_chunk_ms..max_chunk_ms``.
        min_chunk_ms: the service's smallest message.
        max_chunk_ms: the service's largest message.
        max_backlog_seconds: audio kept while the service is unreachable.
        keep_silence_ms: silence kept after speech while a backlog drains.
        burst: seconds of audio a session may run ahead of real time.
    """

    def __init__(
        self,
        audio_format: AudioFormat,
        *,
        chunk_ms: int,
        min_chunk_ms: int,
        max_chunk_ms: int,
        max_backlog_seconds: float,
        keep_silence_ms: float = 0.0,
        burst: float = 0.2,
    ) -> None:
        if not 0 < min_chunk_ms <= max_chunk_ms:
            raise ValueError("need 0 < min_chunk_ms <= max_chunk_ms")
        if max_backlog_seconds < 0:
            raise ValueError("max_backlog_seconds must not be negative")
        self.format = audio_format
        self.min_chunk_ms = min_chunk_ms
        self.max_chunk_ms = max_chunk_ms
        self.chunk_ms = self._within_limits(chunk_ms)
        self.burst = burst
        bps = audio_format.bytes_per_second
        self._queue = ChunkQueue(
            chunk_bytes=audio_format.bytes_for(chunk_ms),
            bytes_per_second=bps,
            max_bytes=int(max_backlog_seconds * bps),
            encoding=audio_format.encoding,
            min_chunk_bytes=bps * min_chunk_ms // 1000,
            max_chunk_bytes=bps * max_chunk_ms // 1000,
        )
        self._queue.set_keep_silence_ms(keep_silence_ms)
        self._pacer = RealTimePacer(0.0, burst, max_chunk_ms / 1000 + burst)

    # -- frames in

    def push(self, frame: bytes) -> bool:
        """Queue one frame of caller audio; True when a chunk became ready to send."""
        return self._queue.push(frame)

    def set_chunk_ms(self, chunk_ms: int | None) -> bool:
        """Audio per message from now on (None: the configured ``chunk_ms``).

        What is batched already goes at once when it holds a chunk of the new size or more,
        in one message (a second of it batched while nobody talked is one message, not ten
        of the caller's 100 ms); else it waits for the rest of its chunk. True when a chunk
        became ready to send.

        Raises:
            ValueError: outside the service's limits.
        """
        chunk_ms = self.chunk_ms if chunk_ms is None else self._within_limits(chunk_ms)
        queue = self._queue
        queue.chunk_bytes = self.format.bytes_for(chunk_ms)
        return queue.flush() or queue.push(b"")

    def _within_limits(self, chunk_ms: int) -> int:
        if not self.min_chunk_ms <= chunk_ms <= self.max_chunk_ms:
            raise ValueError(
                f"chunk_ms must be between {self.min_chunk_ms} and {self.max_chunk_ms}"
                " (the service's limits)"
            )
        return chunk_ms

    def mark_speech_end(self, silence_ms: float) -> None:
        """The caller just went quiet: end a chunk where ``silence_ms`` of it is complete.

        Call it before pushing the first quiet frame; a later call (the caller
        spoke again) replaces the boundary.
        """
        self._queue.align_chunk_end(self.format.bytes_for(silence_ms))

    def set_keep_silence_ms(self, ms: float) -> None:
        """Silence kept after speech while a backlog drains (the service's turn silence)."""
        self._queue.set_keep_silence_ms(ms)

    # -- sessions and outages

    def begin_session(self, now: float) -> None:
        """A new session starts sending: its pacing starts afresh, with the burst."""
        self._pacer = RealTimePacer(now, self.burst, self.max_chunk_ms / 1000 + self.burst)

    def begin_outage(self) -> None:
        """The connection dropped: from now until the queue drains, silence is left out."""
        self._queue.begin_outage()

    # -- chunks out

    def wait_before_next(self, now: float) -> float | None:
        """Seconds until the next chunk may be sent (0: now); None: no chunk is queued.

        Finding the queue empty ends an outage's catching up: the audio is live again.
        """
        queue = self._queue
        if not queue.has_chunk():
            queue.catching_up = False
            return None
        # Each chunk is charged its own length: set_chunk_ms() changes it
        # mid-session, and a 50 ms chunk charged as 100 ms would halve the
        # sending rate and build a backlog.
        return self._pacer.delay(queue.next_chunk_seconds(), now)

    def pop(self) -> bytes | None:
        """Take the next chunk to send (None: none is queued)."""
        return self._queue.pop()

    def sent(self, chunk: bytes, now: float) -> None:
        """``chunk`` went out at ``now`` (the pacer charges it)."""
        self._pacer.consume(len(chunk) / self.format.bytes_per_second, now)

    def put_back(self, chunk: bytes) -> None:
        """``chunk`` could not be sent (the socket closed): it goes first next time."""
        self._queue.push_front(chunk)

    # -- figures

    @property
    def backlog_seconds(self) -> float:
        """Audio queued, not yet sent."""
        return self._queue.backlog_bytes / self.format.bytes_per_second

    @property
    def dropped_seconds(self) -> float:
        """Audio lost because a backlog exceeded ``max_backlog_seconds``."""
        return self._queue.overflow_bytes / self.format.bytes_per_second

    @property
    def skipped_seconds(self) -> float:
        """Silent audio left out while backlogs drained."""
        return self._queue.skipped_bytes / self.format.bytes_per_second
