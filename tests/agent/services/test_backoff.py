"""The waits between a vendor client's attempts (agent/services/backoff.py), on an injected
clock."""

from __future__ import annotations

import pytest

from sipgw.agent.services.backoff import Backoff


def test_a_geometric_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.2, cap=2.0)
    assert [backoff.delay(n) for n in range(7)] == pytest.approx(
        [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    )
    assert backoff.attempts is None
    assert Backoff(0.1).delay(10) == pytest.approx(102.4)  # no cap: the caller bounds it
    assert Backoff(5.0, cap=60.0).delay(3) == 40.0 and Backoff(5.0, cap=60.0).delay(4) == 60.0


def test_a_listed_backoff_ends_after_its_steps() -> None:
    backoff = Backoff.listed(0.0, 0.2, 0.5)
    assert [backoff.delay(n) for n in range(4)] == [0.0, 0.2, 0.5, None]
    assert backoff.attempts == 3 and backoff.within(3, 10.0) is None


def test_the_last_wait_is_cut_to_start_an_attempt_at_the_windows_end() -> None:
    backoff = Backoff(0.2, cap=2.0)
    assert backoff.within(4, 10.0) == 2.0
    assert backoff.within(4, 0.5) == 0.5
    assert backoff.within(0, 0.0) is None and backoff.within(0, -1.0) is None


def test_an_outage_on_a_fake_clock_spreads_its_attempts_over_the_window() -> None:
    # What a reconnecting client does (agent/services/assemblyai/stt.py): wait, try (each try fails
    # after 0.1 s here), until the window is spent; the clock is the test's.
    backoff, window, now, spent = Backoff(0.2, cap=2.0), 5.0, 0.0, 0.0
    starts: list[float] = []
    attempt = 0
    while (wait := backoff.within(attempt, window - spent)) is not None:
        now += wait
        starts.append(round(now, 3))
        now += 0.1
        spent += wait + 0.1
        attempt += 1
    assert starts == [0.2, 0.7, 1.6, 3.3, 5.0]  # 0.2, 0.4, 0.8, 1.6 waits, then cut to the end
    assert spent == pytest.approx(5.1)


def test_waits_never_shrink_below_zero() -> None:
    with pytest.raises(ValueError):
        Backoff(-0.1)
    with pytest.raises(ValueError):
        Backoff(0.1, factor=0.5)
    with pytest.raises(ValueError):
        Backoff.listed(0.2, -1.0)
    with pytest.raises(ValueError):
        Backoff(0.1).delay(-1)
