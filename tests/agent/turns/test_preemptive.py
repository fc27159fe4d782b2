"""Preemptive replies (agent/turns/preemptive.py): partials in, requests out."""

from __future__ import annotations

from sipgw.agent.services.stt.base import SttPartialTranscript
from sipgw.agent.turns.actions import DROP, StartPreemptive
from sipgw.agent.turns.preemptive import PARTIAL_TAIL_MS, PreemptiveReplies
from sipgw.media.voice.vad import FRAME_MS


class Agent:
    def __init__(self) -> None:
        self.started_at: float | None = None
        self.pending = False
        self.audible = False

    def active_reply_started_at(self) -> float | None:
        return self.started_at


def partial(text: str, end_ms: int | None = None, turn: int = 0) -> SttPartialTranscript:
    return SttPartialTranscript(text, turn, 0.0, end_ms)


def test_a_quiet_partial_starts_once_the_pause_is_long_enough() -> None:
    replies = PreemptiveReplies(Agent(), 300, False)
    quiet = 300 // FRAME_MS
    assert replies.heard(partial("my name is sonny"), False, quiet - 1, True) == ()
    assert replies.partial == "my name is sonny"
    assert replies.start(quiet, True) == (StartPreemptive("my name is sonny"),)
    assert replies.preempted == "my name is sonny" and replies.partial is None
    # the same words again start nothing; other words drop the request
    assert replies.heard(partial("My name is Sonny."), False, quiet, True) == ()
    assert replies.heard(partial("my name is sonny and"), False, 0, True) == DROP


def test_nothing_starts_while_the_agent_replies_or_has_audio_queued() -> None:
    agent = Agent()
    replies = PreemptiveReplies(agent, 300, False)
    agent.started_at = 1.0
    assert replies.heard(partial("hello there"), False, 100, True) == ()
    agent.started_at, agent.pending = None, True
    assert replies.heard(partial("hello there"), False, 100, True) == ()
    assert replies.preempted is None


def test_a_stable_partial_heard_during_speech_is_judged_when_the_caller_goes_quiet() -> None:
    replies = PreemptiveReplies(Agent(), 300, True)
    replies.heard(partial("I would like", 1000), True, 0, True)
    replies.heard(partial("I would like a table", 1900), True, 0, True)  # extends it
    assert replies.candidate == ("I would like a table", 1900)
    stream_frames = (1900 + PARTIAL_TAIL_MS) // FRAME_MS + 1  # ends within the tail
    replies.judge(stream_frames)
    assert (replies.partial, replies.in_speech) == ("I would like a table", True)
    assert replies.start(300 // FRAME_MS, True) == (
        StartPreemptive("I would like a table", during_speech=True),
    )


def test_a_partial_during_speech_that_revises_or_lags_starts_nothing() -> None:
    replies = PreemptiveReplies(Agent(), 300, True)
    replies.heard(partial("I would like", 1000), True, 0, True)
    replies.heard(partial("I could bike", 1500), True, 0, True)  # revised its words
    assert replies.candidate is None
    replies.heard(partial("I could bike here", 1500), True, 0, True)
    replies.judge(3000 // FRAME_MS)  # the speech went on long after its last word
    assert replies.partial is None


def test_the_end_of_turn_forgets_the_turn_and_drops_a_request_under_way() -> None:
    replies = PreemptiveReplies(Agent(), 300, True)
    assert replies.turn_ended() == ()
    replies.heard(partial("hello there"), False, 100, True)
    assert replies.turn_ended() == DROP
    assert (replies.partial, replies.preempted, replies.candidate, replies.turn_partial) == (
        None, None, None, None,
    )  # fmt: skip
