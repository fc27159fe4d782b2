"""A hand-off carried out on an assistant call (agent/assistant/handoff_call.py), on the in-memory
doubles: the front line's reply is heard in its voice, then billing's model speaks in
billing's voice, from billing's prompt."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sipgw.agent.assistant.agent import AssistantAgent, AssistantResources
from sipgw.agent.assistant.handoff import HandOffSettings, HandOffTarget
from sipgw.agent.assistant.settings import AssistantSettings
from sipgw.agent.base import CallDetails
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.media.codecs import PCM16_16K
from tests.agent.parts import (
    FakeCall,
    ScriptedLlm,
    ScriptedStt,
    ScriptedTts,
    Turn,
    lines,
    play_out,
    tts_refused,
)

HAND_OFF = ("hand_off", json.dumps({"line": "billing", "summary": "Wants a refund."}))


@dataclass
class Billing:
    """The one other line (:class:`sipgw.agent.assistant.handoff.HandOffLines`)."""

    tts: ScriptedTts
    wide: ScriptedTts | None = None

    def target(self, name: str) -> HandOffTarget | None:
        if name != "billing":
            return None
        settings = AssistantSettings(system_prompt="You are billing.", record_dir=None)
        wide = self.wide
        return HandOffTarget(name, settings, ToolRegistry(), lambda: self.tts, "summary",
                             new_wideband_tts=None if wide is None else lambda: wide)  # fmt: skip


def front_call(
    llm: ScriptedLlm, front: ScriptedTts, billing: ScriptedTts, hd: tuple[ScriptedTts, ...] = ()
) -> AssistantAgent:
    """The front line's call; ``hd``: the front's and billing's 16 kHz voices, on an HD-voice
    call."""
    stt = ScriptedStt()
    settings = AssistantSettings(
        system_prompt="You are the front desk.", record_dir=None, greeting=""
    )
    wide_front, wide_billing = hd or (None, None)
    resources = AssistantResources(
        settings, llm, ToolRegistry(), lambda: stt, lambda: front,
        hand_off=HandOffSettings("front", ("billing",), Billing(billing, wide_billing)),
        new_wideband_tts=None if wide_front is None else lambda: wide_front,
    )  # fmt: skip
    details = CallDetails(sample_rate=16000 if hd else 8000)
    agent = AssistantAgent(FakeCall(details=details), resources)
    agent.on_answered()  # no greeting: the playout is let out
    return agent


async def test_the_caller_hears_the_front_line_then_billing_in_its_voice() -> None:
    front, billing = ScriptedTts(), ScriptedTts()
    llm = ScriptedLlm([Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through."),
                       Turn(text="Billing here, about that refund?")])  # fmt: skip
    agent = front_call(llm, front, billing)
    agent.responder.reply_to("I want a refund.")
    await play_out(agent.playout, until=lambda: bool(billing.sent) and not agent.playout.pending)
    assert front.texts() == ["Putting you through."]
    assert billing.texts() == ["Billing here, about that refund?"]
    first, _, third = llm.requests
    tools = agent.conversation.tools
    assert "hand_off" not in tools  # billing names no line to hand off to
    assert first[0]["content"].startswith("You are the front desk.")
    # summary: billing's prompt and the note with the summary, nothing more
    assert [m["role"] for m in third] == ["system", "user"]
    assert (
        third[0]["content"].startswith("You are billing.")
        and "Wants a refund." in third[1]["content"]
    )
    (record,) = lines(agent.scope, "hand_off")
    assert (record["from"], record["to"], record["history"]) == ("front", "billing", "summary")
    await agent.close()
    assert front.closed and billing.closed


async def test_an_hd_voice_call_is_handed_to_the_lines_16_khz_voice() -> None:
    """Issue 43: the call speaks 16 kHz; the line it is handed to speaks to it in its own
    16 kHz voice, not its 8 kHz one."""
    front, billing = ScriptedTts(), ScriptedTts()
    wide_front, wide_billing = ScriptedTts(format=PCM16_16K), ScriptedTts(format=PCM16_16K)
    llm = ScriptedLlm([Turn(tool_calls=(HAND_OFF,)), Turn(text="Putting you through."),
                       Turn(text="Billing here, about that refund?")])  # fmt: skip
    agent = front_call(llm, front, billing, (wide_front, wide_billing))
    agent.responder.reply_to("I want a refund.")
    frames = await play_out(
        agent.playout, until=lambda: bool(wide_billing.sent) and not agent.playout.pending
    )
    assert wide_front.texts() == ["Putting you through."]
    assert wide_billing.texts() == ["Billing here, about that refund?"]
    assert not front.sent and not billing.sent
    assert {len(f) for f in frames if f is not None} == {PCM16_16K.frame_bytes}
    await agent.close()


async def test_a_voice_that_does_not_connect_is_a_tool_error_and_the_call_stays() -> None:
    front, billing = ScriptedTts(), ScriptedTts(connect_error=tts_refused())
    llm = ScriptedLlm([Turn(tool_calls=(HAND_OFF,)), Turn(text="Sorry, billing is not available.")])
    agent = front_call(llm, front, billing)
    agent.responder.reply_to("I want a refund.")
    await play_out(
        agent.playout, until=lambda: len(llm.requests) == 2 and not agent.playout.pending
    )
    tool_message = llm.requests[1][-1]
    assert tool_message["role"] == "tool" and "voice is unavailable" in tool_message["content"]
    assert front.texts() == ["Sorry, billing is not available."] and not billing.sent
    assert agent.hand_off is not None and agent.hand_off.state.line == "front"
    assert not lines(agent.scope, "hand_off") and "hand_off" in agent.conversation.tools
    await agent.close()


async def test_a_line_not_named_is_refused_before_anything_connects() -> None:
    front, billing = ScriptedTts(), ScriptedTts()
    wrong = ("hand_off", json.dumps({"line": "front", "summary": "x"}))
    llm = ScriptedLlm([Turn(tool_calls=(wrong,)), Turn(text="I cannot do that.")])
    agent = front_call(llm, front, billing)
    agent.responder.reply_to("Move me.")
    await play_out(
        agent.playout, until=lambda: len(llm.requests) == 2 and not agent.playout.pending
    )
    assert llm.requests[1][-1]["role"] == "tool" and not billing.sent
    await agent.close()
