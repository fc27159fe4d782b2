"""A real softphone (baresip) talks to each speech-to-speech agent: tools and barge-in.

The gateway runs as a subprocess, ``sipgw serve --agent voice-agent`` or ``--agent
realtime``, configured only through its environment (the vendor's key, URL and
options), against the vendor's fake on a real loopback WebSocket in a thread of
the test; baresip calls it over real SIP and RTP. baresip plays a WAV script
(silence, a 300 Hz burst for each thing the caller "says") and records what it
hears; each fake reply is a tone of its own, so the recording shows which reply
was heard, when, and when it stopped.

The script: the greeting; the caller asks about an order (the model calls
``get_order_status`` and answers with the result); the caller asks for more (a
long story); the caller talks over the story (barge-in), and is answered.

One agent's call for each behaviour: the conversation with the Voice Agent and with the
Realtime model on our own turn-taking (which hears baresip's audio itself); the check-in of
a quiet caller and a line's declared tools with one of them. What differs between the agents
(the vendors' session messages, the server's turn detection, each agent's tools and idle
check-ins) is tests/agent/s2s/test_calls.py's, every agent through the gateway in-process.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import PeerError
from tests.agent.s2s.stack import (
    GREETING,
    GREETING_HZ,
    LONG,
    LONG_HZ,
    REPLY_HZ,
    SPEECH_HZ,
    Kind,
)
from tests.interop.test_assistant_peers import script, spans
from tests.interop.test_declared_tools_peers import Invoices
from tests.toolkit.canaries import ASSEMBLYAI_KEY, OPENAI_KEY
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent, VoiceAgentRecord
from tests.toolkit.fakes.voice_base import FakeReply, FakeToolCall, quoted_line
from tests.toolkit.httpapp import serving
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip

pytestmark = pytest.mark.timeout(120)

ANSWER_HZ = 1900
ASK, MORE, BARGE = 1.0, 3.6, 5.6
"""When the caller starts saying each thing (seconds into the call)."""


Fake = FakeVoiceAgent | FakeRealtime


@contextmanager
def fake_service(
    kind: Kind, caller: str = "tone", **options: Any
) -> Iterator[tuple[Fake, dict[str, str]]]:
    """The vendor's fake in a thread, and the gateway's environment for it; ``caller``
    ``tone`` (the caller plays tones) pins the energy detector, ``speech`` leaves the default."""
    fake: Fake
    if kind == "voice-agent":
        fake = FakeVoiceAgent(ASSEMBLYAI_KEY, **options).start_in_thread()
        env = {"ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_VOICE_AGENT_URL": fake.url}
    else:
        fake = FakeRealtime(OPENAI_KEY, **options).start_in_thread()
        env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_REALTIME_BASE_URL": fake.base_url}
        if kind == "realtime-local":
            env["OPENAI_REALTIME_TURN_DETECTION"] = "local"
    if caller == "tone":
        env["SIPGW_VOICE_DETECTOR"] = "energy"  # no voice in a tone for a speech model
    try:
        yield fake, env
    finally:
        fake.stop()


def answered(fake: Fake) -> bool:
    """The model's answer to the barge-in was given (its audio sent)."""
    return any(
        reply.text == "Sure, go ahead." and reply.done_at is not None
        for session in fake.sessions
        for reply in session.replies
    )


def caller_time(caller: Baresip) -> float:
    """Seconds since the call was established."""
    (established,) = [e for e in caller.events if e.get("type") == "CALL_ESTABLISHED"]
    return time.monotonic() - float(established["received_at"])


def call_record(workdir: Path) -> list[dict[str, Any]]:
    (path,) = (workdir / "calls").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("kind", ["voice-agent", "realtime-local"])
def test_a_softphone_holds_a_tool_using_conversation_with_barge_in(
    tmp_workdir: Path, kind: Kind
) -> None:
    source = script(tmp_workdir, "s2s", (None, ASK), (SPEECH_HZ, 0.6), (None, MORE - ASK - 0.6),
                    (SPEECH_HZ, 0.6), (None, BARGE - MORE - 0.6), (SPEECH_HZ, 1.0))  # fmt: skip
    with fake_service(kind, speed=2.0, reply_delay=0.05) as (fake, env):
        for text, hz in (("Hi there", GREETING_HZ), ("shipped", REPLY_HZ), ("story", LONG_HZ),
                         ("go ahead", ANSWER_HZ)):  # fmt: skip
            fake.map_text(text, hz)
        fake.script(
            [
                FakeReply(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
                FakeReply("Your order has shipped and arrives tomorrow."),
                FakeReply(LONG),
                FakeReply("Sure, go ahead."),
            ]
        )
        # Issue 21: an agent that spends money answers only named sources, and orders are
        # read only to a proven owner (baresip asserts no identity): this test is about the
        # conversation, so the loopback may call and the order needs no verification.
        gw = GatewayProcess(tmp_workdir, agent=kind.removesuffix("-local"), extra_env={
            **env, "SIPGW_GREETING": GREETING, "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
            "SIPGW_CALLBACK_DB": str(tmp_workdir / "callbacks.sqlite3"),
            "SIPGW_ORDERS_VERIFY": "off",
        }, allow_from="127.0.0.0/8")  # fmt: skip
        caller = Baresip(tmp_workdir, "caller", user="caller", source_wav=source)
        with gw, caller:
            gw.wait_log(r"fallback lines of", 10)  # spoken by the fake at the start
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            # The script runs 9 s; the answer to the barge-in is its last reply.
            fake.wait_for_blocking(lambda: answered(fake), 15)
            with contextlib.suppress(PeerError):  # nobody hangs up before the script ends
                caller.wait_event("CALL_CLOSED", max(0.0, 9.0 - caller_time(caller)))
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            heard, _ = caller.recordings()
            assert gw.stop() == 0
        session = fake.sessions[-1]
    report = analyse(heard)
    greeting = spans(report, GREETING_HZ)
    assert greeting and greeting[0][0] < 0.5, (greeting, report.describe())
    reply = spans(report, REPLY_HZ)
    assert reply and reply[0][0] > ASK + 0.6, (reply, report.describe())  # after the question
    story = spans(report, LONG_HZ)
    assert story and story[0][0] < BARGE, (story, report.describe())
    # The story stopped within the assistant's bounds of the caller talking over it
    # (0.1 s analysis steps), and never came back.
    assert story[-1][1] - BARGE < 0.35, (story, report.describe())
    answer = spans(report, ANSWER_HZ)
    assert answer and answer[0][0] > BARGE, (answer, report.describe())
    # The tool's result reached the model.
    if isinstance(fake, FakeVoiceAgent):
        output = session.tool_results[0]["result"]
        assert session.early_results == []
    else:
        output = session.tool_outputs[0]["output"]
        (truncation,) = session.truncations
        assert 0 < truncation["audio_end_ms"] < truncation["audio_ms"], truncation
    assert "DHL" in output
    record = call_record(tmp_workdir)
    kinds = [line["type"] for line in record]
    for expected in ("tool_call", "barge_in", "turn_metrics", "end"):
        assert expected in kinds, kinds
    cut = next(line for line in record if line["type"] == "assistant" and line["interrupted"])
    assert cut["text"] and LONG.startswith(cut["text"]), cut


CHECK_HZ, BYE_HZ = 1300, 1100
IDLE_AFTER = 2.0
"""SIPGW_IDLE_AFTER of the quiet caller's call (s)."""


@pytest.mark.parametrize("kind", ["realtime"])
def test_a_quiet_softphone_is_checked_on_by_the_model_then_hung_up_on(
    tmp_workdir: Path, kind: Kind
) -> None:
    source = script(tmp_workdir, "quiet", (None, 1.0))  # then 30 s of silence
    admin = free_port()
    with fake_service(kind, speed=2.0, reply_delay=0.05) as (fake, env):
        for text, hz in (("Hi there", GREETING_HZ), ("still there", CHECK_HZ),
                         ("stepped away", BYE_HZ)):  # fmt: skip
            fake.map_text(text, hz)
        gw = GatewayProcess(tmp_workdir, agent=kind, extra_env={
            **env, "SIPGW_GREETING": GREETING, "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
            "SIPGW_IDLE_AFTER": str(IDLE_AFTER), "SIPGW_IDLE_CHECKS": "2",
        }, allow_from="127.0.0.0/8", extra_args=["--admin-port", str(admin)])  # fmt: skip
        caller = Baresip(tmp_workdir, "caller", user="caller", source_wav=source)
        with gw, caller:
            gw.wait_log(r"fallback lines of", 10)
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            closed = caller.wait_event("CALL_CLOSED", 20)
            assert closed["param"] == "Connection reset by peer", closed  # our BYE
            gw.wait_log(r"call ended: local-bye", 5)
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as answer:
                metrics = answer.read()
            heard, _ = caller.recordings()
            assert gw.stop() == 0
        session = fake.sessions[-1]
    assert sample_value(metrics, "sipgw_idle_total", step="check_in") == 2
    assert sample_value(metrics, "sipgw_idle_total", step="hang_up") == 1
    # The model was asked for each line by the vendor's own request for a reply.
    asked = [(reply.trigger, quoted_line(reply.instructions)) for reply in session.replies]
    assert [line for trigger, line in asked if trigger == "create" and line != GREETING] == [
        "Are you still there?", "Are you still there?",
        "It seems you have stepped away. Please call again any time. Goodbye.",
    ], asked  # fmt: skip
    report = analyse(heard)
    greeting, checks, goodbye = (spans(report, hz) for hz in (GREETING_HZ, CHECK_HZ, BYE_HZ))
    assert greeting and len(checks) == 2 and len(goodbye) == 1, report.describe()
    # Each check-in comes IDLE_AFTER seconds after the agent's last words (the model's
    # first audio adds a little); the goodbye as long after the second; then the BYE,
    # once the goodbye was heard.
    for before, after in ((greeting[-1], checks[0]), (checks[0], checks[1]),
                          (checks[1], goodbye[0])):  # fmt: skip
        gap = after[0] - before[1]
        assert IDLE_AFTER - 0.2 <= gap <= IDLE_AFTER + 0.6, (gap, report.describe())
    assert goodbye[0][1] >= report.duration - 0.5, report.describe()
    record = call_record(tmp_workdir)
    idle = [(r["step"], r.get("number")) for r in record if r["type"] == "idle"]
    assert idle == [("check_in", 1), ("check_in", 2), ("hang_up", None)]
    hangup = next(r for r in record if r["type"] == "hangup")
    assert hangup == {**hangup, "by": "agent", "reason": "idle"}
    assert record[-1]["type"] == "end" and record[-1]["hung_up_for"] == "idle"


PAID_HZ, TOKEN = 700, "billing-token-0123456789"
LINE_TOOLS = """
default = "billing"

[lines.billing]
agent = "{agent}"
greeting = "Hi there, billing here."

[[lines.billing.http_tools]]
name = "invoice_status"
description = "The status of an invoice, by its number."
url = "http://127.0.0.1:{port}/invoices/{{number}}"
headers = {{ Authorization = "Bearer ${{BILLING_TOKEN}}" }}
allow_hosts = ["127.0.0.1"]
result = "status"
timeout = 3
[lines.billing.http_tools.parameters]
type = "object"
required = ["number"]
additionalProperties = false
properties = {{ number = {{ type = "string", maxLength = 16 }} }}

[lines.billing.mcp_servers.time]
command = ["{python}", "-m", "mcp_server_time", "--local-timezone", "UTC"]
tools = ["get_current_time"]
"""


@pytest.fixture
def invoices() -> Iterator[int]:
    """The invoice service the line's HTTP tool asks (its port)."""
    Invoices.seen = []
    with serving(Invoices) as port:
        yield port


@pytest.mark.parametrize("kind", ["voice-agent"])
def test_a_lines_own_http_tool_and_mcp_server_are_called_by_the_model(
    tmp_workdir: Path, kind: Kind, invoices: int
) -> None:
    """The gateway's agent is echo; the line runs the speech-to-speech agent with tools
    declared in the routes file alone (tests/interop/test_declared_tools_peers.py is the
    assistant's): the session declares them, the model calls both, the invoice service is
    asked with the line's token, and the results reach the model, which answers."""
    routes = tmp_workdir / "routes.toml"
    routes.write_text(LINE_TOOLS.format(agent=kind, port=invoices, python=sys.executable))
    source = script(tmp_workdir, "ask", (None, ASK), (SPEECH_HZ, 0.6))
    with fake_service(kind, speed=2.0, reply_delay=0.05) as (fake, env):
        fake.map_text("billing here", GREETING_HZ)
        fake.map_text("is paid", PAID_HZ)
        fake.script(
            [
                FakeReply(tool_calls=[
                    FakeToolCall("invoice_status", {"number": "1042"}),
                    FakeToolCall("time__get_current_time", {"timezone": "Asia/Tokyo"}),
                ]),
                FakeReply("Invoice 1042 is paid."),
            ]
        )  # fmt: skip
        gw = GatewayProcess(tmp_workdir, agent="echo", extra_env={
            **env, "BILLING_TOKEN": TOKEN, "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
        }, allow_from="127.0.0.0/8", extra_args=["--routes", str(routes)],
           start_timeout=60)  # fmt: skip
        caller = Baresip(tmp_workdir, "caller", user="caller", source_wav=source)
        with gw, caller:
            gw.wait_log(r"MCP server time: 1 tools \(time__get_current_time\)", 60)
            gw.wait_log(r"fallback lines of", 30)  # spoken by the fake at the start
            caller.dial(gw.uri("billing"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            fake.wait_for_blocking(
                lambda: any(r.text == "Invoice 1042 is paid." and r.done_at is not None
                            for s in fake.sessions for r in s.replies), 15,
            )  # fmt: skip
            with contextlib.suppress(PeerError):  # the answer heard on
                caller.wait_event("CALL_CLOSED", 1.5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            heard, _ = caller.recordings()
            assert gw.stop() == 0
        session = fake.sessions[-1]
    assert Invoices.seen == [("/invoices/1042", f"Bearer {TOKEN}")]
    config = session.config if isinstance(session, VoiceAgentRecord) else session.session
    offered = {tool["name"] for tool in config["tools"]}
    assert {"invoice_status", "time__get_current_time", "end_call"} <= offered, offered
    assert "time__convert_time" not in offered  # not on the server's allow-list
    if isinstance(fake, FakeVoiceAgent):
        outputs = [result["result"] for result in session.tool_results]
    else:
        outputs = [output["output"] for output in session.tool_outputs]
    # the two tools run at once: their results come back in either order
    assert len(outputs) == 2 and "paid" in outputs, outputs
    assert any('"timezone": "Asia/Tokyo"' in output for output in outputs), outputs
    report = analyse(heard)
    paid = spans(report, PAID_HZ)
    assert paid and paid[0][0] > ASK + 0.6, report.describe()  # after the question
    record = call_record(tmp_workdir)
    tools = [(r["name"], r["source"], r["ok"]) for r in record if r["type"] == "tool_call"]
    # written as each finishes: in either order
    assert sorted(tools) == [
        ("invoice_status", "http", True),
        ("time__get_current_time", "mcp", True),
    ]
    assert TOKEN not in gw.log_text()
