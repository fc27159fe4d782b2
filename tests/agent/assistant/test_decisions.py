"""What the turn-taking machine decides, carried out (sipgw.agent.assistant.decisions).

On the in-memory doubles of tests/agent/parts.py: the parts are the agent's own.
"""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.turns.machine import (
    Cause,
    CommitBargeIn,
    DuckAgent,
    ForceTurnEnd,
    IgnoreBackchannel,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartReply,
    UnduckAgent,
)
from tests.agent.parts import TONE_DETECTOR, ScriptedTts, Turn, assistant, wait_for

pytestmark = pytest.mark.timeout(20)


async def test_each_action_goes_to_the_part_that_does_it() -> None:
    a = assistant(barge_in=BargeInSettings(duck_db=9.0, noise=TONE_DETECTOR))
    decisions = a.agent.decisions
    playout = a.agent.playout
    decisions.carry_out((MarkSpeechEnd(), ForceTurnEnd(), SetSttChunk(50), PauseAgent()))
    assert (a.stt.speech_ends, a.stt.turn_ends_asked, a.stt.chunk_ms) == (1, 1, [50])
    assert playout.paused
    decisions.carry_out((DuckAgent(310.0),))
    assert not playout.paused and playout.duck_db == 9.0
    decisions.carry_out((UnduckAgent(),))
    assert playout.duck_db is None
    decisions.carry_out((PauseAgent(), ResumeAgent(120.0)))
    assert not playout.paused
    decisions.carry_out((IgnoreBackchannel("Mm-hmm."),))
    assert [r["paused_ms"] for r in a.record("barge_in_ducked")] == [310.0]
    assert [r["paused_ms"] for r in a.record("barge_in_resumed")] == [120.0]
    assert [r["text"] for r in a.record("backchannel")] == ["Mm-hmm."]
    await a.agent.close()


async def test_while_held_no_turn_is_answered_but_the_stream_is_still_shaped() -> None:
    a = assistant(script=[Turn(text="Nine to six.")])
    a.agent.on_hold(True)
    assert a.agent.held and a.agent.decisions.held
    a.agent.decisions.carry_out((StartReply("When do you open?", None, 0.0), SetSttChunk(None)))
    assert a.stt.chunk_ms == [None]
    assert a.agent.speaker.turn == 0
    a.agent.on_hold(False)
    assert not a.agent.decisions.held
    a.agent.decisions.carry_out((StartReply("When do you open?", None, 0.0),))
    assert a.agent.speaker.turn == 1
    await a.agent.close()


async def test_the_stt_s_turns_reach_the_machine_then_the_responder() -> None:
    a = assistant(script=[Turn(text="Nine to six.")])
    await a.agent.prepare()
    a.agent.on_answered()
    a.stt.emit(SttTurnEnded("When do you open?", 0, (), asyncio.get_running_loop().time(), None))
    await wait_for(lambda: a.agent.speaker.turn == 1)
    await a.agent.close()


async def test_a_reply_cut_off_by_a_barge_in_leaves_no_wait_for_one_moment() -> None:
    """The room's words cut the reply off before its audio came: no reply is coming, so
    the failure policy's "one moment" would promise one; the caller's next turn waits anew."""
    quick = FailurePolicySettings(hold_line_after=0.1)
    a = assistant(script=[Turn(text="Nine to six.")], tts=ScriptedTts(hold=True),
                  failure_policy=quick)  # fmt: skip
    await a.agent.prepare()
    a.agent.on_answered()
    now = asyncio.get_running_loop().time()
    a.agent.decisions.carry_out((StartReply("When do you open?", now, now),))
    await wait_for(lambda: a.tts.sent)  # under way, its audio not there yet
    a.agent.decisions.carry_out((CommitBargeIn(Cause.TRANSCRIPT, reaction_ms=None),))
    await asyncio.sleep(3 * quick.hold_line_after)
    assert a.record("failure") == []
    await a.agent.close()
