"""Who may call, against real peers: SIPp from a source that is not allowed, baresip with and
without the right inbound credentials (``sipgw serve`` as a subprocess)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_echo_gateway import assert_echo
from tests.toolkit.canaries import INBOUND_PASSWORD
from tests.toolkit.fakes.threaded import fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.sipp import run_sipp, scenario

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
NOBODY_LOCAL = ["--allow-from", "192.0.2.1"]  # TEST-NET-1: never a loopback caller
STATS = ["--stats-interval", "0.3"]
INBOUND = {"SIPGW_INBOUND_USERNAME": "alice", "SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD}


def latest_stats(gw: GatewayProcess, after: int = 0) -> dict[str, Any]:
    """The first ``stats {json}`` line logged after log line ``after``."""
    match = gw.wait_log(r"stats (\{.*\})", 5, start=after)
    stats: dict[str, Any] = json.loads(match[1])
    return stats


def test_a_source_that_is_not_allowed_gets_403_and_opens_nothing(tmp_workdir: Path) -> None:
    with GatewayProcess(tmp_workdir, extra_args=[*NOBODY_LOCAL, *STATS]) as gw:
        gw.wait_log(r"access: calls accepted from 192\.0\.2\.1$", 2)
        result = run_sipp(
            ["-sf", scenario("uac_refused.xml"), gw.target, "-s", "echo", "-m", "5", "-r", "20"],
            timeout=20,
            cwd=tmp_workdir / "sipp",
        )
        result.assert_ok(successful=5)
        # Each 403 was acknowledged: one per INVITE, none retransmitted.
        assert len(result.received(r"^SIP/2.0 403")) == 5
        stats = latest_stats(gw, after=len(gw.log_lines()))
        assert stats["refused"] == 5 and stats["calls_total"] == 0
        assert stats["calls"] == 0 and stats["rtp_ports_in_use"] == 0
        log = gw.log_text()
        # Five refusals from one source: one log line (no flood), no call, no agent.
        refusals = re.findall(r"access: refused INVITE from 127\.0\.0\.1:\d+ .*", log)
        assert len(refusals) == 1, log
        assert "source not allowed, 403" in refusals[0]
        assert "incoming call" not in log and "answered on RTP port" not in log
        assert gw.stop() == 0


def test_baresip_with_the_inbound_credentials_is_challenged_and_heard(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    with (
        GatewayProcess(tmp_workdir, extra_args=STATS, extra_env=INBOUND) as gw,
        Baresip(
            tmp_workdir, "alice", user="alice", source_wav=source,
            account_params=f"auth_user=alice;auth_pass={INBOUND_PASSWORD}",
        ) as caller,
    ):  # fmt: skip
        gw.wait_log(r"access: calls accepted with digest credentials \(realm 'sip'\)$", 2)
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(2.5)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended: remote-bye", 5)
        heard, _ = caller.recordings()
        stats = latest_stats(gw, after=len(gw.log_lines()))
        assert stats["challenged"] == 1 and stats["refused"] == 0 and stats["calls_total"] == 1
        assert INBOUND_PASSWORD not in gw.log_text()
        assert gw.stop() == 0
    assert_echo(analyse(heard), 1000, -9.0, min_span=1.2)


def test_baresip_with_a_wrong_password_gets_403(tmp_workdir: Path) -> None:
    with (
        GatewayProcess(tmp_workdir, extra_args=[*NOBODY_LOCAL, *STATS], extra_env=INBOUND) as gw,
        Baresip(
            tmp_workdir, "mallory", user="alice", account_params="auth_user=alice;auth_pass=guess"
        ) as caller,
    ):
        caller.dial(gw.uri())
        closed = caller.wait_event("CALL_CLOSED", 5)
        assert "403" in closed["param"], closed
        line = gw.wait_log(r"access: refused INVITE from 127\.0\.0\.1:\d+ .*", 3)[0]
        assert "user 'alice'" in line and "wrong credentials, 403" in line
        stats = latest_stats(gw, after=len(gw.log_lines()))
        assert stats["challenged"] == 1 and stats["refused"] == 1
        assert stats["calls_total"] == 0 and stats["rtp_ports_in_use"] == 0
        assert "guess" not in gw.log_text() and INBOUND_PASSWORD not in gw.log_text()
        assert gw.stop() == 0


def test_the_assistant_with_nothing_configured_refuses_everyone_and_says_what_to_add(
    tmp_workdir: Path,
) -> None:
    """Issue 21: with no access settings, ``--agent assistant`` accepted every INVITE (a paid
    STT, LLM and TTS session each) and said so only at INFO. Closed by default now: the
    softphone's call is refused (403, no session opened), the start-up line says so at
    WARNING and what to add, the refusal line names the ``--allow-from`` that admits that
    phone; with it (the Quickstart's second command), the same phone is answered."""
    with fakes_in_threads(tmp_workdir, {"Hi there": 500}) as fakes:
        with (
            GatewayProcess(tmp_workdir, agent="assistant", extra_env=fakes.env,
                           extra_args=STATS) as gw,
            Baresip(tmp_workdir, "a", user="a") as caller,
        ):  # fmt: skip
            startup = gw.wait_log(r"WARNING +sipgw +(access: .*)", 2)[1]
            assert "every SIP call is refused (403); no other leg takes calls" in startup
            assert "--allow-from" in startup
            caller.dial(gw.uri())
            closed = caller.wait_event("CALL_CLOSED", 5)
            assert "403" in closed["param"], closed
            line = gw.wait_log(r"access: refused INVITE from 127\.0\.0\.1:\d+ .*", 3)[0]
            assert line.endswith("source not allowed, 403 (to take calls from there: "
                                 "--allow-from 127.0.0.1)"), line  # fmt: skip
            stats = latest_stats(gw, after=len(gw.log_lines()))
            assert stats["refused"] == 1 and stats["calls_total"] == 0
            assert fakes.stt.connection_attempts == 0 and gw.stop() == 0
        with (
            GatewayProcess(tmp_workdir, name="gateway-2", agent="assistant",
                           allow_from="127.0.0.1", extra_env=fakes.env) as gw,
            Baresip(tmp_workdir, "b", user="b") as caller,
        ):  # fmt: skip
            gw.wait_log(r"INFO +sipgw +access: calls accepted from 127\.0\.0\.1$", 2)
            caller.dial(gw.uri())
            caller.wait_event("CALL_ESTABLISHED", 5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            assert len(fakes.stt.sessions) == 1 and gw.stop() == 0


def test_the_echo_agent_with_nothing_configured_answers_this_host_and_says_so(
    tmp_workdir: Path,
) -> None:
    """The echo agent spends nothing: the Quickstart's ``scripts/serve`` answers a softphone
    on this host (or the LAN) at once, and the start-up line says who may call (this host
    and private networks; the internet is refused: tests/interop/test_default_serve.py)
    and how to open it."""
    with (
        GatewayProcess(tmp_workdir) as gw,
        Baresip(tmp_workdir, "a", user="a") as caller,
    ):
        line = gw.wait_log(r"INFO +sipgw +(access: .*)", 2)[1]
        assert "answers calls from this host and private networks only" in line
        assert "--allow-from any" in line
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        assert gw.stop() == 0
