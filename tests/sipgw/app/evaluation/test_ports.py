"""Free loopback ports for tests: never a bound port; a used-up window is recycled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipgw.app.evaluation import ports
from sipgw.app.evaluation.ports import free_port, free_port_range, port_is_free


def test_a_range_starts_even_and_is_free() -> None:
    block = free_port_range(10)
    assert block.lo % 2 == 0 and block.size == 10
    assert port_is_free(block.lo, 10)


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger of this test's own (the machine's is shared with every test process)."""
    path = tmp_path / f"sipgw-ports-{os.getuid()}.ledger"  # as a process with TMPDIR there
    monkeypatch.setattr(ports, "LEDGER", path)
    return path


def test_a_bound_port_is_not_handed_out(monkeypatch: pytest.MonkeyPatch, ledger: Path) -> None:
    # Both ports come from the window outside the kernel's ephemeral range: binding port 0
    # would give an ephemeral port whose neighbour any connection on the machine may hold.
    port = free_port(span=2)
    ledger.unlink()  # handed out: forget it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", port))
        monkeypatch.setattr(ports, "_candidate_window", lambda: (port, port + 1))
        assert free_port() == port + 1  # port itself is taken by `held`


def test_a_port_another_process_was_given_is_not_handed_out(
    monkeypatch: pytest.MonkeyPatch, ledger: Path, tmp_path: Path
) -> None:
    """The workers of one run draw from one window: a port handed out in another process
    (whose owner may not have bound it yet) is neither handed out nor test-bound here."""
    block = free_port_range(6)  # two taken anywhere in six leave two side by side
    ledger.unlink()
    window = (block.lo, block.hi)
    other = (
        "from sipgw.app.evaluation import ports\n"
        f"ports._candidate_window = lambda: {window}\n"
        "print(ports.free_port(span=2))\n"
    )
    given = subprocess.run(
        [sys.executable, "-c", other], capture_output=True, text=True, check=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert ledger.exists()  # the other process's, in the same place
    theirs = int(given.stdout)
    monkeypatch.setattr(ports, "_candidate_window", lambda: window)
    mine = free_port(span=2)
    assert {mine, mine + 1}.isdisjoint({theirs, theirs + 1}), (mine, theirs)


def test_a_used_up_window_hands_out_free_ports_again(
    monkeypatch: pytest.MonkeyPatch, ledger: Path
) -> None:
    # A long suite hands out more ports than the window has: once every port was handed out,
    # the ones that are free again are handed out again, those given out longest ago first.
    block = free_port_range(40)
    monkeypatch.setattr(ports, "_candidate_window", lambda: (block.lo, block.hi))
    assert free_port_range(40) == block  # nothing else is left: given out again
    pairs = free_port_range(4)
    monkeypatch.setattr(ports, "_candidate_window", lambda: (pairs.lo, pairs.hi))
    now = int(time.time())
    stamps = [now - 1, now - 1, now - ports.STARTING - 5, now - ports.STARTING - 5]
    with ledger.open("r+b") as file:  # the first two just given out, the last two before
        file.seek(4 * pairs.lo)
        file.write(b"".join(stamp.to_bytes(4, "big") for stamp in stamps))
    for _ in range(10):
        assert free_port(span=2) == pairs.lo + 2  # its owner has bound it by now, or never will
        with ledger.open("r+b") as file:
            file.seek(4 * (pairs.lo + 2))
            file.write(b"".join(stamp.to_bytes(4, "big") for stamp in stamps[2:]))


def test_an_undrawn_range_is_just_below_every_drawn_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # A benchmark's gateway binds ports of its fixed range as calls come: none of them may be
    # a port handed out to a peer that has not bound it yet.
    undrawn = ports.undrawn_range(10000)
    assert undrawn.size == 10000
    drawn = [free_port_range(4) for _ in range(50)] + [free_port_range(1) for _ in range(50)]
    assert min(block.lo for block in drawn) > undrawn.hi
    monkeypatch.setattr(ports, "_candidate_window", lambda: (20000, 32767))  # Linux's default
    assert ports.undrawn_range(10000) == (10000, 19999)
    with pytest.raises(ValueError, match="no 19000 ports below 20000"):
        ports.undrawn_range(19000)


def test_free_ports_are_unique_and_bindable() -> None:
    ports = [free_port(span=2) for _ in range(20)]
    taken = [p + d for p in ports for d in (0, 1)]
    assert len(set(taken)) == len(taken)
    assert all(1024 < p < 65535 for p in ports)
    for p in ports[:5]:
        assert port_is_free(p, 2)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", p + 1))


def test_free_port_range_is_even_and_skips_busy_ports() -> None:
    rng = free_port_range(10)
    assert rng.lo % 2 == 0 and rng.size == 10 and str(rng) == f"{rng.lo}-{rng.hi}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.2", 0))
        assert not port_is_free(busy.getsockname()[1])
