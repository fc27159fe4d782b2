"""Caller audio for listeners (speech-to-text, VAD) as soon as it arrives, sans-IO.

The playout jitter buffer holds audio back so it can be *played* smoothly;
a speech recogniser or a voice-activity detector needs the audio *in order*
and *on a real-time timeline*, not smooth. This stage gives them that with no
added delay on a clean network:

* audio that continues the timeline is released the moment it arrives;
* a packet ahead of a gap is held until the gap is filled (reordering), or
  until the gap's deadline passes: then the gap is released concealed
  (:mod:`sipgw.media.plc`: a pitch-based substitute fading to silence over 60 ms,
  the audio after it faded in), so a recogniser hears no hole in a word;
* when nothing arrives at all (silence suppression, hold, loss), silence is
  released at real-time pace, so a listener still hears the pause (a turn
  detector needs it) and the timeline never stops;
* late and duplicate audio, behind what was already released, is dropped; but when the
  stream's newest packets keep coming behind it at their pace (their delay grew, by more than
  the wait and too little for a STALL, after a gap of theirs was released as silence), the
  timeline re-anchors on them: the silence stands for the delay, and the caller is heard
  again instead of never (a burst of late packets at one time re-anchors nothing);
* an SSRC change or a timestamp jump of more than a second restarts the
  timeline;
* the gateway's own stall is not the caller's silence: when the gateway was kept from
  running (its process descheduled, the loop busy), what the caller sent meanwhile may still
  be unread when the late ticks poll (a Twilio stream's or aiortc's audio comes through a task
  that runs after them). Polls more than :data:`OWN_STALL` apart are such a stall: that
  wake-up's polls release nothing, and the next tick's finds the audio, so a stall is never
  released as a pause that would end the caller's turn;
* :meth:`IngressAudio.forget` (the session's, when a re-negotiation changes what
  the caller's side sends: a hold, a resume) keeps the timeline but nothing of the
  audio before: a gap after it is silence, not concealed from the hold's music.

Gaps are told apart as the playout buffer tells them (media/gaps.py, one
definition): after a PAUSE (arrivals and timestamps both stopped) the rest of
the pause is released as silence at once and the new audio with it; after a
SKIP (timestamps jumped, no time passed) and a STALL (time passed, the
timestamps did not follow, so the pause was already released as silence) the
timeline re-anchors on the new packet: nothing inserted, nothing dropped.

A gap's deadline is the expected arrival of its first packet plus
``max_wait``; expected arrivals are chained from the last released packet, so
the schedule follows the sender without drifting. Output is in the stream's
codec, in 20 ms frames whatever the packet size (the session converts them to the
agent's format, media/codecs/convert.py).
"""

from __future__ import annotations

from typing import Final

from sipgw.media.codecs.base import Codec
from sipgw.media.codecs.g711 import PCMU
from sipgw.media.gaps import Gap, TransitBaseline, classify_gap
from sipgw.media.plc import Concealer
from sipgw.media.rtp import RtpPacket
from sipgw.media.seqnum import Unwrapper

__all__ = ["IngressAudio"]

RESYNC_SECONDS: Final = 1  # a jump of more than 1 s restarts the timeline
OWN_STALL: Final = 0.060
"""Seconds between two polls (three ticks) that mean the gateway itself stalled."""
MAX_HELD: Final = 50  # packets held ahead of a gap at most (1 s of 20 ms packets)


class IngressAudio:
    """See the module docstring.

    Args:
        codec: the stream's codec (media/codecs): its clock, silence and concealment.
    """

    __slots__ = ("_baseline", "_codec", "_frame", "_held", "_last_arrival", "_last_poll",
                 "_late_run", "_newest", "_newest_arrival", "_newest_late", "_next", "_offset",
                 "_out", "_pending", "_plc", "_rate", "_resync", "_ssrc", "_stalled_at",
                 "_unwrap", "_wait", "filled_frames", "late_packets", "reanchors")  # fmt: skip

    def __init__(self, codec: Codec = PCMU) -> None:
        self._codec = codec
        self._rate = codec.clock_rate
        self._frame = codec.frame_bytes
        self._resync = RESYNC_SECONDS * codec.clock_rate
        self._unwrap = Unwrapper(32)
        self._ssrc: int | None = None
        self._next: int | None = None  # the first sample not yet released
        self._last_arrival = 0.0  # when the audio ending at _next was due/arrived
        self._held: dict[int, bytes] = {}
        self._pending = bytearray()  # released samples not yet a full frame
        self._out: list[bytes] = []
        self._offset = 0  # added to the sender's timestamps (re-anchors)
        self._baseline = TransitBaseline()
        self._newest = 0  # timeline position of the newest packet
        self._newest_arrival = 0.0
        self._newest_late = 0.0  # samples the newest packet was behind the baseline
        self._wait = 0.04  # the last poll's max_wait: the jitter allowance
        self._plc = Concealer(codec, 480 if codec.conceals else 0)  # else silence fills
        self._last_poll: float | None = None
        self._stalled_at: float | None = None  # the wake-up after a stall of our own
        self._late_run = False  # the newest packet came behind the timeline
        self.filled_frames = 0
        self.late_packets = 0
        self.reanchors = 0

    def push(self, packet: RtpPacket, now: float) -> list[bytes]:
        """An audio packet arrived; returns the frames released by it."""
        payload = packet.payload
        if not payload:
            return []
        if packet.ssrc != self._ssrc:
            self._restart(packet.ssrc)
        start = self._unwrap.unwrap(packet.timestamp) + self._offset
        if self._next is None or abs(start - self._next) > self._resync:
            self._restart(packet.ssrc)
            start = self._unwrap.unwrap(packet.timestamp)
            self._next = self._newest = start
            self._last_arrival = self._newest_arrival = now
        elif start != self._next:
            newest, elapsed = self._newest, now - self._newest_arrival
            start = self._gap(start, len(payload), now)
            if start > newest and start + len(payload) <= self._next:
                start = self._delayed(start, elapsed)
        self._track(start, now)
        assert self._next is not None
        if start + len(payload) <= self._next:
            self.late_packets += 1  # behind the timeline: late or a duplicate
            return self._take()
        self._late_run = False
        if start < self._next:  # overlaps what was released: keep the new part
            payload = payload[self._next - start :]
            start = self._next
        if start == self._next:
            self._release(payload, now)
            self._drain_held(now)
        elif len(self._held) < MAX_HELD:
            self._held.setdefault(start, payload)
        return self._take()

    def poll(self, now: float, max_wait: float) -> list[bytes]:
        """Called every tick: release the silence of gaps whose deadline has passed.

        Polls more than :data:`OWN_STALL` apart mean the gateway itself stalled: that
        wake-up's polls (the catch-up ticks, all at the same ``now``) release nothing, and the
        next tick's finds what arrived meanwhile (the module docstring)."""
        last, self._last_poll = self._last_poll, now
        if last is not None and now - last > OWN_STALL:
            self._stalled_at = now
        if now == self._stalled_at or self._next is None:
            return []
        self._wait = max_wait
        frame = self._frame
        frame_time = frame / self._rate
        while now + 1e-9 >= self._last_arrival + frame_time + max_wait:  # 1 ns: float sums
            gap_end = min(self._held) if self._held else self._next + frame
            span = min(frame, gap_end - self._next)
            filler = self._plc.conceal(span) or self._codec.silence(span)
            self._release(filler, self._last_arrival + span / self._rate, concealed=True)
            self.filled_frames += 1
            self._drain_held(now)
        return self._take()

    def forget(self) -> None:
        """Drop the audio so far: packets held ahead of a gap, and the concealment's
        history (a gap from here on is silence until new audio is heard). The timeline
        goes on: silence at real-time pace while nothing comes."""
        self._held.clear()
        self._plc.reset()

    # -- internals

    def _restart(self, ssrc: int) -> None:
        self._ssrc = ssrc
        self._unwrap = Unwrapper(32)
        self._offset = 0
        self._next = None
        self._held.clear()
        self._plc.reset()
        self._baseline = TransitBaseline()
        self._late_run = False

    def _track(self, start: int, now: float) -> None:
        """Follow the newest packet and the baseline transit (media/gaps.py)."""
        late = self._baseline.update(now * self._rate - start)
        if start >= self._newest:
            self._newest = start
            self._newest_arrival = now
            self._newest_late = late

    def _gap(self, start: int, size: int, now: float) -> int:
        """A packet that does not continue the timeline: returns where it goes on it."""
        assert self._next is not None
        rate = self._rate
        gap = classify_gap(
            start - self._newest, now - self._newest_arrival, rate, self._wait,
            self._newest_late / rate,
        )  # fmt: skip
        nxt = self._next
        if gap is Gap.PAUSE and start > nxt:
            # The rest of the pause, as silence, now: the new audio is not late.
            while self._next < start:
                span = min(self._frame, start - self._next)
                self._release(self._codec.silence(span), now, concealed=True)
                self.filled_frames += 1
            return start
        if (gap is Gap.SKIP and start > nxt and self._baseline.settled) or (
            gap is Gap.STALL and start + size <= nxt
        ):
            # No time passed (SKIP) or its silence is out already (STALL): continue here.
            self._offset += nxt - start
            self._baseline.restart()
            self.reanchors += 1
            return nxt
        return start

    def _delayed(self, start: int, elapsed: float) -> int:
        """The newest audio yet, behind the timeline (its place was released as a gap already), come
        ``elapsed`` s after the newest before it: where it goes on the timeline. The second
        such packet in a row that came at the stream's pace (not in the same burst) shows the
        stream's delay grew: the timeline re-anchors on it, as after a STALL."""
        late_run, self._late_run = self._late_run, True
        if not late_run or elapsed < self._frame / self._rate / 2:
            return start  # dropped as late: maybe a burst, whose later packets catch up
        assert self._next is not None
        nxt = self._next
        self._offset += nxt - start
        self._baseline.restart()
        self.reanchors += 1
        return nxt  # not late: its release ends the run

    def _release(self, payload: bytes, arrival: float, concealed: bool = False) -> None:
        assert self._next is not None
        if not concealed:
            payload = self._plc.played(payload)
        self._next += len(payload)
        self._last_arrival = arrival
        pending = self._pending
        frame = self._frame
        if not pending and len(payload) == frame:
            self._out.append(payload)  # the common case: one whole 20 ms packet, no copy
            return
        pending += payload
        while len(pending) >= frame:
            self._out.append(bytes(pending[:frame]))
            del pending[:frame]

    def _drain_held(self, now: float) -> None:
        """Release held packets that now continue the timeline; drop overtaken ones."""
        held = self._held
        while held and self._next is not None:
            first = min(held)
            if first > self._next:
                return
            payload = held.pop(first)
            if first + len(payload) > self._next:
                self._release(payload[self._next - first :], now)

    def _take(self) -> list[bytes]:
        out = self._out
        if out:
            self._out = []
        return out  # when empty, the (empty) list itself: no allocation per tick
