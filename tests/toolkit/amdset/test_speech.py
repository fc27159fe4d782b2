"""Speech at 8 kHz from espeak-ng, flite and festival: clauses, trimming, word times,
determinism, the cache, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.toolkit.amdset.speech import SpeechError, Voice, clauses, synthesize_clause, trim


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "Hi, you've reached Ana. Leave a message!",
            ["Hi,", "you've reached Ana.", "Leave a message!"],
        ),
        ("Hello?", ["Hello?"]),
        ("Five five five, zero one two.", ["Five five five,", "zero one two."]),
        ("Wait... what?!", ["Wait...", "what?!"]),
        ("  ,  ", []),
    ],
)
def test_clauses(text: str, parts: list[str]) -> None:
    assert clauses(text) == parts


def test_trim_drops_the_silence_around_a_sound() -> None:
    sound = [0] * 400 + [1000, -1000] * 200 + [3] * 400
    trimmed = trim(sound)
    assert 400 <= len(trimmed) <= 400 + 80  # the sound, to a 5 ms window
    assert trim([0] * 100) == []


def test_a_clause_is_speech_at_8_khz_with_its_words_spread_over_it() -> None:
    clause = synthesize_clause("you've reached Ana.", Voice("en-us+f3", 160, 50))
    assert 0.5 < clause.duration < 2.0
    assert clause.ends_sentence
    assert [w.text for w in clause.words] == ["you've", "reached", "Ana."]
    assert clause.words[0].start == 0.0 and clause.words[-1].end == pytest.approx(clause.duration)
    assert all(a.end == b.start for a, b in zip(clause.words, clause.words[1:], strict=False))
    # longer words take longer
    assert clause.words[1].end - clause.words[1].start > clause.words[2].end - clause.words[2].start
    assert max(abs(s) for s in clause.samples) > 3000


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPGW_AMDSET_CACHE", "off")


@pytest.mark.parametrize(
    "voice",
    [Voice("slt", 150, 60, "flite"), Voice("kal_diphone", 170, 40, "festival"),
     Voice("cmu_us_slt_arctic_hts", 140, 70, "festival")],
    ids=["flite", "festival-diphone", "festival-hts"],
)  # fmt: skip
@pytest.mark.usefixtures("no_cache")
def test_the_other_engines_speak_too(voice: Voice) -> None:
    clause = synthesize_clause("Hello, this is Ana.", voice)
    assert 0.5 < clause.duration < 3.0 and max(abs(s) for s in clause.samples) > 3000
    faster = synthesize_clause("Hello, this is Ana.", Voice(voice.name, 210, 50, voice.engine))
    if voice.name.endswith("_hts"):  # festival's HTS engine ignores Duration_Stretch
        assert faster.duration == clause.duration
    else:
        assert faster.duration < clause.duration  # speaking rates reach them


def test_the_cache_gives_back_what_was_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPGW_AMDSET_CACHE", str(tmp_path))
    voice = Voice("en-us", 170, 30)
    made = synthesize_clause("Hello?", voice)
    assert len(list(tmp_path.glob("*.raw"))) == 1
    assert synthesize_clause("Hello?", voice) == made


@pytest.mark.usefixtures("no_cache")
def test_synthesis_is_deterministic() -> None:
    voice = Voice("en-gb", 150, 40)
    assert synthesize_clause("Hello?", voice) == synthesize_clause("Hello?", voice)


@pytest.mark.usefixtures("no_cache")
def test_a_missing_program_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        SpeechError, match=r"espeak-ng is not installed \(Debian package espeak-ng\)"
    ):
        synthesize_clause("Hello?", Voice("en-us"))


@pytest.mark.usefixtures("no_cache")
def test_an_unknown_engine_is_named() -> None:
    with pytest.raises(SpeechError, match="unknown speech engine 'piper'"):
        synthesize_clause("Hello?", Voice("en", engine="piper"))
