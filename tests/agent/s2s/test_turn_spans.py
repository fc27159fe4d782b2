"""A speech-to-speech call's trace spans (agent/s2s/turn_spans.py): a ``turn`` per reply timed
from the service's events, its tool calls' ``tool`` spans under it, the vendor's ids."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from sipgw.agent.services.s2s.base import (
    CallerSpeechStopped,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ToolCallRequested,
)
from sipgw.foundation.tracing import CURRENT_SPAN, NO_SPAN, AttributeValue, Span
from tests.agent.parts import settle, wait_for
from tests.agent.s2s.parts import LOUD, rig


class Timed:
    """A recording span that keeps its children, times, attributes and events."""

    def __init__(self, name: str, start: float | None = None) -> None:
        self.name, self.start = name, start
        self.end_at: float | None = None
        self.ended = False
        self.children: list[Timed] = []
        self.attributes: dict[str, AttributeValue] = {}
        self.events: dict[str, float | None] = {}
        self.error = ""

    @property
    def recording(self) -> bool:
        return True

    def child(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:  # fmt: skip
        span = Timed(name, start)
        span.attributes.update(attributes or {})
        self.children.append(span)
        return span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value

    def add_event(self, name, attributes=None, at=None) -> None:
        self.events[name] = at

    def set_error(self, description: str) -> None:
        self.error = description

    def end(self, at: float | None = None) -> None:
        if not self.ended:
            self.ended, self.end_at = True, at

    def traceparent(self) -> str | None:
        return f"00-{1:032x}-{id(self):016x}-01"

    def named(self, name: str) -> list[Timed]:
        return [span for span in self.children if span.name == name]


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-6)


async def test_a_turn_runs_from_the_services_end_of_speech_with_its_tool_call_under_it() -> None:
    r = rig(greeting="")
    call = Timed("call")
    r.agent.span = call
    r.session.session_id = "sess_1"
    await r.agent.prepare()
    seen: list[Span] = []
    tool = r.agent.tools.get("get_order_status")
    assert tool is not None
    handler = tool.handler

    async def spying(ctx: Any, args: dict[str, Any]) -> object:
        seen.append(CURRENT_SPAN.get())
        return await handler(ctx, args)

    object.__setattr__(tool, "handler", spying)
    t0 = r.agent.loop.time()
    r.session.push(
        CallerSpeechStopped(t0),
        ReplyStarted("resp_1", t0 + 0.3),
        ReplyAudio("resp_1", LOUD * 5, t0 + 0.5),
        ToolCallRequested("resp_1", "c1", "get_order_status", '{"order_id": "1234"}'),
        ReplyDone("resp_1", "completed", t0 + 0.6),
    )
    await wait_for(lambda: r.record("tool_call"))
    await settle()
    (turn,) = call.named("turn")
    assert call.attributes["s2s.session_id"] == "sess_1"
    assert turn.start == t0 and turn.attributes["s2s.reply_id"] == "resp_1"
    assert turn.attributes["turn"] == 1 and turn.attributes["s2s.status"] == "completed"
    assert turn.events == {"reply_started": t0 + 0.3, "first_audio": t0 + 0.5}
    assert turn.attributes["turn.first_audio_ms"] == approx(500.0)
    assert turn.attributes["s2s.first_audio_ms"] == approx(200.0)
    assert turn.attributes["turn.end_of_speech_to_reply_ms"] == approx(300.0)
    (span,) = turn.named("tool")
    assert span.attributes["tool.name"] == "get_order_status" and span.attributes["tool.ok"]
    assert span.ended and seen == [span]  # the tool's requests name its span
    assert turn.ended  # after its tool call was answered
    # the reply to the tool's result: no new speech, so its turn starts with it
    r.session.push(ReplyStarted("resp_2", t0 + 1.0), ReplyDone("resp_2", "failed", t0 + 1.2,
                                                                "server_error: boom"))  # fmt: skip
    await settle()
    second = call.named("turn")[1]
    assert second.start == t0 + 1.0 and "turn.first_audio_ms" not in second.attributes
    assert second.error == "server_error: boom" and second.ended
    await r.agent.close()


async def test_the_turn_waits_for_its_tool_calls_and_the_call_end_closes_open_turns() -> None:
    r = rig(greeting="")
    call = Timed("call")
    r.agent.span = call
    await r.agent.prepare()
    gate = asyncio.Event()
    tool = r.agent.tools.get("get_order_status")
    assert tool is not None

    async def slow(ctx: object, args: dict[str, object]) -> object:
        await gate.wait()
        return {"status": "shipped"}

    object.__setattr__(tool, "handler", slow)
    now = r.agent.loop.time()
    r.session.push(
        ReplyStarted("r1", now),
        ToolCallRequested("r1", "c1", "get_order_status", '{"order_id": "1234"}'),
        ReplyDone("r1", "completed", now),
        ReplyStarted("r2", now),
    )
    await settle()
    first, second = call.named("turn")
    assert not first.ended and not first.named("tool")[0].ended  # the tool still runs
    gate.set()
    await wait_for(lambda: first.ended)
    assert first.named("tool")[0].ended and not second.ended
    await r.agent.close()
    assert second.ended  # the call ended with it open


async def test_untraced_calls_make_no_spans() -> None:
    r = rig(greeting="")
    await r.agent.prepare()
    r.session.push(CallerSpeechStopped(0.0), ReplyStarted("r1", 0.1))
    await settle()
    (reply,) = r.agent.voice.speaking.live
    assert reply.span is NO_SPAN
    assert r.agent.voice.spans._stopped_at is None  # nothing kept without a trace
    await r.agent.close()
