"""The turn-taking machine's actions (agent/turns/actions.py)."""

from __future__ import annotations

from sipgw.agent.turns.actions import (
    NOTHING,
    Cause,
    CommitBargeIn,
    ForceTurnEnd,
    MarkSpeechEnd,
    SetSttChunk,
    StartReply,
    UnduckAgent,
    without_speech,
)


def test_without_speech_keeps_what_shapes_the_stt_stream_and_the_end_of_a_duck() -> None:
    actions = (
        CommitBargeIn(Cause.SPEECH, None), MarkSpeechEnd(), StartReply("hi", None, 1.0),
        SetSttChunk(50), ForceTurnEnd(), UnduckAgent(),
    )  # fmt: skip
    assert without_speech(actions) == (MarkSpeechEnd(), SetSttChunk(50), UnduckAgent())
    assert without_speech(NOTHING) == ()
