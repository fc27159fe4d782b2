"""Warm transfer on the assistant's side (agent/transfer/warm.py), on the in-memory doubles.

The call is a :class:`WarmCall`: the test plays the gateway (the consultation call is a
:class:`FakeLeg` whose end the test decides; ``join`` answers what the test says), and
drives the consultation call's own agent (its keys) directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipgw.agent.base import Agent, AgentFactory
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.message_store import MessageStore
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.agent.transfer.consult import ConsultAgent
from sipgw.agent.transfer.settings import (
    JoinHow,
    TransferSection,
    TransferSettings,
    transfer_settings,
)
from sipgw.agent.transfer.warm import JoinFailed, LegEnded
from sipgw.app.evaluation.audio import tone_frames, write_pattern
from sipgw.foundation.settings import Sources, load
from tests.agent.parts import (
    SILENT_FRAME,
    Assistant,
    FakeCall,
    Turn,
    assistant,
    feed_audio,
    play_out,
    say_hello,
    settle,
    speech_frames,
    wait_for,
)

pytestmark = pytest.mark.timeout(20)

TARGET = "sip:human@pbx.example"
LINE = "Let me connect you with a colleague. One moment."


@dataclass
class FakeLeg:
    """The consultation call: its end is the test's to decide."""

    finished: asyncio.Future[LegEnded] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    hangups: int = 0

    async def ended(self) -> LegEnded:
        return await asyncio.shield(self.finished)

    def hangup(self) -> None:
        self.hangups += 1
        if not self.finished.done():
            self.finished.set_result(LegEnded("answered"))


@dataclass
class WarmCall(FakeCall):
    """A call that can do warm transfers, the gateway played by the test."""

    legs: list[FakeLeg] = field(default_factory=list)
    consulted: list[tuple[str, float]] = field(default_factory=list)
    consult_agents: list[Agent] = field(default_factory=list)
    joined: list[JoinHow] = field(default_factory=list)
    join_answer: str | Exception = "bridge"
    join_waits: asyncio.Event | None = None

    async def consult(self, target: str, agent: AgentFactory, ring_timeout: float) -> FakeLeg:
        if self.refuse:
            raise DialRefused("transfer", target, "not in SIPGW_DIAL_ALLOW")
        self.consulted.append((target, ring_timeout))
        self.consult_agents.append(agent(FakeCall(direction="outbound", called=target)))
        leg = FakeLeg()
        self.legs.append(leg)
        return leg

    async def join(self, leg: FakeLeg, how: JoinHow) -> str:
        self.joined.append(how)
        if self.join_waits is not None:
            await self.join_waits.wait()
        if isinstance(self.join_answer, Exception):
            raise self.join_answer
        return self.join_answer


def warm(transfer: TransferSettings | None = None, **settings: object) -> Assistant:
    """An answered assistant whose transfers are warm (``transfer``: as configured, its
    timeouts made those the tests expect)."""
    transfer = dataclasses.replace(
        transfer or TransferSettings(), mode="warm", ring_timeout=9.0, answer_timeout=5.0
    )
    a = assistant(call=WarmCall(), transfer=transfer, transfer_line=LINE, **settings)  # type: ignore[arg-type]
    a.agent.playout.held = False  # answered
    return a


async def on_hold(a: Assistant) -> ConsultAgent:
    """Ask for the transfer, hear its line, and wait until the person is being called."""
    a.agent.actions.transfer_after_reply(TARGET, "Bob wants a refund for order 1234.")
    await wait_for(lambda: LINE in a.tts.texts())
    await play_out(a.agent.playout)
    call = a.call
    assert isinstance(call, WarmCall)
    await wait_for(lambda: call.consult_agents)
    agent = call.consult_agents[0]
    assert isinstance(agent, ConsultAgent)
    return agent


async def test_the_caller_hears_music_while_the_person_is_briefed_then_they_are_joined() -> None:
    a = warm()
    consult = await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    assert call.consulted == [(TARGET, 9.0)]
    assert consult.brief.summary == "Bob wants a refund for order 1234."
    assert consult.brief.answer_timeout == 5.0
    assert a.agent.warm is not None and a.agent.warm.active
    music = [a.agent.next_frame() for _ in range(5)]
    assert all(frame is not None and len(frame) == 160 for frame in music)
    (hold,) = a.record("warm_transfer")
    assert hold == {**hold, "stage": "hold", "target": TARGET, "music": "built-in"}
    consult.on_dtmf("1")  # the person accepts
    await wait_for(lambda: call.joined)
    assert call.joined == ["auto"]
    await wait_for(lambda: len(a.record("warm_transfer")) == 2)
    assert a.record("warm_transfer")[1]["how"] == "bridge"
    assert not a.llm.requests  # nothing to tell: the caller talks to the person now
    await a.agent.close("bridged")
    assert call.legs[0].hangups == 0  # the person's call goes on, joined


async def test_hold_music_from_a_file_follows_the_line_from_its_start_and_loops(
    tmp_path: Path,
) -> None:
    """``SIPGW_HOLD_MUSIC`` read as ``sipgw serve`` reads it (a 16-bit WAV made μ-law once):
    the caller hears the transfer line, then the file's frames in order from the first,
    round again at its end; the record says the music is the file's."""
    path = write_pattern(tmp_path / "moh.wav", [(440, 0.3), (None, 0.1), (880, 0.2)], -18.0)
    sources = Sources({"SIPGW_TRANSFER_MODE": "warm", "SIPGW_HOLD_MUSIC": str(path)})
    music = transfer_settings(load(TransferSection, sources)).hold_music
    loop = [music[i : i + 160] for i in range(0, len(music), 160)]
    assert len(loop) == 30 and len(set(loop)) > 3  # 0.6 s: two tones and a rest
    a = warm(transfer_settings(load(TransferSection, sources)))
    a.agent.actions.transfer_after_reply(TARGET, "Bob wants a refund for order 1234.")
    await wait_for(lambda: LINE in a.tts.texts())
    line = [frame for frame in await play_out(a.agent.playout) if frame is not None]
    assert line and not set(line) & set(loop)  # the line is said, no music under it
    call = a.call
    assert isinstance(call, WarmCall)
    await wait_for(lambda: call.consult_agents)
    heard = [a.agent.next_frame() for _ in range(2 * len(loop) + 10)]
    assert heard == [*loop, *loop, *loop[:10]]
    (hold,) = a.record("warm_transfer")
    assert hold == {**hold, "stage": "hold", "target": TARGET, "music": "file"}
    call.legs[0].finished.set_result(LegEnded("busy", 486, "busy"))
    await wait_for(lambda: a.llm.requests)
    back = await play_out(a.agent.playout)  # the agent's answer, no music after it
    assert a.agent.playout.background is None and not set(back) & set(loop)
    await a.agent.close()


@pytest.mark.parametrize(
    ("ended", "told"),
    [
        (LegEnded("busy", 486, "busy"), "the person is busy (SIP 486)"),
        (LegEnded("no-answer", None, "no-answer"), "nobody answered"),
        (LegEnded("declined", 603, "declined"), "the person declined the call (SIP 603)"),
    ],
)
async def test_busy_declined_or_no_answer_brings_the_caller_back(
    ended: LegEnded, told: str
) -> None:
    a = warm()
    await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    call.legs[0].finished.set_result(ended)
    await wait_for(lambda: a.llm.requests)
    note = a.llm.requests[0][-1]["content"]
    assert note.startswith(f"[The transfer to a person did not go through: {told}.")
    assert "take a message" in note and "callback" in note
    assert a.agent.warm is not None and not a.agent.warm.active
    assert a.agent.playout.background is None  # the music stopped
    assert a.record("warm_transfer")[-1]["stage"] == "failed"
    await a.agent.close()


async def test_after_a_failed_transfer_the_caller_leaves_a_message_for_the_person(
    tmp_path: Path,
) -> None:
    """Issue 24: "the agent returns to the caller and says so, and can take a message":
    followed through. The busy person's note reaches the model, which offers a message;
    the caller's words make it call ``take_message``, which stores the message for the
    person the transfer was for, in the call record too."""
    db = tmp_path / "callbacks.sqlite3"
    tools = builtin_tools(
        BuiltinToolSettings(enabled=("take_message",), callback_db=db, transfer_target=TARGET)
    )
    offer = "Kim is busy right now. Shall I take a message?"
    message = {"message": "Please call me about the refund for order 1234.", "name": "Bob"}
    script = [
        Turn(text=offer),
        Turn(tool_calls=(("take_message", json.dumps(message)),)),
        Turn(text="I've passed that on to Kim."),
    ]
    a = warm(tools=tools, script=script)
    await a.agent.prepare()  # listening to speech-to-text
    await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    call.legs[0].finished.set_result(LegEnded("busy", 486, "busy"))
    # spoken sentence by sentence
    await wait_for(lambda: "Shall I take a message?" in a.tts.texts())
    await play_out(a.agent.playout)
    a.stt.emit(SttTurnEnded(message["message"], 0, (), asyncio.get_running_loop().time(), None))
    await wait_for(lambda: "I've passed that on to Kim." in a.tts.texts())
    (row,) = await MessageStore(db).rows()
    assert (row.for_target, row.caller_name, row.message) == (TARGET, "Bob", message["message"])
    (taken,) = a.record("tool_call")
    assert taken["name"] == "take_message" and taken["ok"], taken
    assert json.loads(taken["result"])["for"] == TARGET, taken
    await a.agent.close()


@pytest.mark.parametrize(
    ("key", "told"), [("2", "the person said they cannot take the call"), (None, "did not accept")]
)
async def test_a_person_who_declines_or_says_nothing_is_hung_up_on(
    key: str | None, told: str
) -> None:
    a = warm()
    consult = await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    consult.on_answered()
    await say_hello(consult.on_caller_audio)
    await play_out(consult.playout)
    if key is not None:
        consult.on_dtmf(key)
    await wait_for(lambda: a.llm.requests, within=8.0)
    assert told in a.llm.requests[0][-1]["content"]
    assert call.legs[0].hangups == 1 and call.joined == []
    await consult.close()
    await a.agent.close()


async def test_a_voicemail_that_answers_the_consultation_brings_the_caller_back_at_once() -> None:
    """The person's voicemail greeting and its beep: no answer, without the brief said to
    the recording nor the answer timeout waited for."""
    a = warm()
    consult = await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    consult.on_answered()
    greeting = [*speech_frames(2.2), *[SILENT_FRAME] * 10, *tone_frames(1000, 0.4, -18.0)]
    await feed_audio(consult.on_caller_audio, [*greeting, *[SILENT_FRAME] * 10])
    await wait_for(lambda: a.llm.requests)
    note = a.llm.requests[0][-1]["content"]
    assert "the person's voicemail answered (nobody took it)" in note
    assert call.legs[0].hangups == 1 and call.joined == [] and not consult.begun
    await consult.close()
    await a.agent.close()


async def test_a_join_that_fails_brings_the_caller_back() -> None:
    a = warm()
    call = a.call
    assert isinstance(call, WarmCall)
    call.join_answer = JoinFailed("a call ended before they could be joined")
    consult = await on_hold(a)
    consult.on_dtmf("1")
    await wait_for(lambda: a.llm.requests)
    assert "could not be joined" in a.llm.requests[0][-1]["content"]
    assert call.legs[0].hangups == 1
    await a.agent.close()


async def test_a_target_the_allow_list_refuses_puts_nobody_on_hold() -> None:
    a = warm()
    call = a.call
    assert isinstance(call, WarmCall)
    call.refuse = True
    a.agent.actions.transfer_after_reply(TARGET, "summary")
    await play_out(a.agent.playout, until=lambda: bool(a.llm.requests))
    await wait_for(lambda: a.llm.requests)
    assert a.llm.requests[0][-1]["content"].startswith("[The transfer was refused")
    assert a.record("dial_refused") and a.agent.playout.background is None
    await a.agent.close()


async def test_the_caller_hanging_up_ends_the_consultation_call() -> None:
    a = warm()
    await on_hold(a)
    call = a.call
    assert isinstance(call, WarmCall)
    await a.agent.close("remote-bye")
    assert call.legs[0].hangups == 1


async def test_what_the_caller_says_on_hold_is_no_turn() -> None:
    from sipgw.app.evaluation.audio import tone_frames

    a = warm()
    await on_hold(a)
    for frame in tone_frames(300, 1.0, -15.0):
        a.agent.on_caller_audio(frame)
        await asyncio.sleep(0)
    await settle()
    assert not a.record("barge_in") and not a.llm.requests
    await a.agent.close()


async def test_an_agent_closed_by_the_join_records_it_and_leaves_the_person_s_call_up() -> None:
    """The gateway bridges the calls (or the REFER ends the caller's) and closes this agent
    before its join returns: the transfer is recorded as joined, the person's call stays."""
    a = warm()
    call = a.call
    assert isinstance(call, WarmCall)
    call.join_waits = asyncio.Event()  # never set: the agent is closed first
    consult = await on_hold(a)
    consult.on_dtmf("1")
    await wait_for(lambda: call.joined)
    await a.agent.close("bridged")
    assert call.legs[0].hangups == 0
    joined = a.record("warm_transfer")[-1]
    assert (joined["stage"], joined["how"]) == ("joined", "bridge")
