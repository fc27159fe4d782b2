"""The pause of the agent's audio for caller speech (agent/turns/pause.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.turns.actions import (
    NOTHING,
    PAUSE,
    UNDUCK,
    Cause,
    CommitBargeIn,
    DuckAgent,
    ResumeAgent,
)
from sipgw.agent.turns.pause import AWAIT_FINAL_MS, AWAITED_SPEECH_MS, BargeInPause
from sipgw.media.voice.vad import FRAME_MS


def test_a_pause_resumes_with_its_length_and_ends() -> None:
    pause = BargeInPause(None)
    assert pause.pause(10.0, 9.94) == PAUSE
    assert pause.paused_at == 10.0
    assert pause.resume(10.25) == ResumeAgent(250.0)
    assert (pause.paused_at, pause.onset_at, pause.unheard) == (None, None, False)


def test_a_commit_reports_the_reaction_from_onset_to_pause() -> None:
    pause = BargeInPause(None)
    pause.pause(10.0, 9.94)
    assert pause.commit(Cause.SPEECH) == CommitBargeIn(Cause.SPEECH, 60.0)
    assert pause.paused_at is None
    assert pause.commit(Cause.DTMF) == CommitBargeIn(Cause.DTMF, None)  # nothing paused


@pytest.mark.parametrize(
    ("duck_after_ms", "unheard", "at", "ducks"),
    [
        (None, False, 11.0, False),  # ducking off
        (400, False, 10.39, False),  # not undecided long enough yet
        (400, False, 10.4, True),
        (400, True, 11.0, False),  # a tentative reply not heard yet is never ducked
    ],
)
def test_only_an_undecided_pause_may_duck(
    duck_after_ms: int | None, unheard: bool, at: float, ducks: bool
) -> None:
    pause = BargeInPause(duck_after_ms)
    pause.pause(10.0, 9.9, unheard=unheard)
    assert pause.may_duck(at) is ducks


def test_a_duck_keeps_the_pause_it_came_from_until_unducked_or_committed() -> None:
    pause = BargeInPause(400)
    assert pause.unduck() == ()  # nothing ducked
    pause.pause(10.0, 9.9)
    assert pause.duck(10.4) == DuckAgent(400.0)
    assert (pause.paused_at, pause.ducked_at) == (None, 10.0)
    assert not pause.may_duck(11.0)  # no pause under way any more
    assert pause.commit(Cause.TRANSCRIPT) == CommitBargeIn(Cause.TRANSCRIPT, 100.0)
    pause.pause(20.0, 19.9)
    pause.duck(20.4)
    assert pause.unduck() == UNDUCK
    assert (pause.ducked_at, pause.onset_at) == (None, None)


def test_clear_forgets_a_pause_or_duck_under_way() -> None:
    pause = BargeInPause(400)
    pause.pause(10.0, 9.9, unheard=True)
    pause.clear()
    assert (pause.paused_at, pause.ducked_at, pause.onset_at, pause.unheard) == (
        None, None, None, False,
    )  # fmt: skip


def test_the_speech_paused_leaves_out_the_run_before_the_pauses_onset() -> None:
    pause = BargeInPause(400)
    pause.pause(10.0, 10.0)
    assert pause.speech_ms(600) == 600  # a pause at the run's start: all of it
    pause.resume(10.2)
    pause.pause(11.0, 10.98, unheard=True, speech_before_ms=600)  # late in a run
    assert pause.speech_ms(620) == 20
    pause.commit(Cause.SPEECH)
    assert pause.speech_before_ms == 0  # the next pause counts afresh
    pause.pause(12.0, 11.9, speech_before_ms=300)
    pause.duck(12.4)
    assert pause.speech_ms(900) == 600  # a duck keeps the pause's count
    pause.unduck()
    assert pause.speech_before_ms == 0


def test_a_pause_awaiting_words_counts_its_speech_on_over_the_runs() -> None:
    pause = BargeInPause(None)
    pause.pause(10.0, 9.98, unheard=True, speech_before_ms=600)
    pause.heard(700)
    pause.heard(900)
    assert pause.said_ms == 300  # the loud frames since the onset
    pause.await_words()
    assert pause.awaiting and pause.paused_at == 10.0
    pause.heard(60)  # the detector's next run
    assert pause.said_ms == 360 and pause.speech_ms(300) == 600
    pause.resume(11.0)
    assert (pause.awaiting, pause.said_ms, pause.speech_before_ms) == (False, 0, 0)
    pause.pause(12.0, 12.0)
    pause.heard(200)
    pause.await_words()
    pause.commit(Cause.TURN)
    assert (pause.awaiting, pause.said_ms) == (False, 0)


def test_the_speech_end_awaits_the_transcript_only_of_an_unheard_tentative_reply() -> None:
    pause = BargeInPause(None)
    pause.pause(10.0, 10.0, unheard=True)
    pause.heard(AWAITED_SPEECH_MS)
    assert pause.speech_ended(10.3, tentative_reply=True) == NOTHING and pause.awaiting
    quiet = AWAIT_FINAL_MS // FRAME_MS
    assert not pause.waited_out(12.0, quiet - 1, 0.5)  # 2 s paused, not 1.2 s of quiet
    assert pause.waited_out(12.0, quiet, 0.5)
    assert pause.awaited_final(12.0) == (ResumeAgent(2000.0),)
    pause.pause(20.0, 20.0, unheard=True)
    pause.heard(AWAITED_SPEECH_MS)
    pause.speech_ended(20.3, tentative_reply=True)
    assert pause.awaited_final(20.5, held=True) == (CommitBargeIn(Cause.TURN, 0.0),)
    assert pause.awaited_final(20.6) == NOTHING  # none awaits any more
    for unheard, tentative, said in ((False, True, 300), (True, False, 300), (True, True, 180)):
        pause.pause(30.0, 30.0, unheard=unheard)
        pause.heard(said)
        assert pause.speech_ended(30.3, tentative) == (ResumeAgent(300.0),)
        assert pause.waited_out(30.6, 0, 0.5) is False  # resumed: nothing paused
