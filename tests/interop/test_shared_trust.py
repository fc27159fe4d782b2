"""Guessing one user's password against several gateways at once: the four workers of one
``serve --workers 4`` (no database: one SQLite file). With the real attackers of
tests/interop/test_digest_guessing.py (svcrack as a phone, the many-source cracker), the
answers checked across all of them are no more than one process checks (docs/security.md,
"Guessing passwords"), the right password sent to another worker after the first one locked
is refused from the guessers' network and accepted from another, and a nonce one worker
issued is checked by another. Run in a network namespace of its own, like the other interop
tests.

On PostgreSQL: the same rule across gateways is tests/sipgw/app/security/test_trust.py's (on
both engines), and ``sipgw serve`` sharing its digest state there
tests/interop/test_postgres_cluster.py's."""

from __future__ import annotations

import functools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.sip.guessing import Backoff
from tests.interop.test_digest_guessing import INBOUND, PASSWORD, PHONE_AGENT, WRONG, svcrack
from tests.sipgw.sip.test_guessing import schedule_bound
from tests.toolkit.cracker import DigestCracker, ipv4_sources
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

STATS = ["--stats-interval", "0.3", "--rate-invite", "200:400"]


def latest_stats(lines: list[str]) -> dict[str, dict[str, Any]]:
    """Each process's (or worker's: ``w1`` ...) last stats line in ``lines``."""
    latest: dict[str, dict[str, Any]] = {}
    for line in lines:
        match = re.search(r"(?:(w\d+) )?sipgw.* stats (\{.*\})", line)
        if match:
            try:
                latest[match[1] or ""] = json.loads(match[2])
            except ValueError:
                continue  # two workers' lines interleaved by the parent: the next one
    return latest


def fresh_stats(gw: GatewayProcess, since: int, everyone: set[str]) -> dict[str, dict[str, Any]]:
    """The last stats line of each of ``everyone`` from output line ``since`` on; {} until
    every one of them has written one."""
    found = latest_stats(gw.log_lines()[since:])
    return found if set(found) >= everyone else {}


def checked(gateways: list[GatewayProcess]) -> tuple[int, int]:
    """The answers checked (403s less those unchecked) and held across ``gateways``, by
    stats lines written after this is called, one of each process (or worker) that wrote
    stats before: each is waited for (a worker's line can lag the others' on a loaded
    machine, and the counts it had then were older)."""
    total = held = 0
    for gw in gateways:
        since, everyone = len(gw.log_lines()), set(latest_stats(gw.log_lines()))
        assert everyone, gw.log_tail()
        fresh = functools.partial(fresh_stats, gw, since, everyone)
        for counted in wait_for(fresh, 10, gw.log_tail).values():
            total += counted["refused"] - counted["unchecked"]
            held += counted["unchecked"]
    return total, held


def guess_in_turn(crackers: list[DigestCracker], sources: list[str], seconds: float) -> int:
    """Guess wrong passwords from ``sources``, each guess at the next gateway; how many."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        guess = crackers[n % len(crackers)].guess(WRONG[n % len(WRONG)], sources[n % len(sources)])
        assert guess.status == 403, guess
        n += 1
    return n


def attack(crackers: list[DigestCracker], first: GatewayProcess, workdir: Path) -> float:
    """The operator's case, then svcrack and the cracker: a nonce the first gateway issued
    is taken by the third (or the second); 8 wrong answers to the first from 8 addresses
    of 127.0.0.0/24, then the right password to the second at once: refused from that /24,
    accepted from another; then svcrack at the first and the cracker at every gateway in
    turn. Returns the seconds from the first wrong answer to the last."""
    challenge = crackers[0].challenge("127.3.0.1")
    assert challenge is not None
    assert crackers[-1].answer(challenge, PASSWORD, "127.3.0.1").admitted
    start = time.monotonic()
    for i in range(8):
        assert crackers[0].guess(WRONG[i], f"127.0.0.{i + 10}").status == 403
    assert crackers[1].guess(PASSWORD, "127.0.0.99").status == 403
    assert crackers[1].guess(PASSWORD, "127.0.1.2").admitted
    out = svcrack(first, WRONG[8:38], workdir, PHONE_AGENT, "-m", "INVITE")
    assert "password for alice" not in out, out
    sent = guess_in_turn(crackers, ipv4_sources(100, "127.0.0.20"), 6.0)
    assert sent > 20, sent
    return time.monotonic() - start


def test_four_workers_without_a_database_check_what_one_does(tmp_workdir: Path) -> None:
    base = free_port(span=4)
    args = [*STATS, "--workers", "4", "--sip-port", str(base)]
    with GatewayProcess(tmp_workdir, rtp_port_count=80, extra_args=args, extra_env=INBOUND) as gw:
        gw.wait_log(r"worker 4: listening on udp:", 15)
        crackers = [DigestCracker(("127.0.0.1", base + i), "alice") for i in range(4)]
        try:
            seconds = attack(crackers, gw, tmp_workdir)  # svcrack at worker 1's port
        finally:
            for cracker in crackers:
                cracker.close()
        total, held = checked([gw])
        assert held >= 20 and total <= schedule_bound(Backoff(), seconds), (total, seconds)
        assert (tmp_workdir / "trust.sqlite3").exists()
        assert gw.stop() == 0
    assert "Traceback" not in gw.log_text()
