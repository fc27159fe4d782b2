"""Lanes per network for the per-user digest backoff (sipgw/sip/guessing.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.sip.auth import DigestServer, Verdict
from sipgw.sip.guessing import Backoff, Guessing
from tests.sipgw.sip.test_auth import _guess

NEVER = float("-inf")
HOME, OFFICE = "192.0.2.0/24", "2001:db8:1:2::/64"


def schedule_bound(backoff: Backoff, seconds: float) -> int:
    """Wrong answers one lane alone had checked in ``seconds`` at most, each sent the moment
    its backoff ended: the user-wide schedule (5 at once, then after 1, 2, 4 ... s)."""
    t, k = 0.0, 1
    while t + backoff.wait(k) <= seconds:
        t += backoff.wait(k)
        k += 1
    return k


def test_the_schedule_bound_is_the_documented_one() -> None:
    backoff = Backoff()
    assert schedule_bound(backoff, 0.0) == 6  # five free, the sixth starts the backoff
    assert schedule_bound(backoff, 3599.0) == 18  # docs/security.md: 18 in the first hour
    assert schedule_bound(backoff, 86_399.0) == 110  # and 110 in a day


@pytest.mark.parametrize(
    ("source", "network"),
    [
        ("127.0.0.2", "127.0.0.0/24"),
        ("127.0.0.200", "127.0.0.0/24"),
        ("127.0.1.2", "127.0.1.0/24"),
        ("::ffff:127.0.1.9", "127.0.1.0/24"),
        ("2001:db8::1", "2001:db8::/64"),
        ("[2001:db8::ffff:2]", "2001:db8::/64"),
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
    ],
)
def test_a_lane_is_an_ipv4_24_or_an_ipv6_64(source: str, network: str) -> None:
    assert Backoff().network(source) == network


def test_guesses_from_one_network_hold_only_that_network() -> None:
    guessing, now = Guessing(Backoff()), 0.0
    for _ in range(40):
        if guessing.held_until("198.51.100.0/24", now) <= now:
            guessing.failed("198.51.100.0/24", now)
        now += 1.0
    assert guessing.held_until("198.51.100.0/24", now) > now
    assert guessing.held_until(HOME, now) == NEVER  # never a wrong answer from there
    assert guessing.held_until(OFFICE, now) == NEVER


def test_a_network_new_to_the_user_gets_one_answer_then_waits_for_the_user_wide_backoff() -> None:
    guessing, now = Guessing(Backoff()), 0.0
    for _ in range(6):  # the user-wide free five, and a sixth: a 1 s backoff
        guessing.failed("198.51.100.0/24", now)
    guessing.failed("198.51.101.0/24", now)  # a fresh network's answer is checked ...
    assert guessing.user.until == now + 2.0
    assert guessing.held_until("198.51.101.0/24", now) == now + 2.0  # ... then it waits


def test_a_known_network_has_its_own_free_answers_while_others_guess() -> None:
    """The user's typing mistakes at home are not held by a guesser's backoff elsewhere."""
    guessing, now = Guessing(Backoff()), 0.0
    guessing.succeeded(HOME, now)
    for _ in range(20):
        guessing.failed("198.51.100.0/24", now)
    assert guessing.user.until > now + 60
    for _ in range(4):
        guessing.failed(HOME, now)
        assert guessing.held_until(HOME, now) == NEVER
    guessing.failed(HOME, now)  # the fifth: now the user-wide backoff holds home too
    assert guessing.held_until(HOME, now) == guessing.user.until


def test_a_success_clears_only_its_own_network_and_not_the_user_wide_count() -> None:
    guessing, now = Guessing(Backoff()), 0.0
    for _ in range(8):
        guessing.failed("198.51.100.0/24", now)
    guessing.failed(HOME, now)  # the user's own typo, from a network not yet known
    held = guessing.user.until
    assert guessing.held_until(HOME, now) == held
    now = held
    guessing.succeeded(HOME, now)
    assert guessing.held_until(HOME, now) == NEVER
    assert guessing.user.failures == 9  # the guesser gets no five free answers again
    guessing.failed("198.51.100.0/24", now)
    assert guessing.held_until("198.51.100.0/24", now) == now + Backoff().wait(10)


def test_the_table_is_bounded_and_a_full_one_holds_networks_without_a_lane() -> None:
    backoff = Backoff(lanes=3, known_sources=2)
    guessing, now = Guessing(backoff), 0.0
    guessing.succeeded(HOME, now)
    for i in range(1000):
        network = f"10.{i // 256}.{i % 256}.0/24"
        if guessing.held_until(network, now) <= now:
            guessing.failed(network, now)
        now += 0.5
    assert len(guessing.lanes) == 3 and len(guessing.known) == 1
    # a network without a lane is held like a guessing one while the table is full ...
    assert guessing.held_until("203.0.113.0/24", now) == guessing.user.until > now
    # ... but never the user's own: it pushes the least recently wrong lane out
    assert guessing.held_until(HOME, now) == NEVER
    oldest = next(iter(guessing.lanes))
    guessing.failed(HOME, now)
    assert HOME in guessing.lanes and oldest not in guessing.lanes and len(guessing.lanes) == 3
    assert guessing.held_until(oldest, now) == guessing.user.until  # no fresh answer for it


def test_lanes_are_forgotten_after_a_quiet_day() -> None:
    backoff = Backoff(lanes=2)
    guessing = Guessing(backoff)
    guessing.failed("198.51.100.0/24", 0.0)
    guessing.failed("198.51.101.0/24", 10.0)
    assert guessing.held_until("203.0.113.0/24", 20.0) == guessing.user.until  # full
    assert guessing.held_until("203.0.113.0/24", backoff.forget + 5.0) == NEVER  # room again
    assert list(guessing.lanes) == ["198.51.101.0/24"]


_USER = st.tuples(st.just("user"), st.integers(0, 1), st.booleans())
_GUESSER = st.tuples(st.just("guesser"), st.integers(0, 29), st.just(False))
_PAUSE = st.one_of(st.just(0.0), st.floats(0.0, 4.0), st.floats(0.0, 1800.0))
"""Seconds between two answers: bursts (inside a backoff) as well as long waits."""
_EVENTS = st.lists(
    st.tuples(st.one_of(_GUESSER, _GUESSER, _USER), _PAUSE, st.integers(1, 254)),
    max_size=250,
)


@settings(max_examples=150, deadline=None)
@given(events=_EVENTS)
def test_interleaved_user_and_guesser(
    events: list[tuple[tuple[str, int, bool], float, int]],
) -> None:
    """The good user on networks A and B, a guesser on 30 others, in any order, through the
    real digest server: the user's right answer from a network with no wrong answer on
    record is always taken, and the guesser's answers checked in a day are at most the
    user-wide schedule plus one per network it used."""
    backoff = Backoff()
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(5), backoff=backoff)
    user_networks = ("192.0.2.{host}", "2001:db8:1:2::{host:x}")
    wrong_from: dict[int, float] = {}  # the user's network (0, 1) -> its last wrong answer there
    checked, guesser_networks, now = 0, set(), 0.0
    for (actor, index, right), pause, host in events:
        now += pause
        if now >= backoff.forget:
            break
        if actor == "user":
            source = user_networks[index].format(host=host)
            clean = index not in wrong_from
            verdict = _guess(server, "secret" if right else "typo", now, source)
            if right and clean:
                assert verdict is Verdict.OK
            if verdict is Verdict.OK:
                wrong_from.pop(index, None)
            elif verdict is Verdict.BAD:
                wrong_from[index] = now
        else:
            source = f"198.51.{index}.{host}"
            guesser_networks.add(index)
            checked += _guess(server, "guess", now, source) is Verdict.BAD
    assert checked <= schedule_bound(backoff, now) + len(guesser_networks)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 99), st.floats(0.0, 60.0), st.booleans()),
        min_size=100,
        max_size=300,
    )
)
def test_a_guesser_on_more_networks_than_the_table_holds(
    events: list[tuple[int, float, bool]],
) -> None:
    """From 100 networks (the table holds 32): the guesser's checked answers stay within the
    user-wide schedule plus one per lane it could open, and the user's known network is
    never held while no wrong answer came from it."""
    backoff = Backoff()
    guessing, now, checked = Guessing(backoff), 0.0, 0
    guessing.succeeded(HOME, 0.0)
    opened: set[str] = set()
    for index, pause, user_calls in events:
        now += pause
        if now >= backoff.forget:
            break
        if user_calls:
            assert guessing.held_until(HOME, now) == NEVER
            guessing.succeeded(HOME, now)
            continue
        network = f"198.51.{index}.0/24"
        if guessing.held_until(network, now) <= now:
            guessing.failed(network, now)
            checked += 1
            opened |= set(guessing.lanes)
    assert len(guessing.lanes) <= backoff.lanes
    assert checked <= schedule_bound(backoff, now) + min(len(opened), backoff.lanes)


def test_a_users_state_is_written_out_and_read_back_on_another_clock() -> None:
    """What a shared store keeps (sipgw/app/security/trust.py): the lanes, the user-wide
    count and the known networks, times moved onto another clock and back."""
    backoff = Backoff()
    state = Guessing(backoff)
    for t in range(8):
        state.failed("192.0.2.0/24", 100.0 + t)
    state.succeeded("198.51.100.0/24", 110.0)
    state.failed("203.0.113.0/24", 111.0)
    record = state.record(offset=5_000.0)
    back = Guessing.from_record(backoff, record, offset=-5_000.0)
    assert back == state
    moved = Guessing.from_record(backoff, record)  # read on the other clock
    for network in ("192.0.2.0/24", "203.0.113.0/24", "198.51.100.0/24", "10.0.0.0/24"):
        assert moved.held_until(network, 5_112.0) == state.held_until(network, 112.0) + 5_000.0
    with pytest.raises(ValueError, match="not a guessing record"):
        Guessing.from_record(backoff, {"user": [1, None]})
