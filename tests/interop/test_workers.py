"""``sipgw serve --workers 2`` as a real process tree, called by baresip.

The parent starts two workers on SIP ports P and P+1 with halves of the RTP range; both
answer OPTIONS and echo a call; a worker killed with SIGKILL is restarted on its port;
SIGTERM to the parent drains both (a running call goes on) and the parent exits 0.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.healthcheck import probe
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
STARTED = r"worker {n} started \(pid (\d+), SIP port (\d+), RTP ports (\d+)-(\d+)\)"


def workers(gw: GatewayProcess, n: int) -> list[tuple[int, int, int, int]]:
    """(pid, SIP port, RTP low, RTP high) of each start of worker ``n`` so far."""
    found = re.findall(STARTED.format(n=n), gw.log_text())
    return [tuple(int(x) for x in match) for match in found]  # type: ignore[misc]


def wait_ready(gw: GatewayProcess, n: int, times: int, timeout: float = 15.0) -> None:
    """Wait until worker ``n`` printed its ``listening on udp`` line ``times`` times."""
    deadline = time.monotonic() + timeout
    while gw.log_text().count(f"worker {n}: listening on udp:") < times:
        assert time.monotonic() < deadline, gw.log_tail()
        time.sleep(0.1)


def test_two_workers_answer_restart_and_drain(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    base = free_port(span=2)
    tone = tone_wav(1000, 30, -9.0)
    with (
        GatewayProcess(
            tmp_workdir, rtp_port_count=80, extra_args=["--workers", "2", "--sip-port", str(base)]
        ) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone) as a,
        Baresip(tmp_workdir, "b", user="b", source_wav=tone) as b,
    ):
        wait_ready(gw, 2, 1)
        [(pid1, port1, lo1, hi1)] = workers(gw, 1)
        [(pid2, port2, lo2, hi2)] = workers(gw, 2)
        assert (port1, port2) == (base, base + 1)
        assert (lo1, hi2) == (gw.rtp_ports.lo, gw.rtp_ports.hi)  # two halves, disjoint
        assert hi1 + 1 == lo2 and hi1 - lo1 == hi2 - lo2 and lo2 % 2 == 0
        assert probe("127.0.0.1", port1) == 200 and probe("127.0.0.1", port2) == 200
        # each worker prints its banner on its own schedule: wait for both lines
        wait_for(lambda: re.search(rf"w1 sipgw agent echo, .*RTP ports {lo1}-{hi1}", gw.log_text()),
                 10, gw.log_tail)  # fmt: skip
        wait_for(lambda: re.search(rf"w2 sipgw agent echo, .*RTP ports {lo2}-{hi2}", gw.log_text()),
                 10, gw.log_tail)  # fmt: skip

        # A crashed worker comes back on its port; the other one is untouched.
        os.kill(pid1, signal.SIGKILL)
        gw.wait_log(rf"worker 1 \(pid {pid1}\) exited: killed by SIGKILL; restarting it in 1s", 5)
        wait_ready(gw, 1, 2)
        [_, (new_pid1, again, _, _)] = workers(gw, 1)
        assert new_pid1 != pid1 and again == base and len(workers(gw, 2)) == 1

        a.dial(f"sip:echo@127.0.0.1:{port1}")
        b.dial(f"sip:echo@127.0.0.1:{port2}")
        a.wait_event("CALL_ESTABLISHED", 8)
        b.wait_event("CALL_ESTABLISHED", 8)
        time.sleep(2.5)
        a.hangup()
        a.wait_event("CALL_CLOSED", 5)

        # SIGTERM drains both workers: b's call goes on until b hangs up.
        assert gw.process is not None
        gw.process.send_signal(signal.SIGTERM)
        gw.wait_log(r"SIGTERM: forwarding it to 2 worker\(s\)", 5)
        gw.wait_log(r"w2 sipgw draining: new calls get 503", 5)
        assert probe("127.0.0.1", port2) == 503
        time.sleep(2.0)
        assert gw.process.wait(0.1) is None
        b.hangup()
        b.wait_event("CALL_CLOSED", 5)
        assert gw.process.wait(15) == 0
        heard_a, _ = a.recordings()
        heard_b, _ = b.recordings()
    for heard in (heard_a, heard_b):  # each worker echoed its call
        report = analyse(heard)
        assert report.active_seconds >= 1.5, report.describe()
        assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5
    assert re.search(rf"worker 2 \(pid {pid2}\) exited: exit status 0", gw.log_text())
    assert re.search(r"all workers exited$", gw.log_text(), re.M)
    assert "Traceback" not in gw.log_text()


def test_a_worker_that_cannot_start_stops_the_parent(tmp_workdir: Path) -> None:
    base = free_port(span=2)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", base + 1))  # worker 2's SIP port is taken
    try:
        gw = GatewayProcess(tmp_workdir, extra_args=["--workers", "2", "--sip-port", str(base)])
        with gw:  # worker 1 starts and prints its line; the parent then gives up
            assert gw.process is not None
            assert gw.process.wait(20) == 1
        text = gw.log_text()
    finally:
        blocker.close()
    assert text.count(f"cannot listen on udp:127.0.0.1:{base + 1}") == 1
    assert "worker 2 did not start (exit status 1)" in text
    assert re.search(r"w1 sipgw shutting down", text)  # worker 1 was stopped, not left behind
    assert "Traceback" not in text


def test_a_second_sigterm_is_forwarded_and_ends_the_calls(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    base = free_port(span=2)
    with (
        GatewayProcess(
            tmp_workdir, rtp_port_count=80, extra_args=["--workers", "2", "--sip-port", str(base)]
        ) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 30, -9.0)) as a,
    ):
        wait_ready(gw, 2, 1)
        a.dial(f"sip:echo@127.0.0.1:{base + 1}")
        a.wait_event("CALL_ESTABLISHED", 8)
        assert gw.process is not None
        gw.process.send_signal(signal.SIGTERM)
        gw.wait_log(r"w2 sipgw draining: new calls get 503", 5)
        time.sleep(0.5)
        assert not [e for e in a.events if e.get("type") == "CALL_CLOSED"]
        gw.process.send_signal(signal.SIGTERM)
        gw.wait_log(r"SIGTERM: forwarding it to [12] worker\(s\) \(again: end calls now\)", 5)
        a.wait_event("CALL_CLOSED", 5)  # the worker's BYE
        assert gw.process.wait(10) == 0
    assert re.search(r"w2 sipgw shutting down: ending 1 call\(s\)", gw.log_text())
    assert "Traceback" not in gw.log_text()
