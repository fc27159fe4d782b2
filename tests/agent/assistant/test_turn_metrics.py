"""A reply's latencies (agent/assistant/turn_metrics.py): the arithmetic, and when they are
written."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.assistant.preemptive import PreemptiveRequest
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.turn_metrics import TurnMetrics, stage_seconds, turn_metrics
from sipgw.agent.playout import Playout
from tests.agent.parts import (
    RecordingObserver,
    ScriptedTts,
    lines,
    make_scope,
    play_out,
    settle,
    wait_for,
)


async def test_turn_metrics_are_the_gaps_between_the_turns_times() -> None:
    reply = Reply("reply", ScriptedTts().start_reply(), 3, started_at=10.2,
                  speech_end_at=10.0, stt_final_at=10.15, wasted=2)  # fmt: skip
    reply.first_token_at = 10.5
    reply.first_sentence_at = 10.52
    reply.tts.first_audio_at = 10.6
    metrics = turn_metrics(reply, first_rtp=10.61)
    assert metrics == {
        "type": "turn_metrics",
        "turn": 3,
        "stt_end_of_turn_ms": 150.0,
        "llm_first_token_ms": 300.0,
        "tools_ms": None,
        "tts_first_byte_ms": 80.0,
        "first_rtp_after_tts_ms": 10.0,
        "first_rtp_after_turn_ms": 460.0,
        "end_of_speech_to_first_rtp_ms": 610.0,
        "preemptive": None,
        "preemptive_wasted": 2,
        "held_chars": None,
        "wasted_tts_chars": 0,
    }
    assert stage_seconds(metrics) == pytest.approx(
        {"stt_end_of_turn": 0.15, "llm_first_token": 0.3, "tts_first_byte": 0.08,
         "gateway_reply_path": 0.01}
    )  # fmt: skip


async def test_a_turn_without_first_frame_measures_what_it_can() -> None:
    reply = Reply("reply", ScriptedTts().start_reply(), 1, started_at=1.0)
    reply.preemptive = object.__new__(PreemptiveRequest)  # adopted (only its presence counts)
    metrics = turn_metrics(reply, first_rtp=None)
    assert metrics["preemptive"] == "used"
    assert metrics["end_of_speech_to_first_rtp_ms"] is None
    assert stage_seconds(metrics) == {}  # nothing measured, nothing reported


def setup() -> tuple[TurnMetrics, Playout, RecordingObserver, ScriptedTts]:
    observer = RecordingObserver()
    scope = make_scope(observer)
    playout = Playout()
    playout.held = False
    return TurnMetrics(scope, playout), playout, observer, ScriptedTts()


async def spoken(playout: Playout, tts: ScriptedTts, kind: str, text: str = "Hello.") -> Reply:
    reply = Reply(kind, tts.start_reply(), 1, started_at=asyncio.get_running_loop().time())  # type: ignore[arg-type]
    playout.begin(reply.tts.id)
    playout.add_text(reply.tts.id, text)
    await reply.tts.send_text(text)
    async for chunk in reply.tts.audio():
        playout.push_audio(reply.tts.id, chunk.audio, chunk.text)
        break
    playout.finish(reply.tts.id)
    return reply


async def test_a_reply_is_measured_once_its_first_frame_went_out() -> None:
    metrics, playout, observer, tts = setup()
    reply = await spoken(playout, tts, "reply")
    metrics.reply_done(reply)
    await settle()
    scope = metrics._scope
    assert lines(scope, "turn_metrics") == []  # waits for the frame
    await play_out(playout)
    await wait_for(lambda: lines(scope, "turn_metrics"))
    (written,) = lines(scope, "turn_metrics")
    assert written["first_rtp_after_tts_ms"] is not None
    assert [kind for kind, _ in observer.events] == ["turn"]


async def test_a_reply_that_played_out_is_forgotten_once_measured() -> None:
    metrics, playout, _, tts = setup()
    reply = await spoken(playout, tts, "reply")
    await play_out(playout)
    assert playout.first_played_at(reply.tts.id) is not None
    metrics.reply_done(reply)
    await wait_for(lambda: lines(metrics._scope, "turn_metrics"))
    assert playout.first_played_at(reply.tts.id) is None  # its bookkeeping is dropped


@pytest.mark.parametrize("kind", ["greeting", "notice", "goodbye"])
async def test_fixed_lines_are_not_turns(kind: str) -> None:
    metrics, playout, observer, tts = setup()
    reply = await spoken(playout, tts, kind)
    metrics.reply_done(reply)
    await play_out(playout)
    await settle()
    assert lines(metrics._scope, "turn_metrics") == [] and observer.events == []


async def test_a_cut_reply_is_not_measured() -> None:
    metrics, playout, observer, tts = setup()
    reply = await spoken(playout, tts, "reply")
    reply.heard = "Hel"
    metrics.reply_done(reply)
    await play_out(playout)
    await settle()
    assert lines(metrics._scope, "turn_metrics") == []


async def test_first_frame_gives_up_at_its_limit() -> None:
    metrics, playout, _, tts = setup()
    reply = Reply("reply", tts.start_reply(), 1)
    playout.begin(reply.tts.id)
    assert await metrics.first_frame(reply, 0.05) is None


async def test_the_greeting_is_timed_from_the_answer() -> None:
    metrics, playout, _, tts = setup()
    reply = await spoken(playout, tts, "greeting")
    answered_at = asyncio.get_running_loop().time()
    metrics.time_greeting(reply, answered_at)
    await play_out(playout)
    await wait_for(lambda: lines(metrics._scope, "greeting_metrics"))
    (greeting,) = lines(metrics._scope, "greeting_metrics")
    assert 0 <= greeting["first_rtp_after_answer_ms"] < 200
    assert greeting["tts_first_byte_ms"] is not None


def test_a_replys_tool_rounds_are_its_tools_stage() -> None:
    reply = Reply("reply", ScriptedTts().start_reply(), 1, started_at=10.0)
    reply.tools_started(10.3)
    reply.tools_started(10.35)  # a second call of the same round
    reply.tool_returned(10.5)
    reply.tool_returned(10.9)  # the round: 10.3 to 10.9
    reply.tools_started(11.0)
    reply.tool_returned(11.2)  # a second round
    metrics = turn_metrics(reply, first_rtp=None)
    assert metrics["tools_ms"] == 800.0
    assert stage_seconds(metrics)["tools"] == pytest.approx(0.8)
