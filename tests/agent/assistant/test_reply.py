"""A reply in flight and the agent's side of the turn (agent/assistant/reply.py)."""

from __future__ import annotations

import asyncio

from sipgw.agent.assistant.reply import Reply, SpeakingState
from sipgw.agent.playout import Playout
from sipgw.agent.turns.machine import PauseAgent, TurnTaker
from tests.agent.parts import ScriptedTts


def state_with_reply(started_at: float = 5.0) -> tuple[SpeakingState, Reply]:
    playout = Playout()
    playout.held = False
    state = SpeakingState(playout)
    reply = Reply("reply", ScriptedTts().start_reply(), 1, started_at=started_at)
    playout.begin(reply.tts.id)
    state.reply = reply
    return state, reply


async def test_a_reply_is_active_while_generating_or_playing() -> None:
    state, reply = state_with_reply()
    assert state.active(reply) and state.active_reply_started_at() == 5.0  # announced
    state.playout.push_audio(reply.tts.id, b"\x55" * 160)
    state.playout.finish(reply.tts.id)
    assert state.active(reply) and state.audible and state.pending  # a frame to play
    state.playout.next_frame(5.1)
    assert not state.active(reply) and state.active_reply_started_at() is None  # played out
    reply.task = asyncio.get_running_loop().create_task(asyncio.sleep(0.01))
    assert state.active(reply)  # still generating
    await reply.task
    assert not state.active(reply)
    assert not state.active(None)


async def test_paused_audio_is_pending_but_not_audible() -> None:
    state, reply = state_with_reply()
    state.playout.push_audio(reply.tts.id, b"\x55" * 320)
    state.playout.paused = True
    assert state.pending and not state.audible


async def test_the_turn_taking_machine_reads_it() -> None:
    """Caller speech pauses the agent only while its audio is audible (agent/turns/machine.py)."""
    loud = bytes([0x10]) * 160  # about -3 dBFS of μ-law
    for audible in (False, True):
        state, reply = state_with_reply()
        if audible:
            state.playout.push_audio(reply.tts.id, b"\x55" * 1600)
        turns = TurnTaker(state)
        frames = [b"\xff" * 160] * 15 + [loud] * 5  # quiet (the noise floor), then speech
        actions = [turns.receive_audio(frame, 6.0 + n * 0.02) for n, frame in enumerate(frames)]
        assert any(PauseAgent() in step for step in actions) is audible
