"""Guessing one user's inbound digest password: how many answers the gateway checks.

* ``svcrack``: SIPVicious' svcrack as a phone (its User-Agent replaced, long enough that
  its INVITE's 401 comes back over UDP), INVITE limits raised out of its way, the whole
  four-digit space in its dictionary, for ``seconds``.
* ``many_sources``: :class:`~tests.toolkit.cracker.DigestCracker` from 1,000 loopback
  addresses, default limits (MESSAGE: the "other" bucket), for ``seconds``.
* ``schedule``: the most answers checked per user in an hour and in a day, from any number
  of sources: the real :class:`~sipgw.sip.auth.DigestServer` on an injected clock, every guess
  sent the moment the backoff ends (what the fastest attacker gets).

"Checked" is the gateway's own count: 403s (``refused``) less those answered unchecked
during a backoff (``unchecked``), from its stats line. Run it in a network namespace of its
own (``unshare -n``) like the interop tests; it needs ``pip install sipvicious``.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.sip.auth import Credentials, DigestClient, DigestServer, Verdict
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from tests.toolkit.cracker import DigestCracker, ipv4_sources

__all__ = ["guessing", "schedule"]

PASSWORD = "7391"
INBOUND = {"SIPGW_INBOUND_USERNAME": "alice", "SIPGW_INBOUND_PASSWORD": PASSWORD}
SVCRACK = (
    "import functools, sys\n"
    "import sipvicious.svcrack as svcrack\n"
    "svcrack.makeRequest = functools.partial(svcrack.makeRequest, useragent=sys.argv.pop(1))\n"
    "svcrack.main()\n"
)
PHONE_AGENT = "Zoiper rv2.10.19.5 (Windows 10; x64; build 42) " + "z" * 200


def _stats(gw: GatewayProcess) -> dict[str, Any]:
    match = gw.wait_log(r"stats (\{.*\})", 5, start=len(gw.log_lines()))
    found: dict[str, Any] = json.loads(match[1])
    return found


def _figures(gw: GatewayProcess, seconds: float, found: bool) -> dict[str, Any]:
    counted = _stats(gw)
    checked = counted["refused"] - counted["unchecked"]
    return {
        "seconds": round(seconds, 1),
        "answers": counted["refused"] + counted["calls_total"],
        "answers_checked": checked,
        "checked_per_s": round(checked / seconds, 2),
        "found": found,
    }


def svcrack(seconds: float) -> dict[str, Any]:
    """svcrack with the four-digit space for ``seconds``."""
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-guessing-"))
    dictionary = workdir / "passwords.txt"
    dictionary.write_text("\n".join(f"{n:04d}" for n in range(10_000)) + "\n")
    args = ["--stats-interval", "0.5", "--rate-invite", "1000:2000"]
    with GatewayProcess(workdir / "gw", extra_args=args, extra_env=INBOUND) as gw:
        argv = [sys.executable, "-c", SVCRACK, PHONE_AGENT, "-u", "alice", "-m", "INVITE"]
        argv += ["-d", str(dictionary), "-p", str(gw.sip_port)]
        # loopback and a free port, not the wildcard's 5060 (svcrack's default)
        argv += ["-b", "127.0.0.1", "-P", str(free_port()), "127.0.0.1"]
        start = time.monotonic()
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds)
            text = out.stdout + out.stderr
        except subprocess.TimeoutExpired as exc:
            text = str(exc.stdout or "") + str(exc.stderr or "")
        elapsed = time.monotonic() - start
        return _figures(gw, elapsed, "password for alice" in text)


def many_sources(seconds: float, sources: int = 1000) -> dict[str, Any]:
    """The cracker from ``sources`` addresses for ``seconds``."""
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-guessing-"))
    with (
        GatewayProcess(workdir / "gw", extra_args=["--stats-interval", "0.5"], extra_env=INBOUND)
        as gw,
        DigestCracker(("127.0.0.1", gw.sip_port), "alice") as cracker,
    ):  # fmt: skip
        passwords = [f"{n:04d}" for n in range(10_000)]
        random.Random(39).shuffle(passwords)
        start = time.monotonic()
        guesses = cracker.run(passwords, ipv4_sources(sources), seconds)
        elapsed = time.monotonic() - start
        figures = _figures(gw, elapsed, any(g.admitted for g in guesses))
        figures["sources"] = sources
        figures["guesses_per_s"] = round(len(guesses) / elapsed, 1)
        return figures


def _challenge(server: DigestServer, now: float, source: str) -> SipResponse:
    text = (
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        "From: <sip:alice@gw>;tag=1\r\nTo: <sip:agent@gw>;tag=2\r\nCall-ID: c\r\n"
        f"CSeq: 1 MESSAGE\r\nWWW-Authenticate: {server.challenge(now, source)}\r\n\r\n"
    )
    response = parse_message(text.encode())
    assert isinstance(response, SipResponse)
    return response


def _one_per_network(count: int) -> list[str]:
    """``count`` loopback addresses, each in a /24 of its own (a lane each)."""
    return [f"127.{2 + n // 256}.{n % 256}.1" for n in range(count)]


def schedule(hours: float = 24.0, sources: int = 1000, spread: bool = False) -> dict[str, Any]:
    """Answers checked per user when every guess comes as the backoff ends, from
    ``sources`` addresses: consecutive ones (four /24s for 1,000), or with ``spread`` each
    in a /24 of its own (as many lanes as sources, the table holding 32 of them)."""
    server = DigestServer("sipgw", {"alice": PASSWORD}, random.Random(39))
    addresses = _one_per_network(sources) if spread else ipv4_sources(sources)
    now, checked, first_hour, n = 0.0, 0, 0, 0
    while now < hours * 3600:
        # the source whose answers are checked soonest (one never held first), as it is
        source = min(addresses, key=lambda a: server.backoff_until("alice", a, now))
        now = max(now, server.backoff_until("alice", source, now))
        request = parse_message(
            b"MESSAGE sip:agent@gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\r\n"
            b"From: <sip:alice@gw>;tag=1\r\nTo: <sip:agent@gw>\r\nCall-ID: c\r\n"
            b"CSeq: 2 MESSAGE\r\n\r\n"
        )
        assert isinstance(request, SipRequest)
        client = DigestClient(Credentials("alice", f"{n % 7000:04d}"), random.Random(n))
        client.authorize(request, _challenge(server, now, source))
        if now < hours * 3600 and server.verify(request, now, source) is Verdict.BAD:
            checked += 1
            first_hour += now < 3600
        n += 1
        now += 0.001  # the next guess, a millisecond later
    backoff = server.backoff
    return {
        "hours": hours,
        "sources": sources,
        "networks": len({server.backoff.network(a) for a in addresses}),
        "checked_first_hour": first_hour,
        "checked_per_hour_after": round(backoff.guesses_per_hour(), 2),
        "checked_in_total": checked,
        "share_of_10000": round(checked / 10_000, 4),
    }


async def guessing(seconds: float = 30.0) -> dict[str, Any]:
    """Every figure above (``seconds`` for each live run)."""
    return {
        "svcrack": await asyncio.to_thread(svcrack, seconds),
        "many_sources": await asyncio.to_thread(many_sources, seconds),
        "schedule": await asyncio.to_thread(schedule),
        "schedule_spread": await asyncio.to_thread(schedule, 24.0, 1000, True),
    }
