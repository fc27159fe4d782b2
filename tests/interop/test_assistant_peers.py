"""A real softphone (baresip) talks to the assistant agent (``sipgw serve --agent assistant``).

What needs the softphone's own audio and SIP: the conversation, a barge-in over the reply,
the goodbye heard to its end before the BYE, a slow tool's filler, a transfer the phone
follows. The assistant's other behaviours end to end (the LLM's timeout, the STT dropped,
keypad digits, the caller-context hook and a forged From) are
tests/agent/assistant/test_agent.py's and test_caller_context.py's, through the gateway
in-process with a scripted phone.

The gateway runs as a subprocess with its production clients pointed at the three
fake services (background threads, real loopback sockets). baresip plays a WAV
script: silence, a 300 Hz burst (the caller "speaks"; the fake STT turns it into
the next scripted transcript), silence... and records what it hears. The fake TTS
speaks one tone per reply, so the recording shows which reply was heard, when,
and when it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import AudioReport, analyse, tone_spans, write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.peers.baresip import Baresip

pytestmark = pytest.mark.timeout(120)

GREETING_HZ, REPLY_HZ, LONG_HZ, GOODBYE_HZ, FALLBACK_HZ = 500, 700, 900, 1100, 1300
SPEECH_HZ = 300
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Hi there": GREETING_HZ, "shipped": REPLY_HZ, "story": LONG_HZ,
             "goodbye": GOODBYE_HZ, "having trouble": FALLBACK_HZ}  # fmt: skip
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


def script(tmp_workdir: Path, name: str, *segments: tuple[float | None, float]) -> Path:
    """The caller's audio: (hz or None, seconds) segments at -12 dBFS, then 30 s of silence."""
    return write_pattern(tmp_workdir / "audio" / f"{name}.wav", [*segments, (None, 30.0)], -12.0)


def spans(report: AudioReport, hz: float, step: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) seconds of the recording where ``hz`` dominates."""
    return tone_spans(report, hz, step)


def call_record(tmp_workdir: Path) -> list[dict[str, object]]:
    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Call:
    gateway: GatewayProcess
    heard: Path
    agent_hung_up: bool


def run_call(
    tmp_workdir: Path,
    services: ThreadedFakes,
    source: Path,
    seconds: float,
    extra_env: dict[str, str] | None = None,
    user: str = "a",
) -> Call:
    """baresip (From ``user``) calls the assistant; after ``seconds`` (unless the agent hung
    up) it hangs up."""
    env = {**services.env, **(extra_env or {})}
    gw = GatewayProcess(tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env)
    caller = Baresip(tmp_workdir, "a", user=user, source_wav=source)
    with gw, caller:
        caller.dial(gw.uri("agent"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        try:
            closed = caller.wait_event("CALL_CLOSED", seconds)
            agent_hung_up = closed["param"] == "Connection reset by peer"  # our BYE
        except AssertionError:
            agent_hung_up = False
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended:", 5)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    return Call(gw, heard, agent_hung_up)


def test_conversation_with_tool_call(tmp_workdir: Path, services: ThreadedFakes) -> None:
    services.stt.script(["Where is my order 1234?"])
    services.llm.script(
        [
            FakeResponse(
                tool_calls=[  # the caller said the order's postcode: it is theirs
                    FakeToolCall("get_order_status", {"order_id": "1234", "verification": "10001"})
                ]
            ),
            FakeResponse(text="Your order has shipped and arrives tomorrow."),
        ]
    )
    source = script(tmp_workdir, "turn", (None, 1.0), (SPEECH_HZ, 0.8))
    call = run_call(tmp_workdir, services, source, 6.0)
    report = analyse(call.heard)
    greeting, reply = spans(report, GREETING_HZ), spans(report, REPLY_HZ)
    assert greeting and greeting[0][0] < 0.3, (greeting, report.describe())  # right after answer
    assert reply and reply[0][0] > 1.8, (reply, report.describe())  # after the caller's turn
    tool = services.llm.requests[1].body["messages"][-1]
    assert tool["role"] == "tool" and "DHL" in tool["content"]
    record = call_record(tmp_workdir)
    kinds = [r["type"] for r in record]
    assert "tool_call" in kinds and "turn_metrics" in kinds and kinds[-1] == "end"
    assert "turn 1: end of speech" in call.gateway.log_text()


def test_barge_in_stops_the_reply_and_history_is_truncated(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The reply at full level stops within 350 ms of the caller's voice (0.1 s analysis
    steps); ducked (the default), an undecided pause plays on at least 10 dB softer until
    the barge-in commits (600 ms of speech: this fake transcriber sends no partials), then
    nothing more of it. (Without ducking the reply stops the same way and stays silent:
    tests/agent/turns/test_machine.py and test_pause.py.)"""
    services.stt.script(["Tell me about shipping.", "Stop, I have a question."])
    services.llm.script([FakeResponse(text=LONG), FakeResponse(text="Your order has shipped.")])
    source = script(
        tmp_workdir, "barge", (None, 1.0), (SPEECH_HZ, 0.6), (None, 2.0), (SPEECH_HZ, 1.2)
    )
    report = analyse(run_call(tmp_workdir, services, source, 8.0).heard)
    long = spans(report, LONG_HZ)
    interrupt_at = 1.0 + 0.6 + 2.0  # when the caller starts talking over the reply
    assert long and long[0][0] < interrupt_at, (long, report.describe())
    assert long[0][1] - interrupt_at < 0.35, (long, report.describe())
    levels = report.frame_dbfs
    full = sorted(levels[round(long[0][0] / 0.02) + 5 : round(interrupt_at / 0.02)])
    full_dbfs = full[len(full) // 2]
    later = [levels[round(a / 0.02) : round(b / 0.02)] for a, b in long[1:]]
    assert later, (long, report.describe())  # it did play on, ducked
    assert all(max(frames) < full_dbfs - 10 for frames in later), (long, full_dbfs, later)
    assert long[-1][1] - interrupt_at < 0.6 + 0.35, (long, report.describe())
    assert spans(report, REPLY_HZ)  # the answer to the interruption
    history = services.llm.requests[1].body["messages"]
    cut = next(m for m in history if m["role"] == "assistant" and "story" in (m["content"] or ""))
    assert cut["content"].endswith("…") and len(cut["content"]) < len(LONG.strip())


def test_end_call_says_goodbye_and_hangs_up(tmp_workdir: Path, services: ThreadedFakes) -> None:
    services.stt.script(["That's all, thanks."])
    services.llm.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("end_call", {"reason": "done"})]),
            FakeResponse(text="Thanks for calling, goodbye!"),
        ]
    )
    source = script(tmp_workdir, "bye", (None, 1.0), (SPEECH_HZ, 0.6))
    call = run_call(tmp_workdir, services, source, 10.0)
    assert call.agent_hung_up
    assert "call ended: local-bye" in call.gateway.log_text()
    goodbye = spans(analyse(call.heard), GOODBYE_HZ)
    assert goodbye and goodbye[-1][1] >= analyse(call.heard).duration - 0.5  # spoken to the end


FILLER_HZ = 1900
SLOW_TOOL = """
import asyncio

from sipgw.agent.tools.registry import Tool


async def check_stock(ctx, args):
    await asyncio.sleep(1.8)
    return {"in_stock": True}


TOOLS = [Tool(name="check_stock", description="Is it in stock?",
              parameters={"type": "object", "properties": {}}, handler=check_stock)]
"""


def test_a_slow_tool_is_masked_by_one_filler_line(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    module = tmp_workdir / "slowtools.py"
    module.write_text(SLOW_TOOL)
    services.tts.map_text("moment", FILLER_HZ)
    services.stt.script(["Do you have it in stock?"])
    services.llm.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("check_stock", {})]),
            FakeResponse(text="Yes, it has shipped from our stock."),
        ]
    )
    source = script(tmp_workdir, "slow-tool", (None, 1.0), (SPEECH_HZ, 0.6))
    env = {"SIPGW_TOOLS_MODULE": str(module)}
    report = analyse(run_call(tmp_workdir, services, source, 7.0, env).heard)
    filler, reply = spans(report, FILLER_HZ), spans(report, REPLY_HZ)
    assert len(filler) == 1 and reply, (filler, reply, report.describe())
    assert filler[0][1] <= reply[0][0] + 0.1, (filler, reply)  # the filler, then the answer
    assert filler[0][1] - filler[0][0] >= 0.4, filler  # "One moment, I'm checking that."
    record = call_record(tmp_workdir)
    assert [r["text"] for r in record if r["type"] == "filler"] == [
        "One moment, I'm checking that."
    ]


CONNECT_HZ = 1700
DEFAULT_TRANSFER_LINE = "Let me connect you with a colleague. One moment."


def test_transfer_to_human_reaches_the_target_after_the_handoff_line(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The model's own handoff line, cut in two texts, heard whole before the REFER, which
    baresip follows to the target. (The default line when the model says none:
    tests/agent/assistant/test_assistant_actions.py.)"""
    handoff = "Connecting you now, please hold the line."
    services.tts.map_text("connect", CONNECT_HZ)  # both lines
    # The LLM's line reaches the TTS as two texts, its first clause cut early ("Connecting
    # you now," then "please hold the line.": agent/services/llm/sentences.py): both get the tone.
    services.tts.map_text("hold the line", CONNECT_HZ)
    services.stt.script(["Can I talk to a person?"])
    services.llm.script(
        [
            FakeResponse(
                tool_calls=[
                    FakeToolCall(
                        "transfer_to_human", {"reason": "asked", "summary": "Asked for a person."}
                    )
                ]
            ),
            FakeResponse(text=handoff),
        ]
    )
    source = script(tmp_workdir, "transfer", (None, 1.0), (SPEECH_HZ, 0.6))
    with Baresip(tmp_workdir, "human", user="human", answermode="auto") as human:
        env = {**services.env, "SIPGW_TRANSFER_TARGET": human.uri}
        gw = GatewayProcess(tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            # baresip accepts our REFER and calls the target itself.
            established = human.wait_event("CALL_ESTABLISHED", 15)
            assert "sip:a@" in established["peeruri"]
            gw.wait_log(r"transfer succeeded", 10)
            gw.wait_log(r"call ended:", 5)
            caller.hangup()
            caller.recordings()  # the last call's files are complete
            heard = caller.all_recordings()[0][0]  # the leg with the gateway
    record = call_record(tmp_workdir)
    assert any(r["type"] == "transfer" and r["accepted"] for r in record)
    # What the caller heard of the gateway: the whole handoff line, ending before the REFER.
    report = analyse(heard)
    line = handoff or DEFAULT_TRANSFER_LINE
    connect = spans(report, CONNECT_HZ)
    assert len(connect) == 1, (connect, report.describe())
    start, end = connect[0]
    assert end - start >= len(line) * 0.020 - 0.25, (connect, report.describe())
    action = next(r for r in record if r["type"] == "action")
    assert action["line"] == ("reply" if handoff else "default")
    refer_at = float(action["after_answer_ms"]) / 1000  # type: ignore[arg-type]
    assert end <= refer_at + 0.25, (connect, refer_at)
