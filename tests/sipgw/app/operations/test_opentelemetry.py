"""Call spans on OpenTelemetry: switched by the standard variables, exported over OTLP/HTTP."""

from __future__ import annotations

import time

import pytest

from sipgw.app.operations.opentelemetry import OtelSpan, call_tracer, tracing_configured
from tests.toolkit.otlp_receiver import otlp_receiver

ENDPOINT = "http://127.0.0.1:4318"


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "sipgw"}, False),  # named, but sent nowhere
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT + "/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_tracing_is_on_when_an_exporter_or_endpoint_is_named(env: dict[str, str], on: bool) -> None:
    assert tracing_configured(env) is on
    if not on:
        assert call_tracer(env) is None


def test_a_call_span_tree_reaches_an_otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    with otlp_receiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "gw-1"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)  # the SDK's exporter reads them too
        tracer = call_tracer(env)
        assert tracer is not None
        call = tracer.call_span({"sip.call_id": "abc@host", "call.direction": "inbound"})
        assert isinstance(call, OtelSpan) and call.recording
        now = time.monotonic()
        turn = call.child("turn", {"turn": 1}, start=now - 2.0)
        llm = turn.child("llm", start=now - 1.5)
        llm.add_event("first_token", at=now - 1.2)
        llm.set_attribute("llm.ttfb_ms", 300.0)
        llm.end(now - 1.0)
        tool = turn.child("tool", {"tool.name": "lookup"})
        tool.set_error("refused")
        header = tool.traceparent()
        tool.end()
        turn.end()
        call.end()
        call.end()  # a second end does nothing
        tracer._provider.force_flush()
        receiver.wait_for("call", 1, 5.0)
    (got_call,) = receiver.named("call")
    (got_turn,) = receiver.children(got_call, "turn")
    (got_llm,) = receiver.children(got_turn, "llm")
    (got_tool,) = receiver.children(got_turn, "tool")
    assert got_call.service == "gw-1" and got_call.attributes["sip.call_id"] == "abc@host"
    assert got_llm.seconds == pytest.approx(0.5, abs=0.01)
    assert (got_llm.start_ns - got_turn.start_ns) / 1e9 == pytest.approx(0.5, abs=0.01)
    assert abs(got_call.start_ns / 1e9 - time.time()) < 60  # epoch, not the monotonic clock
    assert got_llm.events == ("first_token",) and got_llm.attributes["llm.ttfb_ms"] == 300.0
    assert got_tool.status_code == 2  # STATUS_CODE_ERROR
    assert header is not None
    assert header.split("-")[1:3] == [got_tool.trace_id, got_tool.span_id]


def test_the_service_is_named_sipgw_unless_the_environment_names_it() -> None:
    def service(env: dict[str, str]) -> object:
        tracer = call_tracer({"OTEL_TRACES_EXPORTER": "console", **env})
        assert tracer is not None
        return tracer._provider.resource.attributes["service.name"]

    with pytest.MonkeyPatch.context() as patch:
        for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
            patch.delenv(name, raising=False)
        assert service({}) == "sipgw"
        patch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=edge-3,region=eu")
        assert service({"OTEL_RESOURCE_ATTRIBUTES": "service.name=edge-3"}) == "edge-3"


def test_without_the_extra_the_calls_go_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sdk(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("opentelemetry.sdk"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_sdk)
    assert call_tracer({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}) is None
