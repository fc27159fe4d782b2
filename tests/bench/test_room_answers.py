"""bench.room_answers: the capacity loop's room turns, when they came and what the assistant
did with them."""

from __future__ import annotations

import pytest

from bench.caller_audio import NoisyCaller
from bench.room_answers import RoomTurn, _marks, measure, when
from sipgw.agent.turns.room import ROOM_MIN_CALLER_MS

pytestmark = pytest.mark.timeout(120)


def _turn(after: int | None, *, overlaps: bool = False) -> RoomTurn:
    return RoomTurn(0, 100, after, overlaps, False, "room_speech", 0)


def test_room_turns_are_placed_against_the_callers_voice() -> None:
    assert when(_turn(100, overlaps=True)) == "inside the caller's sentence"
    assert when(_turn(300)) == "<= 300 ms after the caller's voice"
    assert when(_turn(320)) == "0.3-1 s after"
    assert when(_turn(1020)) == "in the caller's silence, > 1 s after"
    assert when(_turn(None)) == "in the caller's silence, > 1 s after"


def test_the_tvs_turns_are_the_rooms_and_each_is_decided() -> None:
    turns, callers = measure(2, 14.0, NoisyCaller(backgrounds=("tv", "tv")))
    assert turns
    assert not any(t.overlaps_caller for t in turns)  # the fake gives those to the caller
    decisions = {
        "answered", "answered with held words", "room_speech", "room_speech, held words answered",
        "held",
    }  # fmt: skip
    for t in turns:
        assert t.start_ms < t.end_ms
        assert t.decision in decisions
        # the gate answers the turns with enough of the caller's speech (near their level)
        if t.decision.startswith("answered"):
            assert t.gate_ms >= ROOM_MIN_CALLER_MS
        if t.decision.startswith("room_speech"):
            assert t.gate_ms < ROOM_MIN_CALLER_MS
    assert callers
    assert {c.fate for c in callers} <= {"answered", "room_speech", "not answered"}
    assert any(c.fate == "answered" for c in callers)


def test_the_frame_marks_join_the_agents_stretches() -> None:
    assert _marks([".", "[,]", "[S]", "[.]", "3", "[+]"]) == ".[,S.]3[+]"


def test_the_callers_finals_say_where_and_what_the_detector_heard() -> None:
    greeted = measure(1, 8.0, NoisyCaller(backgrounds=("tv",)), greeting_s=3.0)[1]
    first = greeted[0]  # the call's first sentence, said over the greeting
    assert first.detail.startswith("call 0: tv at 0.")
    where, heard = first.detail.split("\n    ")
    assert "caller=- room=" in where and "gate=0ms" in where and "at the call's end" in where
    assert heard.startswith("[") and set(heard) <= set("[].,sS0123456789+#")
