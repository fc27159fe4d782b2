"""The turn model: its pitch tracker on the telephone band, its text cues, the shipped
weights' direction on synthetic contours, and its accuracy on a held-out slice of the
turn set (voices and wording the weights never saw; docs/quality.md has the figures)."""

from __future__ import annotations

import json
import math
import random

import pytest

from sipgw.media.voice import turn_model
from sipgw.media.voice.turn_model import (
    AUDIO_FEATURES,
    TEXT_FEATURES,
    TurnModel,
    audio_features,
    decide,
    default_model,
    pitch_track,
    text_features,
)

RATE = 8000


def voiced(contour: list[float], seed: int = 1, syllables_hz: float = 4.0) -> list[int]:
    """A voice on the telephone band: harmonics 2 to 3400 Hz of the F0 ``contour`` (one
    value a sample; the fundamental itself cut, as G.712 cuts it), in syllables
    (``syllables_hz`` level bumps), at about -20 dBFS, with line hiss."""
    rng = random.Random(seed)
    phase = 0.0
    out = []
    for i, f0 in enumerate(contour):
        phase += 2 * math.pi * f0 / RATE
        wave = sum(math.sin(k * phase) / k for k in range(2, int(3400 / f0) + 1))
        bump = 0.55 + 0.45 * math.cos(2 * math.pi * syllables_hz * i / RATE) ** 2
        out.append(round(1800 * bump * wave + rng.gauss(0, 20)))
    return out


def with_pause(samples: list[int], seconds: float = 0.2) -> list[int]:
    rng = random.Random(7)
    return samples + [round(rng.gauss(0, 20)) for _ in range(round(seconds * RATE))]


@pytest.mark.parametrize("f0", [95.0, 130.0, 180.0, 240.0])
def test_the_pitch_tracker_finds_a_missing_fundamental(f0: float) -> None:
    track = pitch_track(voiced([f0] * RATE))
    found = [p for p in track if p is not None]
    assert len(found) >= 0.8 * len(track)
    assert sorted(found)[len(found) // 2] == pytest.approx(f0, rel=0.03)


def test_the_pitch_tracker_says_nothing_of_noise_and_silence() -> None:
    rng = random.Random(3)
    noise = [round(rng.gauss(0, 3000)) for _ in range(RATE)]
    assert sum(p is not None for p in pitch_track(noise)) <= 0.1 * len(pitch_track(noise))
    assert set(pitch_track([0] * RATE)) == {None}


def contour(end_hz: float, seconds: float = 1.4, start_hz: float = 140.0) -> list[float]:
    """Level at ``start_hz``, then the last 400 ms gliding to ``end_hz``."""
    n, glide = round(seconds * RATE), round(0.4 * RATE)
    return [
        start_hz if i < n - glide else start_hz + (end_hz - start_hz) * (i - n + glide) / glide
        for i in range(n)
    ]


def test_a_falling_end_measures_lower_than_a_rising_one() -> None:
    fall = audio_features(with_pause(voiced(contour(95.0))))
    rise = audio_features(with_pause(voiced(contour(190.0))))
    final_pitch = AUDIO_FEATURES.index("final_pitch")
    slope = AUDIO_FEATURES.index("final_slope")
    assert fall[final_pitch] < -3.0 < 3.0 < rise[final_pitch]
    assert fall[slope] < -10.0 < 10.0 < rise[slope]


def pitch_only_model(weight: float) -> TurnModel:
    """A model whose only cue is the final pitch against the median (``weight`` per
    standard deviation of 3 semitones)."""
    n = len(AUDIO_FEATURES)
    weights = [0.0] * n
    weights[AUDIO_FEATURES.index("final_pitch")] = weight
    audio = {"mean": [0.0] * n, "scale": [3.0] * n, "weights": weights, "bias": 0.0,
             "threshold": 0.5}  # fmt: skip
    both = {**audio, "mean": [0.0] * (n + len(TEXT_FEATURES)),
            "scale": [3.0] * (n + len(TEXT_FEATURES)),
            "weights": [*weights, *[0.0] * len(TEXT_FEATURES)]}  # fmt: skip
    return TurnModel.parse({"audio_features": list(AUDIO_FEATURES),
                            "text_features": list(TEXT_FEATURES),
                            "audio": audio, "audio+text": both})  # fmt: skip


def test_a_fall_decides_finished_and_a_rise_not_yet_through_the_whole_path() -> None:
    model = pitch_only_model(-1.0)
    fall, level, rise = (
        model.decide(with_pause(voiced(contour(end)))) for end in (95.0, 140.0, 190.0)
    )
    assert fall > 0.8 and 0.4 < level < 0.6 and rise < 0.2
    assert model.finished(fall, False) and not model.finished(rise, False)


def test_the_shipped_weights_never_take_a_rise_for_an_end() -> None:
    """The pitch features' weights are at most 0 (bench/turn_model_train.py holds them so:
    on the synthetic voices a free fit learns the engines' quirks there)."""
    model = default_model()
    for weights in (model.audio.weights, model.audio_text.weights):
        for name in ("final_pitch", "final_above_low", "final_slope"):
            assert weights[AUDIO_FEATURES.index(name)] <= 0.0


def test_text_cues() -> None:
    names = dict(zip(TEXT_FEATURES, text_features("I'd like to book a table for"), strict=True))
    assert names["preposition"] == 1.0 and names["conjunction"] == 0.0
    assert text_features("my account number is four five")[TEXT_FEATURES.index("number")] == 1
    assert text_features("the postcode is S W")[TEXT_FEATURES.index("number")] == 1
    assert text_features("Can you read me back the number")[TEXT_FEATURES.index("question")] == 1
    assert text_features("two people at eight tonight") == [0.0] * len(TEXT_FEATURES)
    assert text_features("I called yesterday and")[TEXT_FEATURES.index("conjunction")] == 1


def test_an_open_sentence_lowers_the_probability() -> None:
    audio = with_pause(voiced(contour(120.0)))
    assert decide(audio, "I'd like to book a table for") < decide(audio, "a table for two")
    assert decide(audio, "I'd like a table and") < decide(audio, "I'd like a table")


def test_probabilities_are_deterministic_and_bounded() -> None:
    audio = with_pause(voiced(contour(110.0)))
    assert decide(audio) == decide(list(audio))
    for tail in (audio, [0] * 4000, [], audio[:800]):
        assert 0.0 <= decide(tail) <= 1.0
        assert 0.0 <= decide(tail, "hello") <= 1.0


def test_weights_of_other_features_are_refused() -> None:
    data = json.loads(turn_model.WEIGHTS.read_text())
    assert TurnModel.parse(data) == default_model()
    data["audio_features"] = [*data["audio_features"], "something_else"]
    with pytest.raises(ValueError, match="other features"):
        TurnModel.parse(data)


HELD_OUT_UTTERANCES = 64
"""The test split's first 64 utterances (8 lines, each by the 4 held-out voices, finished
and not), G.712 band, clean."""
ACCURACY_FLOOR = {"audio": 0.53, "audio+text": 0.65}
"""What the shipped weights get on them (0.61 and 0.73 when they were trained), less 8
points: 0.5 is a coin."""


@pytest.mark.timeout(600)
def test_accuracy_on_held_out_voices_and_lines() -> None:
    from tests.toolkit.turnset.labelled import CONDITIONS, build

    model = default_model()
    right = {"audio": 0, "audio+text": 0}
    samples = list(build("test", CONDITIONS[:1], limit=HELD_OUT_UTTERANCES))
    for sample in samples:
        features = audio_features(sample.pcm())
        for name, words in (("audio", None), ("audio+text", sample.utterance.words)):
            p = model.probability(features, words)
            right[name] += model.finished(p, words is not None) == sample.finished
    for name, floor in ACCURACY_FLOOR.items():
        assert right[name] / len(samples) >= floor, (name, right[name], len(samples))
