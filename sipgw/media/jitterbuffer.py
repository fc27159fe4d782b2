"""Adaptive jitter buffer for one received G.711 stream, sans-IO.

Theory of operation
-------------------
Packets are placed by RTP timestamp, never by arrival order. The 32-bit
timestamp is extended to an unbounded ``int`` (so the 2**32 wrap is a
non-event; sequence numbers are not used at all, so neither is their 2**16
wrap) and measured from the *origin*, the timestamp of the first packet of the
current stream. Output frames of ``frame_samples`` samples form a grid of
*cells*: cell ``i`` holds samples ``[i * frame_samples, (i + 1) *
frame_samples)`` after the origin. An aligned packet of exactly one frame, the
usual 20 ms case, is stored as its payload object and returned as is; packets
of other durations (10, 30, 40, 60 ms ...) or alignments are written into
partially filled cells, whose unfilled samples play as silence.

The ticker calls :meth:`JitterBuffer.pop` every 20 ms. Playout starts once the
first packet of the stream has waited ``max(min_delay, packet duration)``;
from then on every pop plays the cell at the *playout point* and moves it one
cell on, so the delay stays what it was at the start unless one of these
happens:

* **Reordering and duplicates.** A packet that arrives before its cell is
  played is played in order. A packet whose cells are all already filled is a
  duplicate. A packet behind the playout point is dropped: a *duplicate* if
  its cells were filled when they were played (known for the 62 cells, 1.24 s
  of 20 ms cells, behind it), else *late*.
* **Loss.** A missing cell while later cells are buffered is concealed: a
  pitch-based substitute continues the played audio (:mod:`sipgw.media.plc`,
  fading to silence over ``max_concealment_frames`` cells), and the first
  played frame after it is faded in. It counts as ``lost``.
  But while less than the target delay is buffered, the playout point is
  held at the hole instead (*expansion*, also concealed; at most the target
  delay's worth of pops between two played frames): the packet may just be late, and the delay
  grows toward the target where a glitch happens anyway.
* **Underrun.** Nothing at or after the playout point: the playout point is
  *held* (concealment, then ``None``), which adds a frame of delay per held
  pop, so a jitter spike grows the delay to what the network needs. When
  audio comes back *ahead* of the held point, the gap was a pause of the
  sender (silence suppression, hold): the point jumps forward by at most the
  number of held pops, restoring the delay from before the pause. If the
  pops held add up to a PAUSE (:data:`sipgw.media.gaps.MIN_PAUSE`), the cells still
  missing before the new audio are the rest of it: skipped (``None``), not
  lost and not concealed.
* **Skip.** A packet that arrives sooner than its timestamp allows by more
  than the target (a SKIP in :mod:`sipgw.media.gaps`: the sender's timestamps
  jumped ahead while no time passed, e.g. it leaves silence out) moves the
  origin so the packet lands right after the buffered audio: the delay stays
  what it was, with or without a marker bit, whatever the sequence numbers
  did, and however far the jump (``reanchors`` counts them). The first
  :data:`sipgw.media.gaps.SETTLE_PACKETS` packets of a stream never count as a
  skip (the baseline transit time is not known yet).
* **Adaptation.** The interarrival jitter is estimated as in RFC 3550 §6.4.1
  and A.8 (``J += (|D| - J) / 16``; a ``|D|`` above ``max_delay`` is a jump
  of the timestamps, not jitter, and is skipped), and the target delay is
  ``clamp(max(min_delay, jitter_multiplier * J + packet duration),
  min_delay, max_delay)``. While the buffered audio stays more than two
  frames above the target for ``_COMPRESS_AFTER`` pops, one frame is
  dropped; a missing or quiet cell is preferred, a loud one is dropped only
  after twice as long, or, when the excess is small (at most two frames
  more: a sender clock faster than ours), after ``_DRIFT_PATIENCE`` pops
  (``loud_adjustments`` counts those). More than ``max_delay`` (plus one
  packet) buffered is cut back at once: the oldest audio, and a hole left at
  the playout point down to the target.
* **Clock drift.** A sender clock slower than ours drains the buffer: while
  less than the target stays buffered for ``_COMPRESS_AFTER``
  pops, the next quiet frame is played twice (``inserted_frames``); a loud
  one never is (if no quiet frame comes, the buffer underruns as above).
  A faster one fills it: compression (above) drops quiet frames. Either way
  the delay stays within a few frames of the target.
* **Resync.** A new SSRC, a timestamp more than ``resync_threshold`` away from
  where the newest packet and the time since its arrival put it (a source
  switch or a timestamp restart; ahead only when it is not a skip), a marker
  bit with a timestamp more than ``max_delay`` away from that, or
  ``_LATE_RESYNC`` late packets in a row: the buffer is flushed and playout
  restarts from the new packet as at the beginning.

Feed only the stream's audio packets: telephone-events and comfort noise
share the SSRC and timestamps and must be filtered out by payload type first.
All time is the ``now`` argument, in seconds; the buffer never reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sipgw.media.codecs.base import Codec
from sipgw.media.codecs.g711 import PCMU
from sipgw.media.gaps import BASELINE_RISE, MIN_PAUSE, SETTLE_PACKETS, Gap, classify_gap
from sipgw.media.plc import Concealer
from sipgw.media.rtp import RtpPacket

__all__ = [
    "DEFAULT_CONFIG",
    "JitterBuffer",
    "JitterBufferConfig",
    "JitterBufferStats",
]

_COMPRESS_AFTER: Final = 5  # pops above the compression threshold before a frame is dropped
_LATE_RESYNC: Final = 25  # consecutive late packets that mean the timestamps jumped back
_QUIET_DBFS: Final = -45.0  # a frame below this level is dropped first when compressing
_DRIFT_PATIENCE: Final = 250  # pops (5 s) a small excess or shortfall waits for a quiet frame
# Cells behind the playout point remembered for duplicate detection: 62, so that the bits
# stay a machine integer when compiled (mypyc's are 63-bit; a wider one is a Python int,
# allocated at every shift). Shifts mask first, so nothing overflows on the way.
_HISTORY_BITS: Final = 62
_HISTORY_MASK: Final = (1 << _HISTORY_BITS) - 1
_HISTORY_BEFORE_SHIFT: Final = _HISTORY_MASK >> 1  # the bits a shift by one keeps
_NOT_STARTED: Final = -(1 << 62)  # playout point before playout starts: every cell is ahead
_START_EPSILON: Final = 1e-6  # tolerance on the start delay for float clocks


def _shifted_history(hist: int, by: int) -> int:
    """The duplicate-detection bits after ``by`` cells passed unplayed."""
    if by >= _HISTORY_BITS:
        return 0
    return (hist & (_HISTORY_MASK >> by)) << by


@dataclass(frozen=True, slots=True)
class JitterBufferConfig:
    """Settings of a :class:`JitterBuffer`.

    Attributes:
        codec: the stream's codec (media/codecs); frames come out in it, and
            concealment and silence are made in it.
        clock_rate: RTP clock rate (8000 for G.711).
        frame_samples: samples per output frame; one pop is one frame.
        min_delay: seconds of audio held before playout starts, and the
            lowest adaptive target.
        max_delay: ceiling of the adaptive target; more audio than this
            buffered is cut back at once.
        jitter_multiplier: target = clamp(max(min_delay, multiplier * jitter
            + packet duration), min_delay, max_delay).
        max_concealment_frames: how many frames of missing audio are
            synthesized (fading out) before silence.
        resync_threshold: seconds; a timestamp this far from expectation
            restarts the stream.
    """

    codec: Codec = PCMU
    clock_rate: int = 8000
    frame_samples: int = 160
    min_delay: float = 0.040
    max_delay: float = 0.300
    jitter_multiplier: float = 3.0
    max_concealment_frames: int = 3
    resync_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.clock_rate <= 0 or self.frame_samples <= 0:
            raise ValueError("clock_rate and frame_samples must be positive")
        if not 0.0 <= self.min_delay <= self.max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        if self.jitter_multiplier < 0 or self.max_concealment_frames < 0:
            raise ValueError("jitter_multiplier and max_concealment_frames must not be negative")
        if self.resync_threshold <= 0:
            raise ValueError("resync_threshold must be positive")


DEFAULT_CONFIG: Final = JitterBufferConfig()
"""The default settings (20 ms μ-law frames, 40..300 ms delay)."""


@dataclass(slots=True)
class JitterBufferStats:
    """Counters of a :class:`JitterBuffer`; they survive :meth:`JitterBuffer.reset`.

    How they add up, for the pops after playout started: every pop is one of
    ``played + lost + expanded_frames + underruns + inserted_frames``; every
    non-``None`` frame returned is one of ``played + concealed_frames +
    inserted_frames``; every cell the playout
    point passes is one of ``played + lost + compressed_frames +
    skipped_frames``; and every packet received is played, still buffered,
    dropped by compression, flushed, or one of ``duplicates + late`` (a packet
    split over several cells counts once).

    Attributes:
        received: packets pushed (packets without payload are ignored).
        played: frames returned that carry received audio.
        duplicates: packets dropped because their audio was already buffered
            or played.
        late: packets dropped because their cells had been passed unfilled.
        lost: cells missing while later audio was buffered.
        concealed_frames: frames returned that were synthesized (pitch
            substitution, or silence) because audio was missing.
        resyncs: stream restarts (the first packet of a call is not one).
        compressed_frames: cells dropped to shrink the delay.
        underruns: pops that found nothing at or after the playout point.
        expanded_frames: pops that held the playout point at a missing cell to
            let the delay grow toward the target (the frame is concealed).
        skipped_frames: empty cells jumped over when audio came back after an
            underrun (the underrun's pops stood in for them).
        flushed_frames: buffered cells discarded by a resync or a reset.
        inserted_frames: quiet frames played twice because less than the
            target was buffered for a while (a sender clock slower than ours).
        loud_adjustments: frames dropped by compression although loud (no
            quiet frame came within the patience; mid-word).
        reanchors: timestamp jumps without a pause in arrivals (a sender that
            skips silence, media/gaps.py SKIP) that moved the origin instead of
            leaving an empty span to play.
        jitter: interarrival jitter estimate in seconds (RFC 3550 A.8).
        current_delay: buffered audio at the last pop, in seconds.
        target_delay: the adaptive target at the last pop, in seconds.
    """

    received: int = 0
    played: int = 0
    duplicates: int = 0
    late: int = 0
    lost: int = 0
    concealed_frames: int = 0
    resyncs: int = 0
    compressed_frames: int = 0
    underruns: int = 0
    expanded_frames: int = 0
    skipped_frames: int = 0
    flushed_frames: int = 0
    inserted_frames: int = 0
    loud_adjustments: int = 0
    reanchors: int = 0
    jitter: float = 0.0
    current_delay: float = 0.0
    target_delay: float = 0.0


class _Partial:
    """A cell filled by parts of packets: its samples and a bitmask of the filled ones."""

    __slots__ = ("data", "mask")

    def __init__(self, silence: bytes) -> None:
        self.data = bytearray(silence)
        self.mask = 0


class JitterBuffer:
    """Reorders, times and conceals one received G.711 stream (see the module docstring).

    Args:
        config: the settings.

    Attributes:
        stats: the counters and the current jitter and delay.
    """

    __slots__ = (
        "_base",
        "_base_count",
        "_cells",
        "_clock",
        "_codec",
        "_config",
        "_end",
        "_excess",
        "_expanding",
        "_ext_last",
        "_first_arrival",
        "_fs",
        "_full_mask",
        "_held",
        "_hist",
        "_jitter",
        "_late_streak",
        "_max_delay_samples",
        "_max_arrival",
        "_max_ext",
        "_newest_late",
        "_origin",
        "_pause_end",
        "_pkt_samples",
        "_plc",
        "_playout",
        "_resync_samples",
        "_short",
        "_silence",
        "_skip_samples",
        "_ssrc",
        "_started",
        "_transit",
        "stats",
    )

    def __init__(self, config: JitterBufferConfig = DEFAULT_CONFIG) -> None:
        self._config = config
        self._codec = config.codec
        self._clock = config.clock_rate
        self._fs = config.frame_samples
        self._full_mask = (1 << self._fs) - 1
        self._silence = config.codec.silence(config.frame_samples)
        self._resync_samples = config.resync_threshold * config.clock_rate
        self._skip_samples = config.min_delay * config.clock_rate
        self._max_delay_samples = config.max_delay * config.clock_rate
        self._cells: dict[int, bytes | _Partial] = {}
        self._jitter = 0.0
        conceal = config.max_concealment_frames * self._fs if config.codec.conceals else 0
        self._plc = Concealer(config.codec, conceal, self._clock)
        self.stats = JitterBufferStats()
        self._forget()

    def _forget(self) -> None:
        """Drop the stream: the next packet starts a new one (jitter is kept)."""
        self._ssrc: int | None = None
        self._cells.clear()
        self._started = False
        self._playout = _NOT_STARTED
        self._origin = 0
        self._ext_last = 0
        self._end = 0
        self._max_ext = 0
        self._max_arrival = 0.0
        self._first_arrival = 0.0
        self._transit = 0.0
        # The baseline transit time (sipgw.media.gaps.TransitBaseline's arithmetic,
        # inlined on the hot path): inf until the first packet sets it.
        self._base = math.inf
        self._base_count = 0
        self._newest_late = 0.0  # samples the newest packet was behind the baseline transit
        self._pkt_samples = self._fs
        self._held = 0
        self._pause_end = _NOT_STARTED  # cells before this one, missing, were the sender's pause
        self._excess = 0
        self._short = 0
        self._expanding = 0
        self._hist = 0
        self._late_streak = 0
        self._plc.reset()

    @property
    def config(self) -> JitterBufferConfig:
        """The settings."""
        return self._config

    @property
    def started(self) -> bool:
        """Whether playout has started for the current stream."""
        return self._started

    def reset(self) -> None:
        """Forget the stream and its buffered audio (the counters are kept)."""
        self.stats.flushed_frames += len(self._cells)
        self._forget()

    # -- input -------------------------------------------------------------

    def push(self, packet: RtpPacket, now: float) -> None:
        """Add one received audio packet.

        Args:
            packet: an RTP packet of the stream's audio payload type.
            now: arrival time in seconds, on the same clock as :meth:`pop`'s.
        """
        payload = packet.payload
        if not payload:
            return
        stats = self.stats
        stats.received += 1
        if packet.ssrc != self._ssrc:
            self._resync(packet, now)
            return
        # Extend the 32-bit timestamp to the value nearest the previous one
        # (sipgw.media.seqnum.Unwrapper's arithmetic, inlined on the hot path).
        delta = (packet.timestamp - self._ext_last) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        ext = self._ext_last + delta
        # Where the newest packet and the time since it arrived put this one.
        deviation = ext - self._max_ext - (now - self._max_arrival) * self._clock
        if deviation - self._newest_late > self._skip_samples and self._skipped(ext, now):
            deviation = 0.0  # re-anchored: the packet continues the buffered audio
        elif deviation < 0.0:
            deviation = -deviation
        if deviation > self._resync_samples or (
            packet.marker and deviation > self._max_delay_samples
        ):
            self._resync(packet, now)
            return
        self._ext_last = ext
        if ext > self._max_ext:
            self._max_ext = ext
            self._max_arrival = now
        fs = self._fs
        rel = ext - self._origin
        size = len(payload)
        if size == fs and rel % fs == 0:
            index = rel // fs
            if index >= self._playout:
                cells = self._cells
                if index in cells:
                    stats.duplicates += 1
                    return
                cells[index] = payload
                self._pkt_samples = fs
                rel += fs
                if rel > self._end:
                    self._end = rel
                self._late_streak = 0
                self._update_jitter(ext, now)
                return
            self._drop_behind(packet, now, index, index)
            return
        self._push_general(packet, now, ext, rel)

    def _skipped(self, ext: int, now: float) -> bool:
        """The packet came sooner than its timestamp allows: re-anchor if the sender skipped.

        A SKIP (media/gaps.py): the sender's timestamps jumped ahead while no time
        passed. The origin moves so that the packet lands right after the audio
        buffered (or at the playout point): the delay stays what it was, and the
        empty span is neither played nor counted as lost.
        """
        clock = self._clock
        gap = classify_gap(
            ext - self._max_ext,
            now - self._max_arrival,
            clock,
            max(self.stats.target_delay, self._config.min_delay),
            self._newest_late / clock,
        )
        if gap is not Gap.SKIP or self._base_count < SETTLE_PACKETS:
            return False
        fs = self._fs
        land = -(-self._end // fs)  # the first cell after the buffered audio
        if self._started and land < self._playout:
            land = self._playout
        shift = ext - self._origin - land * fs
        if shift <= 0:
            return False
        self._origin += shift
        self.stats.reanchors += 1
        self._transit = now * clock - ext  # the jump is not jitter
        self._base = math.inf  # the next packet sets it again
        return True

    def _update_jitter(self, ext: int, now: float) -> None:
        # RFC 3550 A.8: D is the change in relative transit time between two
        # packets, J += (|D| - J) / 16, all in timestamp units. A change
        # larger than max_delay is a discontinuity of the sender's timestamps
        # (dealt with by the cut), not jitter, and is left out.
        transit = now * self._clock - ext
        base = self._base
        self._base_count += 1
        if transit <= base:
            self._base = transit
            if ext >= self._max_ext:
                self._newest_late = 0.0
        else:
            self._base = base + (transit - base) * BASELINE_RISE
            if ext >= self._max_ext:
                self._newest_late = transit - base
        d = transit - self._transit
        self._transit = transit
        if d < 0.0:
            d = -d
        if d <= self._max_delay_samples:
            self._jitter += (d - self._jitter) * 0.0625
            self.stats.jitter = self._jitter / self._clock

    def _drop_behind(self, packet: RtpPacket, now: float, first: int, last: int) -> None:
        """Drop a packet whose cells ``first..last`` are all behind the playout point."""
        hist = self._hist
        base = self._playout - 1
        duplicate = True
        for index in range(first, last + 1):
            back = base - index
            if back >= _HISTORY_BITS or not (hist >> back) & 1:
                duplicate = False
                break
        if duplicate:
            self.stats.duplicates += 1
            return
        self._late_streak += 1
        if self._late_streak >= _LATE_RESYNC:
            # A run of late packets: the sender's timestamps went back by
            # less than the resync threshold, without a marker bit.
            self._resync(packet, now)
            return
        self.stats.late += 1
        self._update_jitter(self._ext_last, now)

    def _push_general(self, packet: RtpPacket, now: float, ext: int, rel: int) -> None:
        """Store a packet that is not exactly one aligned frame."""
        payload = packet.payload
        fs = self._fs
        start = rel
        stop = rel + len(payload)
        first = start // fs
        last = (stop - 1) // fs
        lower = self._playout * fs if self._started else start
        if stop <= lower:
            self._drop_behind(packet, now, first, last)
            return
        cells = self._cells
        added = 0
        for index in range(max(first, self._playout), last + 1):
            cell_start = index * fs
            a = max(start, cell_start)
            b = min(stop, cell_start + fs)
            cell = cells.get(index)
            if cell is None:
                if b - a == fs:
                    cells[index] = payload[a - start : b - start]
                    added += fs
                    continue
                cell = _Partial(self._silence)
                cells[index] = cell
            elif type(cell) is bytes:
                continue
            assert isinstance(cell, _Partial)
            lo = a - cell_start
            hi = b - cell_start
            bits = ((1 << (hi - lo)) - 1) << lo
            missing = bits & ~cell.mask
            if not missing:
                continue
            if missing == bits:
                cell.data[lo:hi] = payload[a - start : b - start]
                added += hi - lo
            else:
                # Overlaps samples already filled: keep those, fill the rest.
                for i in range(lo, hi):
                    if (missing >> i) & 1:
                        cell.data[i] = payload[cell_start + i - start]
                        added += 1
            cell.mask |= bits
            if cell.mask == self._full_mask:
                cells[index] = bytes(cell.data)
        if not added:
            self.stats.duplicates += 1
            return
        if stop > self._end:
            self._end = stop
        self._pkt_samples = len(payload)
        self._late_streak = 0
        self._update_jitter(ext, now)

    def _resync(self, packet: RtpPacket, now: float) -> None:
        """Flush and start a new stream whose origin is ``packet``."""
        if self._ssrc is not None:
            self.stats.resyncs += 1
        self.stats.flushed_frames += len(self._cells)
        self._forget()
        ts = packet.timestamp
        self._ssrc = packet.ssrc
        self._origin = ts
        self._ext_last = ts
        self._max_ext = ts
        self._max_arrival = now
        self._first_arrival = now
        self._transit = now * self._clock - ts
        self._base = self._transit
        self._base_count += 1
        size = len(packet.payload)
        self._pkt_samples = size
        if size == self._fs:
            self._cells[0] = packet.payload
            self._end = size
        else:
            self._push_general(packet, now, ts, 0)

    # -- output ------------------------------------------------------------

    def _target(self) -> float:
        config = self._config
        target = config.jitter_multiplier * self._jitter / self._clock
        target += self._pkt_samples / self._clock
        if target < config.min_delay:
            return config.min_delay
        if target > config.max_delay:
            return config.max_delay
        return target

    def pop(self, now: float) -> bytes | None:
        """Return the next frame to play.

        Call once per frame interval (the ticker's 20 ms). The steps: start
        playout once the first packet has waited (:meth:`_start_playout`); end
        an underrun that was the sender's pause (:meth:`_end_pause`); drop a
        frame when too much is buffered (:meth:`_compress`) or repeat a quiet
        one when too little is (:meth:`_stretch`); then play the cell at the
        playout point or stand in for a missing one (:meth:`_fill_missing`).

        Args:
            now: the current time in seconds.

        Returns:
            ``frame_samples`` octets in the stream's codec, or ``None`` when
            there is nothing to play: playout has not started, or the stream
            stopped and concealment is exhausted. Treat ``None`` as silence.
        """
        if not self._started and not self._start_playout(now):
            return None
        cells = self._cells
        fs = self._fs
        p = self._playout
        target = self._target()
        level = self._end - p * fs
        stats = self.stats
        stats.target_delay = target
        stats.current_delay = level / self._clock
        if cells:
            if self._held and p not in cells:
                p = self._end_pause(p)
                level = self._end - p * fs
            p = self._compress(p, level, target)
            level = self._end - p * fs
        if level < target * self._clock and p in cells:
            frame = self._stretch(p)
            if frame is not None:
                return frame
        else:
            self._short = 0
        # get and del, not pop(p, None): compiled, both are C calls, a pop with a default
        # is a Python-level method call (2.5 % of the echo gateway's CPU at 300 calls).
        cell = cells.get(p)
        if cell is None:
            return self._fill_missing(p, level, target)
        del cells[p]
        # Play the cell at the playout point: the path of nearly every frame, kept
        # inline (a method call here costs 3 % of the pop).
        self._playout = p + 1
        self._hist = ((self._hist & _HISTORY_BEFORE_SHIFT) << 1) | 1
        self._expanding = 0
        self._held = 0
        stats.played += 1
        return self._plc.played(cell if isinstance(cell, bytes) else bytes(cell.data))

    def _start_playout(self, now: float) -> bool:
        """Start playout once the stream's first packet has waited its start delay.

        The start delay is ``max(min_delay, packet duration)`` (at most
        ``max_delay``); playout starts at the earliest cell buffered.
        """
        cells = self._cells
        if self._ssrc is None or not cells:
            return False
        config = self._config
        start_delay = self._pkt_samples / self._clock
        if start_delay < config.min_delay:
            start_delay = config.min_delay
        if start_delay > config.max_delay:
            start_delay = config.max_delay
        if now - self._first_arrival + _START_EPSILON < start_delay:
            return False
        self._started = True
        self._playout = min(cells)
        return True

    def _end_pause(self, p: int) -> int:
        """Audio is back after an underrun, ahead of the held playout point: the sender paused.

        Undoes the delay the hold added: the point jumps forward by at most the
        number of held pops. If those add up to a PAUSE (media/gaps.py), the
        cells still missing before the new audio are the rest of it (silence,
        not loss), and the delay from before the pause comes back.

        Returns:
            The new playout point.
        """
        first = min(self._cells)
        held = self._held
        jump = min(held, first - p)
        self.stats.skipped_frames += jump
        self._hist = _shifted_history(self._hist, jump)
        self._held = 0
        if held * self._fs >= MIN_PAUSE * self._clock:
            self._pause_end = first
        return p + jump

    def _stretch(self, p: int) -> bytes | None:
        """Less than the target is buffered (a slow sender clock drains it): once the
        shortfall has lasted ``_COMPRESS_AFTER`` pops, play the quiet frame at ``p``
        twice (a loud one never).

        Returns:
            The frame played now (it stays at the playout point), or None.
        """
        self._short += 1
        if self._short < _COMPRESS_AFTER:
            return None
        quiet = self._quiet_frame(self._cells[p])
        if quiet is None:
            return None
        self._playout = p
        self._short = 0
        self.stats.inserted_frames += 1
        return self._plc.played(quiet)

    def _fill_missing(self, p: int, level: int, target: float) -> bytes | None:
        """No audio at the playout point: what stands in for it.

        The rest of a pause: nothing, and nothing lost. A hole with audio after
        it, while less than the target is buffered: expansion (the point is
        held, the missing packet may still come). A hole otherwise: loss. Nothing
        buffered at all: an underrun (the point is held).
        """
        if p < self._pause_end:
            self._pass_rest_of_pause(p)
            return None
        if not self._cells:
            return self._underrun(p)
        if level + self._expanding * self._fs < target * self._clock:
            return self._expand(p)
        return self._lose(p)

    def _pass_rest_of_pause(self, p: int) -> None:
        """A cell of the sender's pause (see :meth:`_end_pause`): nothing to play, nothing lost."""
        self._playout = p + 1
        self._hist = (self._hist & _HISTORY_BEFORE_SHIFT) << 1
        self.stats.skipped_frames += 1
        self.stats.underruns += 1

    def _expand(self, p: int) -> bytes:
        """Hold the playout point at a hole, concealed: the delay grows toward the target.

        The holds since the last played frame add up to the target at most, even
        if no more audio arrives.
        """
        self._playout = p
        self._expanding += 1
        self.stats.expanded_frames += 1
        self.stats.concealed_frames += 1
        repeat = self._concealment()
        return self._silence if repeat is None else repeat

    def _lose(self, p: int) -> bytes:
        """Pass a hole with audio after it: a lost frame, concealed."""
        self._playout = p + 1
        self._hist = (self._hist & _HISTORY_BEFORE_SHIFT) << 1
        self.stats.lost += 1
        self.stats.concealed_frames += 1
        repeat = self._concealment()
        return self._silence if repeat is None else repeat

    def _underrun(self, p: int) -> bytes | None:
        """Nothing buffered: hold the playout point (one frame more delay), concealed
        while the substitute lasts."""
        self._playout = p
        self._held += 1
        self.stats.underruns += 1
        repeat = self._concealment()
        if repeat is not None:
            self.stats.concealed_frames += 1
        return repeat

    def _concealment(self) -> bytes | None:
        """Return the next frame of substitute audio, or ``None`` when exhausted."""
        return self._plc.conceal(self._fs)

    def _quiet_frame(self, cell: bytes | _Partial) -> bytes | None:
        """The cell's frame if it is quiet (below ``_QUIET_DBFS``), else None."""
        frame = cell if isinstance(cell, bytes) else bytes(cell.data)
        return frame if self._codec.rms_dbfs(frame) < _QUIET_DBFS else None

    def _cut(self, p: int, cap: float, target: float) -> int:
        """Cut the buffered audio back to ``cap`` samples at once.

        Far too much is buffered: a burst after a network stall, or a jump
        ahead of the timestamps. The oldest cells go; if that leaves a hole
        (no audio) at the playout point, the hole goes too, down to
        ``target`` samples. Cells are never moved: a late packet for a
        dropped cell is simply late.

        Returns:
            The new playout point.
        """
        cells = self._cells
        fs = self._fs
        new_p = math.ceil((self._end - cap) / fs)
        if new_p - p > len(cells):
            for index in [i for i in cells if i < new_p]:
                del cells[index]
        else:
            for index in range(p, new_p):
                cells.pop(index, None)
        first = min(cells) if cells else new_p
        if first > new_p:
            # Only cells ahead of a hole are left: nothing to play in it.
            new_p = max(new_p, min(first, math.ceil((self._end - target) / fs)))
        self.stats.compressed_frames += new_p - p
        self._hist = 0
        return new_p

    def _compress(self, p: int, level: int, target: float) -> int:
        """Drop cells at the playout point while too much audio is buffered.

        Returns:
            The new playout point.
        """
        cells = self._cells
        fs = self._fs
        clock = self._clock
        pkt = self._pkt_samples
        cap = self._config.max_delay * clock
        if level > cap + max(pkt, fs):
            p = self._cut(p, cap, target * clock)
            self._excess = 0
            return p
        threshold = target * clock + 2 * fs + (pkt - fs if pkt > fs else 0)
        if level <= threshold:
            self._excess = 0
            return p
        self._excess += 1
        if self._excess < _COMPRESS_AFTER:
            return p
        cell = cells.get(p)
        if cell is not None:
            if self._quiet_frame(cell) is None:
                # Loud: wait for a quiet or missing cell; a little for a big
                # excess (a burst), long for a small one (a fast sender clock).
                patience = 2 * _COMPRESS_AFTER if level > threshold + 2 * fs else _DRIFT_PATIENCE
                if self._excess < patience:
                    return p
                self.stats.loud_adjustments += 1
            del cells[p]
        self._hist = ((self._hist & _HISTORY_BEFORE_SHIFT) << 1) | (cell is not None)
        self.stats.compressed_frames += 1
        self._excess = 0
        return p + 1
