"""PortAllocator: even ports, drawn at random, a freed port cools down before it comes back."""

from __future__ import annotations

import random

from sipgw.media.ports import PortAllocator


def test_hands_out_every_even_port_of_the_range_once() -> None:
    ports = PortAllocator(10001, 10020, rng=random.Random(1))
    drawn = [ports.allocate() for _ in range(ports.capacity)]
    assert sorted(p for p in drawn if p is not None) == list(range(10002, 10020, 2))
    assert ports.allocate() is None and ports.in_use == 9


def test_the_next_port_cannot_be_told_from_the_last_one() -> None:
    """Issue 21: ports were handed out in sequence, so the next call's port was known.

    Here neither the step from one port to the next nor the next port itself repeats:
    a run of 200 allocations with random releases never steps by +2 more than chance does.
    """
    ports = PortAllocator(10000, 20000)  # the OS's randomness, as in production
    drawn: list[int] = []
    rng = random.Random(7)
    for _ in range(200):
        port = ports.allocate()
        assert port is not None and port % 2 == 0 and 10000 <= port < 20000
        drawn.append(port)
        if rng.random() < 0.5:
            ports.release(drawn[rng.randrange(len(drawn))])
    steps = [b - a for a, b in zip(drawn, drawn[1:], strict=False)]
    assert sum(1 for step in steps if step == 2) <= 3  # chance: about 199/5000
    assert len(set(steps)) > 150


def test_a_freed_port_cools_down_before_it_is_handed_out_again() -> None:
    ports = PortAllocator(10000, 10400, cooldown=50, rng=random.Random(3))
    first = ports.allocate()
    assert first is not None
    ports.release(first)
    later = [ports.allocate() for _ in range(150)]
    assert first not in later  # 149 other ports were free


def test_cooled_ports_come_back_when_nothing_else_is_free() -> None:
    ports = PortAllocator(10000, 10008, cooldown=10, rng=random.Random(4))
    drawn = [port for _ in range(4) if (port := ports.allocate()) is not None]
    assert len(drawn) == 4 and ports.allocate() is None
    ports.release(drawn[2])
    ports.release(drawn[0])
    assert ports.allocate() == drawn[2]  # the one freed longest ago
    assert ports.allocate() == drawn[0]
    assert ports.allocate() is None


def test_unknown_and_double_releases_are_ignored() -> None:
    ports = PortAllocator(10000, 10010, rng=random.Random(5))
    port = ports.allocate()
    assert port is not None
    ports.release(12345)
    ports.release(port)
    ports.release(port)
    assert ports.in_use == 0
    assert sorted(p for p in (ports.allocate() for _ in range(5)) if p is not None) == list(
        range(10000, 10010, 2)
    )
