"""A real softphone (baresip) calls an assistant line whose tools are declared in the routes
file alone: an HTTP tool (a local HTTP service, its token from the environment) and an MCP
server (``mcp-server-time`` over stdio, a real server nobody here wrote). The fake model
calls each; the request reaches the service, the server's answer goes back to the model,
and the reply that follows is heard (the fake TTS's tone)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mcp_server_time  # type: ignore[import-untyped]  # noqa: F401 - a real peer scripts/test installs: fail, never skip
import pytest

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.services import fake_services
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.httpapp import JsonHandler, serving
from tests.toolkit.peers.baresip import Baresip

pytestmark = pytest.mark.timeout(150)
ROOT = Path(__file__).resolve().parents[2]

GREETING_HZ, PAID_HZ, TOKYO_HZ, SPEECH_HZ = 500, 700, 900, 300
TOKEN = "billing-token-0123456789"

ROUTES = """
default = "billing"

[lines.billing]
agent = "assistant"
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


class Invoices(JsonHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Invoices.seen.append((self.path, self.headers.get("Authorization", "")))
        self.send_json({"number": self.path.rsplit("/", 1)[-1], "status": "paid"})


@pytest.fixture
def invoices() -> Iterator[int]:
    Invoices.seen = []
    with serving(Invoices) as port:
        yield port


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"billing here": GREETING_HZ, "7 is paid": PAID_HZ, "1042 is paid": PAID_HZ,
             "Tokyo it is": TOKYO_HZ}  # fmt: skip
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


def test_the_models_tool_calls_reach_an_http_service_and_an_mcp_server(
    tmp_workdir: Path, services: ThreadedFakes, invoices: int
) -> None:
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES.format(port=invoices, python=sys.executable))
    services.stt.script(["What about invoice 1042?", "And what time is it in Tokyo?"])
    services.llm.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("invoice_status", {"number": "1042"})]),
            FakeResponse(text="Invoice 1042 is paid."),
            FakeResponse(
                tool_calls=[FakeToolCall("time__get_current_time", {"timezone": "Asia/Tokyo"})]
            ),
            FakeResponse(text="In Tokyo it is evening now."),
        ]
    )
    source = write_pattern(
        tmp_workdir / "audio" / "turns.wav",
        [(None, 1.0), (SPEECH_HZ, 0.6), (None, 8.4), (SPEECH_HZ, 0.6), (None, 30.0)], -12.0,
    )  # fmt: skip
    env = {**services.env, "BILLING_TOKEN": TOKEN}
    gw = GatewayProcess(
        tmp_workdir, agent="echo", allow_from="127.0.0.0/8", extra_env=env,
        extra_args=["--routes", str(routes)], start_timeout=60,
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    with gw, caller:
        gw.wait_log(r"MCP server time: 1 tools \(time__get_current_time\)", 60)
        caller.dial(gw.uri("billing"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        gw.wait_log(r"tool time__get_current_time -> ok", 20)
        gw.wait_log(r"turn 2: end of speech", 10)
        with contextlib.suppress(AssertionError):  # the reply heard on (as run_call does)
            caller.wait_event("CALL_CLOSED", 2.0)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    assert Invoices.seen == [("/invoices/1042", f"Bearer {TOKEN}")]
    offered = [t["function"]["name"] for t in services.llm.requests[0].body["tools"]]
    assert {"invoice_status", "time__get_current_time"} <= set(offered)
    assert "time__convert_time" not in offered  # not on the allow-list
    answers = [r.body["messages"][-1] for r in services.llm.requests]
    assert answers[1]["role"] == "tool" and answers[1]["content"] == "paid"
    assert answers[3]["role"] == "tool" and '"timezone": "Asia/Tokyo"' in answers[3]["content"]
    report = analyse(heard)
    paid, tokyo = tone_spans(report, PAID_HZ, 0.1), tone_spans(report, TOKYO_HZ, 0.1)
    assert paid and tokyo and paid[0][0] < tokyo[0][0], report.describe()
    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    record = [json.loads(line) for line in path.read_text().splitlines()]
    tools = [(r["name"], r["source"], r["ok"]) for r in record if r["type"] == "tool_call"]
    assert tools == [("invoice_status", "http", True), ("time__get_current_time", "mcp", True)]
    assert TOKEN not in gw.log_text() and TOKEN not in path.read_text()


MCP_ROUTES = """
default = "billing"

[lines.billing]
agent = "assistant"
greeting = "Hi there, billing here."

[lines.billing.mcp_servers.billing]
url = "http://127.0.0.1:{port}/mcp"
tools = ["invoice_status"]
timeout = 5
"""
SORRY_HZ, NINE_HZ = 1100, 1300


def mcp_http_server(port: int) -> subprocess.Popen[bytes]:
    """The streamable-HTTP MCP server on the mcp SDK (tests/agent/tools/mcp_http_server.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.agent.tools.mcp_http_server", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_an_mcp_server_killed_mid_call_is_unavailable_then_back(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    port = free_port()
    routes = tmp_workdir / "routes.toml"
    routes.write_text(MCP_ROUTES.format(port=port))
    services.tts.map_text("unavailable", SORRY_HZ)
    services.tts.map_text("nine is paid", NINE_HZ)
    # Each turn one sentence of 0.6 s of speech: a gap inside it (a phone starved of CPU sends
    # late, and its frames go to the STT as lost) is a pause between its words, as a real
    # service hears it, not two turns, each its own transcript, that would answer two LLM turns
    for sentence in ("Is invoice 7 paid?", "And invoice 8?", "And invoice 9?"):
        services.stt.script_sentence(sentence, speech_ms=500)
    lookup = "billing__invoice_status"
    services.llm.script(
        [
            FakeResponse(tool_calls=[FakeToolCall(lookup, {"number": "7"})]),
            FakeResponse(text="Invoice 7 is paid."),
            FakeResponse(tool_calls=[FakeToolCall(lookup, {"number": "8"})]),
            FakeResponse(text="Sorry, billing is unavailable right now."),
            FakeResponse(tool_calls=[FakeToolCall(lookup, {"number": "9"})]),
            FakeResponse(text="Invoice nine is paid."),
        ]
    )
    audio = tmp_workdir / "audio"
    source = write_pattern(audio / "first.wav", [(None, 1.0), (SPEECH_HZ, 0.6), (None, 60.0)], -12)
    # the next turns when the test is ready for them (Baresip.play), each after a pause
    # longer than the reply before it (the fake TTS: 60 ms a character, 2.4 s at most here)
    later = write_pattern(audio / "later.wav", [(None, 2.5), (SPEECH_HZ, 0.6), (None, 60.0)], -12.0)
    server = mcp_http_server(port)
    gw = GatewayProcess(
        tmp_workdir, agent="echo", allow_from="127.0.0.0/8", extra_env=services.env,
        extra_args=["--routes", str(routes)], start_timeout=60,
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    try:
        with gw, caller:
            gw.wait_log(r"MCP server billing: 1 tools \(billing__invoice_status\)", 60)
            caller.dial(gw.uri("billing"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(rf"tool {lookup} -> ok", 15)
            server.kill()  # mid-call
            server.wait()
            gw.wait_log(r"MCP server billing is down", 10)
            caller.play(later)  # turn 2, while it is down
            gw.wait_log(rf"tool {lookup} -> unavailable", 15)
            gw.wait_log(r"turn 2: end of speech", 10)  # the apology's first frame went out
            server = mcp_http_server(port)  # back, on the same URL
            back = len(gw.log_lines())
            # the restart's backoff (up to 8 s here) and a loaded machine's slow start
            gw.wait_log(r"MCP server billing: 1 tools", 40, start=back)
            caller.play(later)  # turn 3, once it is back
            gw.wait_log(rf"tool {lookup} -> ok", 15, start=back)
            gw.wait_log(r"turn 3: end of speech", 10)  # its first frame went out
            with contextlib.suppress(AssertionError):  # the reply heard on (as run_call does)
                caller.wait_event("CALL_CLOSED", 1.5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            heard, _ = caller.recordings()
            assert gw.stop() == 0
    finally:
        server.kill()
    offered = [
        [t["function"]["name"] for t in r.body.get("tools", [])] for r in services.llm.requests
    ]
    assert lookup in offered[0] and lookup not in offered[2] and lookup in offered[4]
    answers = [r.body["messages"][-1]["content"] for r in services.llm.requests]
    assert json.loads(answers[1]) == {"number": "7", "status": "paid"}
    assert "unavailable right now" in answers[3]
    assert json.loads(answers[5]) == {"number": "9", "status": "paid"}
    report = analyse(heard)
    paid = tone_spans(report, PAID_HZ, 0.1)
    sorry = tone_spans(report, SORRY_HZ, 0.1)
    nine = tone_spans(report, NINE_HZ, 0.1)
    assert paid and sorry and nine and paid[0][0] < sorry[0][0] < nine[0][0], report.describe()
