"""bench.room: the room's transcripts, answered with the energy detector, not with the
model detector; the caller's turns answered with both."""

from __future__ import annotations

import pytest

from bench.room import ANSWERS, measure, voiced_spans
from tests.toolkit.amdset.speech import Voice
from tests.toolkit.noisy_audio import room_voices
from tests.toolkit.voice_identity import same_audio

pytestmark = pytest.mark.timeout(120)


def test_a_tv_is_answered_only_without_the_room_gate() -> None:
    figures = measure("tv", 10.0, 20.0, ["energy", "model"])
    assert figures["energy"]["room_turns"] >= 2
    assert figures["energy"]["answered_per_min"] > 0
    assert figures["model"]["answered_per_min"] == 0
    assert figures["model"]["heard_from_room_per_min"] > 0
    for pipeline in ("energy", "model"):
        assert figures[pipeline]["caller_answered"] == figures[pipeline]["caller_turns"] >= 2


def test_the_fake_stt_turns_are_the_rooms_voiced_stretches() -> None:
    track = [0] * 8000 + [3000, -3000] * 8000 + [0] * 16000 + [3000, -3000] * 4000
    spans = voiced_spans(track)
    assert [(round(a, 1), round(b, 1)) for a, b in spans] == [(1.0, 3.0), (5.0, 6.0)]


def test_the_callers_answers_are_in_voices_of_their_own_and_no_rooms() -> None:
    """By their samples (this espeak-ng ignores the variants of ``en-gb``)."""
    answers = [Voice(name) for name, _ in ANSWERS]
    assert same_audio(answers) == []
    rooms = list(room_voices().values())
    assert same_audio([*answers, *rooms]) == same_audio(rooms)
