"""The Kamailio dispatcher config we ship (``docker/kamailio/``) in front of two gateways.

Kamailio runs ``docker/kamailio/kamailio.cfg`` itself, with its address, list file and
(shorter) probe timers given as ``-A`` defines; the list is rendered from
``dispatcher.list.template``. baresip calls go through it to two ``sipgw serve`` processes.
"""

from __future__ import annotations

import signal
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.testing.gateway_process import GatewayProcess
from sipgw.testing.peers.baresip import Baresip
from sipgw.testing.ports import free_port, udp_port_bound
from sipgw.testing.process import ManagedProcess, PeerError

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
SHIPPED = Path(__file__).resolve().parents[2] / "docker" / "kamailio"


def start_dispatcher(workdir: Path, gateways: list[GatewayProcess]) -> tuple[ManagedProcess, int]:
    """Kamailio with the shipped config and list template; returns it and its SIP port."""
    template = string.Template((SHIPPED / "dispatcher.list.template").read_text())
    listing = workdir / "dispatcher.list"
    listing.write_text(
        template.substitute(
            GATEWAY_HOST="127.0.0.1",
            GATEWAY_1_PORT=gateways[0].sip_port,
            GATEWAY_2_PORT=gateways[1].sip_port,
        )
    )
    port = free_port()
    run = workdir / "kamailio-run"
    run.mkdir()
    argv = [
        "kamailio", "-DD", "-E", "-f", str(SHIPPED / "kamailio.cfg"),
        "-A", f"LISTEN=udp:127.0.0.1:{port}", "-A", f'DISPATCHER_LIST="{listing}"',
        "-A", "PROBE_INTERVAL=1", "-A", "PROBE_TIMEOUT=800", "-A", "INVITE_TIMEOUT=800",
        "-Y", str(run), "-P", str(run / "kamailio.pid"), "-m", "32", "-M", "4",
    ]  # fmt: skip
    kam = ManagedProcess("kamailio-dispatcher", argv, log_path=workdir / "kamailio.log",
                         lifetime=110, capture="lines")  # fmt: skip
    kam.start()
    deadline = time.monotonic() + 10
    while not udp_port_bound(port):
        if not kam.alive or time.monotonic() > deadline:
            raise PeerError(f"kamailio did not start\n{kam.log_tail()}")
        time.sleep(0.05)
    return kam, port


def dispatched_to(kam: ManagedProcess, gw: GatewayProcess) -> int:
    """How many calls Kamailio sent to ``gw`` (first choice or failover)."""
    target = f"-> sip:127.0.0.1:{gw.sip_port}"
    return sum(1 for line in kam.log_text().splitlines() if target in line)


def call(phone: Baresip, uri: str) -> None:
    phone.dial(uri)
    phone.wait_event("CALL_ESTABLISHED", 8)


def test_drain_one_gateway_while_calls_run(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    tone = tone_wav(1000, 30, -9.0)
    with (
        GatewayProcess(tmp_workdir, name="gw1") as gw1,
        GatewayProcess(tmp_workdir, name="gw2") as gw2,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone) as a,
        Baresip(tmp_workdir, "b", user="b", source_wav=tone) as b,
        Baresip(tmp_workdir, "c", user="c", source_wav=tone) as c,
        Baresip(tmp_workdir, "d", user="d", source_wav=tone) as d,
    ):
        kam, port = start_dispatcher(tmp_workdir, [gw1, gw2])
        try:
            time.sleep(1.5)  # the first probes mark both gateways up
            uri = f"sip:agent@127.0.0.1:{port}"
            call(a, uri)
            call(b, uri)
            assert dispatched_to(kam, gw1) == 1 and dispatched_to(kam, gw2) == 1  # round-robin
            assert gw1.process is not None
            gw1.process.send_signal(signal.SIGTERM)
            gw1.wait_log(r"draining: new calls get 503", 5)
            call(c, uri)  # at once: the 503 fails over
            time.sleep(1.5)  # a probe got 503: gw1 is out of the rotation
            call(d, uri)
            time.sleep(1.0)  # the drained gateway's call is still up
            for phone in (a, b, c, d):
                assert not [e for e in phone.events if e.get("type") == "CALL_CLOSED"], phone.name
                phone.hangup()
                phone.wait_event("CALL_CLOSED", 5)
            assert gw1.process.wait(10) == 0  # its last call ended: it exits
            assert dispatched_to(kam, gw2) == 3
            assert gw2.log_text().count("call ended: remote-bye") == 3
            assert gw1.log_text().count("call ended: remote-bye") == 1
        finally:
            kam.send_signal(signal.SIGTERM)
            if kam.wait(5) is None:
                kam.kill()
    assert "Traceback" not in gw1.log_text() + gw2.log_text()


def test_killed_gateway_calls_fail_over(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    tone = tone_wav(1000, 30, -9.0)
    with (
        GatewayProcess(tmp_workdir, name="gw1") as gw1,
        GatewayProcess(tmp_workdir, name="gw2") as gw2,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone) as a,
        Baresip(tmp_workdir, "b", user="b", source_wav=tone) as b,
    ):
        kam, port = start_dispatcher(tmp_workdir, [gw1, gw2])
        try:
            time.sleep(1.5)
            assert gw1.process is not None
            gw1.process.kill()  # SIGKILL: no 503, no answer at all
            uri = f"sip:agent@127.0.0.1:{port}"
            call(a, uri)  # whichever was next, both calls end up on gw2
            call(b, uri)
            assert gw2.log_text().count("incoming call from") == 2
            for phone in (a, b):
                phone.hangup()
                phone.wait_event("CALL_CLOSED", 5)
        finally:
            kam.send_signal(signal.SIGTERM)
            if kam.wait(5) is None:
                kam.kill()
