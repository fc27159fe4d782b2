"""Hand-off rules and the tool (agent/conversation/handoff.py)."""

from __future__ import annotations

from sipgw.agent.conversation.handoff import (
    MAX_HAND_OFFS,
    HandOffState,
    hand_off_tool,
    with_hand_off,
)
from sipgw.agent.tools.registry import ToolRegistry
from tests.agent.parts import FakeCall, slow_tool


def test_a_line_hands_off_only_to_the_lines_it_names_one_at_a_time() -> None:
    state = HandOffState("front", ("billing", "sales"))
    assert "not one this line hands off to (allowed: billing, sales)" in (
        state.request("support") or ""
    )
    assert state.request("front") == "the caller is already on line front"
    assert state.request("billing") is None and state.pending == "billing"
    assert state.request("sales") == "a hand-off to billing is already under way"
    assert state.complete() == ("front", "billing")
    assert (state.pending, state.made) == (None, 1)


def test_a_cancelled_hand_off_can_be_asked_again() -> None:
    state = HandOffState("front", ("billing",))
    assert state.request("billing") is None
    state.cancel()
    assert state.pending is None and state.request("billing") is None


def test_the_count_goes_with_the_call_from_agent_to_agent() -> None:
    # Two lines naming each other: each agent starts from the hand-offs made before it.
    made = 0
    line, other = "a", "b"
    while True:
        state = HandOffState(line, (other,), made)
        why_not = state.request(other)
        if why_not is not None:
            break
        state.complete()
        made, line, other = state.made, other, line
    assert made == MAX_HAND_OFFS
    assert why_not == f"this call was handed off {MAX_HAND_OFFS} times already"


async def test_the_tool_offers_the_targets_and_runs_the_agents_hand_off() -> None:
    asked: list[tuple[str, str]] = []

    async def run(line: str, summary: str) -> str:
        asked.append((line, summary))
        return "ok"

    tool = hand_off_tool(("billing",), run)
    assert tool.parameters["properties"]["line"]["enum"] == ["billing"]  # type: ignore[index]
    registry = ToolRegistry([slow_tool(0.0)])
    with_tool = with_hand_off(registry, tool)
    assert with_tool.names == ["look_up", "hand_off"] and "hand_off" not in registry
    result = await with_tool.call("hand_off", '{"line": "billing", "summary": "s"}', FakeCall())  # type: ignore[arg-type]
    assert result.ok and asked == [("billing", "s")]
    refused = await with_tool.call("hand_off", '{"line": "sales", "summary": "s"}', FakeCall())  # type: ignore[arg-type]
    assert not refused.ok and refused.refused == "schema" and len(asked) == 1
    assert with_hand_off(registry, None) is registry
