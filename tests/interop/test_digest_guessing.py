"""Guessing inbound digest passwords, as issue 39's attacker did: SIPVicious' svcrack, and
a cracker that answers from many source addresses (``tests.toolkit.cracker``), against
``sipgw serve`` as a subprocess in the test's network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.cracker import DigestCracker, ipv4_sources, ipv6_sources

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

PASSWORD = "1234"
INBOUND = {"SIPGW_INBOUND_USERNAME": "alice", "SIPGW_INBOUND_PASSWORD": PASSWORD}
STATS = ["--stats-interval", "0.3"]
WRONG = [f"{n:04d}" for n in range(10_000) if f"{n:04d}" != PASSWORD]

SIPVICIOUS = (
    "import functools, importlib, sys\n"
    "tool = importlib.import_module('sipvicious.' + sys.argv.pop(1))\n"
    "agent = sys.argv.pop(1)\n"
    "if agent:\n"
    "    tool.makeRequest = functools.partial(tool.makeRequest, useragent=agent)\n"
    "tool.main()\n"
)
"""SIPVicious' tools have no User-Agent option: their requests say ``friendly-scanner``
(makeRequest's default). This runs one (svcrack, svwar, svmap) with another User-Agent
when given, as the issue's attacker did."""

# Long enough that svcrack's request is larger than the 401 it gets over UDP (a UDP
# reply is never larger than its request); a phone's INVITE with SDP is that large anyway.
PHONE_AGENT = "Zoiper rv2.10.19.5 (Windows 10; x64; build 42) " + "z" * 200


def svcrack(
    gw: GatewayProcess, passwords: list[str], workdir: Path, agent: str = "", *args: str
) -> str:
    """Run svcrack against ``gw`` for user alice with ``passwords``; its output."""
    dictionary = workdir / "passwords.txt"
    dictionary.write_text("\n".join(passwords) + "\n")
    return sipvicious("svcrack", gw, workdir, agent, "-u", "alice", "-d", str(dictionary), *args)


def sipvicious(tool: str, gw: GatewayProcess, workdir: Path, agent: str, *args: str) -> str:
    """Run SIPVicious' ``tool`` against ``gw`` on 127.0.0.1; its output.

    It listens on 127.0.0.1 and a free port: by default it binds the wildcard address's
    5060, which the RFC 4475 runner beside it (127.0.0.7-10:5060) then cannot bind."""
    where = ["-b", "127.0.0.1", "-P", str(free_port())]
    argv = [sys.executable, "-c", SIPVICIOUS, tool, agent, "-p", str(gw.sip_port), *where, *args]
    result = subprocess.run(
        [*argv, "127.0.0.1"], capture_output=True, text=True, timeout=60, cwd=workdir
    )
    return result.stdout + result.stderr


def stats(gw: GatewayProcess) -> dict[str, Any]:
    """The first ``stats {json}`` line logged from now on."""
    match = gw.wait_log(r"stats (\{.*\})", 5, start=len(gw.log_lines()))
    found: dict[str, Any] = json.loads(match[1])
    return found


def test_svcrack_as_a_phone_never_finds_the_password(tmp_workdir: Path) -> None:
    """Issue 39: svcrack with its User-Agent changed found ``1234`` (403 for each wrong
    guess, another answer for the right one). Now, whatever svcrack's pace, the right
    password arrives while alice is in backoff: 403 like the others, and no call.
    INVITE's limit is raised so that only the digest defences stand in its way."""
    args = [*STATS, "--rate-invite", "200:400"]
    with GatewayProcess(tmp_workdir, extra_args=args, extra_env=INBOUND) as gw:
        passwords = [*WRONG[:30], PASSWORD, *WRONG[30:40]]
        out = svcrack(gw, passwords, tmp_workdir, PHONE_AGENT, "-m", "INVITE")
        assert "password for alice" not in out and "unknown response" not in out, out
        counted = stats(gw)
        assert counted["calls_total"] == 0 and counted["scanners_dropped"] == 0
        checked = counted["refused"] - counted["unchecked"]
        assert counted["unchecked"] >= 1 and checked <= 10, counted
        assert gw.stop() == 0


def test_many_sources_guess_no_faster_than_one_and_alice_gets_in_after(
    tmp_workdir: Path,
) -> None:
    """250 sources of one /24 guess for 10 s: the answers checked are those of one source
    (5, then a backoff doubling from 1 s); a nonce from one source is no good from another,
    a wrong answer uses its nonce up, the right password from the guessers' network is
    refused like a wrong one during the backoff and works after it; the allowed source is
    never asked."""
    args = [*STATS, "--allow-from", "127.0.0.1"]
    with (
        GatewayProcess(tmp_workdir, extra_args=args, extra_env=INBOUND) as gw,
        DigestCracker(("127.0.0.1", gw.sip_port), "alice") as cracker,
    ):
        sources = ipv4_sources(250)
        # a nonce from A answered from B: a new challenge, stale, the password unchecked
        challenge = cracker.challenge("127.2.0.1")
        assert challenge is not None
        for password in (PASSWORD, WRONG[0]):
            moved = cracker.answer(challenge, password, "127.2.0.2")
            assert (moved.status, moved.stale) == (401, True)
        # a wrong answer uses its nonce up: the right one on it is not checked
        assert cracker.answer(challenge, WRONG[1], "127.2.0.1").status == 403
        used = cracker.answer(challenge, PASSWORD, "127.2.0.1")
        assert (used.status, used.stale) == (401, True)
        before = stats(gw)
        assert before["refused"] == 1 and before["unchecked"] == 0
        guesses = cracker.run(WRONG[2:], sources, 10.0)
        right = cracker.guess(PASSWORD, sources[7])
        assert right.status == 403  # from the guessers' network, in backoff: as if wrong
        counted = stats(gw)
        checked = counted["refused"] - counted["unchecked"]
        assert len(guesses) > 100 and all(g.status == 403 for g in guesses)
        assert checked <= 10, counted  # 1 + 5 free + 1, 2, 4 s backoffs within 10 s
        # the trunk (allowed) sends on, unchallenged. The guessers' last requests may still
        # wait in the gateway's socket on a loaded machine (a quiet whole run once counted 3
        # more challenges after the counts above): the count settles first, within 5 s.
        settled, deadline = counted, time.monotonic() + 5
        while (latest := stats(gw))["challenged"] != settled["challenged"]:
            assert time.monotonic() < deadline, (settled, latest)
            settled = latest
        trunk = cracker.challenge("127.0.0.1")
        assert trunk is None and stats(gw)["challenged"] == settled["challenged"]
        # the backoff is over at most 16 s after the last checked guess
        deadline = time.monotonic() + 40
        while not (right := cracker.guess(PASSWORD, sources[7])).admitted:
            assert right.status == 403 and time.monotonic() < deadline
            time.sleep(2.0)
        assert gw.stop() == 0


def test_guessing_from_one_network_does_not_hold_the_user_out_of_another(
    tmp_workdir: Path,
) -> None:
    """svcrack (as a phone, from 127.0.0.1) and the cracker (from 127.0.0.2 on) guess from
    127.0.0.0/24 until alice's answers from there are held; alice, from 127.0.1.2, gets in
    with her first answer, and her success gives the guessers nothing back. When they move
    to another /24, its first answer is checked and the next ones wait for alice's
    user-wide backoff; alice, from her network, still gets in."""
    args = [*STATS, "--rate-invite", "200:400"]
    with (
        GatewayProcess(tmp_workdir, extra_args=args, extra_env=INBOUND) as gw,
        DigestCracker(("127.0.0.1", gw.sip_port), "alice") as cracker,
    ):
        out = svcrack(gw, WRONG[:30], tmp_workdir, PHONE_AGENT, "-m", "INVITE")
        assert "password for alice" not in out, out
        guesses = cracker.run(WRONG[30:], ipv4_sources(100, "127.0.0.2"), 4.0)
        assert len(guesses) > 20 and all(g.status == 403 for g in guesses)
        # the guessers' /24: held. Its backoff lets one answer through each time it ends (1,
        # 2, 4 ... s); a wrong one just before takes that answer should it end now (a loaded
        # run once left the run's end and this guess far enough apart for it to end between)
        assert cracker.guess(WRONG[-1], "127.0.0.2").status == 403
        assert cracker.guess(PASSWORD, "127.0.0.2").status == 403
        assert cracker.guess(PASSWORD, "127.0.1.2").admitted  # alice's /24: no wrong answer
        held = stats(gw)
        checked = held["refused"] - held["unchecked"]
        assert held["unchecked"] >= 20 and checked <= 12, held  # 5 free and 1, 2, 4 ... s
        # the guessers move to 127.0.2.0/24: one answer checked there, then held
        moved = cracker.run(WRONG[200:], ipv4_sources(20, "127.0.2.2"), 1.0)
        # refused each: 403, or the flood limit's 503 once the run outpaces it (0: no answer
        # within the run's time); none admitted, and one answer checked (below)
        statuses = [g.status for g in moved]
        assert not any(g.admitted for g in moved), str(statuses)
        assert set(statuses) <= {0, 403, 503} and statuses.count(403) >= 1, str(statuses)
        after = stats(gw)
        assert after["refused"] - after["unchecked"] == checked + 1, after
        assert cracker.guess(PASSWORD, "127.0.1.3").admitted  # alice still gets in
        assert cracker.guess(PASSWORD, "127.0.2.9").status == 403
        assert gw.stop() == 0


def test_an_ipv6_64_is_one_source(tmp_workdir: Path) -> None:
    """Issue 39: one IPv6 host holds a /64, and each of its addresses had buckets of its
    own. Now 50 addresses of one /64 share one bucket (here 10 at once), while 50
    addresses in 50 /64s have one each."""
    args = [*STATS, "--rate-other", "0.1:10"]
    with (
        ipv6_sources(["fd00:0:0:1"], 50) as one_64,
        ipv6_sources([f"fd00:0:1:{n:x}" for n in range(50)], 1) as many_64s,
        GatewayProcess(tmp_workdir, bind="::1", extra_args=args, extra_env=INBOUND) as gw,
        DigestCracker(("::1", gw.sip_port), "alice", timeout=1.0) as cracker,
    ):
        assert cracker.probe(one_64) == 10
        assert stats(gw)["flood_sources"] == 1
        assert cracker.probe(many_64s) == 50
        assert stats(gw)["flood_sources"] == 51


def test_svmap_and_svwar_find_no_gateway_and_no_user(tmp_workdir: Path) -> None:
    """The rest of issue 39's toolkit. As themselves, svmap and svwar get no answer at all
    (the scanner filter: a nuisance filter, which saves the responses and log lines; svcrack
    as itself says the same ``friendly-scanner`` and is dropped alike). With
    a phone's User-Agent, svwar's REGISTERs for alice, who exists, and for extensions that
    do not are answered alike, so it finds no user to guess a password for."""
    with GatewayProcess(tmp_workdir, extra_args=STATS, extra_env=INBOUND) as gw:
        found = sipvicious("svmap", gw, tmp_workdir, "")
        assert "127.0.0.1" not in found.split("SIP Device")[-1], found
        dictionary = tmp_workdir / "users.txt"
        dictionary.write_text("alice\nbob\n100\n1001\n")
        as_itself = sipvicious("svwar", gw, tmp_workdir, "", "-d", str(dictionary))
        assert "alice" not in as_itself, as_itself
        assert stats(gw)["scanners_dropped"] >= 2
        as_phone = sipvicious("svwar", gw, tmp_workdir, PHONE_AGENT, "-d", str(dictionary))
        assert "alice" not in as_phone and "| reqauth" not in as_phone, as_phone
        assert stats(gw)["calls_total"] == 0
