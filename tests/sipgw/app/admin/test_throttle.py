"""LoginThrottle: a few wrong tokens per address, then a wait; bounded memory."""

from __future__ import annotations

from sipgw.app.admin.throttle import LoginThrottle


def test_an_address_waits_after_its_wrong_tries_and_gets_them_back_over_time() -> None:
    throttle = LoginThrottle(burst=3, refill_seconds=10.0)
    for _ in range(3):
        assert throttle.wait("198.51.100.7", 0.0) == 0
        throttle.failed("198.51.100.7", 0.0)
    assert throttle.wait("198.51.100.7", 0.0) == 10
    assert throttle.wait("198.51.100.7", 4.0) == 6 and throttle.refused == 2
    assert throttle.wait("198.51.100.8", 0.0) == 0  # another address is not affected
    assert throttle.wait("198.51.100.7", 10.0) == 0  # one try back


def test_at_most_max_sources_addresses_are_remembered() -> None:
    throttle = LoginThrottle(burst=1, max_sources=2)
    for host in ("a", "b", "c"):
        throttle.failed(host, 0.0)
    assert throttle.wait("a", 0.0) == 0  # forgotten: the least recently seen
    assert throttle.wait("c", 0.0) > 0
