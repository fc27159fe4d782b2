"""bench/turn_ends.py at its smallest: one call on Pipecat's bot and one on a gateway whose
voice detector ends turns early (``vad``), at one STT speed; the figures are measured, never
asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.turn_ends import (
    PAUSES_MS,
    SENTENCES,
    Clause,
    Sentence,
    _words,
    figures,
    heard_partials,
    partial_events,
    probe,
    reply_shares,
    run,
    said_ms,
    speak,
    split_at_break,
    table,
)
from sipgw.app.evaluation.audio import tone_frame

pytestmark = pytest.mark.timeout(240)


async def test_the_bench_runs_both_and_sees_the_early_end(tmp_path: Path) -> None:
    turns = await run(1, 1, ["vad"], tmp_path, [400])
    assert [(t.system, t.error) for t in turns] == [("pipecat", None), ("sipgw-vad", None)]
    pipecat, sipgw = turns
    for turn in turns:  # one or the other: the reply measured, or the caller cut off
        assert (turn.first_audio_ms is not None) != turn.cut_off, turn
    assert pipecat.forced is None
    assert {(t.pause_ms, t.stt_end_ms) for t in turns} == {(0, 400)}  # a whole sentence
    # the gateway's detector ended the turn: a ForceEndpoint after the caller's last word
    assert sipgw.forced, sipgw
    # ... not before it, give or take the frame or two where the caller's loudness edge
    # (-40 dBFS) and the gateway's detector (its noise floor) disagree; how long after it is
    # the bench's figure on this machine's clock (the early end's 200 ms is checked on the
    # call's own clock: tests/agent/assistant/test_agent.py, answer_after)
    assert sipgw.force_lag_ms is not None and -60 <= sipgw.force_lag_ms, sipgw
    # the reply path from the gateway's records (a reply cut by the hang-up may have none)
    shares = {"sipgw-vad": reply_shares(tmp_path, "vad")}
    assert all(isinstance(share, int | float) for share in shares["sipgw-vad"]), shares
    data = figures(turns, shares)
    assert set(data) == {"pipecat@400", "sipgw-vad@400"}
    assert data["sipgw-vad@400"]["forced"] == 1
    lines = table(data).splitlines()
    assert lines[0].split()[:3] == ["system", "STT", "end"] and len(lines) == 4


def test_the_probe_asks_the_model_at_each_pause_of_each_sentence(tmp_path: Path) -> None:
    """Offline: every sentence said with each pause; the model is asked in the pause and
    after the sentence, and forces an end only where its wait fits in the silence."""
    rows = probe(tmp_path, 1000)
    for n in range(len(SENTENCES)):
        for pause_ms in PAUSES_MS:
            at = [r for r in rows if (r["sentence"], r["pause_ms"]) == (n, pause_ms)]
            assert [r["at"] for r in at if r["at"] != "inside"] == (
                ["mid", "end"] if pause_ms else ["end"]
            ), at
            for r in at:
                assert 0.0 <= r["probability"] <= 1.0
                if r["forced"]:  # only after the wait it set, within the silence there
                    assert r["wait_ms"] is not None
                    assert r["at"] == "end" or r["wait_ms"] <= pause_ms, r


def test_the_partials_carry_the_words_said_by_their_time(tmp_path: Path) -> None:
    """The early partial: a share of the first clause's words; the silence partial at a
    pause as long as the service's ``min_turn_silence``: the whole first clause; none at a
    shorter pause; the whole sentence's words queued last (for the quiet after its end)."""
    first_text, second_text = SENTENCES[0]
    sentence = Sentence(
        speak(first_text, tmp_path, "a"), speak(second_text, tmp_path, "b"),
        speak(f"{first_text} {second_text}", tmp_path, "w"),
    )  # fmt: skip
    first, whole = _words(first_text), _words(f"{first_text} {second_text}")
    speech, silence = heard_partials(sentence, SENTENCES[0], 700, 400, said_ms(sentence, 700))
    assert speech and speech[-1] and first.startswith(speech[-1]) and speech[-1] != first
    assert silence == [first, whole]
    speech, silence = heard_partials(sentence, SENTENCES[0], 300, 400, said_ms(sentence, 300))
    assert silence == [whole]
    # said whole: the early partial has the start of the sentence, no silence partial at 1 s
    events = partial_events(sentence, SENTENCES[0], 0, 1000, said_ms(sentence, 0))
    assert [silent for _, silent, _ in events] == [False]
    at, _, text = events[0]
    assert 500 <= at < 1000 and text and whole.startswith(text) and len(text) < len(whole) / 2


def test_a_sentence_with_its_tune_kept_is_split_at_its_longest_quiet_run() -> None:
    voice, hush = tone_frame(300, -20), b"\xff" * 160
    said = Clause(voice * 30 + hush * 2 + voice * 20 + hush * 25 + voice * 40)
    first, second = split_at_break(said)
    assert (first.ms, second.ms) == (1040, 800)
    with pytest.raises(ValueError, match="no break"):
        split_at_break(Clause(voice * 10))
