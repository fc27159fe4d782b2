"""Answering-machine detection on the speech-to-speech agents end to end in-process
(tests/agent/s2s/stack.py): the gateway, the production session clients, the vendor's
fake on a real WebSocket, and a scripted phone playing the callee: a person's "Hello?",
or a voicemail's greeting and beep. The phone dials the gateway; the agent sees the call
as one the gateway placed with ``amd`` (``DetectingCall``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.evaluation.audio import tone_frames
from sipgw.sip.message import make_response
from tests.agent.amd.callee import silence, voice
from tests.agent.assistant.test_assistant_actions import request_from_gateway
from tests.agent.s2s.stack import GREETING, GREETING_HZ, Kind, hang_up, s2s_stack

pytestmark = pytest.mark.timeout(60)

MESSAGE = "Please call us back about your order."
MESSAGE_HZ = 1900


KINDS: tuple[Kind, ...] = ("voice-agent", "realtime")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_person_is_greeted_once_detection_decides(tmp_path: Path, kind: Kind) -> None:
    amd = AmdRequest(AmdMode.LEAVE_MESSAGE)
    async with s2s_stack(tmp_path, kind, amd=amd, outbound_greeting=GREETING) as s:
        caller, _, phone = await s.call()
        assert not s.session.replies  # no greeting at connect: nothing said by itself
        hello = voice(0.5)
        ends = phone.say([*silence(0.3), *hello])
        phone.say(silence(1.5))
        first = await phone.wait_for_tone(GREETING_HZ, within=5)
        assert first >= ends  # after "Hello?", never over it
        assert first - ends < 0.8  # 240 ms of quiet, the session's reply
        await phone.wait_until_quiet(0.1, hz=GREETING_HZ)
        (reply,) = s.session.replies  # the greeting only: "Hello?" was not answered
        assert reply.text == GREETING
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    (decision,) = s.lines("amd")
    assert decision["kind"] == "human", decision
    assert [line["action"] for line in s.lines("amd_action")] == ["begin"]
    (result,) = s.lines("amd_result")
    assert result["kind"] == "human" and result["action"] == "conversation"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_voicemail_gets_the_message_after_the_beep_then_the_hang_up(
    tmp_path: Path, kind: Kind
) -> None:
    amd = AmdRequest(AmdMode.LEAVE_MESSAGE, MESSAGE)
    async with s2s_stack(tmp_path, kind, amd=amd, outbound_greeting=GREETING) as s:
        s.fake.map_text("call us back", MESSAGE_HZ)
        caller, _, phone = await s.call()
        phone.say([*voice(2.4), *silence(0.5)])
        beep_end = phone.say(tone_frames(1000, 0.5, -18.0))
        phone.say(silence(3.0))
        first = await phone.wait_for_tone(MESSAGE_HZ, within=8)
        assert first >= beep_end - 0.05  # after the beep
        bye, _ = await request_from_gateway(caller, "BYE", 12)
        caller.send(make_response(bye, 200).serialize())
        assert not phone.heard_tone(GREETING_HZ)  # a machine is not greeted
        (reply,) = s.session.replies
        assert reply.text == MESSAGE
        await phone.stop_audio()
        await asyncio.sleep(0.2)
    (decision,) = s.lines("amd")
    assert decision["kind"] == "voicemail", decision
    (result,) = s.lines("amd_result")
    assert result["kind"] == "voicemail" and result["action"] == "message"
    assert {"type": "hangup", "by": "agent"} in [
        {"type": line["type"], "by": line.get("by")} for line in s.record()
    ]
