"""The registration timing machine (sans-IO): refresh, backoff, 423, keep-alives, stop."""

from __future__ import annotations

import random

import pytest

from sipgw.sip.registration import (
    MAX_AUTH_ROUNDS,
    Phase,
    RegistrationMachine,
    RegistrationPolicy,
)


def machine(seed: int = 1, **policy: float) -> RegistrationMachine:
    return RegistrationMachine(RegistrationPolicy(**policy), random.Random(seed))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(50))
def test_refresh_falls_between_80_and_90_percent_of_the_granted_expiry(seed: int) -> None:
    m = machine(seed)
    assert m.start(0.0) == 600
    m.granted(300, 1000.0)
    assert m.phase is Phase.REGISTERED and m.granted_expires == 300
    assert m.next_attempt is not None
    assert 1000.0 + 240 <= m.next_attempt <= 1000.0 + 270
    assert not m.attempt_due(m.next_attempt - 0.001)
    assert m.attempt_due(m.next_attempt)


@pytest.mark.parametrize("seed", range(50))
def test_backoff_doubles_with_jitter_between_half_and_all_of_the_ceiling(seed: int) -> None:
    # RFC 5626 §4.5: min(max, base * 2**failures), a random 50-100 % of it.
    m = machine(seed, retry_base=30.0, retry_max=1800.0)
    now = 0.0
    for failures in range(1, 10):
        m.start(now)
        delay = m.failed(now)
        ceiling = min(1800.0, 30.0 * 2**failures)
        assert ceiling / 2 <= delay <= ceiling, (failures, delay)
        assert m.next_attempt == now + delay and m.phase is Phase.WAITING
        assert m.failures == failures
        now += delay
        assert m.attempt_due(now)


def test_jitter_spreads_the_retries() -> None:
    delays = set()
    for seed in range(20):
        m = machine(seed)
        m.start(0.0)
        delays.add(round(m.failed(0.0), 3))
    assert len(delays) == 20


def test_success_resets_the_failure_count() -> None:
    m = machine()
    for _ in range(3):
        m.start(0.0)
        m.failed(0.0)
    m.start(0.0)
    m.granted(600, 0.0)
    assert m.failures == 0
    m.start(500.0)
    assert m.failed(500.0) <= 60.0


def test_a_longer_retry_after_wins_but_never_beyond_the_maximum() -> None:
    m = machine(retry_max=600.0)
    m.start(0.0)
    assert m.failed(0.0, retry_after=300.0) == 300.0
    m.start(300.0)
    assert m.failed(300.0, retry_after=5000.0) == 600.0
    m.start(900.0)
    assert m.failed(900.0, retry_after=1.0) >= 60.0  # a shorter one does not cut the backoff


def test_423_raises_the_expiry_once_then_gives_up() -> None:
    m = machine(expires=60)
    m.start(0.0)
    assert m.too_brief(3600)
    assert m.requested == 3600
    assert not m.too_brief(3600)  # asking again would not help
    assert not m.too_brief(None)  # no Min-Expires
    m.granted(3600, 0.0)
    assert m.start(3000.0) == 3600  # refreshes keep the raised expiry


def test_challenges_are_answered_a_few_times_per_attempt_without_counting_failures() -> None:
    m = machine()
    m.start(0.0)
    assert all(m.challenged() for _ in range(MAX_AUTH_ROUNDS))
    assert not m.challenged()
    assert m.failures == 0
    m.failed(0.0)
    m.start(100.0)
    assert m.challenged()  # a new attempt has fresh rounds


def test_keepalives_while_registered_only() -> None:
    m = machine(keepalive_interval=25.0)
    m.start(0.0)
    assert m.next_keepalive is None
    m.granted(600, 0.0)
    first = m.next_keepalive
    assert first is not None and 20.0 <= first <= 25.0
    assert not m.keepalive_due(first - 0.01)
    assert m.keepalive_due(first)
    assert m.next_keepalive is not None and first + 20.0 <= m.next_keepalive <= first + 25.0
    m.start(500.0)  # a refresh in flight: no keep-alive
    assert not m.keepalive_due(1e9)
    m.failed(500.0)
    assert m.next_keepalive is None


def test_no_keepalives_when_the_interval_is_zero() -> None:
    m = machine(keepalive_interval=0.0)
    m.start(0.0)
    m.granted(600, 0.0)
    assert m.next_keepalive is None


def test_stop_unregisters_only_when_a_binding_may_exist() -> None:
    never = machine()
    never.start(0.0)
    never.failed(0.0)
    assert not never.stop(10.0)
    assert never.phase is Phase.STOPPED

    in_flight = machine()
    in_flight.start(0.0)
    assert in_flight.stop(0.1)  # the registrar may have accepted it
    assert in_flight.phase is Phase.UNREGISTERING
    assert not in_flight.stop(0.2)  # already unregistering
    in_flight.stopped()
    assert in_flight.phase is Phase.STOPPED

    refresh_failed = machine()
    refresh_failed.start(0.0)
    refresh_failed.granted(600, 0.0)
    refresh_failed.start(500.0)
    refresh_failed.failed(500.0)
    assert refresh_failed.stop(550.0)  # the old binding is still valid until 600

    expired = machine()
    expired.start(0.0)
    expired.granted(600, 0.0)
    expired.start(500.0)
    expired.failed(500.0)
    assert not expired.stop(700.0)
    assert expired.next_attempt is None and expired.next_keepalive is None
