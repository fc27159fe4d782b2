"""When the speech-to-speech service fails (agent/s2s/recovery.py): the conversation so far,
a failed reply, a session gone for good."""

from __future__ import annotations

import asyncio

from sipgw.agent.s2s.recovery import HISTORY_CHARS
from sipgw.agent.services.s2s.base import (
    ReplyDone,
    S2sConnectError,
    ServiceError,
    SessionFailed,
    SessionReconnected,
)
from sipgw.agent.tools.settings import BuiltinToolSettings
from tests.agent.s2s.parts import ScriptedSession, rig


async def test_the_history_keeps_what_was_said_and_heard() -> None:
    r = rig(greeting="")
    await r.agent.prepare()
    recovery, voice = r.agent.recovery, r.agent.voice
    recovery.caller_said("Where is my order?")
    reply = voice.started("r1", 0.0)
    reply.text, reply.heard = "It has shipped and arrives tomorrow.", "It has shipped"
    recovery.reply_ended(reply, ReplyDone("r1", "interrupted", 0.0))
    assert recovery.history == ["Caller: Where is my order?", "You: It has shipped…"]
    assert [line["text"] for line in r.record("user")] == ["Where is my order?"]
    await r.agent.close()


async def test_errors_and_resumes_are_recorded_and_counted() -> None:
    r = rig()
    await r.agent.prepare()
    recovery = r.agent.recovery
    recovery.service_reported(ServiceError("rate_limited", "slow down"))
    recovery.resumed(SessionReconnected(1.5))
    (error,) = r.record("error")
    assert error["code"] == "rate_limited"
    assert r.record("s2s_reconnected")[0]["outage_s"] == 1.5
    assert ("error", ("s2s", "protocol")) in r.observer.events
    assert ("error", ("s2s", "connect")) in r.observer.events
    await r.agent.close()


async def test_a_new_session_gets_only_the_end_of_a_long_conversation() -> None:
    r = rig()
    await r.agent.prepare()
    recovery = r.agent.recovery
    for n in range(400):
        recovery.caller_said(f"question number {n}")
    await asyncio.wait_for(recovery.failed(SessionFailed("gone"), r.agent._listen), 2)
    config = r.session.config
    assert config is not None
    history = config.instructions.split("The conversation so far:\n", 1)[1]
    assert len(history) <= HISTORY_CHARS and history.endswith("question number 399")
    await r.agent.close()


async def test_when_no_session_can_be_opened_the_call_moves_on() -> None:
    refusal = S2sConnectError("down")
    target = BuiltinToolSettings(transfer_target="sip:human@pbx.example")
    r = rig(more=lambda: ScriptedSession(refuse=refusal), builtin_tools=target)
    await r.agent.prepare()
    await r.agent.recovery.failed(SessionFailed("gone"), r.agent._listen)
    assert r.record("s2s_unavailable")
    assert r.observer.decisions == ["llm_apology", "stt_lost", "stt_failed_transfer"]
    await r.agent.close()
