"""The energy VAD: onset after start_ms, hangover, noise floor, calibration."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sipgw.app.evaluation.audio import noise_frame, tone_frame
from sipgw.media import g711
from sipgw.media.plc import Concealer
from sipgw.media.voice.vad import VadConfig, VadEvent, VoiceActivityDetector

SILENCE = g711.silence_frame("PCMU")


def run(vad: VoiceActivityDetector, frames: Sequence[bytes | None]) -> list[tuple[int, VadEvent]]:
    return [(i, e) for i, f in enumerate(frames) if (e := vad.push(f)) is not VadEvent.NONE]


def test_speech_starts_after_start_ms_and_ends_after_hangover() -> None:
    vad = VoiceActivityDetector(VadConfig(start_ms=60, hangover_ms=200))
    frames = [SILENCE] * 20 + [tone_frame(300, -20) for i in range(25)] + [SILENCE] * 20
    assert run(vad, frames) == [(22, VadEvent.STARTED), (54, VadEvent.ENDED)]


def test_a_click_is_not_speech() -> None:
    vad = VoiceActivityDetector(VadConfig(start_ms=60))
    frames = [SILENCE] * 20 + [tone_frame(300, -10), tone_frame(300, -10)] + [SILENCE] * 20
    assert run(vad, frames) == []


def test_quiet_audio_below_the_absolute_floor_is_not_speech() -> None:
    vad = VoiceActivityDetector(VadConfig(min_level_dbfs=-40))
    assert run(vad, [SILENCE] * 20 + [tone_frame(300, -50) for i in range(50)]) == []


def test_stationary_noise_from_the_first_frame_is_not_speech() -> None:
    rng = random.Random(3)
    vad = VoiceActivityDetector()
    frames: list[bytes | None] = [noise_frame(-30, rng) for _ in range(300)]
    assert run(vad, frames) == []
    # ...but speech over it is.
    speech = [tone_frame(300, -12) for i in range(20)]
    assert [e for _, e in run(vad, speech)] == [VadEvent.STARTED]


def test_a_steady_sound_from_the_first_frame_is_the_lines_noise() -> None:
    vad = VoiceActivityDetector(VadConfig(calibration_ms=200, start_ms=60))
    assert run(vad, [tone_frame(300, -15) for i in range(20)]) == []


def test_a_steady_sound_becomes_noise_after_the_window() -> None:
    vad = VoiceActivityDetector(VadConfig(noise_window_ms=1000, hangover_ms=200))
    events = run(vad, [SILENCE] * 20 + [tone_frame(300, -15) for i in range(150)])
    assert [e for _, e in events] == [VadEvent.STARTED, VadEvent.ENDED]
    assert events[1][0] < 20 + 60 + 10


def test_speech_ms_counts_loud_frames() -> None:
    vad = VoiceActivityDetector(VadConfig(start_ms=60))
    run(vad, [SILENCE] * 20 + [tone_frame(300, -15) for i in range(10)])
    assert vad.speaking and vad.speech_ms == 200
    assert vad.push(None) is VadEvent.NONE  # a missing frame counts as quiet


def _concealed(frames: list[bytes], lost: set[int]) -> list[bytes]:
    """``frames`` as the receive path hands them on: lost ones concealed (60 ms at most),
    then silence."""
    concealer, out = Concealer(), []
    for n, frame in enumerate(frames):
        if n in lost:
            out.append(concealer.conceal(160) or SILENCE)
        else:
            out.append(concealer.played(frame))
    return out


def test_lost_packets_in_room_noise_do_not_make_the_noise_speech() -> None:
    """A burst of lost packets is concealed, fading to silence: those frames are not the
    line's noise, or for a window after them the noise would count as speech."""
    rng = random.Random(7)
    noisy = [noise_frame(-30, rng) for _ in range(400)]
    for burst_at in (50, 150, 250):
        received = _concealed(noisy, set(range(burst_at, burst_at + 4)))
        vad = VoiceActivityDetector(VadConfig(calibration_ms=0))
        assert run(vad, received) == [], burst_at


def test_speech_with_short_silent_gaps_stays_speech() -> None:
    """A softphone playing a file sends digital silence between syllables: those gaps are
    the floor, and three seconds of such speech stay speech."""
    vad = VoiceActivityDetector(VadConfig(calibration_ms=0, start_ms=60))
    syllable = [tone_frame(300, -20) for _ in range(8)] + [SILENCE] * 2
    events = run(vad, [SILENCE] * 5 + syllable * 15 + [SILENCE] * 30)
    assert events == [(7, VadEvent.STARTED), (5 + 150 - 3 + 15, VadEvent.ENDED)]  # hangover


def test_push_level_decides_as_push_does() -> None:
    """A caller that measured the frame's level already (the model detector) gets the same
    events, loudness and noise floor from :meth:`push_level` as from :meth:`push`."""
    rng = random.Random(7)
    frames: list[bytes | None] = [noise_frame(-55, rng) for _ in range(60)]
    frames += [tone_frame(300, -20)] * 20 + [None] * 5 + [SILENCE] * 30
    frames += [noise_frame(-35, rng) for _ in range(150)] + [tone_frame(500, -15)] * 10
    by_frame, by_level = VoiceActivityDetector(), VoiceActivityDetector()
    for frame in frames:
        level = max(g711.rms_dbfs(frame), -100.0) if frame else -100.0
        assert by_frame.push(frame) is by_level.push_level(level)
        assert (by_frame.loud, by_frame.noise_dbfs, by_frame.speaking) == (
            by_level.loud,
            by_level.noise_dbfs,
            by_level.speaking,
        )
    assert by_level.noise_dbfs > -50  # the louder noise became the floor


def _floor_by_sorting(levels: Sequence[float], window_ms: int) -> list[float]:
    """The noise floor after each level, straight from its definition: every finished block's
    silent count and sounding levels, the window's levels sorted, the ``rank``-th taken."""
    from sipgw.media.voice.vad import (
        BLOCK_FRAMES,
        FRAME_MS,
        QUIET_SHARE,
        SILENCE_DBFS,
        SILENT_DBFS,
        SILENT_SHARE,
    )

    window_blocks = max(1, window_ms // (BLOCK_FRAMES * FRAME_MS))
    rank = max(1, round(QUIET_SHARE * window_blocks * BLOCK_FRAMES))
    blocks: list[list[float]] = []
    block: list[float] = []
    floors = []
    floor = SILENT_DBFS
    for level in levels:
        block.append(level)
        if len(block) < BLOCK_FRAMES:
            if not blocks:
                floor = min(block)
        else:
            blocks = [*blocks, block][-window_blocks:]
            block = []
            window = [v for b in blocks for v in b]
            sounding = sorted(v for v in window if v >= SILENCE_DBFS)
            if len(window) - len(sounding) >= SILENT_SHARE * len(window):
                floor = SILENT_DBFS
            else:
                floor = sounding[min(rank, len(sounding)) - 1] if sounding else SILENT_DBFS
        floors.append(floor)
    return floors


def _floors(levels: list[float], window_ms: int) -> list[float]:
    """The detector's noise floor after each of ``levels``."""
    vad = VoiceActivityDetector(VadConfig(noise_window_ms=window_ms))
    floors = []
    for level in levels:
        vad.push_level(level)
        floors.append(vad.noise_dbfs)
    return floors


def test_the_noise_floor_is_the_windows_rank_th_quietest_sounding_frame() -> None:
    rng = random.Random(7)
    for window_ms in (100, 500, 2000, 3000):
        levels = [
            -100.0 if rng.random() < 0.15 else round(rng.uniform(-70.0, -10.0), rng.choice([0, 1]))
            for _ in range(1500)
        ]
        assert _floors(levels, window_ms) == _floor_by_sorting(levels, window_ms), window_ms


def test_the_noise_floor_follows_its_definition_through_ties_and_silences() -> None:
    """The window's quietest levels kept across blocks (found again only when the block that
    leaves held one) give the floor the definition gives: levels from a few values (ties
    within and across blocks), runs of digital silence, steps up and down."""
    rng = random.Random(11)
    levels: list[float] = []
    for _ in range(60):
        kind = rng.random()
        run = rng.randint(1, 60)
        if kind < 0.2:
            levels += [-100.0] * run
        elif kind < 0.6:
            levels += [float(rng.choice([-45, -44, -44, -43])) for _ in range(run)]
        else:
            base = rng.uniform(-70.0, -20.0)
            levels += [round(base + rng.uniform(0, 12), 0) for _ in range(run)]
    for window_ms in (100, 2000, 3000):
        assert _floors(levels, window_ms) == _floor_by_sorting(levels, window_ms), window_ms
