"""The agent's span seam: a no-op when tracing is off, the current span's traceparent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sipgw.foundation.tracing import CURRENT_SPAN, NO_SPAN, AttributeValue, Span, trace_headers


class Recorded:
    """A recording span: its children, attributes and end, kept."""

    def __init__(self, name: str = "call", span_id: int = 1) -> None:
        self.name = name
        self.span_id = span_id
        self.children: list[Recorded] = []
        self.attributes: dict[str, AttributeValue] = {}
        self.ended_at: float | None = None

    @property
    def recording(self) -> bool:
        return True

    def child(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:  # fmt: skip
        span = Recorded(name, self.span_id * 10 + len(self.children) + 1)
        span.attributes.update(attributes or {})
        self.children.append(span)
        return span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value

    def add_event(self, name, attributes=None, at=None) -> None:
        pass

    def set_error(self, description: str) -> None:
        self.attributes["error"] = description

    def end(self, at: float | None = None) -> None:
        self.ended_at = at

    def traceparent(self) -> str | None:
        return f"00-{7:032x}-{self.span_id:016x}-01"


def test_no_span_does_nothing_and_is_its_own_child() -> None:
    assert not NO_SPAN.recording
    child = NO_SPAN.child("turn", {"turn": 1}, start=1.0)
    assert child is NO_SPAN
    child.set_attribute("x", 1)
    child.add_event("first_byte")
    child.set_error("boom")
    child.end()
    assert child.traceparent() is None


def test_untraced_requests_carry_no_header() -> None:
    assert CURRENT_SPAN.get() is NO_SPAN
    assert trace_headers() == {}


async def test_each_task_names_its_own_span_in_its_requests() -> None:
    call = Recorded()

    async def tool(span: Span) -> dict[str, str]:
        CURRENT_SPAN.set(span)
        await asyncio.sleep(0)
        return trace_headers()

    first, second = call.child("tool"), call.child("tool")
    headers = await asyncio.gather(
        asyncio.create_task(tool(first)), asyncio.create_task(tool(second))
    )
    assert headers == [{"traceparent": first.traceparent()},
                       {"traceparent": second.traceparent()}]  # fmt: skip
    assert headers[0] != headers[1]
    assert trace_headers() == {}  # the tasks' copies, not ours
