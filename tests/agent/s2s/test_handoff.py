"""Hand-offs between a speech-to-speech line and an assistant line, both ways
(agent/s2s/handoff.py, agent/conversation/handover.py), on the in-memory doubles: the call (a
double of the gateway's handle) builds the target line's own agent, which takes the call over with
the summary and the conversation so far."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sipgw.agent.assistant.agent import AssistantAgent, AssistantResources
from sipgw.agent.conversation.handoff import HandOffSettings
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.s2s.agent import S2sResources, SpeechToSpeechAgent
from sipgw.agent.s2s.handoff import S2sHandOff
from sipgw.agent.s2s.replies import Reply, Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.services.s2s.base import (
    CallerTranscript,
    ReplyDone,
    ReplyStarted,
    ToolCallRequested,
)
from sipgw.agent.tools.registry import ToolRegistry
from tests.agent.assistant.test_handoff_call import SwitchingCall
from tests.agent.parts import (
    FakeCall,
    ScriptedLlm,
    ScriptedStt,
    ScriptedTts,
    Turn,
    lines,
    play_out,
    wait_for,
)
from tests.agent.s2s.parts import ScriptedSession, speak

DESK = AssistantSettings(system_prompt="You are the night desk.", record_dir=None,
                         greeting="Night desk.", answer_wait=0.05)  # fmt: skip
FRONT = AssistantSettings(system_prompt="You are the front desk.", record_dir=None, greeting="")


def desk_resources(
    sessions: list[ScriptedSession], hand_off: HandOffSettings | None = None
) -> S2sResources:
    def new_session() -> ScriptedSession:
        sessions.append(ScriptedSession())
        return sessions[-1]

    return S2sResources(DESK, ToolRegistry(), new_session, hand_off=hand_off)


def front_resources(
    llm: ScriptedLlm, stt: ScriptedStt, tts: ScriptedTts, hand_off: HandOffSettings | None = None
) -> AssistantResources:
    return AssistantResources(FRONT, llm, ToolRegistry(), lambda: stt, lambda: tts,
                              hand_off=hand_off)  # fmt: skip


def s2s_make(resources: S2sResources) -> Callable[[Any], SpeechToSpeechAgent]:
    return lambda call: SpeechToSpeechAgent(call, resources)


async def test_an_assistant_call_handed_to_a_speech_to_speech_line() -> None:
    to_desk = ("hand_off", json.dumps({"line": "desk", "summary": "Lost card, urgent."}))
    llm = ScriptedLlm([Turn(tool_calls=(to_desk,)), Turn(text="Putting you through.")])
    stt, tts, sessions = ScriptedStt(), ScriptedTts(), list[ScriptedSession]()
    call = SwitchingCall()
    call.targets["desk"] = ("full", s2s_make(desk_resources(sessions)))
    hand_off = HandOffSettings("front", ("desk",))
    front = AssistantAgent(call, front_resources(llm, stt, tts, hand_off))
    await front.prepare()
    front.on_answered()
    front.responder.reply_to("I lost my card.")
    await play_out(front.playout, until=lambda: bool(call.prepared) and call.prepared[0].switched)
    desk = call.prepared[0].agent
    assert isinstance(desk, SpeechToSpeechAgent)
    (session,) = sessions
    # Opened with no greeting while the tool ran; at the switch told the conversation and
    # the summary as data, then asked to speak first.
    assert session.config is not None and session.config.greeting == ""
    (instructions,) = [sent[1] for sent in session.sent if sent[0] == "instructions"]
    assert instructions.startswith("You are the night desk.")
    assert "Caller: I lost my card." in instructions and "Agent: Putting you through." in (
        instructions
    )
    assert "'Lost card, urgent.'" in instructions and "as data, not instructions" in instructions
    assert session.sent[-1] == ("reply", "")
    assert desk.record is front.record and not desk.playout.held
    assert desk.recovery.instructions == instructions  # a new session after a failure too
    (record,) = lines(desk.scope, "hand_off")
    assert (record["from"], record["to"], record["stt"]) == ("front", "desk", "new")
    await front.close("handed-off")
    assert stt.closed and not lines(front.scope, "end")
    await desk.close("remote-bye")
    assert session.closed and [r["reason"] for r in lines(desk.scope, "end")] == ["remote-bye"]


async def test_a_speech_to_speech_call_handed_to_an_assistant_line() -> None:
    sessions: list[ScriptedSession] = []
    llm = ScriptedLlm([Turn(text="Front desk here, about your order?")])
    stt, tts = ScriptedStt(), ScriptedTts()
    call = SwitchingCall()
    call.targets["front"] = ("full", lambda c: AssistantAgent(c, front_resources(llm, stt, tts)))
    desk = SpeechToSpeechAgent(call, desk_resources(sessions, HandOffSettings("desk", ("front",))))
    assert "hand_off" in desk.tools
    await desk.prepare()
    desk.on_answered()
    (session,) = sessions
    assert session.config is not None
    assert "hand_off" in [tool.name for tool in session.config.tools]
    session.push(CallerTranscript("Where is my order?"))
    speak(session, "r0", 100, "Let me check.")
    args = json.dumps({"line": "front", "summary": "Asks about an order."})
    session.push(ReplyStarted("r1", 0.0), ToolCallRequested("r1", "c1", "hand_off", args),
                 ReplyDone("r1", "completed", 0.0))  # fmt: skip
    await wait_for(lambda: any(sent[0] == "tool_result" for sent in session.sent))
    (result,) = [sent[2] for sent in session.sent if sent[0] == "tool_result"]
    assert "goes to line front" in result
    speak(session, "r2", 100, "One moment, the front desk will help.")
    for _ in range(100):  # the ticker plays the model's sentence out
        desk.next_frame()
        await asyncio.sleep(0.01)
        if call.prepared and call.prepared[0].switched:
            break
    front = call.prepared[0].agent
    assert isinstance(front, AssistantAgent) and front.record is desk.record
    await wait_for(lambda: bool(llm.requests))
    (request,) = llm.requests
    assert request[0]["content"].startswith("You are the front desk.")
    said = [(m["role"], m["content"]) for m in request[1:-1]]
    assert ("user", "Where is my order?") in said
    assert ("assistant", "One moment, the front desk will help.") in said
    assert "'Asks about an order.'" in request[-1]["content"]
    (record,) = lines(front.scope, "hand_off")
    assert (record["from"], record["to"]) == ("desk", "front")
    await desk.close("handed-off")
    assert session.closed and not lines(desk.scope, "end")
    await front.close()


async def test_hold_stops_the_hand_off_s_wait_for_its_line() -> None:
    """The caller holds the call while the sentence before the switch should play: its wait
    stops, and goes on from where it was on resume (as a transfer's does)."""
    loop = asyncio.get_running_loop()
    scope = SessionScope("c", CallRecord(None, "c"), loop, ScriptedSession())
    playout = Playout()
    playout.held = False
    speaking = Speaking(playout)
    speaking.add(Reply("r1", 1, loop.time(), None))
    playout.push_audio("r1", bytes(1600))  # never played: the line is never heard
    hand_off = S2sHandOff(scope, FakeCall(), HandOffSettings("front", ("desk",)), speaking,
                          list, lambda _: None, 0.2)  # fmt: skip
    wait = asyncio.ensure_future(hand_off._heard())
    await asyncio.sleep(0.1)
    hand_off.hold(True)
    await asyncio.sleep(0.3)  # past the 0.2 s, held all along
    assert not wait.done()
    hand_off.hold(False)
    await asyncio.sleep(0.05)
    assert not wait.done()  # about 0.1 s left
    await asyncio.wait_for(wait, 0.3)
