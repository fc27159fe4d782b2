"""Pauses and timestamp jumps in the caller's stream: playout re-anchors on the new packets.

A synthetic sender sends 20 ms packets; at one point it pauses its arrivals, jumps its
timestamps, jumps its sequence numbers and/or sets the marker bit, in every combination the
issue lists (baresip's hold: pause, timestamps jump by the pause, sequence numbers continue,
no marker). After the gap, the delay between a packet's arrival and its playout must stay within
the jitter buffer's target (plus the tick that pops it), and the listeners' tap
(media/ingress.py) must agree on what was a gap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from sipgw.media import g711
from sipgw.media.gaps import Gap, classify_gap
from sipgw.media.ingress import IngressAudio
from sipgw.media.jitterbuffer import JitterBuffer
from sipgw.media.rtp import RtpPacket

TICK = 0.020
PHASE = 0.007  # arrivals fall between ticks


def frame(i: int) -> bytes:
    """A distinct, loud 160-octet μ-law frame for packet ``i``."""
    return (i & 0xFFFF).to_bytes(2, "big") + b"\x10" * 158


def index_of(data: bytes | None) -> int | None:
    if data is None or data[2:] != b"\x10" * 158:
        return None
    return int.from_bytes(data[:2], "big")


@dataclass(frozen=True)
class Gapped:
    """Packets 0..n-1; from packet ``at`` on: arrivals ``pause`` s later, timestamps
    ``ts_jump`` s further, sequence numbers ``seq_jump`` further, marker on packet ``at``."""

    pause: float
    ts_jump: float
    seq_jump: int = 0
    marker: bool = False
    at: int = 100
    n: int = 200

    def arrival(self, i: int) -> float:
        return 1.0 + PHASE + i * TICK + (self.pause if i >= self.at else 0.0)

    def packet(self, i: int) -> RtpPacket:
        after = i >= self.at
        return RtpPacket(
            payload_type=0,
            sequence_number=(1000 + i + (self.seq_jump if after else 0)) & 0xFFFF,
            timestamp=(0xFFFF0000 + i * 160 + (round(self.ts_jump * 8000) if after else 0))
            & 0xFFFFFFFF,
            ssrc=0x1234,
            marker=self.marker and i == self.at,
            payload=frame(i),
        )


def play(stream: Gapped, jb: JitterBuffer) -> dict[int, float]:
    """Pushes at arrival times, pops every tick; returns each packet's playout delay."""
    delays: dict[int, float] = {}
    arrivals = [(stream.arrival(i), i) for i in range(stream.n)]
    end = arrivals[-1][0] + 1.0
    k, now = 0, 1.0
    while now < end:
        while k < len(arrivals) and arrivals[k][0] <= now:
            jb.push(stream.packet(arrivals[k][1]), arrivals[k][0])
            k += 1
        index = index_of(jb.pop(now))
        if index is not None:
            delays[index] = now - stream.arrival(index)
        now += TICK
    return delays


CASES = (
    [
        pytest.param(Gapped(p, p, s, m), id=f"pause{p}s-ts-jump-seq{'+' if s else '='}-m{int(m)}")
        for p in (0.2, 4.0, 60.0)
        for s in (0, round(p / TICK))
        for m in (False, True)
    ]
    + [
        pytest.param(Gapped(p, 0.0, 0, m), id=f"pause{p}s-ts-continue-m{int(m)}")
        for p in (0.2, 4.0, 60.0)
        for m in (False, True)
    ]
    + [
        pytest.param(Gapped(0.0, j, s, m), id=f"skip{j}s-no-pause-seq{'+' if s else '='}-m{int(m)}")
        for j in (0.2, 0.5, 4.0)
        for s in (0, 1)
        for m in (False, True)
    ]
)


@pytest.mark.parametrize("stream", CASES)
def test_playout_reanchors_after_any_gap(stream: Gapped) -> None:
    jb = JitterBuffer()
    delays = play(stream, jb)
    target = jb.stats.target_delay
    before = [delays[i] for i in range(stream.at - 20, stream.at)]
    # The first packet after the gap is faded in by the concealment (media/plc.py): the
    # ones after it are played as sent.
    after = [delays[i] for i in range(stream.at + 1, stream.n) if i in delays]
    assert max(before) <= target + TICK
    # Every packet after the gap is played, none later than the target (+ the tick popping it).
    missing = sorted(set(range(stream.at + 1, stream.n)) - set(delays))
    assert len(after) == stream.n - stream.at - 1, missing
    assert max(after) <= target + TICK + 1e-9, (max(after), target, after[:5])
    assert jb.stats.lost == 0 and jb.stats.late == 0


@pytest.mark.parametrize("stream", CASES)
def test_listeners_tap_hears_the_gap_as_the_playout_does(stream: Gapped) -> None:
    """media/ingress.py: audio after the gap is released at once; a pause comes as silence,
    a skip of the sender's timestamps (no time passed) does not."""
    tap = IngressAudio()
    released: list[tuple[float, bytes]] = []
    arrivals = [(stream.arrival(i), i) for i in range(stream.n)]
    k, now = 0, 1.0
    while k < len(arrivals):
        while k < len(arrivals) and arrivals[k][0] <= now:
            at, i = arrivals[k]
            released += [(at, f) for f in tap.push(stream.packet(i), at)]
            k += 1
        released += [(now, f) for f in tap.poll(now, 0.04)]
        now += TICK
    # Released the moment it arrived (the first packet after the gap faded in, media/plc.py).
    k = next(k for k, (_, f) in enumerate(released) if index_of(f) == stream.at + 1)
    assert released[k][0] == stream.arrival(stream.at + 1)
    assert released[k - 1][0] == stream.arrival(stream.at)
    silence = sum(1 for _, f in released[: k - 1] if f == g711.silence_frame("PCMU"))
    kind = classify_gap(round(stream.ts_jump * 8000) + 160, stream.pause + TICK, 8000, 0.04)
    if kind is Gap.SKIP:
        assert silence == 0  # the sender left the silence out, and no time passed
    else:
        # The pause's silence, at real-time pace (or cut short by a restart).
        assert silence <= round(stream.pause / TICK) + 1


@pytest.mark.parametrize("max_jitter", [0.03, 0.15, 0.3])
def test_jitter_is_never_taken_for_a_skip(max_jitter: float) -> None:
    """A long stream with heavy random jitter: no re-anchor, audio played in order."""
    rng = random.Random(int(max_jitter * 1000))
    stream = Gapped(0.0, 0.0, n=3000)
    arrivals = sorted((stream.arrival(i) + rng.uniform(0, max_jitter), i) for i in range(3000))
    jb = JitterBuffer()
    played: list[int] = []
    k, now = 0, 1.0
    while k < len(arrivals) or now < arrivals[-1][0] + 1.0:
        while k < len(arrivals) and arrivals[k][0] <= now:
            jb.push(stream.packet(arrivals[k][1]), arrivals[k][0])
            k += 1
        index = index_of(jb.pop(now))
        if index is not None:
            played.append(index)
        now += TICK
    assert jb.stats.reanchors == 0 and jb.stats.resyncs == 0
    assert played == sorted(set(played))
    assert len(played) >= 0.9 * 3000
