"""OpenTelemetry traces of calls (the ``otel`` extra), configured by the standard variables.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
or ``OTEL_TRACES_EXPORTER`` (other than ``none``) is set and ``OTEL_SDK_DISABLED`` is not
``true``; :func:`call_tracer` then imports the SDK and its OTLP exporter
(``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf``, the default, or ``grpc``; with
``OTEL_TRACES_EXPORTER=console`` the spans are printed instead). The SDK
reads the rest itself: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and its argument, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``.
Without them nothing is imported and each call's span is :data:`sipgw.foundation.tracing.NO_SPAN`.

:class:`OtelSpan` is the agent's :class:`sipgw.foundation.tracing.Span` on an OpenTelemetry span;
the loop times the agent passes become epoch nanoseconds here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sipgw.foundation.tracing import AttributeValue, Span

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span as OtSpan
    from opentelemetry.trace import Tracer

__all__ = ["CallTracer", "OtelSpan", "call_tracer", "tracing_configured"]

log = logging.getLogger("sipgw")

_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
)  # fmt: skip


def tracing_configured(env: Mapping[str, str] | None = None) -> bool:
    """The environment asks for traces (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in _SWITCHES)


def _epoch_ns(at: float | None) -> int | None:
    """Loop time ``at`` (monotonic) as epoch nanoseconds; None for now."""
    if at is None:
        return None
    return time.time_ns() - int((time.monotonic() - at) * 1e9)


class OtelSpan:
    """:class:`sipgw.foundation.tracing.Span` on an OpenTelemetry span."""

    __slots__ = ("_span", "_tracer")

    def __init__(self, tracer: Tracer, span: OtSpan) -> None:
        self._tracer = tracer
        self._span = span

    @property
    def recording(self) -> bool:
        """The sampler kept it."""
        return self._span.is_recording()

    def child(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:
        """A span under this one."""
        from opentelemetry.trace import set_span_in_context

        span = self._tracer.start_span(
            name, context=set_span_in_context(self._span), attributes=attributes,
            start_time=_epoch_ns(start),
        )  # fmt: skip
        return OtelSpan(self._tracer, span)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute."""
        self._span.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        at: float | None = None,
    ) -> None:  # fmt: skip
        """Mark a moment."""
        self._span.add_event(name, attributes, _epoch_ns(at))

    def set_error(self, description: str) -> None:
        """Mark the span failed."""
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))

    def end(self, at: float | None = None) -> None:
        """End it (the SDK ignores a second end, with a warning we avoid)."""
        if self._span.is_recording():
            self._span.end(_epoch_ns(at))

    def traceparent(self) -> str | None:
        """``00-<trace id>-<span id>-<flags>`` (W3C Trace Context)."""
        context = self._span.get_span_context()
        if not context.is_valid:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


class CallTracer:
    """Starts each call's span (the SDK exports the last spans when the process exits)."""

    __slots__ = ("_provider", "_tracer")

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider  # kept: its exporter runs as long as the gateway
        self._tracer = provider.get_tracer("sipgw")

    def call_span(self, attributes: Mapping[str, AttributeValue]) -> Span:
        """A new root span for one call."""
        span = self._tracer.start_span("call", attributes=attributes)
        return OtelSpan(self._tracer, span)


def _exporter(env: Mapping[str, str]) -> Any:
    protocol = env.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def call_tracer(env: Mapping[str, str] | None = None) -> CallTracer | None:
    """The calls' tracer when the environment asks for traces, else None (also when the
    ``otel`` extra is missing: an error is logged and the calls go untraced)."""
    env = os.environ if env is None else env
    if not tracing_configured(env):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(env)
    except ImportError as exc:
        log.error("tracing: OTEL_* asks for traces but the otel extra is missing (%s): "
                  "calls go untraced; pip install 'sipgw[otel]'", exc)  # fmt: skip
        return None
    named = env.get("OTEL_SERVICE_NAME") or "service.name" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    # the SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; "sipgw" when neither names it
    resource = Resource.create({} if named else {"service.name": "sipgw"})
    # the sampler: OTEL_TRACES_SAMPLER; shutdown_on_exit: the last spans go out at exit
    provider = TracerProvider(resource=resource, shutdown_on_exit=True)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing: OTLP export of call spans on")
    return CallTracer(provider)
