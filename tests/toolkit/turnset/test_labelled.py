"""The turn set: its texts, its splits (no voice nor line shared), its pairs, its samples."""

from __future__ import annotations

import pytest

from tests.toolkit.amdset.speech import Voice
from tests.toolkit.turnset.labelled import (
    BABBLE_VOICES,
    CONDITIONS,
    PAUSE_SECONDS,
    TEST_VOICES,
    TRAIN_VOICES,
    load_lines,
    make_sample,
    utterances,
)
from tests.toolkit.voice_identity import same_audio


def test_the_texts_give_a_few_hundred_pairs() -> None:
    lines = load_lines()
    assert len(lines) >= 200
    assert all(line.head and line.tail for line in lines)
    assert len({(line.head, line.tail) for line in lines}) == len(lines)


def test_the_splits_share_no_voice_and_no_line() -> None:
    assert not set(TRAIN_VOICES) & set(TEST_VOICES)
    assert not set(BABBLE_VOICES) & (set(TRAIN_VOICES) | set(TEST_VOICES))
    train, test = utterances("train"), utterances("test")
    assert not {u.line.index for u in train} & {u.line.index for u in test}
    assert {(u.voice.engine, u.voice.name) for u in test} == set(TEST_VOICES)
    assert {(u.voice.engine, u.voice.name) for u in train} <= set(TRAIN_VOICES)
    for split in (train, test):
        assert sum(u.finished for u in split) * 2 == len(split)
        assert len({u.key for u in split}) == len(split)


def test_every_voice_is_its_own_by_its_samples() -> None:
    """Not one voice under two names (this espeak-ng ignores the variants of ``en-gb``)."""
    named = (*TRAIN_VOICES, *TEST_VOICES, *BABBLE_VOICES)
    assert same_audio(Voice(name, engine=engine) for engine, name in named) == []


def test_the_words_are_the_head_or_the_whole_line() -> None:
    unfinished, finished = utterances("test")[:2]
    assert not unfinished.finished and finished.finished
    assert unfinished.words == "Can you tell me why my bill is higher"
    assert finished.words == "Can you tell me why my bill is higher than last month"


def test_a_sample_is_its_words_then_the_pause_and_is_deterministic() -> None:
    pair = [u for u in utterances("test") if u.continuation][:2]
    condition = CONDITIONS[0]
    unfinished, finished = (make_sample(u, condition) for u in pair)
    assert make_sample(pair[0], condition) == unfinished
    for sample in (unfinished, finished):
        assert len(sample.ulaw) / 8000 == pytest.approx(sample.speech_end + PAUSE_SECONDS)
    # cut from the same speech: the unfinished one is the finished one's beginning
    assert finished.speech_end > unfinished.speech_end + 0.3
    cut = round(unfinished.speech_end * 8000)
    head, whole = unfinished.pcm()[2400:cut], finished.pcm()[2400:cut]
    same = sum(abs(a - b) <= max(64, abs(b) // 8) for a, b in zip(head, whole, strict=True))
    assert same >= 0.95 * len(head)


def test_babble_is_at_its_level_below_the_speech() -> None:
    clean, noisy = (make_sample(utterances("test")[0], c) for c in (CONDITIONS[0], CONDITIONS[2]))
    assert noisy.condition.snr_db == 5.0
    lead = slice(0, 2000)  # before the words: the line alone
    quiet = sum(v * v for v in clean.pcm()[lead]) / 2000
    babble = sum(v * v for v in noisy.pcm()[lead]) / 2000
    assert babble > 1000 * quiet
