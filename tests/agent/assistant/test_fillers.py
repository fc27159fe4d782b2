"""Filler lines while a slow tool runs (agent/assistant/fillers.py): when, which, and cut short."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.reply import Reply, SpeakingState
from sipgw.agent.conversation.fillers import FillerLines
from sipgw.agent.playout import Playout
from tests.agent.parts import ScriptedTts, lines, make_scope, play_out, settle, wait_for

LINES = ("One moment.", "Just a second.")

# --------------------------------------------------------------------------- on a call


def reply_in(state: SpeakingState, tts: ScriptedTts, now: float) -> Reply:
    reply = Reply("reply", tts.start_reply(), 1, started_at=now)
    state.reply = reply
    state.playout.begin(reply.tts.id)
    return reply


def setup(after: float | None = 0.05) -> tuple[Fillers, SpeakingState, ScriptedTts]:
    scope = make_scope()
    playout = Playout()
    playout.held = False
    state = SpeakingState(playout)
    tts = ScriptedTts()
    return Fillers(scope, after, LINES, state, tts), state, tts


async def test_a_slow_round_gets_the_next_line() -> None:
    fillers, state, tts = setup(after=0.05)
    reply = reply_in(state, tts, fillers.scope.now())
    watch = fillers.watch(reply)
    watch.tool_called()
    await asyncio.sleep(0.02)
    assert reply.filler is None  # not slow yet
    await wait_for(lambda: reply.filler is not None)
    await settle()
    assert tts.texts() == ["One moment."]
    (said,) = lines(fillers.scope, "filler")
    assert said["text"] == "One moment." and said["turn"] == 1 and said["after_ms"] >= 45
    assert state.playout.pending  # its audio is queued
    frames = await play_out(state.playout)
    assert sum(frame is not None for frame in frames) == 6  # 11 characters: 5.5 frames
    watch.close()


async def test_a_round_that_ends_in_time_says_nothing() -> None:
    fillers, state, tts = setup(after=0.05)
    reply = reply_in(state, tts, fillers.scope.now())
    watch = fillers.watch(reply)
    watch.tool_called()
    watch.tool_called()
    watch.tool_returned()
    watch.tool_returned()
    await asyncio.sleep(0.1)
    assert reply.filler is None and tts.texts() == []


async def test_no_line_while_agent_audio_is_queued_or_for_a_superseded_reply() -> None:
    fillers, state, tts = setup(after=0.01)
    reply = reply_in(state, tts, fillers.scope.now())
    state.playout.push_audio(reply.tts.id, b"\x55" * 320)  # the reply's words still play
    fillers.say(reply)
    assert reply.filler is None
    state.playout.cancel(reply.tts.id)
    state.reply = None  # cut off meanwhile
    fillers.say(reply)
    assert reply.filler is None and tts.texts() == []


async def test_the_answer_cuts_the_line_at_a_frame() -> None:
    fillers, state, tts = setup(after=0.0)
    reply = reply_in(state, tts, fillers.scope.now())
    fillers.say(reply)
    filler = reply.filler
    assert filler is not None and filler.task is not None
    await settle()
    state.playout.next_frame(0.0)  # one frame of it heard
    fillers.stop(reply)
    assert reply.filler is None and not state.playout.pending
    (stopped,) = lines(fillers.scope, "filler_stopped")
    assert stopped == {**stopped, "turn": 1, "cut": True}
    fillers.stop(reply)  # a second stop is nothing
    assert len(lines(fillers.scope, "filler_stopped")) == 1


async def test_a_filler_still_coming_is_cancelled_at_tts() -> None:
    fillers, state, tts = setup(after=0.0)
    tts.hold = True  # its audio has not arrived
    reply = reply_in(state, tts, fillers.scope.now())
    fillers.say(reply)
    filler = reply.filler
    assert filler is not None
    await settle()
    fillers.stop(reply)
    await settle()
    assert filler.tts.id in tts.cancelled
    assert filler.task is not None and filler.task.done()


async def test_a_failing_filler_line_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    fillers, state, tts = setup(after=0.0)
    tts.fail_on = "moment"
    reply = reply_in(state, tts, fillers.scope.now())
    fillers.say(reply)
    await settle()
    assert "TTS failed on the filler line" in caplog.text
    assert state.playout.finished(reply.filler.tts.id)  # nothing more will come


async def test_no_filler_while_the_caller_holds_then_it_comes_when_due() -> None:
    """A slow tool while the caller holds: the filler is not said into the hold (it would
    wait queued and play stale); its time goes on after, from where it was."""
    fillers, state, tts = setup(after=0.15)
    reply = reply_in(state, tts, fillers.scope.now())
    watch = fillers.watch(reply)
    watch.tool_called()
    await asyncio.sleep(0.05)
    fillers.hold(True)
    await asyncio.sleep(0.3)  # past its time
    assert reply.filler is None and tts.texts() == []
    resumed = fillers.scope.now()
    fillers.hold(False)
    await wait_for(lambda: reply.filler is not None)
    assert fillers.scope.now() - resumed >= 0.08  # the rest of its 150 ms
    await settle()
    assert tts.texts() == ["One moment."]
    watch.close()


async def test_a_round_opened_while_held_waits_for_the_resume() -> None:
    fillers, state, tts = setup(after=0.05)
    fillers.hold(True)
    reply = reply_in(state, tts, fillers.scope.now())
    watch = fillers.watch(reply)
    watch.tool_called()
    await asyncio.sleep(0.15)
    assert reply.filler is None
    fillers.hold(False)
    await wait_for(lambda: reply.filler is not None)
    watch.close()


async def test_a_slow_tools_own_line_is_said_instead_and_the_turn_stays() -> None:
    fillers, state, tts = setup(after=0.05)
    reply = reply_in(state, tts, fillers.scope.now())
    watch = fillers.watch(reply)
    watch.tool_called()  # a tool without a line of its own
    watch.tool_called("Let me pull up that invoice.")  # the same round
    await wait_for(lambda: reply.filler is not None)
    await settle()
    assert tts.texts() == ["Let me pull up that invoice."]
    watch.close()
    assert FillerLines(LINES).pick(audio_queued=True, reply_waiting=True, own="x") is None
    next_round = FillerLines(LINES)
    assert next_round.pick(audio_queued=False, reply_waiting=True, own="Own.") == "Own."
    assert next_round.pick(audio_queued=False, reply_waiting=True) == "One moment."
