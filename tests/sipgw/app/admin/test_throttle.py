"""LoginThrottle: wrong tokens per source and in all, then 429 for wrong ones only; bounded
memory; token_matches compares in constant time (an injected clock throughout)."""

from __future__ import annotations

from sipgw.app.admin.throttle import MAX_TOKEN_LENGTH, LoginThrottle, token_matches


def test_a_source_gets_429_for_wrong_tokens_after_its_tries_and_gets_them_back_over_time() -> None:
    throttle = LoginThrottle(burst=3, refill_seconds=10.0)
    for _ in range(3):
        assert throttle.wrong("198.51.100.7", 0.0) == 0  # answered 401
    assert throttle.wrong("198.51.100.7", 0.0) == 10  # 429, Retry-After 10
    assert throttle.wrong("198.51.100.7", 4.0) == 6 and throttle.refused == 2
    assert throttle.wait("198.51.100.7", 4.0) == 6  # asking charges nothing
    assert throttle.refused == 2
    assert throttle.wrong("198.51.100.8", 4.0) == 0  # another source is not affected
    assert throttle.wrong("198.51.100.7", 10.0) == 0  # one try back
    assert throttle.wrong("198.51.100.7", 10.0) == 10


def test_refused_tries_do_not_prolong_the_lockout() -> None:
    """A guesser hammering during its lockout gets its next 401 as soon as a quiet one
    would: 429s charge nothing (and say nothing the 401 would not)."""
    throttle = LoginThrottle(burst=1, refill_seconds=10.0)
    assert throttle.wrong("a", 0.0) == 0
    for second in range(10):
        assert throttle.wrong("a", float(second)) == 10 - second
    assert throttle.wrong("a", 10.0) == 0


def test_all_sources_together_have_a_budget_a_minute() -> None:
    """Issue 39: many sources could each make their few tries; now at most
    ``total_per_minute`` wrong tokens a minute are answered 401, whoever sends them."""
    throttle = LoginThrottle(burst=5, refill_seconds=12.0, total_per_minute=6)
    answered = [throttle.wrong(f"203.0.113.{n}", 0.0) for n in range(10)]
    assert answered == [0] * 6 + [10] * 4  # one try back every 60 / 6 s
    assert throttle.refused == 4
    assert throttle.wait("203.0.113.99", 0.0) == 10  # a fresh source too
    assert throttle.wrong("203.0.113.99", 10.0) == 0  # the total refilled one


def test_at_most_max_sources_sources_are_remembered() -> None:
    throttle = LoginThrottle(burst=1, max_sources=2)
    for host in ("a", "b", "c"):
        throttle.wrong(host, 0.0)
    assert throttle.wait("a", 0.0) == 0  # forgotten: the least recently charged
    assert throttle.wait("c", 0.0) > 0


def test_token_matches_only_the_token_and_does_not_compare_overlong_ones() -> None:
    token = "t" * 24
    assert token_matches("Bearer " + token, token, "Bearer ")
    assert not token_matches(token, token, "Bearer ")
    assert not token_matches("Bearer " + token + "x", token, "Bearer ")
    assert not token_matches("", "", "")  # no token set: nothing matches
    long = "x" * (MAX_TOKEN_LENGTH + 1)
    assert not token_matches(long, long)
