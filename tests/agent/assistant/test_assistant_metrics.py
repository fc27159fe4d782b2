"""The assistant's reports reach the gateway's metrics: turn stages, barge-ins, AI errors.

The real gateway and production clients with the cloud services' fakes (see
:mod:`tests.agent.assistant.test_agent`), then ``gateway.metrics.render()``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.agent.assistant.test_agent import (
    FALLBACK_HZ,
    LONG,
    LONG_HZ,
    REPLY_HZ,
    SPEECH,
    assistant,
    barge_in_call,
    greeted,
    hang_up,
)
from tests.toolkit.metrics import sample_value

pytestmark = pytest.mark.timeout(60)

STAGES = ("stt_end_of_turn", "llm_first_token", "tts_first_byte", "gateway_reply_path")


async def test_a_turn_fills_every_stage_histogram(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Where is my order?"])
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.3)
        await asyncio.sleep(0.3)  # the turn's metrics go out after its first frame
        text, _ = s.gateway.metrics.render()
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
        after, _ = s.gateway.metrics.render()
    record = s.record()
    turn = next(r for r in record if r["type"] == "turn_metrics")
    name = "sipgw_turn_stage_seconds"
    for stage in STAGES:
        assert sample_value(text, f"{name}_count", stage=stage) == 1, stage
    # The histogram holds what the call record says (ms there, seconds here).
    llm_sum = sample_value(text, f"{name}_sum", stage="llm_first_token")
    assert llm_sum == pytest.approx(turn["llm_first_token_ms"] / 1000, abs=1e-6)
    reply_path = sample_value(text, f"{name}_sum", stage="gateway_reply_path")
    assert reply_path == pytest.approx(turn["first_rtp_after_tts_ms"] / 1000, abs=1e-6)
    assert sample_value(text, "sipgw_barge_ins_total") == 0
    calls = "sipgw_calls_total"
    ended = {"direction": "inbound", "leg": "sip", "outcome": "remote-bye", "line": ""}
    assert sample_value(after, calls, **ended) == 1


async def test_a_barge_in_is_counted(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        await barge_in_call(s)
        text, _ = s.gateway.metrics.render()
    assert sample_value(text, "sipgw_barge_ins_total") == 1


async def test_what_the_caller_lived_through_is_recorded_and_counted(tmp_path: Path) -> None:
    """The greeting, a turn of 0.6 s, a long reply the caller talks over for 1.2 s once a
    second of it played: the record's ``talk`` line and the metrics say so
    (docs/quality.md)."""
    async with assistant(tmp_path) as s:
        s.stt.script(["Tell me about shipping.", "Stop, I have a question."])
        s.llm.script([FakeResponse(text=LONG), FakeResponse(text="Sure, go ahead.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=1.0)
        phone.say(tone_frames(SPEECH, 1.2))
        await s.llm.wait_for_request(2, within=5)
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
        text, _ = s.gateway.metrics.render()
    talk = next(r for r in s.record() if r["type"] == "talk")
    assert talk["agent_interrupted"] == 1 and talk["caller_cut_off"] == 0, talk
    # Over the reply: until the pause (the detector's 60 ms), then ducked until the
    # barge-in commits (600 ms of speech); frames on the ticks, a tick either side.
    assert 0.6 - 0.2 <= talk["talk_over_s"] <= 0.6 + 0.1, talk
    assert talk["caller_talk_s"] == pytest.approx(0.6 + 1.2, abs=0.1), talk
    assert 0 <= talk["first_word_s"] < 0.1 and talk["dead_air"] == 0, talk  # the greeting at once
    assert sample_value(text, "sipgw_agent_interrupted_total") == 1
    assert sample_value(text, "sipgw_callers_cut_off_total") == 0
    assert sample_value(text, "sipgw_talk_over_seconds_sum") == talk["talk_over_s"]
    assert sample_value(text, "sipgw_first_word_seconds_count") == 1


async def test_an_llm_timeout_is_counted_by_kind(tmp_path: Path) -> None:
    async with assistant(tmp_path, OPENAI_FIRST_TOKEN_TIMEOUT="0.5") as s:
        s.stt.script(["Hello?"])
        s.llm.script([FakeResponse(text="too late", first_chunk_delay=10)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.5))
        await phone.wait_for_tone(FALLBACK_HZ, within=5)
        text, _ = s.gateway.metrics.render()
        await hang_up(caller, phone)
    errors = "sipgw_ai_errors_total"
    assert sample_value(text, errors, service="llm", kind="timeout") == 1
    assert sample_value(text, errors, service="tts", kind="http_status") is None
