"""What every AI agent does to its call alike (agent/conversation/dialing.py): transfers and
keyed digits in the call record, refusals recorded and raised, and the call as tools see it."""

from __future__ import annotations

import gc

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.conversation.dialing import CallDialing, ToolCallContext, transfer_failed_note
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.dialpolicy import DialRefused
from tests.agent.parts import FakeCall, lines, make_scope


async def test_a_transfer_and_digits_are_recorded_and_a_refusal_is_raised() -> None:
    scope, call = make_scope(), FakeCall(accept_transfer=False)
    dialing = CallDialing(scope, call)
    assert await dialing.transfer("sip:human@pbx") is False
    assert (
        await dialing.transfer_or_why_not("sip:human@pbx") == "not accepted by the caller's phone"
    )
    dialing.send_dtmf("12#")
    call.refuse = True
    assert await dialing.transfer_or_why_not("sip:premium@x") == "refused (not in SIPGW_DIAL_ALLOW)"
    with pytest.raises(DialRefused):
        dialing.send_dtmf("900")
    assert [t["accepted"] for t in lines(scope, "transfer")] == [False, False]
    assert [d["digits"] for d in lines(scope, "dtmf_sent")] == ["12#"]
    assert [(r["action"], r["target"]) for r in lines(scope, "dial_refused")] == [
        ("transfer", "sip:premium@x"),
        ("dtmf", "900"),
    ]


async def test_the_agent_hangs_up_once_with_its_reason() -> None:
    scope, call = make_scope(), FakeCall()
    dialing = CallDialing(scope, call)
    dialing.hang_up("idle")
    dialing.hang_up("again")
    assert call.hangups == 1
    assert [(h["by"], h["reason"]) for h in lines(scope, "hangup")] == [("agent", "idle")]


def test_a_target_that_did_not_answer_is_a_note_for_the_model() -> None:
    note = transfer_failed_note(486, "Busy Here")
    assert "486 Busy Here" in note and "take a message" in note


class Actions:
    """What a tool reaches of an agent's call actions (a ToolActions)."""

    def __init__(self, call: FakeCall) -> None:
        self.call = call
        self.after: list[str] = []

    async def transfer(self, target: str, summary: str = "") -> bool:
        return await self.call.transfer(target, summary)

    def send_dtmf(self, digits: str) -> None:
        self.call.send_dtmf(digits)

    def hangup_after_reply(self) -> None:
        self.after.append("hangup")

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        self.after.append(f"transfer {target}")


async def test_tools_see_the_other_party_and_act_through_the_actions() -> None:
    details = CallDetails(caller_number="+15551234567", called_number="+4930123")
    settings = AssistantSettings()
    inbound, outbound = ToolCallContext(settings), ToolCallContext(settings)
    actions = Actions(FakeCall(details=details))
    placed = Actions(FakeCall(direction="outbound", called="sip:+4930123@trunk", details=details))
    inbound.bind(actions)
    outbound.bind(placed)
    assert (inbound.caller_number, outbound.caller_number) == ("+15551234567", "+4930123")
    assert outbound.caller == "sip:+4930123@trunk" and outbound.direction == "outbound"
    assert inbound.settings is settings and inbound.answered_by() == {"mode": "off"}
    assert await inbound.transfer("sip:human@pbx") is True
    inbound.send_dtmf("5")
    inbound.transfer_after_reply("sip:human@pbx")
    inbound.hangup_after_reply()
    assert actions.call.transfers == ["sip:human@pbx"] and actions.call.dtmf == ["5"]
    assert actions.after == ["transfer sip:human@pbx", "hangup"]


async def test_a_tool_context_outliving_its_call_says_so() -> None:
    ctx = ToolCallContext(AssistantSettings())
    with pytest.raises(RuntimeError, match="the call has ended"):
        ctx.hangup_after_reply()
    actions = Actions(FakeCall())
    ctx.bind(actions)
    assert ctx.call_id == "parts-call@test"
    del actions
    gc.collect()
    with pytest.raises(RuntimeError, match="the call has ended"):
        ctx.transfer_after_reply("sip:x@y")
