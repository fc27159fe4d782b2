"""An OTLP/HTTP trace receiver: ``POST /v1/traces``, the official protobufs decoded.

No collector or tracing back end is packaged for Debian or PyPI here (``apt-cache search
opentelemetry`` finds only the Go library; Jaeger and the Collector are Go binaries), so
the tests receive what the gateway's exporter sends with this: the request body is an
``ExportTraceServiceRequest`` of ``opentelemetry-proto`` (the protobufs every OTLP
receiver decodes), answered with an empty ``ExportTraceServiceResponse``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["OtlpReceiver", "ReceivedSpan", "otlp_receiver"]


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    events: tuple[str, ...]
    event_attributes: tuple[dict[str, object], ...]
    """Each event's attributes, in the order of ``events``."""
    service: str
    status_code: int

    def events_named(self, name: str) -> list[dict[str, object]]:
        """The attributes of each of its events called ``name``."""
        pairs = zip(self.events, self.event_attributes, strict=True)
        return [attributes for event, attributes in pairs if event == name]

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class OtlpReceiver:
    """What the receiver got (``spans``), and where to send it (``endpoint``)."""

    endpoint: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                service = ""
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        service = str(_value(attribute.value))
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                start_ns=span.start_time_unix_nano,
                                end_ns=span.end_time_unix_nano,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                events=tuple(event.name for event in span.events),
                                event_attributes=tuple(
                                    {a.key: _value(a.value) for a in event.attributes}
                                    for event in span.events
                                ),
                                service=service,
                                status_code=span.status.code,
                            )
                        )

    def named(self, name: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.name == name]

    def children(self, parent: ReceivedSpan, name: str | None = None) -> list[ReceivedSpan]:
        with self.lock:
            return sorted(
                (s for s in self.spans if s.parent_id == parent.span_id
                 and (name is None or s.name == name)),
                key=lambda s: s.start_ns,
            )  # fmt: skip

    def wait_for(self, name: str, count: int, timeout: float) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.named(name)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.named(name))} {name!r} spans of {count} arrived")


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A receiver on 127.0.0.1, a free port, in a thread."""
    received = OtlpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces" or "protobuf" not in self.headers.get("Content-Type", ""):
                self.send_response(404)
                self.end_headers()
                return
            received.receive(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """Serve in a process of its own (a benchmark's receiver, off the measured process):
    print the endpoint, serve until stdin closes, print how many spans arrived."""
    import sys

    with otlp_receiver() as received:
        print(received.endpoint, flush=True)
        sys.stdin.read()
    print(len(received.spans), flush=True)


if __name__ == "__main__":
    main()
