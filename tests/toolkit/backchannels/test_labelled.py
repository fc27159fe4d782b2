"""The backchannel set: its labels, its voices, its levels, its samples."""

from __future__ import annotations

from statistics import mean

from sipgw.app.evaluation.audio import decode
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import RATE
from tests.toolkit.backchannels.labelled import (
    BACKCHANNEL,
    BACKCHANNELS,
    CONDITIONS,
    INTERRUPTION,
    INTERRUPTIONS,
    LEAD_SECONDS,
    LEVELS_DBFS,
    VOICES,
    items,
    make_sample,
    said,
)


def test_every_voice_says_every_text_of_both_labels() -> None:
    everything = items()
    assert len(everything) == len(VOICES) * (len(BACKCHANNELS) + len(INTERRUPTIONS))
    assert len({item.key for item in everything}) == len(everything)
    assert {item.voice.engine for item in everything} == {"espeak-ng", "flite", "festival"}
    assert not set(BACKCHANNELS) & set(INTERRUPTIONS)
    assert {"uh-huh", "right", "okay", "mm-hmm", "yeah"} <= set(BACKCHANNELS)
    assert {"wait", "stop"} <= set(INTERRUPTIONS)


def test_level_alone_tells_nothing() -> None:
    everything = items()
    for label in (BACKCHANNEL, INTERRUPTION):
        levels = [item.level_dbfs for item in everything if item.label == label]
        assert all(LEVELS_DBFS[0] <= level <= LEVELS_DBFS[1] for level in levels)
        assert abs(mean(levels) - sum(LEVELS_DBFS) / 2) < 1.0


def test_a_sample_holds_the_words_at_their_level_and_is_deterministic() -> None:
    item = next(i for i in items(voices=VOICES[:1]) if i.text == "mm-hmm")
    words = said(item)
    assert 0.15 < len(words) / RATE < 1.0  # a backchannel is short
    for condition in CONDITIONS:
        sample = make_sample(item, condition)
        assert sample == make_sample(item, condition)
        pcm = decode(sample.ulaw)
        lead = pcm[: round(LEAD_SECONDS * RATE) - 80]
        body = pcm[round(LEAD_SECONDS * RATE) : round(sample.end * RATE)]
        assert channel.rms_dbfs(body) > channel.rms_dbfs(lead) + 6  # the words stand out
    sentence = next(i for i in items(voices=VOICES[:1]) if i.text.startswith("sorry"))
    assert len(said(sentence)) > 2 * len(words)
