"""Trace spans as the agent sees them: a call's span, its turns, their steps.

The agent layer never imports OpenTelemetry: it holds a :class:`Span` (the call's, set by
the gateway like the observer; :data:`NO_SPAN` when tracing is off) and opens child spans
on it. The gateway fills it with an OpenTelemetry span when tracing is configured
(:mod:`sipgw.app.operations.opentelemetry`, the ``otel`` extra); otherwise every call here is a
no-op on one shared object, and nothing is allocated per span.

Times are the event loop's clock (``loop.time()``, :func:`time.monotonic` on Linux under
asyncio and uvloop alike), so a step measured after the fact (the STT's end of turn, the
LLM's first token) becomes a span with its real start and end.

:data:`CURRENT_SPAN` is the span whose requests are being made: a tool's HTTP request, an
MCP call, a webhook read it and send its W3C ``traceparent`` header
(:func:`trace_headers`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Final, Protocol

__all__ = [
    "CURRENT_SPAN",
    "NO_SPAN",
    "AttributeValue",
    "Span",
    "trace_headers",
]

AttributeValue = str | bool | int | float
"""What a span attribute holds (OpenTelemetry's scalar types)."""


class Span(Protocol):
    """One timed step of a call, with attributes and events."""

    @property
    def recording(self) -> bool:
        """False for :data:`NO_SPAN` (and an unsampled span): skip building attributes."""
        ...

    def child(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:
        """A span under this one, started at loop time ``start`` (default: now)."""
        ...

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute."""
        ...

    def add_event(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        at: float | None = None,
    ) -> None:  # fmt: skip
        """Mark a moment (loop time ``at``, default now), e.g. ``first_byte``."""
        ...

    def set_error(self, description: str) -> None:
        """Mark the span failed."""
        ...

    def end(self, at: float | None = None) -> None:
        """End the span at loop time ``at`` (default: now); later calls do nothing."""
        ...

    def traceparent(self) -> str | None:
        """Its W3C ``traceparent`` header value; None when not recording."""
        ...


class _NoSpan:
    """The span of a call nobody traces: every method does nothing."""

    __slots__ = ()

    @property
    def recording(self) -> bool:
        """Never."""
        return False

    def child(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:
        """Itself."""
        return self

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Nothing."""

    def add_event(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        at: float | None = None,
    ) -> None:  # fmt: skip
        """Nothing."""

    def set_error(self, description: str) -> None:
        """Nothing."""

    def end(self, at: float | None = None) -> None:
        """Nothing."""

    def traceparent(self) -> str | None:
        """None."""
        return None


NO_SPAN: Final[Span] = _NoSpan()
"""The span when tracing is off."""

CURRENT_SPAN: Final[contextvars.ContextVar[Span]] = contextvars.ContextVar(
    "sipgw_current_span", default=NO_SPAN
)
"""The span the running task works for (a turn's, a tool call's): outgoing requests name it."""


def trace_headers() -> dict[str, str]:
    """``{"traceparent": ...}`` for the current span; empty when nothing is traced."""
    value = CURRENT_SPAN.get().traceparent()
    return {} if value is None else {"traceparent": value}
