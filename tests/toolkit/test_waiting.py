"""tests.toolkit.waiting: a condition polled until it holds, or a failure saying what was seen."""

from __future__ import annotations

import threading
import time

import pytest

from tests.toolkit.waiting import wait_for


def test_returns_the_value_once_the_condition_holds() -> None:
    lines: list[str] = []
    writer = threading.Timer(0.2, lines.append, ["REGISTER ok aor=alice"])
    writer.start()
    try:
        started = time.monotonic()
        found = wait_for(lambda: [line for line in lines if "REGISTER ok" in line], 5, "lines")
    finally:
        writer.cancel()
    assert found == ["REGISTER ok aor=alice"]
    assert 0.15 <= time.monotonic() - started < 4  # it waited for it, and no longer


def test_a_condition_true_at_once_does_not_wait() -> None:
    started = time.monotonic()
    assert wait_for(lambda: 42, 5, "the answer") == 42
    assert time.monotonic() - started < 0.05


def test_fails_after_the_timeout_with_the_state_last_seen() -> None:
    polls: list[int] = []

    def seen() -> list[int]:
        return polls

    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"within 0\.3 s; last seen: \[0, 1, 2, .*\]"):
        wait_for(lambda: polls.append(len(polls)), 0.3, seen, step=0.02)
    assert 0.3 <= time.monotonic() - started < 2
    assert len(polls) >= 5  # it kept looking


def test_describe_is_read_at_the_failure_not_before() -> None:
    reads: list[float] = []

    def describe() -> str:
        reads.append(time.monotonic())
        return "the log tail"

    with pytest.raises(AssertionError, match="last seen: the log tail"):
        wait_for(lambda: False, 0.1, describe)
    assert len(reads) == 1


def test_the_condition_is_asked_once_more_at_the_deadline() -> None:
    """A step longer than the timeout still looks at the deadline, not only at the start."""
    at = time.monotonic() + 0.2
    assert wait_for(lambda: time.monotonic() >= at, 0.2, "clock", step=10) is True
