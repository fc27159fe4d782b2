"""The app's socket away, on an injected clock: the attempts' waits doubling to their cap and
the last one at the bound, the events kept in order up to the cap, the line once per absence
after its quiet, an absence that goes on keeping its bound."""

from __future__ import annotations

import pytest

from sipgw.agent.services.backoff import Backoff
from sipgw.agent.twiml.relay.reconnect import (
    FIRST_WAIT,
    LINE_AFTER,
    MAX_EVENTS,
    MAX_WAIT,
    RECONNECT_WITHIN,
    Absence,
    ReconnectPolicy,
    hold_line,
)


def attempts(absence: Absence[str], took: float = 0.0) -> list[float]:
    """When each attempt starts, every one failing after ``took`` seconds."""
    times = []
    while (at := absence.next_attempt()) is not None:
        times.append(at)
        absence.attempt_failed(at + took)
    return times


def test_the_waits_double_to_their_cap_and_the_last_attempt_is_at_the_bound() -> None:
    absence: Absence[str] = Absence(ReconnectPolicy(), now=100.0)
    times = attempts(absence)
    waits = [round(b - a, 6) for a, b in zip([100.0, *times], times, strict=False)]
    assert waits[:5] == [FIRST_WAIT, 0.5, 1.0, MAX_WAIT, MAX_WAIT]
    assert max(waits) == MAX_WAIT
    assert times[-1] == absence.deadline == 100.0 + RECONNECT_WITHIN
    assert absence.next_attempt() is None  # past the bound: the session fails


def test_slow_attempts_count_against_the_bound() -> None:
    policy = ReconnectPolicy(within=3.0, backoff=Backoff(0.25, 2.0, 2.0))
    absence: Absence[str] = Absence(policy, now=0.0)
    times = attempts(absence, took=1.0)  # each attempt times out after a second
    assert times == [0.25, 1.75, 3.0]
    assert absence.attempt_timeout(2.5, 5.0) == 0.5  # what is left of the bound
    assert absence.attempt_timeout(3.0, 5.0) == 0.25  # at least the first wait
    assert absence.attempt_timeout(0.0, 1.0) == 1.0  # the channel's own, when shorter


def test_events_are_kept_in_order_after_the_unsent_up_to_the_cap() -> None:
    absence: Absence[str] = Absence(ReconnectPolicy(), 0.0, unsent=["u1", "u2"])
    kept = [absence.keep(f"e{n}") for n in range(MAX_EVENTS + 10)]
    assert kept == [True] * (MAX_EVENTS - 2) + [False] * 12
    assert absence.dropped == 12 and absence.kept == MAX_EVENTS
    replay = absence.replay()
    assert replay == ["u1", "u2", *(f"e{n}" for n in range(MAX_EVENTS - 2))]
    assert absence.replay() == [] and absence.kept == 0  # given once


def test_the_line_comes_once_after_its_quiet() -> None:
    absence: Absence[str] = Absence(ReconnectPolicy(), 0.0)
    ticks = [n * 0.02 for n in range(400)]
    # a reply plays until 2 s, then nothing
    due = [t for t in ticks if absence.line_due(t, quiet=t >= 2.0)]
    assert due == [pytest.approx(2.0 + LINE_AFTER)]


def test_the_quiet_starts_over_when_something_plays() -> None:
    absence: Absence[str] = Absence(ReconnectPolicy(line_after=1.0), 0.0)
    assert not absence.line_due(0.0, quiet=True)
    assert not absence.line_due(0.9, quiet=True)
    assert not absence.line_due(0.95, quiet=False)  # a reply's rest, say
    assert not absence.line_due(1.5, quiet=True)
    assert not absence.line_due(2.4, quiet=True)
    assert absence.line_due(2.5, quiet=True)
    assert not absence.line_due(9.0, quiet=True)


def test_an_absence_that_goes_on_keeps_its_bound() -> None:
    policy = ReconnectPolicy(within=10.0)
    absence: Absence[str] = Absence(policy, now=8.0, since=0.0)  # back at 7.9, dropped again
    assert absence.deadline == 10.0 and absence.next_attempt() == 8.0 + FIRST_WAIT
    late: Absence[str] = Absence(policy, now=10.5, since=0.0)
    assert late.next_attempt() is None


@pytest.mark.parametrize(
    ("language", "line"),
    [("en-US", "One moment, please."), ("es-MX", "Un momento, por favor."),
     ("FR-fr", "Un instant, s'il vous plaît."), ("ja-JP", "One moment, please."),
     ("", "One moment, please.")],
)  # fmt: skip
def test_the_line_is_in_the_sessions_language_where_there_is_one(language: str, line: str) -> None:
    assert hold_line(language) == line
