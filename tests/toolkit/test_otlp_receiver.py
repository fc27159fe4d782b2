"""The test OTLP/HTTP receiver decodes what the official OTLP exporter sends, and only that."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import set_span_in_context

from tests.toolkit.otlp_receiver import otlp_receiver


def test_it_keeps_the_spans_the_sdk_exports_with_their_parents() -> None:
    with otlp_receiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint + "/v1/traces")
        provider = TracerProvider(resource=Resource.create({"service.name": "probe"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("probe")
        parent = tracer.start_span("parent", attributes={"n": 3, "ok": True, "s": "x"})
        child = tracer.start_span("child", context=set_span_in_context(parent))
        child.add_event("first_byte", {"bytes": 160})
        child.end()
        parent.end()
        provider.shutdown()
    (got_parent,) = receiver.named("parent")
    (got_child,) = receiver.children(got_parent)
    assert got_parent.attributes == {"n": 3, "ok": True, "s": "x"}
    assert got_child.name == "child" and got_child.events_named("first_byte") == [{"bytes": 160}]
    assert got_child.trace_id == got_parent.trace_id and got_parent.parent_id == ""
    assert got_parent.service == "probe" and receiver.requests == 2


def test_anything_else_is_not_found() -> None:
    with otlp_receiver() as receiver:
        protobuf = {"Content-Type": "application/x-protobuf"}
        request = urllib.request.Request(receiver.endpoint + "/v1/logs", b"x", protobuf)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=5)
        assert raised.value.code == 404
    assert receiver.spans == [] and receiver.requests == 0
