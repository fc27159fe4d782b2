"""The beep and special-information-tone detector: frames in, tones out, on a fake clock.

Audio is real μ-law: sines (``channel.tone``, 5 ms ramps as real beeps have), noise,
speech-like harmonic complexes, DTMF pairs, and frames lost and concealed by the
receive path's own concealer. Frame ``n`` (from 0) ends at ``(n + 1) * 20 ms``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.app.evaluation.audio import encode
from sipgw.media import g711
from sipgw.media.plc import Concealer
from sipgw.media.tones.beep import (
    BeepConfig,
    BeepDetected,
    BeepDetector,
    BeepEvent,
    SpecialInfoToneDetected,
    measure_tone,
)
from tests.toolkit.amdset.channel import mix, noise, tone
from tests.toolkit.amdset.labelled import SIT_SEQUENCES

FRAME = 0.02


def frames_of(samples: Sequence[float]) -> list[bytes]:
    data = encode([round(s) for s in samples] + [0] * (-len(samples) % 160))
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def silence(seconds: float) -> list[float]:
    return [0.0] * round(seconds * 8000)


def run(frames: Sequence[bytes | None], detector: BeepDetector | None = None) -> list[BeepEvent]:
    detector = detector or BeepDetector()
    return [e for n, f in enumerate(frames) for e in detector.receive_frame(f, (n + 1) * FRAME)]


def dtmf(low: float, high: float, seconds: float, dbfs: float, twist_db: float) -> list[float]:
    return mix(tone(low, seconds, dbfs - twist_db), tone(high, seconds, dbfs))


# --------------------------------------------------------------------------- one frame


@pytest.mark.parametrize("hz", [400, 440, 850, 1000, 1400, 1776.7, 2000, 2100])
def test_a_sine_measures_as_itself(hz: float) -> None:
    frame = frames_of(tone(hz, 0.1, -20.0))[2]  # away from the ramps
    m = measure_tone(frame)
    assert abs(m.frequency_hz - hz) <= 0.015 * hz  # 160 samples: about 1 % low at 400 Hz
    assert m.share > 0.95
    assert abs(m.level_dbfs - -20.0) < 0.5


def test_white_noise_and_silence_carry_no_tone() -> None:
    rng = random.Random(1)
    shares = [measure_tone(f).share for f in frames_of(noise(8000, -20.0, rng))]
    assert max(shares) < 0.2
    m = measure_tone(g711.silence_frame("PCMU"))
    assert (m.frequency_hz, m.share, m.level_dbfs) == (0.0, 0.0, -math.inf)


@pytest.mark.parametrize("low", [697, 770, 852, 941])
@pytest.mark.parametrize("high", [1209, 1336, 1477, 1633])
def test_dtmf_pairs_are_not_a_tone_even_with_8_db_twist(low: float, high: float) -> None:
    """The single-sine estimate falls between the two tones, where neither is."""
    for twist in (0.0, 4.0, 8.0):
        frames = frames_of(dtmf(low, high, 0.1, -20.0, twist))[1:-1]
        assert max(measure_tone(f).share for f in frames) < 0.6, twist


# --------------------------------------------------------------------------- beeps


@dataclass(frozen=True)
class Case:
    name: str
    samples: list[float]
    beep: tuple[float, float, float] | None  # start, end, hz expected


def beep_case(hz: float, seconds: float, lead: float = 0.5, dbfs: float = -20.0) -> Case:
    return Case(
        f"{hz:g} Hz for {seconds:g} s",
        silence(lead) + tone(hz, seconds, dbfs) + silence(1.0),
        (lead, lead + seconds, hz),
    )


CASES = [
    beep_case(1000, 0.5),
    beep_case(440, 0.3),
    beep_case(850, 1.0),
    beep_case(1400, 0.1),
    beep_case(2000, 1.4),
    beep_case(600, 0.25, dbfs=-38.0),
    Case("a tone too short (60 ms)", silence(0.5) + tone(1000, 0.06, -20.0) + silence(1), None),
    Case(
        "a tone too long (2 s: a dial tone)", silence(0.5) + tone(1000, 2.0, -20) + silence(1), None
    ),
    Case("a tone too low (300 Hz)", silence(0.5) + tone(300, 0.5, -20.0) + silence(1.0), None),
    Case("a tone too high (3 kHz)", silence(0.5) + tone(3000, 0.5, -20.0) + silence(1.0), None),
    Case("a tone too quiet (-50 dBFS)", silence(0.5) + tone(1000, 0.5, -50.0) + silence(1), None),
    Case(
        "a tone that runs on into loud sound (a drawn-out vowel)",
        silence(0.5) + tone(1000, 0.5, -20.0) + noise(8000, -22.0, random.Random(2)),
        None,
    ),
    Case(
        "a tone that swells and fades",
        silence(0.5)
        + [
            v * (0.3 + 0.7 * math.sin(math.pi * i / 1600))
            for i, v in enumerate(tone(500, 0.2, -20))
        ]
        + silence(1.0),
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_beeps(case: Case) -> None:
    events = run(frames_of(case.samples))
    if case.beep is None:
        assert events == []
        return
    start, end, hz = case.beep
    (beep,) = events
    assert isinstance(beep, BeepDetected)
    assert abs(beep.start - start) <= 2 * FRAME and abs(beep.end - end) <= FRAME
    assert abs(beep.frequency_hz - hz) <= 0.015 * hz


def test_a_beep_is_reported_once_quiet_after_has_passed() -> None:
    detector = BeepDetector(BeepConfig(quiet_after=0.1))
    frames = frames_of(silence(0.5) + tone(1000, 0.5, -20.0) + silence(1.0))
    reported = [
        (n + 1) * FRAME for n, f in enumerate(frames) if detector.receive_frame(f, (n + 1) * FRAME)
    ]
    assert len(reported) == 1
    assert 1.0 + 0.1 <= reported[0] <= 1.0 + 0.1 + 2 * FRAME + 1e-9


def test_in_tone_marks_the_tone_frames_for_listeners() -> None:
    detector = BeepDetector()
    flags = []
    for n, f in enumerate(frames_of(silence(0.2) + tone(1000, 0.3, -20.0) + silence(0.3))):
        detector.receive_frame(f, (n + 1) * FRAME)
        flags.append(detector.in_tone)
    assert flags[:10] == [False] * 10
    assert all(flags[13:24]) and not any(flags[-10:])


def test_sounding_is_how_long_a_steady_tone_has_sounded() -> None:
    """``sounding`` grows with a steady tone, before it ends (a listener may act on a beep
    still sounding), and is 0 in silence, after the tone and for a tone that swells."""
    detector = BeepDetector()
    sounding = []
    for n, f in enumerate(frames_of(silence(0.2) + tone(1000, 0.6, -20.0) + silence(0.3))):
        detector.receive_frame(f, (n + 1) * FRAME)
        sounding.append(detector.sounding)
    assert sounding[:10] == [0.0] * 10
    assert 0.5 - 2 * FRAME <= max(sounding) <= 0.6 + 1e-9
    assert sounding[24] == pytest.approx(sounding[23] + FRAME)  # growing, frame by frame
    assert sounding[-5:] == [0.0] * 5
    swell = BeepDetector()
    samples = [
        v * (0.1 + 0.9 * math.sin(math.pi * i / 4800)) for i, v in enumerate(tone(500, 0.6, -20))
    ]
    peaks = []
    for n, f in enumerate(frames_of(silence(0.2) + samples)):
        swell.receive_frame(f, (n + 1) * FRAME)
        peaks.append(swell.sounding)
    assert max(peaks) < 0.2  # its level does not hold: no beep, whatever its length


def test_a_beep_survives_a_lost_packet_concealed() -> None:
    frames = frames_of(silence(0.5) + tone(850, 0.6, -20.0) + silence(1.0))
    concealer, received = Concealer(), []
    for n, f in enumerate(frames):
        lost = n in (40, 41)  # two packets in the middle of the beep
        received.append(concealer.conceal(160) if lost else concealer.played(f))
    (beep,) = run(received)
    assert isinstance(beep, BeepDetected) and abs(beep.end - 1.1) <= FRAME


def test_nothing_received_counts_as_silence() -> None:
    frames: list[bytes | None] = [*frames_of(tone(1000, 0.5, -20.0)), *([None] * 20)]
    (beep,) = run(frames)
    assert isinstance(beep, BeepDetected) and abs(beep.end - 0.5) <= FRAME


def test_a_beep_in_line_noise_15_db_below() -> None:
    rng = random.Random(4)
    samples = silence(0.5) + tone(1000, 0.4, -20.0) + silence(1.0)
    (beep,) = run(frames_of(mix(samples, noise(len(samples), -35.0, rng))))
    assert isinstance(beep, BeepDetected) and abs(beep.frequency_hz - 1000) < 10


@pytest.mark.parametrize("sequence", SIT_SEQUENCES, ids=["IC", "NC", "VC", "RO"])
def test_special_information_tones_are_not_beeps(sequence: tuple[tuple[float, float], ...]) -> None:
    samples = silence(0.3)
    for hz, seconds in sequence:
        samples += tone(hz, seconds, -22.0) + silence(0.002)
    samples += noise(8000, -25.0, random.Random(5))  # the announcement follows
    (sit,) = run(frames_of(samples))
    assert isinstance(sit, SpecialInfoToneDetected)
    assert [round(f, -1) for f in sit.frequencies] == [round(hz, -1) for hz, _ in sequence]
    assert abs(sit.start - 0.3) <= 2 * FRAME


def test_dtmf_digits_are_never_beeps() -> None:
    samples = silence(0.3)
    for low, high in [(697, 1209), (770, 1336), (852, 1477), (941, 1633)]:
        samples += dtmf(low, high, 0.2, -20.0, 4.0) + silence(0.2)
    assert run(frames_of(samples + silence(1.0))) == []


# --------------------------------------------------------------------------- properties


def speech_like(rng: random.Random, seconds: float, dbfs: float) -> list[float]:
    """A voiced sound: harmonics of a gliding pitch (80-300 Hz), random formant weights,
    a syllabic envelope, breath noise."""
    n = round(seconds * 8000)
    f0 = rng.uniform(80, 300)
    glide = rng.uniform(-0.4, 0.4)  # relative pitch change over the sound
    weights = [rng.uniform(0.0, 1.0) / k for k in range(1, 16)]
    syllable = rng.uniform(0.12, 0.3)
    out, phase = [], 0.0
    for i in range(n):
        t = i / 8000
        phase += 2 * math.pi * f0 * (1 + glide * t / seconds) / 8000
        voiced = sum(w * math.sin(k * phase) for k, w in enumerate(weights, 1) if k * f0 < 3400)
        envelope = 0.5 - 0.5 * math.cos(2 * math.pi * t / syllable)
        out.append(voiced * envelope + rng.gauss(0, 0.05))
    power = sum(v * v for v in out) / n
    gain = 32768 * 10 ** (dbfs / 20) / math.sqrt(power)
    return [v * gain for v in out]


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32), dbfs=st.floats(-45.0, -6.0), seconds=st.floats(0.3, 2.0))
def test_speech_like_sound_is_never_a_beep(seed: int, dbfs: float, seconds: float) -> None:
    samples = silence(0.2) + speech_like(random.Random(seed), seconds, dbfs) + silence(0.5)
    assert not [e for e in run(frames_of(samples)) if isinstance(e, BeepDetected)]


@settings(max_examples=60)
@given(data=st.binary(min_size=160, max_size=160 * 30), cap=st.floats(-80.0, -46.0))
def test_nothing_below_the_level_floor_is_ever_a_tone(data: bytes, cap: float) -> None:
    """Any audio at all, scaled below ``min_level_dbfs`` (-45 dBFS), gives no event."""
    frames = []
    for i in range(0, len(data) - 159, 160):
        frame = data[i : i + 160]
        level = g711.rms_dbfs(frame)
        steps = max(0, math.ceil((level - cap) / 6.02)) if level > cap else 0
        quiet = g711.attenuate(frame, "PCMU", steps)
        assert g711.rms_dbfs(quiet) < -45.0 or quiet == frame
        frames.append(quiet)
    detector = BeepDetector()
    for n, f in enumerate(frames * 3):
        assert detector.receive_frame(f, (n + 1) * FRAME) == ()
        assert not detector.in_tone


@settings(max_examples=60)
@given(
    hz=st.floats(420.0, 2050.0),
    seconds=st.floats(0.12, 1.4),
    dbfs=st.floats(-38.0, -8.0),
    lead=st.floats(0.1, 1.0),
    phase=st.floats(0.0, 6.28),
)
def test_any_beep_in_the_band_is_found_once(
    hz: float, seconds: float, dbfs: float, lead: float, phase: float
) -> None:
    samples = silence(lead) + tone(hz, seconds, dbfs, phase) + silence(0.6)
    samples = mix(samples, noise(len(samples), dbfs - 30.0, random.Random(int(hz))))
    events = run(frames_of(samples))
    assert len(events) == 1
    (beep,) = events
    assert isinstance(beep, BeepDetected)
    assert abs(beep.frequency_hz - hz) <= 0.02 * hz
    assert abs(beep.end - (lead + seconds)) <= 2 * FRAME
