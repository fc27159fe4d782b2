"""Speak before acting, and filler lines while a slow tool runs: the assistant end to end
in-process (the real gateway and clients, the fake cloud services, a scripted phone).

The fake TTS speaks a pure tone per line (``map_text``), so the phone's recording tells
which line played, for how long, and whether it ended before the REFER or BYE arrived.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.elevenlabs import tone_duration_ms
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.phone import Phone
from sipgw.sip.message import SipRequest, make_response
from tests.agent.assistant.test_agent import (
    GOODBYE_HZ,
    LONG_HZ,
    REPLY_HZ,
    SPEECH,
    Stack,
    assistant,
    greeted,
    hang_up,
)

pytestmark = pytest.mark.timeout(60)

CONNECT_HZ, FILLER_HZ = 1700, 1900
HANDOFF = "Connecting you with a colleague now."
TRANSFER = FakeToolCall("transfer_to_human", {"reason": "asked", "summary": "Asked for a person."})
END_CALL = FakeToolCall("end_call", {"reason": "done"})
LONG_LINE = "A long story about our shop first, and then connecting you now. " * 3
"""Spoken in the story's tone from its first words: the speech chunker may send the first
clause alone (a loaded machine streams the tokens slower), and the fake TTS picks a chunk's
tone by its words."""


def line_seconds(text: str) -> float:
    """How long the fake TTS speaks ``text`` (as the assistant() stack sets it up)."""
    return tone_duration_ms(text, ms_per_char=20) / 1000


async def request_from_gateway(
    caller: Phone, method: str, within: float
) -> tuple[SipRequest, float]:
    """The gateway's next ``method`` request and when it arrived."""
    message = await caller.expect(
        lambda m: isinstance(m, SipRequest) and m.method == method, within
    )
    assert isinstance(message, SipRequest)
    arrived = caller.received_at[len(caller.received) - 1 - caller.received[::-1].index(message)]
    return message, arrived


def actions(s: Stack) -> list[dict[str, Any]]:
    return [r for r in s.record() if r["type"] == "action"]


async def transfer_scenario(s: Stack, first: FakeResponse, then: str) -> tuple[Phone, Phone, float]:
    """The caller asks for a person; returns the caller, its audio and when the REFER came."""
    s.tts.map_text("connect", CONNECT_HZ)
    # words without a sentence's end: the fake recognizer does not end the turn itself after
    # 100 ms of silence, only after 1 s or at the gateway's forced end (a loaded run's stall
    # in the caller's speech likely made two turns of it, and the second cut the line)
    s.stt.script(["can I talk to a person"])
    s.llm.script([first])
    s.llm.responder = lambda body: FakeResponse(text=then)
    caller, ok, phone = await s.call()
    await greeted(phone)
    phone.say(tone_frames(SPEECH, 0.6))
    refer, arrived = await request_from_gateway(caller, "REFER", 12)
    assert refer.headers.get("Refer-To") == "<sip:human@127.0.0.1:5999>"
    caller.send(make_response(refer, 202).serialize())
    return caller, phone, arrived


# -- speak before acting ----------------------------------------------------------------


async def test_the_handoff_line_after_the_tool_is_heard_before_the_refer(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        first = FakeResponse(tool_calls=[TRANSFER])
        caller, phone, refer_at = await transfer_scenario(s, first, HANDOFF)
        runs = phone.tone_runs(CONNECT_HZ)
        assert runs, "the handoff line was never played"
        _, end, audio = runs[0]
        assert end <= refer_at  # all of it went out before the REFER
        # the whole line, not a stub; a barge-in would say what cut it (in a loaded full run
        # the caller's speech reached the recognizer with a gap, as two turns, and the
        # second cut the line)
        assert audio >= line_seconds(HANDOFF) - 0.1, (runs, barge_ins(s))
        await hang_up(caller, phone)
    (action,) = actions(s)
    assert action["action"] == "transfer" and action["line"] == "reply"
    assert any(r["type"] == "transfer" and r["accepted"] for r in s.record())


async def test_words_before_the_tool_call_are_heard_before_the_refer(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        first = FakeResponse(text=HANDOFF, tool_calls=[TRANSFER])
        caller, phone, refer_at = await transfer_scenario(s, first, "")
        runs = phone.tone_runs(CONNECT_HZ)
        assert len(runs) == 1 and runs[0][1] <= refer_at
        assert runs[0][2] >= line_seconds(HANDOFF) - 0.1, runs
        await hang_up(caller, phone)
    assert actions(s)[0]["line"] == "reply"


async def test_without_words_the_default_transfer_line_is_said_first(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        caller, phone, refer_at = await transfer_scenario(
            s, FakeResponse(tool_calls=[TRANSFER]), ""
        )
        runs = phone.tone_runs(CONNECT_HZ)  # "Let me connect you with a colleague. ..."
        assert len(runs) == 1 and runs[0][1] <= refer_at
        default = "Let me connect you with a colleague. One moment."
        assert runs[0][2] >= line_seconds(default) - 0.1, runs
        await hang_up(caller, phone)
    assert actions(s)[0]["line"] == "default"


async def test_without_words_the_default_goodbye_is_said_before_the_bye(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["That's all, thanks."])
        s.llm.script([FakeResponse(tool_calls=[END_CALL]), FakeResponse(text="")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        _, bye_at = await request_from_gateway(caller, "BYE", 10)
        runs = phone.tone_runs(GOODBYE_HZ)  # "Thank you for calling. Goodbye."
        assert len(runs) == 1 and runs[0][1] <= bye_at
        assert runs[0][2] >= line_seconds("Thank you for calling. Goodbye.") - 0.1, runs
        await phone.stop_audio()
    assert actions(s)[0] == {**actions(s)[0], "action": "hangup", "line": "default"}


async def test_a_caller_talking_over_the_line_is_still_transferred(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Can I talk to a person?", "Yes please hurry up."])
        s.llm.script([FakeResponse(tool_calls=[TRANSFER]), FakeResponse(text=LONG_LINE)])
        s.llm.responder = lambda body: FakeResponse(text="Sure.")
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        started = await phone.wait_for_tone(LONG_HZ, within=8)
        phone.say(tone_frames(SPEECH, 1.2))  # talks over the handoff line
        _, refer_at = await request_from_gateway(caller, "REFER", 8)
        # The line was cut by the barge-in (far shorter than it is), the REFER went out anyway.
        assert refer_at - started < line_seconds(LONG_LINE) - 1.0
        await hang_up(caller, phone)
    kinds = [r["type"] for r in s.record()]
    assert "barge_in" in kinds
    assert actions(s)[0]["line"] == "interrupted"


async def test_a_line_that_never_ends_delays_the_hang_up_only_so_long(tmp_path: Path) -> None:
    async with assistant(tmp_path, SIPGW_ACTION_LINE_TIMEOUT_MS="800") as s:
        s.stt.script(["That's all, thanks."])
        s.llm.script([FakeResponse(tool_calls=[END_CALL]), FakeResponse(text=LONG_LINE)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        started = await phone.wait_for_tone(LONG_HZ, within=8)
        _, bye_at = await request_from_gateway(caller, "BYE", 5)
        assert bye_at - started < line_seconds(LONG_LINE) - 1.0  # did not wait for all of it
        await phone.stop_audio()
    action = actions(s)[0]
    # waited SIPGW_ACTION_LINE_TIMEOUT_MS for the line, on the call's clock
    assert action["line"] == "timeout" and action["waited_ms"] == pytest.approx(800, abs=1)


async def test_a_tts_failure_on_the_goodbye_still_hangs_up(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["That's all, thanks."])
        s.llm.script([FakeResponse(tool_calls=[END_CALL]), FakeResponse(text="")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        s.tts.fail_next(500, times=20)
        s.tts.drop_connections()
        await asyncio.sleep(0.2)
        phone.say(tone_frames(SPEECH, 0.6))
        await request_from_gateway(caller, "BYE", 15)
        await phone.stop_audio()
    record = s.record()
    assert any(r["type"] == "error" and r["where"] == "tts" for r in record)
    assert actions(s)[0] == {**actions(s)[0], "action": "hangup", "line": "tts failed"}


# -- filler lines while a tool runs ------------------------------------------------------

SLOW_TOOLS = """
import asyncio

from sipgw.agent.tools.registry import Tool


async def lookup(ctx, args):
    await asyncio.sleep(float(args["seconds"]))
    return {"status": "shipped"}


TOOLS = [
    Tool(
        name="lookup",
        description="Look something up.",
        parameters={"type": "object", "properties": {"seconds": {"type": "number"}}},
        handler=lookup,
        timeout=10.0,
    )
]
"""
FILLER = "One moment, I'm checking that."


def lookup(seconds: float) -> FakeToolCall:
    return FakeToolCall("lookup", {"seconds": seconds})


async def tool_turn(
    tmp_path: Path, calls: list[FakeToolCall], tts_latency: float = 0.0, **env: str
) -> tuple[Stack, Phone]:
    """A turn whose tool round is ``calls``; returns when the answer has been heard."""
    module = tmp_path / "slowtools.py"
    module.write_text(SLOW_TOOLS)
    async with assistant(tmp_path, SIPGW_TOOLS_MODULE=str(module), **env) as s:
        s.tts.map_text("moment", FILLER_HZ)
        s.tts.first_byte_latency = tts_latency
        s.stt.script(["Where is my order?"])
        s.llm.script([FakeResponse(tool_calls=calls), FakeResponse(text="It has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        await phone.wait_for_tone(REPLY_HZ, within=10)
        await phone.wait_until_quiet(0.1, hz=REPLY_HZ)
        await hang_up(caller, phone)
    return s, phone


def barge_ins(s: Stack) -> list[dict[str, Any]]:
    return [r for r in s.record() if r["type"] == "barge_in"]


def fillers(s: Stack) -> list[dict[str, Any]]:
    return [r for r in s.record() if r["type"] == "filler"]


async def test_a_slow_tool_gets_one_filler_line_before_the_answer(tmp_path: Path) -> None:
    s, phone = await tool_turn(tmp_path, [lookup(1.6)])
    (filler,) = fillers(s)
    # said when the round had run filler_after (0.7 s, the default), on the call's clock
    assert filler["text"] == FILLER and filler["after_ms"] == pytest.approx(700, abs=1)
    (run,) = phone.tone_runs(FILLER_HZ)
    assert run[2] >= line_seconds(FILLER) - 0.1, run  # said in full, the tool was slower
    assert run[1] <= phone.tone_spans(REPLY_HZ)[0][0]


async def test_a_fast_tool_gets_no_filler_line(tmp_path: Path) -> None:
    s, phone = await tool_turn(tmp_path, [lookup(0.2)])
    assert fillers(s) == []
    assert not phone.tone_spans(FILLER_HZ)


async def test_two_slow_tools_in_one_round_get_one_filler_line(tmp_path: Path) -> None:
    s, phone = await tool_turn(tmp_path, [lookup(1.3), lookup(1.6)])
    assert len(fillers(s)) == 1
    assert len(phone.tone_spans(FILLER_HZ)) == 1


async def test_the_filler_line_is_cut_when_the_answers_audio_arrives(tmp_path: Path) -> None:
    # The tool ends at 2.2 s; each line's audio comes 0.6 s after its text: the filler,
    # asked for at 0.7 s (filler_after), is audible from 1.3 s; the answer's audio is there
    # at 2.8 s and cuts it, 1.5 s in (of a 3 s line), and plays from the next frame.
    long_filler = (
        "One moment please, I'm checking that for you, it can take a little while, "
        "our order system is a bit slow today, thank you for waiting on the line."
    )
    s, phone = await tool_turn(
        tmp_path, [lookup(2.2)], tts_latency=0.6, SIPGW_FILLER_LINES=long_filler
    )
    (stopped,) = [r for r in s.record() if r["type"] == "filler_stopped"]
    assert stopped["cut"] is True
    (span,) = phone.tone_spans(FILLER_HZ)
    firsts = {u.text[:12]: u.first_audio_at for c in s.tts.contexts for u in c.utterances}
    heard = span[1] - span[0]  # its first packet to its last: 2.8 - 1.3 s, less a frame
    assert heard == pytest.approx(2.2 + 0.6 - (0.7 + 0.6) - 0.02, abs=0.021), (span, firsts)
    assert heard < line_seconds(long_filler) - 1.0  # cut, far from its end
    reply_start = phone.tone_spans(REPLY_HZ)[0][0]
    assert reply_start - span[1] == pytest.approx(0.02, abs=0.001)  # the answer's frame is next
