"""Every call accounted for (bench/soak/accounting.py): the caller's outcomes against the
receiver's events."""

from __future__ import annotations

from typing import Any

from bench.soak.accounting import account


def call(call_id: str, answered: bool = True, outcome: str = "bye:200") -> dict[str, Any]:
    return {"call_id": call_id, "user": "echo", "answered": answered, "outcome": outcome}


def event(n: int, call_id: str, kind: str, seq: int, repeat: bool = False) -> dict[str, Any]:
    data = {"call": {"call_id": call_id}, "sequence": seq}
    return {"id": f"msg_{n}", "repeat": repeat, "event": {"type": kind, "data": data}}


def whole(call_id: str, start: int) -> list[dict[str, Any]]:
    kinds = ("call.incoming", "call.answered", "call.ended")
    return [event(start + i, call_id, k, i + 1) for i, k in enumerate(kinds)]


def test_every_call_with_its_events_is_accounted_for_and_repeats_are_no_loss() -> None:
    got = whole("a", 0) + whole("b", 10) + [event(20, "c", "call.failed", 1)]
    got.append(event(12, "b", "call.ended", 3, repeat=True))  # posted again after a restart
    result = account([call("a"), call("b"), call("c", False, "failed:486")], got)
    assert result.ok, result
    assert (result.calls, result.answered, result.events, result.repeats) == (3, 2, 7, 1)
    assert result.events_by_type["call.ended"] == 2
    assert result.outcomes == {"bye:200": 2, "failed:486": 1}


def test_a_missing_last_event_or_a_gap_is_a_lost_event() -> None:
    got = whole("a", 0)[:2] + [e for e in whole("b", 10) if e["event"]["data"]["sequence"] != 2]
    result = account([call("a"), call("b")], got)
    assert not result.ok
    assert [line.split(":")[0] for line in result.lost] == ["a", "b"]
    assert "no call.ended" in result.lost[0] and "sequence [1, 3]" in result.lost[1]


def test_an_unknown_outcome_or_a_stranger_fails_the_accounting() -> None:
    result = account([call("a", outcome="unfinished")], whole("a", 0) + whole("z", 10))
    assert result.unaccounted == ["a: unfinished"] and result.strangers == ["z"]
    assert not result.ok
    assert not account([], []).ok  # no call at all proves nothing


def test_a_call_answered_just_after_the_caller_gave_up_may_end_with_call_ended() -> None:
    result = account([call("a", False, "failed:timeout")], whole("a", 0))
    assert result.ok and not result.lost
