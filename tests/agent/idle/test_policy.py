"""The idle policy on an injected clock (agent/idle/policy.py)."""

from __future__ import annotations

from sipgw.agent.idle.policy import CheckIn, GiveUp, IdlePolicy, IdleSettings, IdleStep


def run(
    policy: IdlePolicy, start: float, end: float, step: float = 0.02
) -> list[tuple[float, IdleStep]]:
    """Poll every ``step`` from ``start`` to ``end``: (when, step) of what it said."""
    said = []
    ticks = round((end - start) / step)
    for i in range(ticks + 1):
        now = start + i * step
        found = policy.poll(now)
        if found is not None:
            said.append((round(now, 2), found))
    return said


def test_checks_in_at_most_checks_times_then_gives_up() -> None:
    policy = IdlePolicy(IdleSettings(after=10.0, checks=2), now=0.0)
    said = run(policy, 0.0, 60.0)
    assert [(when, type(step)) for when, step in said] == [
        (10.0, CheckIn), (20.0, CheckIn), (30.0, GiveUp),
    ]  # fmt: skip
    assert [s.number for _, s in said if isinstance(s, CheckIn)] == [1, 2]
    assert policy.finished and policy.poll(100.0) is None


def test_zero_checks_says_goodbye_after_the_first_silence() -> None:
    policy = IdlePolicy(IdleSettings(after=5.0, checks=0), now=0.0)
    assert [type(s) for _, s in run(policy, 0.0, 20.0)] == [GiveUp]


def test_off_says_nothing() -> None:
    policy = IdlePolicy(IdleSettings(after=None), now=0.0)
    assert run(policy, 0.0, 3600.0, step=1.0) == [] and policy.finished


def test_the_caller_speaking_starts_silence_and_check_ins_over() -> None:
    policy = IdlePolicy(IdleSettings(after=10.0, checks=1), now=0.0)
    assert [w for w, _ in run(policy, 0.0, 10.0)] == [10.0]  # check-in 1
    policy.caller_active(12.0)  # "yes, I'm here"
    assert policy.checks == 0
    said = run(policy, 12.02, 40.0)
    # A fresh check-in (number 1 again), then the goodbye: counted from 12 s.
    assert [(w, type(s)) for w, s in said] == [(22.0, CheckIn), (32.0, GiveUp)]


def test_silence_while_the_agent_speaks_or_waits_does_not_count() -> None:
    policy = IdlePolicy(IdleSettings(after=10.0, checks=1), now=0.0)
    policy.busy("speaking", True, 0.0)  # the greeting, then a slow tool: 25 s of waiting
    assert run(policy, 0.0, 25.0) == [] and policy.deadline() is None
    policy.busy("speaking", False, 25.0)
    assert policy.deadline() == 35.0
    assert [w for w, _ in run(policy, 25.0, 35.0)] == [35.0]


def test_every_reason_must_end_before_silence_counts_again() -> None:
    policy = IdlePolicy(IdleSettings(after=10.0, checks=1), now=0.0)
    policy.busy("hold", True, 4.0)
    policy.busy("transfer", True, 5.0)
    policy.busy("hold", False, 30.0)  # resumed, but the transfer is still under way
    assert run(policy, 4.0, 40.0) == []
    policy.busy("transfer", False, 40.0)
    # The silence before the hold (4 s) is not added: the caller gets the whole span.
    assert [w for w, _ in run(policy, 40.0, 50.0)] == [50.0]


def test_repeated_busy_calls_change_nothing() -> None:
    policy = IdlePolicy(IdleSettings(after=10.0, checks=1), now=0.0)
    policy.busy("speaking", False, 3.0)  # was not busy: the count goes on from 0
    assert policy.deadline() == 10.0
    policy.busy("speaking", True, 4.0)
    policy.busy("speaking", True, 6.0)
    policy.busy("speaking", False, 7.0)
    assert policy.deadline() == 17.0


def test_check_in_reports_the_counted_silence() -> None:
    policy = IdlePolicy(IdleSettings(after=8.0, checks=3), now=1.0)
    (first,) = [s for _, s in run(policy, 1.0, 9.0, step=0.5)]
    assert first == CheckIn(1, 8.0)
