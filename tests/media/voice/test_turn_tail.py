"""The turn model's tail (media/voice/turn_tail.py): the same probability as the model asked from
scratch, its pitch measured ahead on the quiet frames before the decision, and its memory
bounded. Frames are counted, never timed: frame n is the n-th pushed."""

from __future__ import annotations

import random

import pytest

from sipgw.app.evaluation.audio import decode, encode
from sipgw.media.voice.turn_model import default_model, pitch_track, speech_span, track_windows
from sipgw.media.voice.turn_tail import FRAME_SAMPLES, TAIL_FRAMES, TurnTail
from tests.media.voice.test_turn_model import contour, voiced

PAUSE_FRAMES = 10  # 200 ms


def call_audio(end_hz: float, seconds: float = 1.6, seed: int = 1) -> bytes:
    """μ-law of a voice gliding to ``end_hz`` over its last 400 ms, then 200 ms of hiss
    (the pause), in whole frames."""
    rng = random.Random(seed)
    samples = voiced(contour(end_hz, seconds), seed)
    samples += [round(rng.gauss(0, 20)) for _ in range(PAUSE_FRAMES * FRAME_SAMPLES)]
    whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
    return encode(samples[len(samples) - whole :])


def frames_of(ulaw: bytes) -> list[bytes]:
    return [ulaw[i : i + FRAME_SAMPLES] for i in range(0, len(ulaw), FRAME_SAMPLES)]


def played(ulaw: bytes, tail: TurnTail, pause_frames: int = PAUSE_FRAMES) -> list[int]:
    """Push every frame; on the pause's quiet frames before the last, prepare as the early
    end does. Returns what each prepare measured."""
    frames = frames_of(ulaw)
    shares = []
    for n, frame in enumerate(frames):
        tail.push(frame)
        quiet = n - (len(frames) - pause_frames) + 1  # 1 on the pause's first frame
        if 1 <= quiet < pause_frames:
            shares.append(tail.prepare(quiet, pause_frames - quiet))
    return shares


@pytest.mark.parametrize("end_hz", [95.0, 140.0, 190.0])
@pytest.mark.parametrize("words", [None, "I'd like a table for", "a table for two"])
def test_the_tail_gives_the_models_own_probability(end_hz: float, words: str | None) -> None:
    ulaw = call_audio(end_hz)
    tail = TurnTail()
    played(ulaw, tail)
    pcm = decode(ulaw)
    start, end = speech_span(len(pcm))
    assert sum(p is not None for p in pitch_track(pcm[start:end])) > 20  # voiced: pitch read
    assert tail.probability(PAUSE_FRAMES, words) == default_model().decide(pcm, words, 0.2)


def test_the_quiet_frames_measure_the_pitch_and_the_deciding_one_nothing() -> None:
    tail = TurnTail()
    shares = played(call_audio(95.0), tail)
    windows = track_windows(60 * FRAME_SAMPLES)  # 1.2 s of speech
    assert sum(shares) == windows == 59
    # spread: an even share of what is left on each quiet frame, never all at once
    assert max(shares) <= -(-windows // (PAUSE_FRAMES - 1)) + 1
    measured = tail.measured
    tail.probability(PAUSE_FRAMES)
    assert tail.measured == measured


def test_a_window_measured_at_one_pause_serves_the_next() -> None:
    """The caller goes on after a short pause: the next pause's 1.2 s overlap the first's,
    and only the new windows are measured."""
    tail = TurnTail()
    first = call_audio(140.0, seed=1)
    played(first, tail)
    before = tail.measured
    more = frames_of(call_audio(140.0, seconds=0.4, seed=2))  # 0.4 s of speech, a pause
    shares = played(b"".join(more), tail)
    assert 0 < sum(shares) <= len(more)  # about one window per new frame
    assert tail.measured <= before + len(more)


def test_the_tail_stays_bounded_on_a_long_call() -> None:
    tail = TurnTail()
    for n in range(4):
        played(call_audio(120.0, seed=n), tail)
    assert tail.frames == TAIL_FRAMES
    assert tail.measured <= TAIL_FRAMES


def test_a_call_shorter_than_the_window() -> None:
    """Half a second of speech, then the pause: the model reads what there is."""
    ulaw = call_audio(95.0, seconds=0.5)
    tail = TurnTail()
    played(ulaw, tail)
    assert tail.frames == len(ulaw) // FRAME_SAMPLES < TAIL_FRAMES
    assert tail.probability(PAUSE_FRAMES) == default_model().decide(decode(ulaw), None, 0.2)


def test_no_audio_yet() -> None:
    tail = TurnTail()
    assert tail.prepare(PAUSE_FRAMES - 1, 1) == 0
    assert 0.0 <= tail.probability(PAUSE_FRAMES) <= 1.0
