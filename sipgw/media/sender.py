"""The outbound RTP stream of one call, sans-IO.

Theory of operation. The shared ticker calls :meth:`RtpStreamSender.push_frame`
once per 20 ms with one 160-octet frame of agent audio in the stream's codec,
or ``None`` when the agent has nothing to say, and sends the packets it
returns. RTP never stops between utterances: ``None`` becomes a silence frame.

An opaque codec (Opus, ``Codec.opaque``) is not one octet a tick: each frame is
one encoded packet of 20 ms, sent as it is whatever the ``ptime`` (one packet a
tick), its timestamp stepping by 20 ms of the codec's clock (960 at Opus's
48000 Hz); its silence is the packet the call's encoder made for the tick,
given with the ``None`` (``push_frame(None, silence)``). Telephone-events then
count in that clock too (``telephone-event/48000``, RFC 4733 §2.1).

* Sequence numbers go up by one per packet and timestamps by the samples of
  each packet, forever: barge-in, silence and DTMF never reset them
  (RFC 3550 §5.1). :meth:`~RtpStreamSender.skip` moves the timestamp on, with
  no packet, for ticks the ticker had to drop after a stall, so timestamps
  keep following wall time.
* The marker bit (RFC 3551 §4.1) is set on the very first packet, on the first
  packet of each talkspurt (the first packet carrying agent audio after one
  or more ``None`` frames), and on the first packet after a timestamp jump
  with no packets in between (after :meth:`~RtpStreamSender.skip` and after a
  DTMF event).
* With a packet time other than 20 ms, frames are accumulated and a packet of
  ``ptime`` is sent whenever that much audio is buffered: ptime 10 sends two
  packets per tick, 30 alternates 0, 1, 1, ..., 40 sends one every second
  tick and 60 one every third.
* DTMF (RFC 4733 §2.5.1): :meth:`~RtpStreamSender.send_dtmf` queues
  telephone-events. While one plays, it replaces the audio: the frames pushed
  meanwhile are dropped. Each event's packets carry the event's start
  timestamp, a duration growing by the packet time, the marker bit on the
  first, and the final packet (E bit) three times (§2.5.1.4), each with its
  own sequence number. The gap between events starts at the end of the event
  (the last two end packets go out during it); audio flows in the rest of the
  gap and after the last event, with timestamps that account for the
  event's time.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from typing import Final

from sipgw.media.codecs.base import Codec
from sipgw.media.codecs.g711 import PCMU
from sipgw.media.tones.dtmf import digit_to_event

__all__ = ["DtmfNotNegotiatedError", "RtpStreamSender"]

_HEADER: Final = struct.Struct("!BBHII")
_EVENT: Final = struct.Struct("!BBH")
_FRAME_SAMPLES: Final = 160  # one 20 ms tick at 8 kHz
_CLOCK_RATE: Final = 8000  # the RTP clock octet codecs are counted in (G.711; G.722's too)
_END_PACKETS: Final = 3  # RFC 4733 §2.5.1.4


class DtmfNotNegotiatedError(ValueError):
    """DTMF was asked of a stream that has no telephone-event payload type."""


class _Event:
    """One queued or playing telephone-event."""

    __slots__ = (
        "code",
        "duration",
        "elapsed",
        "ends_sent",
        "final",
        "gap",
        "next_report",
        "packets",
        "start_ts",
        "volume",
    )

    def __init__(self, code: int, duration: int, gap: int, volume: int) -> None:
        self.code = code
        self.duration = duration
        self.gap = gap
        self.volume = volume
        self.start_ts = 0
        self.elapsed = 0
        self.next_report = 0
        self.packets = 0
        self.ends_sent = 0
        self.final = 0


def _silence_of(codec: Codec) -> bytes:
    """A tick of ``codec``'s silence (an opaque codec's is given tick by tick: ``b""``).

    Raises:
        ValueError: an octet codec whose RTP clock is not the 8000 Hz this sender counts in.
    """
    if codec.opaque:
        return b""
    if codec.clock_rate != _CLOCK_RATE or codec.frame_bytes != _FRAME_SAMPLES:
        raise ValueError(f"{codec.name}: the sender packs 160 octets of an 8000 Hz clock a tick")
    return codec.silence(_FRAME_SAMPLES)


class RtpStreamSender:
    """Packetizer of one outbound G.711 stream (RFC 3550, RFC 3551, RFC 4733).

    Args:
        payload_type: the negotiated audio payload type (0 PCMU, 8 PCMA, or
            the dynamic one from the SDP answer).
        codec: the stream's codec (media/codecs): its silence frame; its RTP clock
            must be 8000 Hz, one octet a tick (the sender counts 160 a tick).
        ssrc: SSRC; random when ``None`` (RFC 3550 §8.1).
        initial_sequence: first sequence number; random when ``None``. The
            random one is below 2**15, as libwebrtc does, so that an SRTP
            receiver does not see a wrap before its rollover counter is
            established.
        initial_timestamp: first timestamp; random when ``None`` (RFC 3550 §5.1).
        ptime_ms: packet time in milliseconds (a multiple of 10 for whole
            G.711 packets of 20 ms frames is typical: 10, 20, 30, 40, 60).
        telephone_event_pt: the negotiated telephone-event payload type, or
            ``None`` when the peer did not offer RFC 4733 events.
        rng: random source for the values above (default: ``SystemRandom``).
    """

    __slots__ = (
        "_buf",
        "_codec",
        "_dtmf_active",
        "_event",
        "_gap_left",
        "_mark",
        "_octets",
        "_opaque",
        "_packets",
        "_payload_type",
        "_per_ms",
        "_ptime_ms",
        "_ptime_samples",
        "_queue",
        "_seq",
        "_silence",
        "_ssrc",
        "_talking",
        "_telephone_event_pt",
        "_tick",
        "_ts",
    )

    def __init__(
        self,
        *,
        payload_type: int,
        codec: Codec = PCMU,
        ssrc: int | None = None,
        initial_sequence: int | None = None,
        initial_timestamp: int | None = None,
        ptime_ms: int = 20,
        telephone_event_pt: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 <= payload_type <= 127:
            raise ValueError("payload_type must be in 0..127")
        if telephone_event_pt is not None and not 0 <= telephone_event_pt <= 127:
            raise ValueError("telephone_event_pt must be in 0..127")
        if ptime_ms <= 0:
            raise ValueError("ptime_ms must be positive")
        if rng is None:
            rng = random.SystemRandom()
        self._codec = codec
        self._silence = _silence_of(codec)
        self._opaque = codec.opaque
        self._tick = codec.clock_rate // 50  # RTP clock ticks a 20 ms frame
        self._per_ms = codec.clock_rate // 1000
        self._payload_type = payload_type
        self._telephone_event_pt = telephone_event_pt
        self._ssrc = rng.getrandbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        self._seq = rng.randrange(0x8000) if initial_sequence is None else initial_sequence & 0xFFFF
        self._ts = rng.getrandbits(32) if initial_timestamp is None else initial_timestamp
        self._ts &= 0xFFFFFFFF
        self._ptime_ms = ptime_ms
        self._ptime_samples = self._tick if codec.opaque else ptime_ms * self._per_ms
        self._buf = bytearray()
        self._mark = True
        self._talking = False
        self._packets = 0
        self._octets = 0
        self._queue: deque[_Event] = deque()
        self._event: _Event | None = None
        self._gap_left = 0
        self._dtmf_active = False

    # -- properties ------------------------------------------------------

    @property
    def ssrc(self) -> int:
        """The stream's SSRC."""
        return self._ssrc

    @property
    def sequence(self) -> int:
        """Sequence number of the next packet."""
        return self._seq

    @property
    def timestamp(self) -> int:
        """RTP timestamp of the next frame to be pushed (the stream's media clock)."""
        return self._ts

    @property
    def packets_sent(self) -> int:
        """Packets returned so far, audio and telephone-event (RTCP SR packet count)."""
        return self._packets

    @property
    def octets_sent(self) -> int:
        """Payload octets returned so far, headers excluded (RTCP SR octet count, §6.4.1)."""
        return self._octets

    @property
    def talking(self) -> bool:
        """Whether the last frame pushed carried audio (not silence)."""
        return self._talking

    @property
    def payload_type(self) -> int:
        """The audio payload type; settable (a re-INVITE may change it, RFC 3550 §5.1)."""
        return self._payload_type

    @payload_type.setter
    def payload_type(self, value: int) -> None:
        if not 0 <= value <= 127:
            raise ValueError("payload_type must be in 0..127")
        self._payload_type = value

    @property
    def codec(self) -> Codec:
        """The audio codec; settable (changes the silence frame)."""
        return self._codec

    @codec.setter
    def codec(self, value: Codec) -> None:
        self._silence = _silence_of(value)
        if value.clock_rate != self._codec.clock_rate or value.opaque != self._opaque:
            self._buf.clear()  # another clock (Opus <-> G.711): what was buffered is dropped
            self._mark = True
        self._codec = value
        self._opaque = value.opaque
        self._tick = value.clock_rate // 50
        self._per_ms = value.clock_rate // 1000
        self._ptime_samples = self._tick if value.opaque else self._ptime_ms * self._per_ms

    @property
    def telephone_event_pt(self) -> int | None:
        """The telephone-event payload type, or ``None``; settable.

        Setting it to ``None`` cancels queued and playing events.
        """
        return self._telephone_event_pt

    @telephone_event_pt.setter
    def telephone_event_pt(self, value: int | None) -> None:
        if value is not None and not 0 <= value <= 127:
            raise ValueError("telephone_event_pt must be in 0..127")
        self._telephone_event_pt = value
        if value is None and self._dtmf_active:
            self._queue.clear()
            self._event = None
            self._gap_left = 0
            self._dtmf_active = False
            self._mark = True

    @property
    def dtmf_pending(self) -> bool:
        """Whether telephone-events are queued or playing (including the gaps)."""
        return self._dtmf_active

    # -- audio -----------------------------------------------------------

    def push_frame(self, frame: bytes | None, silence: bytes | None = None) -> list[bytes]:
        """Packetize one 20 ms tick.

        Args:
            frame: 160 octets of audio in the stream's codec (an opaque codec's: one
                packet of 20 ms), or ``None`` for silence.
            silence: an opaque codec's packet of silence for this tick (needed with a
                ``None`` frame); octet codecs' silence is the codec's own.

        Returns:
            The datagrams to send for this tick, in order (usually one).

        Raises:
            ValueError: ``frame`` is not 160 octets long (an octet codec), or an opaque
                codec's silence was not given.
        """
        if self._dtmf_active:
            return self._push_dtmf(frame, silence)
        if frame is not None and len(frame) != _FRAME_SAMPLES and not self._opaque:
            raise ValueError(f"frame must be 160 bytes, got {len(frame)}")
        payload = self._payload(frame, silence)
        if self._opaque:
            return [self._push_whole(payload)]
        if self._ptime_samples != _FRAME_SAMPLES or self._buf:
            return self._push_buffered(payload)
        if self._mark:
            self._mark = False
            second = self._payload_type | 0x80
        else:
            second = self._payload_type
        data = _HEADER.pack(0x80, second, self._seq, self._ts, self._ssrc) + payload
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + _FRAME_SAMPLES) & 0xFFFFFFFF
        self._packets += 1
        self._octets += _FRAME_SAMPLES
        return [data]

    def _push_whole(self, payload: bytes) -> bytes:
        """One opaque codec's packet: a whole 20 ms frame, timestamped at its start."""
        if not payload:
            raise ValueError(f"{self._codec.name}: the packet of silence must be given")
        marker = self._mark
        self._mark = False
        data = self._packet(self._payload_type, marker, self._ts, payload)
        self._ts = (self._ts + self._tick) & 0xFFFFFFFF
        return data

    def _push_buffered(self, payload: bytes) -> list[bytes]:
        buf = self._buf
        buf += payload
        self._ts = (self._ts + _FRAME_SAMPLES) & 0xFFFFFFFF
        size = self._ptime_samples
        out: list[bytes] = []
        while len(buf) >= size:
            # The packet's timestamp is that of its first sample (RFC 3550 §5.1).
            ts = (self._ts - len(buf)) & 0xFFFFFFFF
            marker = self._mark
            self._mark = False
            out.append(self._packet(self._payload_type, marker, ts, bytes(buf[:size])))
            del buf[:size]
        return out

    def _packet(self, payload_type: int, marker: bool, ts: int, payload: bytes) -> bytes:
        if marker:
            payload_type |= 0x80
        data = _HEADER.pack(0x80, payload_type, self._seq, ts, self._ssrc) + payload
        self._seq = (self._seq + 1) & 0xFFFF
        self._packets += 1
        self._octets += len(payload)
        return data

    def skip(self, frames: int) -> None:
        """Advance the media clock by ``frames`` ticks without sending.

        The ticker calls this for ticks it dropped after a stall. The next
        packet carries the marker bit, as the first packet after a pause in
        transmission (RFC 3551 §4.1). A playing DTMF event counts the
        skipped time as part of its duration.
        """
        if frames <= 0:
            return
        samples = frames * self._tick
        self._ts = (self._ts + samples) & 0xFFFFFFFF
        self._mark = True
        if self._event is not None:
            self._event.elapsed += samples
        elif self._gap_left > 0:
            self._gap_left -= samples

    # -- DTMF ------------------------------------------------------------

    def send_dtmf(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 60, volume: int = 10
    ) -> None:
        """Queue DTMF digits as RFC 4733 telephone-events.

        Args:
            digits: ``0-9 * # A-D`` (case-insensitive).
            duration_ms: tone duration of each digit, 1..8191 ms (the 16-bit
                duration field at 8 kHz; 1..1365 ms at Opus's 48 kHz; longer events
                would need segments).
            gap_ms: pause after each digit before the next one starts; at
                least the two end-packet retransmissions' time in practice.
            volume: tone power in -dBm0, 0..63.

        Raises:
            DtmfNotNegotiatedError: the stream has no telephone-event payload type.
            ValueError: a digit or a parameter is out of range.
        """
        if self._telephone_event_pt is None:
            raise DtmfNotNegotiatedError("telephone-event was not negotiated for this stream")
        duration = duration_ms * self._per_ms
        if not 0 < duration <= 0xFFFF:
            raise ValueError(f"duration_ms must be in 1..{0xFFFF // self._per_ms}")
        if gap_ms < 0:
            raise ValueError("gap_ms must not be negative")
        if not 0 <= volume <= 63:
            raise ValueError("volume must be in 0..63")
        codes = [digit_to_event(d) for d in digits]
        for code in codes:
            self._queue.append(_Event(code, duration, gap_ms * self._per_ms, volume))
        if codes:
            self._dtmf_active = True

    def _push_dtmf(self, frame: bytes | None, silence: bytes | None) -> list[bytes]:
        if frame is not None and len(frame) != _FRAME_SAMPLES and not self._opaque:
            raise ValueError(f"frame must be 160 bytes, got {len(frame)}")
        event = self._event
        if event is None:
            if self._gap_left > 0:
                # Audio flows during the rest of the gap.
                self._gap_left -= self._tick
                return self._push_audio_in_gap(frame, silence)
            if not self._queue:
                self._dtmf_active = False
                return self._push_audio_in_gap(frame, silence)
            event = self._queue.popleft()
            # The event starts at the first buffered (unsent) sample; that
            # audio is dropped and its time becomes part of the event.
            event.start_ts = (self._ts - len(self._buf)) & 0xFFFFFFFF
            event.elapsed = len(self._buf)
            self._buf.clear()
            self._event = event
        self._talking = frame is not None
        self._ts = (self._ts + self._tick) & 0xFFFFFFFF
        event.elapsed += self._tick
        return self._event_packets(event)

    def _payload(self, frame: bytes | None, silence: bytes | None) -> bytes:
        """The tick's payload: ``frame``, or silence for None; a talkspurt's first frame
        marks its packet (RFC 3551 §4.1)."""
        if frame is None:
            self._talking = False
            return self._silence if silence is None else silence
        if not self._talking:
            self._talking = True
            self._mark = True
        return frame

    def _push_audio_in_gap(self, frame: bytes | None, silence: bytes | None) -> list[bytes]:
        if self._gap_left <= 0 and not self._queue:
            self._dtmf_active = False
        payload = self._payload(frame, silence)
        if self._opaque:
            return [self._push_whole(payload)]
        return self._push_buffered(payload)

    def _event_packets(self, event: _Event) -> list[bytes]:
        step = self._ptime_samples
        if event.ends_sent == 0 and event.elapsed >= event.duration:
            event.final = min(event.elapsed, 0xFFFF)
            event.ends_sent = 1
            event.next_report = event.elapsed + step
            return [self._event_packet(event, True, event.final)]
        if event.elapsed < event.next_report:
            return []
        event.next_report += step  # the next update, or the end's next retransmission
        if event.next_report <= event.elapsed:
            event.next_report = event.elapsed + step
        if event.ends_sent == 0:
            return [self._event_packet(event, False, min(event.elapsed, 0xFFFF))]
        event.ends_sent += 1
        data = self._event_packet(event, True, event.final)
        if event.ends_sent == _END_PACKETS:
            self._event = None
            # The gap runs from the end of the tone; the retransmissions
            # already used part of it.
            self._gap_left = event.gap - (event.elapsed - event.final)
            self._mark = True  # audio resumes after a pause (RFC 3551 §4.1)
        return [data]

    def _event_packet(self, event: _Event, end: bool, duration: int) -> bytes:
        assert self._telephone_event_pt is not None
        # RFC 4733 §2.5.1: the marker bit flags the first packet of an event.
        marker = event.packets == 0
        event.packets += 1
        payload = _EVENT.pack(event.code, (0x80 if end else 0) | event.volume, duration)
        return self._packet(self._telephone_event_pt, marker, event.start_ts, payload)
