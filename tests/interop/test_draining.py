"""Draining on SIGTERM, against a real ``sipgw serve`` process and baresip.

The first SIGTERM turns new INVITEs and OPTIONS probes away with 503 while the running
call goes on; the process exits 0 once that call ends (or the drain limit passes). A
second SIGTERM ends every call at once with BYE.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.healthcheck import probe
from sipgw.testing.audio import analyse
from sipgw.testing.gateway_process import GatewayProcess
from sipgw.testing.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


def sigterm(gw: GatewayProcess) -> None:
    assert gw.process is not None
    gw.process.send_signal(signal.SIGTERM)


def test_sigterm_drains_new_calls_503_running_call_goes_on(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    with (
        GatewayProcess(tmp_workdir) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 30, -9.0)) as caller,
        Baresip(tmp_workdir, "b", user="b") as late,
    ):
        assert probe(gw.sip_host, gw.sip_port) == 200
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(0.5)
        sigterm(gw)
        gw.wait_log(r"draining: new calls get 503", 5)
        assert probe(gw.sip_host, gw.sip_port) == 503  # the dispatcher's probe
        late.dial(gw.uri())
        refused = late.wait_event("CALL_CLOSED", 5)
        assert "503" in refused["param"], refused
        time.sleep(2.5)  # the running call goes on, echoing
        assert gw.process is not None and gw.process.wait(0.1) is None
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended: remote-bye", 5)
        assert gw.process.wait(10) == 0
        heard, _ = caller.recordings()
    report = analyse(heard)
    assert report.active_seconds >= 2.5, report.describe()  # echo heard after the SIGTERM
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5
    assert "Traceback" not in gw.log_text()


def test_second_sigterm_ends_calls_with_bye_at_once(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    with (
        GatewayProcess(tmp_workdir) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000)) as caller,
    ):
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        sigterm(gw)
        gw.wait_log(r"draining", 5)
        time.sleep(1.0)
        assert not [e for e in caller.events if e.get("type") == "CALL_CLOSED"]
        t0 = time.monotonic()
        assert gw.stop(signal.SIGTERM, timeout=10) == 0
        closed = caller.wait_event("CALL_CLOSED", 3)
        assert closed["param"] == "Connection reset by peer", closed  # our BYE
        assert closed["received_at"] - t0 < 3.0
    assert "Traceback" not in gw.log_text()


def test_drain_limit_hangs_up_what_is_left(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    with (
        GatewayProcess(tmp_workdir, extra_args=["--drain-seconds", "1.5"]) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000)) as caller,
    ):
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        t0 = time.monotonic()
        sigterm(gw)
        closed = caller.wait_event("CALL_CLOSED", 6)
        assert closed["param"] == "Connection reset by peer", closed
        assert 1.3 <= closed["received_at"] - t0 <= 4.0
        assert gw.process is not None and gw.process.wait(10) == 0
    assert "Traceback" not in gw.log_text()
