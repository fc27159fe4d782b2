"""Warm transfer by a speech-to-speech agent, on the in-memory doubles: the consultation
call's agent speaks with sessions of the caller's service, and the caller waits on hold."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.s2s.ears import SessionEars
from sipgw.agent.s2s.lines import SessionVoice
from sipgw.agent.transfer.consult import ConsultAgent
from sipgw.agent.transfer.settings import TransferSettings
from tests.agent.parts import wait_for
from tests.agent.s2s.parts import LOUD, SILENCE, rig
from tests.agent.transfer.test_warm import TARGET, WarmCall

pytestmark = pytest.mark.timeout(20)

SUMMARY = "Bob wants a refund for order 1234."


async def test_the_caller_waits_on_hold_while_the_person_is_briefed_and_returns_on_a_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sipgw.agent.s2s.actions.REPLY_START_WAIT", 0.01)
    call = WarmCall(call_id="call-1", caller="sip:+15551230000@trunk", called="sip:agent@gw")
    r = rig(call=call, transfer=TransferSettings(mode="warm", answer_timeout=5.0))
    await r.agent.prepare()
    r.agent.on_answered()
    caller_session = r.session
    r.agent.actions.transfer_after_reply(TARGET, SUMMARY)  # no line follows
    await wait_for(lambda: call.consult_agents, within=5)
    (consult,) = call.consult_agents
    assert isinstance(consult, ConsultAgent)
    assert isinstance(consult.tts, SessionVoice) and isinstance(consult.stt, SessionEars)
    assert consult.brief.summary == SUMMARY
    assert r.agent.actions.transferring
    before = len(caller_session.audio)
    r.caller([LOUD] * 5)  # the caller talks to the hold music
    assert bytes(caller_session.audio[before:]) == SILENCE * 5  # no turn for the model
    music = r.ticks(3)
    assert all(frame is not None and len(frame) == 160 for frame in music)
    consult.on_dtmf("2")  # the person declines
    await wait_for(lambda: not r.agent.actions.transferring, within=2)
    (note,) = [sent for sent in caller_session.sent if sent[0] == "text"]
    assert "did not go through: the person said they cannot take the call" in note[1]
    stages = [line["stage"] for line in r.record("warm_transfer")]
    assert stages == ["hold", "failed"]
    r.caller([LOUD])
    assert bytes(caller_session.audio).endswith(LOUD)  # heard again
    assert call.legs[0].hangups == 1
    await consult.close()
    await r.agent.close()
    await asyncio.sleep(0)
