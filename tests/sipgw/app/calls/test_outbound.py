"""Placing calls, the app side: the outbound settings and the outcomes (targets: test_dialout)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from sipgw.agent.amd.settings import AmdCall, AmdMode, AmdRequest
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.record import CallRecord
from sipgw.app.calls.hints import hint
from sipgw.app.calls.outbound import CallOutcome
from sipgw.app.startup import outbound_config
from sipgw.app.upstream.accounts import registration_settings
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.app.upstream.settings import AccountSection, OutboundSection
from sipgw.foundation.settings import ConfigError, Sources, load
from sipgw.sip.identity import IdentityHeader
from tests.sipgw.app.refusing_peer import refusing_peer
from tests.toolkit.gateway_in_process import running_gateway


def test_settings_are_checked_and_the_password_hidden() -> None:
    with pytest.raises(ConfigError, match="^SIPGW_OUTBOUND_PROXY=pbx: must be a SIP URI"):
        load(OutboundSection, Sources({"SIPGW_OUTBOUND_PROXY": "pbx"}))
    with pytest.raises(ConfigError, match="^--caller-id 'who\\?': must be a SIP URI, a name-addr"):
        load(OutboundSection, Sources({}, {"--caller-id": "who?"}))
    with pytest.raises(ConfigError, match="^SIPGW_RING_TIMEOUT=0: must be a number > 0"):
        load(OutboundSection, Sources({"SIPGW_RING_TIMEOUT": "0"}))
    sources = Sources(
        {"SIPGW_RING_TIMEOUT": "15", "SIPGW_REGISTER": "sip:1001@pbx.example.com",
         "SIPGW_AUTH_USERNAME": "1001", "SIPGW_AUTH_PASSWORD": "s3cret"}
    )  # fmt: skip
    placing = load(OutboundSection, sources)
    config = outbound_config(placing, load(AccountSection, sources))
    assert config.ring_timeout == 15.0 and config.aor == "sip:1001@pbx.example.com"
    assert config.credentials is not None and config.credentials.username == "1001"
    assert outbound_config(placing, AccountSection()).credentials is None
    secret = OutboundConfig(username="agent", password="s3cret")
    assert "s3cret" not in repr(secret) and "s3cret" not in repr(secret.credentials)


def test_outcome_lines() -> None:
    answered = CallOutcome("sip:a@h", "answered", True, 12.44, 200, "remote-bye")
    assert answered.describe() == "answered, 12.4 s, ended by remote-bye"
    assert CallOutcome("sip:a@h", "busy", False, 0, 486, "busy").describe() == "busy (SIP 486)"
    failed = CallOutcome("sip:a@h", "failed", False, 0, 407, "failed")
    assert failed.describe() == "failed (SIP 407)"  # not "failed: failed" (issue 22)
    local = CallOutcome("x", "failed", False, 0, None, "no free RTP port")
    assert local.describe() == "failed: no free RTP port"
    voicemail = {"kind": "voicemail", "elapsed_ms": 2900, "action": "message"}
    detected = CallOutcome("sip:a@h", "answered", True, 21.0, 200, "local-bye", amd=voicemail)
    assert detected.describe() == "answered by voicemail (2900 ms), 21.0 s, ended by local-bye"


def test_a_refusal_says_what_the_far_end_said_and_what_to_check() -> None:
    """Issue 22: 'failed (SIP 403): failed' told the user nothing."""
    refused = CallOutcome(
        "sip:+15557654321@sip.telnyx.com", "failed", False, 0, 403, "failed",
        phrase="Caller Origination Number is Invalid D35", detail="Reason: Q.850 cause 21",
        hint="check the caller id",
    )  # fmt: skip
    assert refused.describe() == (
        "failed (SIP 403 Caller Origination Number is Invalid D35) [Reason: Q.850 cause 21] - "
        "check the caller id"
    )
    busy = CallOutcome("sip:a@h", "busy", False, 0, 486, "busy", phrase="Busy Here")
    assert busy.describe() == "busy (SIP 486 Busy Here)"
    cut = CallOutcome("sip:a@h", "unreachable", False, 0, 503, "transport-error")
    assert cut.describe() == "unreachable (SIP 503): transport-error"


def test_reliable_1xx_are_supported_unless_the_gateway_or_an_account_says_otherwise(
    tmp_path: Path,
) -> None:
    assert outbound_config(OutboundSection(), AccountSection()).reliable == "supported"
    required = load(OutboundSection, Sources({"SIPGW_100REL": "required"}))
    assert outbound_config(required, AccountSection()).reliable == "required"
    with pytest.raises(ConfigError, match="^--100rel yes: must be one of supported, required"):
        load(OutboundSection, Sources({}, {"--100rel": "yes"}))
    path = tmp_path / "accounts.toml"
    path.write_text(
        "[accounts.ims]\naor = 'sip:gw@ims.example'\n100rel = 'Required'\n"
        "[accounts.pbx]\naor = 'sip:1001@pbx.example'\n"
    )
    accounts = load(AccountSection, Sources({"SIPGW_ACCOUNTS": str(path)}))
    config = outbound_config(load(OutboundSection, Sources({"SIPGW_100REL": "off"})), accounts,
                             registration_settings(accounts))  # fmt: skip
    assert config.reliable == "off"
    assert config.for_account("ims").reliable == "required"  # its own
    assert config.for_account("pbx").reliable == "off"  # the gateway's


def test_the_caller_id_settings() -> None:
    sources = Sources({"SIPGW_CALLER_ID_HEADER": "PAI"}, {"--caller-id-privacy": "id"})
    config = outbound_config(load(OutboundSection, sources), AccountSection())
    assert config.identity is IdentityHeader.PAI and config.withhold
    with pytest.raises(
        ConfigError, match="^--caller-id-header rpid: must be one of none, pai, ppi"
    ):
        load(OutboundSection, Sources({}, {"--caller-id-header": "rpid"}))


class RecordingEcho:
    """The echo agent's factory, keeping call records in ``directory`` as the AI agents do
    (:class:`sipgw.agent.record.KeepsRecords`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, call: CallControl) -> Agent:
        return EchoAgent(call, 0)

    def new_record(self, call_id: str) -> CallRecord | None:
        return CallRecord(self.directory, call_id)


async def test_a_refused_call_gets_a_record_in_the_far_ends_words(tmp_path: Path) -> None:
    """Issue 22: only answered calls had a call record; a refused one left none, so the
    carrier's words were lost once the dashboard forgot the call."""
    routes = tmp_path / "routes.toml"
    routes.write_text(
        'default = "reminders"\n[lines.reminders]\n'
        '[lines.reminders.variables]\nclinic = "Main St"\n'
    )
    records = tmp_path / "calls"
    reason = ("Reason", 'Q.850;cause=21;text="Call Rejected"')
    async with (
        refusing_peer(403, "Caller Origination Number is Invalid D35", (reason,)) as carrier,
        running_gateway(routes=routes) as (gateway, _),
    ):
        placed = await gateway.originate(
            f"sip:+15557654321@127.0.0.1:{carrier.port}", agent=RecordingEcho(records),
            line="reminders", variables={"first_name": "Ada"},
        )  # fmt: skip
        outcome = await asyncio.wait_for(placed.outcome, 10)
        entry = gateway.feed.recent[-1]
    assert outcome.status == 403 and entry.refused is not None
    assert entry.summary()["refusal"].startswith(
        "SIP 403 Caller Origination Number is Invalid D35 [Reason: Q.850 cause 21: Call Rejected]"
    )
    (path,) = records.glob("*.jsonl")
    call, line, end = (json.loads(text) for text in path.read_text().splitlines())
    assert call["type"] == "call" and call["direction"] == "outbound"
    assert placed.handle is not None and call["call_id"] == placed.handle.call_id
    assert call["called"] == f"sip:+15557654321@127.0.0.1:{carrier.port}"
    assert call["variables"] == {"clinic": "Main St", "first_name": "Ada"}
    assert line == {"t": line["t"], "type": "line", "line": "reminders"}
    assert end == {
        "t": end["t"], "type": "end", "reason": "failed", "answered": False, "sip_status": 403,
        "sip_reason": "Caller Origination Number is Invalid D35",
        "sip_detail": "Reason: Q.850 cause 21: Call Rejected", "hint": hint(403),
    }  # fmt: skip


async def test_a_call_asked_for_is_counted_once_placed_or_not() -> None:
    """The call-started counter is the call path's (CallPath.call_started), for both
    directions: a call that fails before any INVITE counts, one the dial policy refuses
    does not (nothing was attempted)."""
    from sipgw.agent.dialpolicy import DialRefused
    from sipgw.agent.echo.agent import EchoAgent
    from sipgw.app.gateway import Gateway
    from sipgw.app.settings import GatewayConfig

    gateway = Gateway(GatewayConfig(bind="127.0.0.1"), lambda call: EchoAgent(call))
    failed = await gateway.originate("no target at all")
    assert failed.outcome.result().kind == "failed" and failed.handle is None
    unknown = await gateway.originate("sip:a@127.0.0.1", line="nope")
    reason = unknown.outcome.result().reason
    assert reason == "no line 'nope' (lines: none: no routes file)", reason
    assert gateway.counters().calls_total == 2
    with pytest.raises(DialRefused):  # nothing allowed: refused before it is counted
        await gateway.place_call("sip:a@127.0.0.1", for_agent=True)
    assert gateway.counters().calls_total == 2 and gateway.counters().dial_refused == 1


async def test_a_placed_call_that_asks_for_no_detection_gets_the_default() -> None:
    """``SIPGW_AMD`` (docs/amd.md, "Asking for it"): a placed call that says nothing runs
    the default mode, with no message of its own (the agent's ``SIPGW_AMD_MESSAGE``, else
    the LLM's, is left); a call's own ``amd`` wins over it, ``off`` included."""
    seen: list[AmdRequest | None] = []

    def factory(call: CallControl) -> Agent:
        seen.append(call.amd if isinstance(call, AmdCall) else None)
        return EchoAgent(call, 0)

    async with (
        running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (callee, _),
        running_gateway(factory) as (gateway, _),
    ):
        config = gateway.outbound.config
        gateway.outbound.config = dataclasses.replace(config, amd=AmdMode.LEAVE_MESSAGE)
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        outcomes = [
            await gateway.place_call(target),
            await gateway.place_call(target, amd=AmdRequest(AmdMode.HANG_UP, "Call us.")),
            await gateway.place_call(target, amd=AmdRequest(AmdMode.OFF)),
        ]
    assert all(outcome.answered for outcome in outcomes), outcomes
    assert seen == [
        AmdRequest(AmdMode.LEAVE_MESSAGE), AmdRequest(AmdMode.HANG_UP, "Call us."), None
    ]  # fmt: skip


async def test_a_placed_calls_own_twiml_reaches_an_agent_that_follows_twiml() -> None:
    """``twiml_url``/``twiml`` (docs/twilio-apps.md): carried to the call's agent in its
    details when the agent declares it follows TwiML; refused, naming the field, otherwise."""
    from sipgw.agent.capabilities import AgentCapabilities, plugin_factory
    from sipgw.app.upstream.callrequest import TwimlSource

    seen: list[tuple[str, str]] = []

    def follows(call: CallControl) -> Agent:
        seen.append((call.details.twiml_url, call.details.twiml))
        return EchoAgent(call, 0)

    factory = plugin_factory(follows, AgentCapabilities(twiml=True))
    async with (
        running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (callee, _),
        running_gateway(factory) as (gateway, _),
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        doc = "<Response><Hangup/></Response>"
        outcome = await gateway.place_call(target, twiml=TwimlSource(document=doc))
        plain = await gateway.originate(
            target, agent=lambda call: EchoAgent(call, 0), twiml=TwimlSource(url="https://a/x")
        )
    assert outcome.answered and seen == [("", doc)]
    assert plain.refused and '"twiml_url"' in plain.outcome.result().reason


async def test_a_placed_calls_goal_reaches_an_agent_that_navigates_menus() -> None:
    """``ivr_goal`` (docs/ivr.md): carried to the call's agent (``call.ivr_goal``) when the
    agent declares it navigates phone menus; refused, naming the field, otherwise."""
    from sipgw.agent.capabilities import AgentCapabilities, plugin_factory
    from sipgw.agent.ivr.goal import IvrCall

    seen: list[str] = []

    def navigates(call: CallControl) -> Agent:
        seen.append(call.ivr_goal if isinstance(call, IvrCall) else "?")
        return EchoAgent(call, 0)

    factory = plugin_factory(navigates, AgentCapabilities(ivr=True))
    async with (
        running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (callee, _),
        running_gateway(factory) as (gateway, _),
    ):
        target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
        outcomes = [
            await gateway.place_call(target, ivr_goal="reach billing"),
            await gateway.place_call(target),
        ]
        plain = await gateway.originate(
            target, agent=lambda call: EchoAgent(call, 0), ivr_goal="reach billing"
        )
    assert all(outcome.answered for outcome in outcomes) and seen == ["reach billing", ""]
    assert plain.refused and '"ivr_goal"' in plain.outcome.result().reason


class _EarlyCallee(Agent):
    """Answers after 0.6 s of early media (183 with SDP), its tone playing meanwhile
    (:class:`sipgw.agent.base.DefersAnswer`)."""

    answer_deferred = True

    def __init__(self, call: CallControl) -> None:
        self.call = call

    def on_answered(self) -> None:  # started unanswered
        from sipgw.agent.base import AnswersLater

        assert isinstance(self.call, AnswersLater) and self.call.answer_now is not None
        asyncio.get_running_loop().call_later(0.6, self.call.answer_now)

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return b"\x22" * 160


class _EarlyListener(Agent):
    """Keeps what it hears before and after its call is answered, hangs up 0.3 s after."""

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.before: list[bytes] = []
        self.after: list[bytes] = []
        self.answered = False

    def on_answered(self) -> None:
        self.answered = True
        asyncio.get_running_loop().call_later(0.3, self.call.hangup)

    def on_caller_frame(self, frame: bytes | None) -> None:
        if frame is not None:
            (self.after if self.answered else self.before).append(frame)

    def next_frame(self) -> bytes | None:
        return None


async def test_an_agent_taking_early_media_hears_the_callee_before_the_answer() -> None:
    """A placed call whose agent declares ``early_media``: built at the callee's 183 with SDP,
    it hears the callee's early audio, then is told ``on_answered`` at the 200 (the callee, a
    gateway whose agent deferred its answer: 183, its tone, 200 after 0.6 s)."""
    from sipgw.agent.capabilities import AgentCapabilities, plugin_factory

    listeners: list[_EarlyListener] = []

    def listen(call: CallControl) -> Agent:
        listeners.append(_EarlyListener(call))
        return listeners[-1]

    factory = plugin_factory(listen, AgentCapabilities(early_media=True))
    async with (
        running_gateway(_EarlyCallee) as (callee, _),
        running_gateway(factory) as (gateway, _),
    ):
        target = f"sip:early@127.0.0.1:{callee.ua.config.sip_port}"
        outcome = await gateway.place_call(target)
    (listener,) = listeners
    assert outcome.answered and listener.answered
    assert listener.before.count(b"\x22" * 160) >= 10  # 0.6 s of early media, less jitter
    assert b"\x22" * 160 in listener.after
