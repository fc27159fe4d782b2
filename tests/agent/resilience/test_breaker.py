"""The circuit breaker per vendor, on a fake clock (agent/resilience/breaker.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sipgw.agent.resilience.breaker import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    counts_against_vendor,
)

SETTINGS = BreakerSettings(failures=3, window=10.0, open_for=30.0, max_open_for=100.0,
                           probe_timeout=5.0)  # fmt: skip

# Each step: (time, what) with what one of "ok", "fail", "allow?" (expects True),
# "deny?" (expects False); the expected state changes by time.
CASES = {
    "failures spread out never open it": (
        [(0, "fail"), (6, "fail"), (12, "fail"), (18, "fail"), (19, "allow?")], []),
    "a success between failures keeps it closed": (
        [(0, "fail"), (1, "fail"), (2, "ok"), (3, "fail"), (4, "fail"), (5, "allow?")], []),
    "three failures within the window open it": (
        [(0, "fail"), (4, "fail"), (9, "fail"), (10, "deny?"), (38, "deny?")],
        [(9, "opened")]),
    "after open_for, one probe; its success closes it": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (32, "allow?"), (32.5, "deny?"), (34, "ok"),
         (35, "allow?"), (35, "allow?")],
        [(2, "opened"), (32, "half_opened"), (34, "closed")]),
    "a failed probe reopens it for twice as long": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (32, "allow?"), (33, "fail"), (92, "deny?"),
         (93, "allow?"), (94, "fail"), (193, "deny?"), (194, "allow?")],
        [(2, "opened"), (32, "half_opened"), (33, "reopened"), (93, "half_opened"),
         (94, "reopened"), (194, "half_opened")]),
    "a probe that says nothing lets another call try": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (32, "allow?"), (36, "deny?"), (37, "allow?")],
        [(2, "opened"), (32, "half_opened")]),
    "a running call's success closes an open breaker": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (5, "ok"), (6, "allow?")],
        [(2, "opened"), (5, "closed")]),
    "failures while open change nothing": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (3, "fail"), (4, "fail"), (32, "allow?")],
        [(2, "opened"), (32, "half_opened")]),
    "after closing, the first open period is short again": (
        [(0, "fail"), (1, "fail"), (2, "fail"), (32, "allow?"), (33, "fail"), (93, "allow?"),
         (94, "ok"), (100, "fail"), (101, "fail"), (102, "fail"), (131, "deny?"),
         (132, "allow?")],
        [(2, "opened"), (32, "half_opened"), (33, "reopened"), (93, "half_opened"),
         (94, "closed"), (102, "opened"), (132, "half_opened")]),
}  # fmt: skip


@pytest.mark.parametrize(("steps", "expected"), CASES.values(), ids=CASES.keys())
def test_breaker(steps: list[tuple[float, str]], expected: list[tuple[float, str]]) -> None:
    breaker = CircuitBreaker("elevenlabs", SETTINGS)
    changes: list[tuple[float, str]] = []
    for now, what in steps:
        if what == "ok":
            breaker.record_success(now)
        elif what == "fail":
            breaker.record_failure(now)
        else:
            assert breaker.allow(now) is (what == "allow?"), (now, what)
        changes += [(event.at, event.name) for event in breaker.events()]
    assert changes == expected


def test_events_carry_the_vendor_state_and_reopen_time() -> None:
    breaker = CircuitBreaker("openai", SETTINGS)
    for now in (0.0, 1.0, 2.0):
        breaker.record_failure(now)
    (opened,) = breaker.events()
    assert (opened.vendor, opened.state, opened.open_until) == ("openai", BreakerState.OPEN, 32.0)
    assert breaker.events() == []


def test_the_timer_says_when_it_changes_by_itself() -> None:
    breaker = CircuitBreaker("assemblyai", SETTINGS)
    assert breaker.get_timer() is None
    for now in (0.0, 1.0, 2.0):
        breaker.record_failure(now)
    assert breaker.get_timer() == 32.0 and breaker.state(31.9) is BreakerState.OPEN
    breaker.handle_timer(32.0)
    assert breaker.state(32.0) is BreakerState.HALF_OPEN
    assert [e.name for e in breaker.events()] == ["opened", "half_opened"]
    assert breaker.allow(33.0) and breaker.get_timer() == 38.0  # the probe's deadline


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"failures": 0}, "failures must be at least 1"),
        ({"window": 0}, "window must be positive"),
        ({"open_for": 60, "max_open_for": 30}, "max_open_for must not be shorter"),
    ],
)
def test_settings_that_make_no_sense_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerSettings(**changes)


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        (None, True),  # refused, dropped or timed out
        (500, True), (502, True), (503, True),
        (429, True),  # rate limit or quota: no call gets through
        (401, True), (403, True),  # the key refused: every call fails the same way
        (408, True),
        (400, False), (404, False), (409, False), (422, False),  # a request of ours refused
        (1000, True), (1006, True), (1011, True), (1008, True), (3005, True), (3009, True),
        (4001, True), (4002, True),  # AssemblyAI: not authorized, no balance
        (3006, False), (3007, False), (3008, False),  # our message, our audio, max duration
        (1002, False), (1009, False),
    ],
)  # fmt: skip
def test_what_counts_against_the_vendor(status: int | None, counts: bool) -> None:
    """The module docstring's rule: a 400 (a parameter a reasoning model refuses) says
    nothing about the vendor being up, so it never opens a breaker."""
    assert counts_against_vendor(status) is counts


def test_allows_tells_without_taking_the_probe() -> None:
    breaker = CircuitBreaker("v", BreakerSettings(failures=1, open_for=10.0))
    assert breaker.allows(0)
    breaker.record_failure(0)
    assert not breaker.allows(5)
    assert breaker.allows(10) and breaker.allows(10)  # half-open: a peek takes nothing
    assert breaker.allow(10)  # the probe
    assert not breaker.allows(11) and not breaker.allow(11)
