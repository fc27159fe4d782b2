"""Draining on SIGTERM or ``POST /api/drain``, against a real ``sipgw serve`` process,
baresip, and Kamailio as the registrar.

The first SIGTERM (or the admin API) turns new INVITEs and OPTIONS probes away with 503
and unregisters the accounts while the running call goes on; the process exits 0 once
that call ends, or once the drain limit passes and the agent has said its goodbye line.
A second SIGTERM ends every call at once with BYE.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.healthcheck import probe
from tests.toolkit.canaries import (
    ADMIN_TOKEN,
    SIP_PASSWORD,
)
from tests.toolkit.fakes.threaded import fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.wire import UdpCapture

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


GREETING_HZ, GOODBYE_HZ = 500, 1100


def admin(
    port: int, method: str, path: str, body: object = None, token: str | None = ADMIN_TOKEN
) -> tuple[int, Any]:
    """One admin API request on loopback with the bearer ``token``; status and JSON body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def echoing(gw: GatewayProcess, caller: Baresip) -> UdpCapture:
    """The RTP the gateway sends the caller, on the wire (started before the call)."""
    calls = caller.rtp_port_range
    return UdpCapture([], [(calls.start, calls.stop - 1)])


def assert_echo_went_on(wire: UdpCapture, gw: GatewayProcess, since: float, until: float) -> None:
    """The call went on echoing: its RTP from the gateway reached the caller on the wire 2 s
    after ``since`` (the drain began) and before ``until`` (the caller hung up), times on
    ``time.time()``'s clock. The wire, not the caller's recording: a starved phone records
    less than it was sent."""
    ours = range(gw.rtp_ports.lo, gw.rtp_ports.hi + 1)
    sent = [d.at for d in wire.datagrams()
            if d.src_port in ours and len(d.data) > 12 and d.data[1] & 0x7F == 0]  # fmt: skip
    assert sent, "no echo at all"
    assert any(since + 2.0 <= at <= until for at in sent), (since, until, sent[-5:])


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
        with echoing(gw, caller) as wire:
            caller.dial(gw.uri())
            caller.wait_event("CALL_ESTABLISHED", 5)
            time.sleep(0.5)
            drained = time.time()
            sigterm(gw)
            gw.wait_log(r"draining: new calls get 503", 5)
            assert probe(gw.sip_host, gw.sip_port) == 503  # the dispatcher's probe
            late.dial(gw.uri())
            refused = late.wait_event("CALL_CLOSED", 5)
            assert "503" in refused["param"], refused
            time.sleep(2.5)  # the running call goes on, echoing
            assert gw.process is not None and gw.process.wait(0.1) is None
            hung_up = time.time()
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
        assert_echo_went_on(wire, gw, drained, hung_up)
        gw.wait_log(r"call ended: remote-bye", 5)
        assert gw.process.wait(10) == 0
        heard, _ = caller.recordings()
    report = analyse(heard)
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5  # the echo
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


def test_admin_api_drain_running_call_goes_on_new_call_503(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    port = free_port()
    with (
        GatewayProcess(
            tmp_workdir,
            extra_args=["--admin-port", str(port)],
            extra_env={"SIPGW_ADMIN_TOKEN": ADMIN_TOKEN},  # never on the command line
        ) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 30, -9.0)) as caller,
        Baresip(tmp_workdir, "b", user="b") as late,
    ):
        gw.wait_log(r"admin listening on", 5)
        assert admin(port, "GET", "/api/ready")[0] == 200
        with echoing(gw, caller) as wire:
            caller.dial(gw.uri())
            caller.wait_event("CALL_ESTABLISHED", 5)
            time.sleep(0.5)
            status, _ = admin(port, "POST", "/api/drain", {"seconds": 60}, token=None)
            assert status == 401  # the token is set: without it, no drain
            status, _ = admin(port, "POST", "/api/drain", {"seconds": 60}, token="wrong")
            assert status == 401
            assert admin(port, "GET", "/api/drain")[1]["draining"] is False
            drained = time.time()
            status, state = admin(port, "POST", "/api/drain", {"seconds": 60})
            assert status == 202, state
            assert state["draining"] and state["seconds"] == 60 and state["calls_left"] == 1
            gw.wait_log(r"draining: new calls get 503.*started by admin", 5)
            status, ready = admin(port, "GET", "/api/ready")
            assert status == 503 and ready["reason"] == "draining"
            assert probe(gw.sip_host, gw.sip_port) == 503
            late.dial(gw.uri())
            refused = late.wait_event("CALL_CLOSED", 5)
            assert "503" in refused["param"], refused
            time.sleep(2.5)  # the running call goes on, echoing
            assert gw.process is not None and gw.process.wait(0.1) is None
            assert admin(port, "GET", "/api/drain")[1]["calls_left"] == 1
            hung_up = time.time()
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
        assert_echo_went_on(wire, gw, drained, hung_up)
        gw.wait_log(r"call ended: remote-bye", 5)
        assert gw.process.wait(10) == 0  # then it exits, as after SIGTERM
        heard, _ = caller.recordings()
    report = analyse(heard)
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5
    assert "Traceback" not in gw.log_text()


@contextmanager
def fake_services(tmp_workdir: Path) -> Iterator[dict[str, str]]:
    """The three fake cloud services in threads; yields the assistant's environment.
    The fake TTS speaks the greeting as a 500 Hz tone, anything with "goodbye" at 1100 Hz."""
    tones = {"Hi there": GREETING_HZ, "goodbye": GOODBYE_HZ}
    with fakes_in_threads(tmp_workdir, tones) as fakes:
        yield fakes.env


def test_drain_limit_the_assistant_says_goodbye_before_the_bye(tmp_workdir: Path) -> None:
    with fake_services(tmp_workdir) as env:
        with (
            GatewayProcess(
                tmp_workdir,
                agent="assistant",
                allow_from="127.0.0.0/8",
                extra_env=env,
                extra_args=["--drain-seconds", "2"],
            ) as gw,
            Baresip(tmp_workdir, "a", user="a") as caller,
        ):
            caller.dial(gw.uri("agent"))
            established = caller.wait_event("CALL_ESTABLISHED", 5)
            time.sleep(2.0)  # the greeting plays
            sigterm(gw)
            sigterm_at = time.monotonic()
            closed = caller.wait_event("CALL_CLOSED", 20)
            assert closed["param"] == "Connection reset by peer", closed  # our BYE
            assert closed["received_at"] - sigterm_at >= 2.0 + 1.0  # limit, then the line
            gw.wait_log(r"goodbye played on 1 of 1 call", 5)
            assert gw.process is not None and gw.process.wait(10) == 0
            heard, _ = caller.recordings()
    report = analyse(heard)
    greeting_end = sigterm_at - established["received_at"]  # recording time of the SIGTERM
    greeting = report.slice(0, greeting_end)
    assert greeting.dominant_hz is not None and abs(greeting.dominant_hz - GREETING_HZ) <= 5
    quiet_drain = report.slice(greeting_end + 0.2, greeting_end + 1.8)
    assert quiet_drain.active_seconds < 0.2, quiet_drain.describe()  # no goodbye yet
    end = report.duration
    last = report.slice(end - 1.2, end)  # the last audio before the BYE is the goodbye line
    assert last.active_seconds >= 0.8 and last.fraction_at(GOODBYE_HZ, length=1.0) > 0.8, (
        last.describe()
    )
    record = [json.loads(x) for x in next((tmp_workdir / "calls").glob("*.jsonl")).open()]
    assert [x["text"] for x in record if x["type"] == "goodbye"] == [
        "We need to end this call now. Please call back in a moment. Goodbye."
    ]
    assert "Traceback" not in gw.log_text()


def test_second_sigterm_during_the_goodbye_ends_the_call_at_once(tmp_workdir: Path) -> None:
    long_goodbye = "We are closing for maintenance, goodbye and thank you. " * 6  # ~6.6 s
    with fake_services(tmp_workdir) as env:
        with (
            GatewayProcess(
                tmp_workdir,
                agent="assistant",
                allow_from="127.0.0.0/8",
                extra_env={**env, "SIPGW_DRAIN_GOODBYE": long_goodbye},
                extra_args=["--drain-seconds", "1"],
            ) as gw,
            Baresip(tmp_workdir, "a", user="a") as caller,
        ):
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            time.sleep(1.0)
            sigterm(gw)
            gw.wait_log(r"drain limit reached: 1 call\(s\) say goodbye", 5)
            time.sleep(1.5)  # the line is playing
            assert not [e for e in caller.events if e.get("type") == "CALL_CLOSED"]
            t0 = time.monotonic()
            sigterm(gw)
            closed = caller.wait_event("CALL_CLOSED", 5)
            assert closed["param"] == "Connection reset by peer", closed  # our BYE
            assert closed["received_at"] - t0 < 2.0  # not after the rest of the line
            gw.wait_log(r"goodbye played on 0 of 1 call", 5)
            assert gw.process is not None and gw.process.wait(10) == 0
            heard, _ = caller.recordings()
    report = analyse(heard)
    tail = report.slice(report.duration - 1.0)
    assert tail.fraction_at(GOODBYE_HZ, length=0.8) > 0.8, tail.describe()  # cut mid-line
    assert "Traceback" not in gw.log_text()


def test_drain_unregisters_at_its_start_while_the_call_runs(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    with Kamailio(tmp_workdir, users={"sipgw": SIP_PASSWORD}, transports=("udp",)) as kam:
        with (
            GatewayProcess(
                tmp_workdir,
                extra_args=["--register", kam.aor("sipgw")],
                extra_env={"SIPGW_AUTH_PASSWORD": SIP_PASSWORD},
            ) as gw,
            Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 30, -9.0)) as caller,
        ):
            kam.wait_registered("sipgw")
            with echoing(gw, caller) as wire:
                caller.dial(kam.aor("sipgw"))
                caller.wait_event("CALL_ESTABLISHED", 10)
                time.sleep(0.5)
                drained = time.time()
                sigterm(gw)
                gw.wait_log(r"draining: new calls get 503, accounts unregister", 5)
                gw.wait_log(r"unregistered sip:sipgw@", 5)
                assert "sipgw" not in kam.registrations()  # the registrar sends no new calls
                time.sleep(2.0)
                assert not [e for e in caller.events if e.get("type") == "CALL_CLOSED"]
                assert gw.process is not None and gw.process.wait(0.1) is None  # draining
                hung_up = time.time()
                caller.hangup()
                caller.wait_event("CALL_CLOSED", 5)
            assert_echo_went_on(wire, gw, drained, hung_up)  # the echo went on unregistered
            assert gw.process.wait(10) == 0
    assert "Traceback" not in gw.log_text()
