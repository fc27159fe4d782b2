"""Clock drift: a caller whose clock runs 0.5 % fast or slow for 10 minutes (fake clock).

The caller talks in bursts (1.5 s of loud audio, 0.5 s of quiet); its packets come every
20 ms / (1 ± 0.005). The jitter buffer's delay must stay bounded, with the adjustments
(frames dropped or played twice) counted and placed in the quiet stretches.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from sipgw.app.evaluation.audio import noise_frame, tone_frame
from sipgw.media.jitterbuffer import JitterBuffer, JitterBufferStats
from sipgw.media.rtp import RtpPacket

TICK = 0.020
MINUTES = 10


def drift_run(ppm: int, minutes: float = MINUTES) -> tuple[JitterBuffer, list[float], int, int]:
    """Returns the buffer, the delay (buffered audio) at each pop while the caller sends,
    and loud frames sent and played. Stats are those of the pops while the caller sends."""
    rng = random.Random(ppm)
    loud = tone_frame(440, -15.0)
    quiet = noise_frame(-60.0, rng)
    period = TICK / (1 + ppm / 1e6)  # the sender's 20 ms on our clock
    jb = JitterBuffer()
    delays: list[float] = []
    loud_played = loud_sent = 0
    stats: JitterBufferStats | None = None
    packets = int(minutes * 60 / period)
    k, now = 0, 0.0
    while k < packets or now < 0.003 + packets * period + 0.2:  # the last ones play too
        while k < packets and 0.003 + k * period <= now:
            talking = (k % 100) < 75  # 1.5 s of speech, 0.5 s of quiet
            loud_sent += talking
            jb.push(
                RtpPacket(
                    payload_type=0,
                    sequence_number=k & 0xFFFF,
                    timestamp=(k * 160) & 0xFFFFFFFF,
                    ssrc=7,
                    payload=loud if talking else quiet,
                ),
                0.003 + k * period,
            )
            k += 1
        sending = k < packets
        if not sending and stats is None:
            stats = replace(jb.stats)  # the stream ends: the underruns from here are its end
        if jb.pop(now) == loud:
            loud_played += 1
        if jb.started and sending:
            delays.append(jb.stats.current_delay)
        now += TICK
    assert stats is not None
    jb.stats = stats
    return jb, delays, loud_sent, loud_played


@pytest.mark.parametrize("ppm", [5000, -5000])
def test_ten_minutes_of_drift_keep_the_delay_bounded(ppm: int) -> None:
    jb, delays, loud_sent, loud_played = drift_run(ppm)
    st = jb.stats
    expected = MINUTES * 60 / TICK * abs(ppm) / 1e6  # 150 frames in 10 minutes
    if ppm > 0:  # fast: frames dropped
        assert st.compressed_frames == pytest.approx(expected, abs=5)
        assert st.inserted_frames == 0
    else:  # slow: quiet frames played twice
        assert st.inserted_frames == pytest.approx(expected, abs=5)
        assert st.compressed_frames == 0
    # Bounded: within a few frames of the target at every pop of the 10 minutes.
    assert max(delays) <= st.target_delay + 3 * TICK + 1e-9, max(delays)
    assert min(delays[50:]) >= 0.0
    # In the quiet stretches: no loud frame dropped, none doubled, no underrun mid-word.
    assert st.loud_adjustments == 0
    assert loud_played == loud_sent  # every word played once: none dropped, none doubled
    assert st.underruns == 0 and st.lost == 0 and st.concealed_frames == 0


def test_drift_in_continuous_speech_still_bounded() -> None:
    """No quiet frame ever (a tone for 10 minutes): loud frames go, counted as such."""
    loud = tone_frame(440, -15.0)
    period = TICK / 1.005
    jb = JitterBuffer()
    worst = 0.0
    k, now = 0, 0.0
    while now < MINUTES * 60:
        while 0.003 + k * period <= now:
            packet = RtpPacket(0, k & 0xFFFF, (k * 160) & 0xFFFFFFFF, 7, payload=loud)
            jb.push(packet, 0.003 + k * period)
            k += 1
        jb.pop(now)
        worst = max(worst, jb.stats.current_delay)
        now += TICK
    assert jb.stats.loud_adjustments == jb.stats.compressed_frames > 100
    assert worst <= jb.stats.target_delay + 5 * TICK
