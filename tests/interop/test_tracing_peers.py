"""A real softphone (baresip) calls an assistant line with an HTTP tool while the gateway
exports OpenTelemetry traces over OTLP/HTTP (the ``otel`` extra, turned on by
``OTEL_EXPORTER_OTLP_ENDPOINT``) to a receiver decoding the official protobufs
(tests/toolkit/otlp_receiver.py). The receiver gets the call's whole span tree: the call
(Call-ID, direction, line, codec, then loss, jitter and MOS), its turns, each turn's
STT, LLM, TTS and tool spans with their times to first byte; the tool's HTTP request
carries a W3C traceparent of the same trace, naming the tool's span as its parent, and the
call's webhooks one naming the call's span."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.agent.s2s.stack import Kind
from tests.interop.services import fake_services
from tests.interop.test_s2s_peers import fake_service
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.fakes.voice_agent import VoiceAgentRecord
from tests.toolkit.fakes.voice_base import FakeReply
from tests.toolkit.fakes.voice_base import FakeToolCall as S2sToolCall
from tests.toolkit.httpapp import JsonHandler, serving
from tests.toolkit.otlp_receiver import OtlpReceiver, otlp_receiver
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.waiting import wait_for

pytestmark = pytest.mark.timeout(150)

SPEECH_HZ = 300
ROUTES = """
default = "billing"

[lines.billing]
agent = "assistant"
greeting = "Hi there, billing here."

[[lines.billing.http_tools]]
name = "invoice_status"
description = "The status of an invoice, by its number."
url = "http://127.0.0.1:{port}/invoices/{{number}}"
allow_hosts = ["127.0.0.1"]
result = "status"
timeout = 3
[lines.billing.http_tools.parameters]
type = "object"
required = ["number"]
properties = {{ number = {{ type = "string" }} }}
"""


class Invoices(JsonHandler):
    """The tool's service (GET), and the webhooks' receiver (POST /hook)."""

    traceparents: list[str] = []
    webhooks: list[tuple[str, str]] = []
    """(event type, traceparent) of each webhook."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        Invoices.webhooks.append((body["type"], self.headers.get("traceparent", "")))
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Invoices.traceparents.append(self.headers.get("traceparent", ""))
        self.send_json({"status": "paid"})


@pytest.fixture
def invoices() -> Iterator[int]:
    Invoices.traceparents = []
    Invoices.webhooks = []
    with serving(Invoices) as port:
        yield port


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {"billing here": 500, "is paid": 700, "Bye": 900}) as fakes:
        yield fakes


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as received:
        yield received


def test_a_call_exports_its_span_tree_and_the_tool_request_carries_its_trace(
    tmp_workdir: Path, services: ThreadedFakes, invoices: int, receiver: OtlpReceiver
) -> None:
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES.format(port=invoices))
    services.stt.script(["What about invoice 1042?", "Thanks, bye."])
    services.llm.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("invoice_status", {"number": "1042"})]),
            FakeResponse(text="Invoice 1042 is paid."),
            FakeResponse(text="Bye now."),
        ]
    )
    source = write_pattern(
        tmp_workdir / "audio" / "turns.wav",
        [(None, 1.0), (SPEECH_HZ, 0.6), (None, 7.4), (SPEECH_HZ, 0.6), (None, 30.0)], -12.0,
    )  # fmt: skip
    env = {
        **services.env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "sipgw-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "SIPGW_WEBHOOK_URL": f"http://127.0.0.1:{invoices}/hook",
        "SIPGW_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "SIPGW_WEBHOOK_DB": str(tmp_workdir / "outbox.sqlite3"),
    }
    gw = GatewayProcess(
        tmp_workdir, agent="echo", allow_from="127.0.0.0/8", extra_env=env,
        extra_args=["--routes", str(routes)], start_timeout=60,
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    with gw, caller:
        gw.wait_log(r"tracing: OTLP export of call spans on", 30)
        caller.dial(gw.uri("billing"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        gw.wait_log(r"tool invoice_status -> ok", 20)
        gw.wait_log(r"turn 2: end of speech", 15)
        with contextlib.suppress(AssertionError):  # the reply heard on
            caller.wait_event("CALL_CLOSED", 2.0)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        ended = lambda: any(kind == "call.ended" for kind, _ in Invoices.webhooks)  # noqa: E731
        wait_for(ended, 15, lambda: Invoices.webhooks)
        assert gw.stop() == 0  # the gateway's stop flushes the last spans

    (call,) = receiver.named("call")
    assert call.parent_id == "" and call.service == "sipgw-under-test"
    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    record = [json.loads(line) for line in path.read_text().splitlines()]
    (opening,) = [r for r in record if r["type"] == "call"]
    (quality,) = [r for r in record if r["type"] == "quality"]
    attributes = call.attributes
    assert attributes["sip.call_id"] == opening["call_id"]
    assert attributes["call.direction"] == "inbound" and attributes["call.line"] == "billing"
    assert attributes["media.codec"] == quality["codec"]
    assert attributes["media.mos"] == quality["mos"]
    assert attributes["media.jitter_ms"] == quality["jitter_ms"]
    assert attributes["media.loss_percent"] == quality["loss_percent"]
    assert attributes["stt.session_id"] == services.stt.sessions[0].session_id

    turns = receiver.children(call, "turn")
    assert [t.attributes["turn"] for t in turns] == [1, 2]
    assert all(t.trace_id == call.trace_id for t in receiver.spans)
    measured = [r for r in record if r["type"] == "turn_metrics"]
    for turn, metrics in zip(turns, measured, strict=True):
        assert call.start_ns <= turn.start_ns <= turn.end_ns <= call.end_ns + 3_000_000_000
        (stt,) = receiver.children(turn, "stt")
        (llm,) = receiver.children(turn, "llm")
        (tts,) = receiver.children(turn, "tts")
        assert stt.attributes["stt.end_of_turn_ms"] == pytest.approx(
            metrics["stt_end_of_turn_ms"], abs=0.1
        )
        assert llm.attributes["llm.ttfb_ms"] == pytest.approx(
            metrics["llm_first_token_ms"], abs=0.1
        )
        assert tts.attributes["tts.ttfb_ms"] == pytest.approx(metrics["tts_first_byte_ms"], abs=0.1)
        assert "first_token" in llm.events and "first_byte" in tts.events
        assert stt.end_ns <= llm.start_ns + 1_000_000 and llm.start_ns <= tts.start_ns

    # the LLM's requests by OpenAI's x-request-id: the tool round and the answer, then one
    request_ids = [[a["llm.request_id"] for a in t.events_named("llm_request")] for t in turns]
    assert [len(ids) for ids in request_ids] == [2, 1] and len(services.llm.requests) == 3
    assert len({i for ids in request_ids for i in ids}) == 3
    assert all(str(i).startswith("req_chatcmpl-fake-") for ids in request_ids for i in ids)
    (tool,) = receiver.children(turns[0], "tool")
    assert not receiver.children(turns[1], "tool")
    assert tool.attributes == {
        "tool.name": "invoice_status", "tool.ok": True, "tool.source": "http",
    }  # fmt: skip
    (traceparent,) = Invoices.traceparents
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert (version, trace_id, parent_id) == ("00", call.trace_id, tool.span_id)
    assert int(flags, 16) & 1  # sampled (the SDK also sets level 2's random bit, 02)
    # the call's webhooks: those sent once its agent (and span) was there carry the call span
    sent = dict(Invoices.webhooks)
    assert sent["call.ended"] == f"00-{call.trace_id}-{call.span_id}-{flags}"
    assert {t for _, t in Invoices.webhooks if t} == {sent["call.ended"]}


def record_lines(calls: Path) -> list[dict[str, object]]:
    """Every whole line of the call records under ``calls`` so far."""
    return [json.loads(line) for path in sorted(calls.glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.endswith("}")]  # fmt: skip


@pytest.mark.parametrize("kind", ["voice-agent", "realtime"])
def test_a_speech_to_speech_call_exports_a_turn_per_reply_with_its_tool_span(
    tmp_workdir: Path, receiver: OtlpReceiver, kind: Kind
) -> None:
    """baresip asks a speech-to-speech line (the vendor's fake) something a tool answers:
    the call span names the service's session, each reply is a ``turn`` from the service's
    events with the vendor's reply id, and the tool call is a ``tool`` span under its turn."""
    source = write_pattern(
        tmp_workdir / "audio" / "ask.wav", [(None, 1.0), (SPEECH_HZ, 0.6), (None, 30.0)], -12.0
    )
    with fake_service(kind, speed=2.0, reply_delay=0.05) as (fake, env):
        fake.script(
            [
                FakeReply(tool_calls=[S2sToolCall("get_order_status", {"order_id": "1234"})]),
                FakeReply("Your order has shipped."),
            ]
        )
        gw = GatewayProcess(tmp_workdir, agent=kind, allow_from="127.0.0.0/8", extra_env={
            **env, "SIPGW_GREETING": "Hi there.", "SIPGW_ORDERS_VERIFY": "off",
            "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
            "SIPGW_CALLBACK_DB": str(tmp_workdir / "callbacks.sqlite3"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200",
        })  # fmt: skip
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
        with gw, caller:
            gw.wait_log(r"tracing: OTLP export of call spans on", 30)
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            # The gateway took the answer's end (its record line is written with the turn's
            # status): the fake's record of sending it is not enough, the hang-up could
            # reach the gateway first.
            wait_for(lambda: any(line.get("type") == "assistant"
                                 and str(line.get("text")).startswith("Your order")
                                 for line in record_lines(tmp_workdir / "calls")),
                     20, "the answer's end in the call record")  # fmt: skip
            gw.wait_log(r"tool get_order_status -> ok", 5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            assert gw.stop() == 0  # the gateway's stop flushes the last spans
        session = fake.sessions[-1]
        replies = [r.id for r in session.replies]

    (call,) = receiver.named("call")
    session_id = (
        session.session_id if isinstance(session, VoiceAgentRecord) else session.session["id"]
    )
    assert call.attributes["s2s.session_id"] == session_id
    turns = receiver.children(call, "turn")
    assert [t.attributes["s2s.reply_id"] for t in turns] == replies  # greeting, tool, answer
    assert [t.attributes["turn.kind"] for t in turns] == ["greeting", "reply", "reply"]
    greeting, asked, answer = turns
    assert "turn.end_of_speech_to_reply_ms" in asked.attributes, asked  # from the speech
    first_audio_ms = answer.attributes["s2s.first_audio_ms"]
    assert isinstance(first_audio_ms, float) and first_audio_ms > 0
    assert "first_audio" in answer.events
    assert all(t.attributes["s2s.status"] == "completed" for t in turns)
    (tool,) = receiver.children(asked, "tool")
    assert tool.attributes["tool.name"] == "get_order_status" and tool.attributes["tool.ok"]
    assert asked.start_ns <= tool.start_ns <= tool.end_ns <= asked.end_ns
    assert not receiver.children(answer, "tool") and not receiver.children(greeting, "tool")
