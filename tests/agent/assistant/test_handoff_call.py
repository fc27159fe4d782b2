"""A hand-off asked for on an assistant call (agent/assistant/handoff_call.py), on the in-memory
doubles: the call (a double of the gateway's handle, agent/conversation/handover.py's seam) builds
the target line's own agent; the front line's reply is heard in its voice, then billing's agent,
with billing's settings, speaks in billing's voice from billing's prompt."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sipgw.agent.assistant.agent import AssistantAgent, AssistantResources
from sipgw.agent.conversation.handoff import HandOffSettings
from sipgw.agent.conversation.handover import HandOver, HistoryMode
from sipgw.agent.conversation.settings import AssistantSettings, BargeInSettings
from sipgw.agent.idle.policy import IdleSettings
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.agent.turns.machine import StartReply
from tests.agent.parts import (
    TONE_BARGE_IN,
    TONE_DETECTOR,
    FakeCall,
    ScriptedLlm,
    ScriptedStt,
    ScriptedTts,
    Turn,
    lines,
    play_out,
    settle,
    wait_for,
)

HAND_OFF = ("hand_off", json.dumps({"line": "billing", "summary": "Wants a refund."}))


@dataclass(eq=False)
class Prepared:
    """The target's agent as the gateway hands it back (agent/conversation/handover.py's
    PreparedLine)."""

    agent: Any
    """The target's agent (an assistant, or a speech-to-speech agent: tests/agent/s2s)."""
    hand_over: HandOver
    switched: bool = False
    cancelled: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    meanwhile: tuple[str, ...] = ()

    def switch(self, messages: Sequence[dict[str, Any]], meanwhile: Sequence[str] = ()) -> bool:
        self.switched, self.messages, self.meanwhile = True, list(messages), tuple(meanwhile)
        self.agent.take_over(messages, meanwhile)
        return True

    async def cancel(self) -> None:
        self.cancelled = True
        await self.agent.close("cancelled")


@dataclass(eq=False)
class SwitchingCall(FakeCall):
    """A call whose line can change (the gateway's handle, in memory)."""

    targets: dict[str, tuple[HistoryMode, Callable[[FakeCall], Any]]] = field(default_factory=dict)
    keep_stt: bool = False
    why_not: str | None = None
    hand_over: HandOver | None = None
    prepared: list[Prepared] = field(default_factory=list)

    async def prepare_line(self, hand_over: HandOver) -> Prepared | str:
        if self.why_not is not None:
            return self.why_not
        history, make = self.targets[hand_over.line]
        stt = hand_over.stt if self.keep_stt else None
        self.hand_over = hand_over = replace(hand_over, history=history, stt=stt)
        try:
            agent = make(self)
        finally:
            self.hand_over = None
        await agent.prepare()
        prepared = Prepared(agent, hand_over)
        self.prepared.append(prepared)
        return prepared


@dataclass
class Lines:
    """The front line's call and billing's parts."""

    call: SwitchingCall
    front: AssistantAgent
    llm: ScriptedLlm
    front_tts: ScriptedTts
    front_stt: ScriptedStt
    billing_tts: ScriptedTts = field(default_factory=ScriptedTts)
    billing_stt: ScriptedStt = field(default_factory=ScriptedStt)

    @property
    def billing(self) -> AssistantAgent:
        (prepared,) = self.call.prepared
        agent: AssistantAgent = prepared.agent
        return agent

    def switched(self) -> bool:
        return bool(self.call.prepared) and self.call.prepared[0].switched


BILLING = AssistantSettings(
    system_prompt="You are billing.", record_dir=None, greeting="Billing, hello.",
    barge_in=BargeInSettings(commit_ms=900, min_words=3, noise=TONE_DETECTOR),
    idle=IdleSettings(after=4.0, checks=1),
    filler_after=None, max_tool_rounds=2,
)  # fmt: skip


def front_call(
    script: list[Turn], *, history: HistoryMode = "summary", keep_stt: bool = False
) -> Lines:
    llm = ScriptedLlm(script)
    front_tts, front_stt = ScriptedTts(), ScriptedStt()
    call = SwitchingCall(keep_stt=keep_stt)
    settings = AssistantSettings(
        system_prompt="You are the front desk.",
        record_dir=None,
        greeting="",
        barge_in=TONE_BARGE_IN,
    )
    resources = AssistantResources(
        settings, llm, ToolRegistry(), lambda: front_stt, lambda: front_tts,
        hand_off=HandOffSettings("front", ("billing",)),
    )  # fmt: skip
    front = AssistantAgent(call, resources)
    parts = Lines(call, front, llm, front_tts, front_stt)
    billing = AssistantResources(
        BILLING, llm, ToolRegistry(), lambda: parts.billing_stt, lambda: parts.billing_tts
    )
    call.targets["billing"] = (history, lambda c: AssistantAgent(c, billing))
    return parts


async def answered(parts: Lines) -> None:
    await parts.front.prepare()
    parts.front.on_answered()  # no greeting: the playout is let out


async def test_the_call_becomes_billings_in_full_with_a_new_speech_session() -> None:
    parts = front_call([Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through."),
                        Turn(text="Billing here, about that refund?")])  # fmt: skip
    front, llm = parts.front, parts.llm
    await answered(parts)
    front.responder.reply_to("I want a refund.")
    await play_out(front.playout, until=parts.switched)
    billing = parts.billing
    await play_out(billing.playout, until=lambda: bool(parts.billing_tts.sent))
    assert parts.front_tts.texts() == ["Putting you through."]
    assert parts.billing_tts.texts() == ["Billing here, about that refund?"]
    # Billing's agent, with billing's settings: its barge-in, idle policy, fillers, limits;
    # no greeting (it speaks to the note); no hand_off tool (billing names no line).
    assert billing.settings is BILLING
    assert (billing.turns.commit_ms, billing.turns.min_words) == (900, 3)
    assert billing.idle.settings == IdleSettings(after=4.0, checks=1)
    assert billing.conversation.settings.max_tool_rounds == 2
    assert "hand_off" not in billing.conversation.tools and billing.hand_off is None
    first, _, third = llm.requests
    assert first[0]["content"].startswith("You are the front desk.")
    # summary: billing's prompt and the note with the summary, nothing more
    assert [m["role"] for m in third] == ["system", "user"]
    assert (
        third[0]["content"].startswith("You are billing.")
        and "Wants a refund." in (third[1]["content"])
    )
    # Its own speech-to-text session (the lines' settings differ), connected while the
    # tool ran; the record goes on in one file.
    assert billing.stt is parts.billing_stt and billing.record is front.record
    (record,) = lines(billing.scope, "hand_off")
    assert (record["from"], record["to"], record["history"], record["stt"]) == (
        "front", "billing", "summary", "new",
    )  # fmt: skip
    assert [line["type"] for line in lines(billing.scope, "hand_off_pending")] == [
        "hand_off_pending"
    ]
    await front.close("handed-off")  # as the gateway does at the switch
    assert parts.front_stt.closed and parts.front_tts.closed
    assert not lines(front.scope, "end")  # the record is billing's now
    await billing.close("remote-bye")
    assert [line["reason"] for line in lines(billing.scope, "end")] == ["remote-bye"]
    assert parts.billing_stt.closed and parts.billing_tts.closed


async def test_full_history_goes_with_the_caller() -> None:
    parts = front_call([Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through."),
                        Turn(text="Billing here.")], history="full")  # fmt: skip
    await answered(parts)
    parts.front.responder.reply_to("I want a refund.")
    await play_out(parts.front.playout, until=lambda: len(parts.llm.requests) == 3)
    third = parts.llm.requests[2]
    assert third[0]["content"].startswith("You are billing.")
    said = [m.get("content") for m in third if m["role"] in ("user", "assistant")]
    assert "I want a refund." in said and "Putting you through." in said
    assert "Wants a refund." in third[-1]["content"]
    await parts.billing.close()
    await parts.front.close()


async def test_a_kept_speech_session_moves_to_billing_with_what_was_said_meanwhile() -> None:
    script = [Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through."),
              Turn(text="Billing here."), Turn(text="Noted.")]  # fmt: skip
    parts = front_call(script, keep_stt=True)
    front = parts.front
    await answered(parts)
    front.responder.reply_to("I want a refund.")
    await wait_for(lambda: front.hand_off is not None and front.hand_off.prepared is not None)
    # The caller speaks while the hand-off is pending: the front line does not answer.
    front._carry_out((StartReply("And my address changed.", None, 0.0),))
    await play_out(front.playout, until=parts.switched)
    billing = parts.billing
    assert billing.stt is parts.front_stt and not parts.billing_stt.audio
    assert parts.call.prepared[0].meanwhile == ("And my address changed.",)
    await wait_for(lambda: len(parts.llm.requests) == 3)
    assert "And my address changed." in parts.llm.requests[2][-1]["content"]
    (record,) = lines(billing.scope, "hand_off")
    assert record["stt"] == "kept"
    await front.close("handed-off")
    assert not parts.front_stt.closed  # billing's now
    # The session's next turn reaches billing's agent, not the front's.
    tts = parts.billing_tts
    await play_out(billing.playout, until=lambda: bool(tts.sent) and not billing.playout.pending)
    text = "Thanks, that is all for today."
    parts.front_stt.emit(SttTurnEnded(text, 1, (), billing.loop.time(), None))
    await wait_for(lambda: len(parts.llm.requests) == 4)
    assert parts.llm.requests[3][0]["content"].startswith("You are billing.")
    await billing.close()
    assert parts.front_stt.closed


async def test_a_line_that_cannot_take_the_call_is_a_tool_error_and_the_call_stays() -> None:
    parts = front_call([Turn(tool_calls=(HAND_OFF,)), Turn(text="Sorry, billing is busy.")])
    parts.call.why_not = "line 'billing' is busy (it holds its max_calls, 1)"
    front = parts.front
    await answered(parts)
    front.responder.reply_to("I want a refund.")
    await play_out(
        front.playout, until=lambda: len(parts.llm.requests) == 2 and not front.playout.pending
    )
    tool_message = parts.llm.requests[1][-1]
    assert tool_message["role"] == "tool" and "busy" in tool_message["content"]
    assert parts.front_tts.texts() == ["Sorry, billing is busy."]
    assert front.hand_off is not None and not front.hand_off.pending
    assert not lines(front.scope, "hand_off") and "hand_off" in front.conversation.tools
    await front.close()
    assert parts.front_stt.closed


async def test_a_call_that_cannot_change_lines_refuses_the_hand_off() -> None:
    llm = ScriptedLlm([Turn(tool_calls=(HAND_OFF,)), Turn(text="I cannot do that.")])
    tts = ScriptedTts()
    resources = AssistantResources(
        AssistantSettings(record_dir=None, greeting=""), llm, ToolRegistry(), ScriptedStt,
        lambda: tts, hand_off=HandOffSettings("front", ("billing",)),
    )  # fmt: skip
    agent = AssistantAgent(FakeCall(), resources)
    agent.on_answered()
    agent.responder.reply_to("Move me.")
    await wait_for(lambda: len(llm.requests) == 2)
    assert "cannot change lines" in llm.requests[1][-1]["content"]
    await agent.close()


async def test_a_line_not_named_is_refused_before_anything_is_built() -> None:
    wrong = ("hand_off", json.dumps({"line": "front", "summary": "x"}))
    parts = front_call([Turn(tool_calls=(wrong,)), Turn(text="I cannot do that.")])
    await answered(parts)
    parts.front.responder.reply_to("Move me.")
    await wait_for(lambda: len(parts.llm.requests) == 2)
    assert parts.llm.requests[1][-1]["role"] == "tool" and not parts.call.prepared
    await settle()
    await parts.front.close()


async def test_a_hand_off_given_up_leaves_the_record_and_session_to_the_first_agent() -> None:
    parts = front_call([Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through.")],
                       keep_stt=True)  # fmt: skip
    front = parts.front
    await answered(parts)
    front.responder.reply_to("I want a refund.")
    await wait_for(lambda: front.hand_off is not None and front.hand_off.prepared is not None)
    await front.close("remote-bye")  # the caller hangs up before the switch
    (prepared,) = parts.call.prepared
    assert prepared.cancelled and not prepared.switched
    assert [line["reason"] for line in lines(front.scope, "end")] == ["remote-bye"]
    assert parts.front_stt.closed and not lines(front.scope, "hand_off")
