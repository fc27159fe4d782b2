"""Answering-machine detection on placed speech-to-speech calls (agent/s2s/answering.py),
against the scripted session: the callee's audio is fed at arrival, one frame per 20 ms
(tests/agent/amd/callee.py), as in the assistant's tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest, AnsweringSettings
from sipgw.agent.base import CallDetails
from sipgw.agent.s2s.actions import GOODBYE_INSTRUCTIONS
from sipgw.agent.services.s2s.base import ReplyDone, ToolCallRequested
from tests.agent.amd.callee import (
    SILENCE,
    answered,
    beep,
    feed,
    silence,
    special_information_tone,
    voice,
)
from tests.agent.parts import FakeCall, settle, wait_for
from tests.agent.s2s.parts import Rig, rig, speak

pytestmark = pytest.mark.timeout(30)

MESSAGE = "Hi {name}, this is Ana from the shop, please call us back."


def outbound(mode: AmdMode, message: str | None = None, **settings: Any) -> Rig:
    call = FakeCall(direction="outbound", called="sip:+15550001111@trunk.example",
                    amd=AmdRequest(mode, message),
                    details=CallDetails(variables={"name": "Bob"}))  # fmt: skip
    return rig(call=call, **settings)


def replies(r: Rig) -> list[str]:
    return [sent[1] for sent in r.session.sent if sent[0] == "reply"]


def heard_by_session(r: Rig) -> set[bytes]:
    audio = bytes(r.session.audio)
    return {audio[i : i + 160] for i in range(0, len(audio), 160)}


async def test_a_person_is_greeted_once_decided_and_heard_from_then_on() -> None:
    r = outbound(AmdMode.LEAVE_MESSAGE, outbound_greeting="Hi {name}, it's Ana.")
    start = await answered(r)
    config = r.session.config
    assert config is not None and config.greeting == ""  # the service says nothing by itself
    end = await feed(r, [*silence(0.3), *voice(0.5), *silence(0.5)], start)
    (decision,) = r.record("amd")
    assert decision["kind"] == "human" and decision["reason"] == "short greeting"
    assert 1000 <= decision["elapsed_ms"] <= 1140, decision
    assert [a["action"] for a in r.record("amd_action")] == ["begin"]
    # the fixed greeting, said once it was decided
    assert replies(r) == [GOODBYE_INSTRUCTIONS.format(text="Hi Bob, it's Ana.")]
    # the session heard nothing of "Hello?": it had nothing to answer before the decision
    assert heard_by_session(r) == {SILENCE}
    speak(r.session, "g", 100, "Hi Bob, it's Ana.")
    await settle()
    assert r.ticks(1)[0] is not None  # the greeting plays
    await feed(r, voice(0.3), end)
    assert heard_by_session(r) != {SILENCE}  # the conversation: the callee is heard
    r.session.push(ToolCallRequested("r2", "c1", "who_answered", "{}"))
    await wait_for(lambda: any(sent[0] == "tool_result" for sent in r.session.sent))
    (result_sent,) = [sent for sent in r.session.sent if sent[0] == "tool_result"]
    told = json.loads(result_sent[2])
    assert told["answered_by"] == "human" and told["action"] == "conversation", told
    await r.agent.close()
    (result,) = r.record("amd_result")
    assert result["kind"] == "human" and result["action"] == "conversation"
    assert ("answer", ("human", pytest.approx(1.06, abs=0.1))) in r.observer.events


async def test_without_a_greeting_the_model_writes_the_opening_once_decided() -> None:
    r = outbound(AmdMode.HANG_UP)  # a placed call's opening is the model's by default
    start = await answered(r)
    assert r.agent.opening.llm_writes and replies(r) == []  # not at the answer
    await feed(r, [*silence(0.3), *voice(0.5), *silence(0.5)], start)
    assert r.record("amd")[0]["kind"] == "human"
    assert replies(r) == [""]  # the model's own opening, as without detection
    await r.agent.close()


async def test_a_voicemail_gets_the_message_after_its_beep_then_the_call_ends() -> None:
    r = outbound(AmdMode.LEAVE_MESSAGE, MESSAGE, answering=AnsweringSettings(message="unused"))
    start = await answered(r)
    at = await feed(r, [*voice(2.4), *silence(0.5)], start)
    assert replies(r) == []  # a long greeting: nothing said over it
    await feed(r, [*beep(0.5), *silence(0.4)], at)
    (decision,) = r.record("amd")
    assert decision["kind"] == "voicemail" and decision["reason"] == "long greeting"
    (ready,) = r.record("amd_ready")
    assert ready["cause"] == "beep"
    (message,) = [a for a in r.record("amd_action") if a["action"] == "message"]
    assert message["cause"] == "beep" and message["fixed"]
    said = "Hi Bob, this is Ana from the shop, please call us back."
    assert replies(r) == [GOODBYE_INSTRUCTIONS.format(text=said)]
    assert heard_by_session(r) == {SILENCE}  # the model never heard the greeting
    assert not r.call.hangups
    speak(r.session, "m", 200, said, done=False)
    await settle()
    r.ticks(12)  # the message plays out
    r.session.push(ReplyDone("m", "completed", asyncio.get_running_loop().time()))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not r.call.hangups:
        assert loop.time() < deadline, "no hang-up after the message"
        r.agent.next_frame()
        await asyncio.sleep(0.02)
    (result,) = r.record("amd_result")
    assert result["kind"] == "voicemail" and result["action"] == "message"
    await r.agent.close()


async def test_without_a_message_the_model_writes_one() -> None:
    r = outbound(AmdMode.LEAVE_MESSAGE)
    start = await answered(r)
    at = await feed(r, [*voice(2.4), *silence(0.5)], start)
    await feed(r, [*beep(0.5), *silence(0.4)], at)
    (note,) = replies(r)
    assert "voicemail answered" in note
    await r.agent.close()


async def test_an_announcement_is_hung_up_on_without_a_word() -> None:
    r = outbound(AmdMode.HANG_UP)
    start = await answered(r)
    await feed(r, [*silence(0.2), *special_information_tone(), *silence(0.3)], start)
    (decision,) = r.record("amd")
    assert decision["kind"] == "announcement" and decision["evidence"] == "tone"
    assert r.call.hangups == 1 and replies(r) == []
    assert r.record("amd_result")[0]["action"] == "hang_up"
    await r.agent.close()


async def test_a_call_without_detection_greets_at_connect() -> None:
    r = outbound(AmdMode.OFF, outbound_greeting="Hello there.")
    assert r.agent.answering is None
    prepared = asyncio.create_task(r.agent.prepare())
    await settle()
    config = r.session.config
    assert config is not None and config.greeting == "Hello there."
    speak(r.session, "g", 100, "Hello there.")
    await asyncio.wait_for(prepared, 1)
    await r.agent.close()
