"""SRTP (SDES) against a real baresip with ``mediaenc=srtp-mand``: echoed tone, and policy."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.tls import make_ca, make_server_cert
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
SRTP_CALLER = {"mediaenc": "srtp-mand"}


def check_echoed_srtp_call(gw: GatewayProcess, caller: Baresip, target: str) -> None:
    """Dial, let the echo play for 2.5 s, hang up: the tone came back, SRTP both ways."""
    caller.dial(target)
    caller.wait_event("CALL_ESTABLISHED", 5)
    time.sleep(2.5)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 5)
    gw.wait_log(r"media stats:", 5)
    heard, _ = caller.recordings()
    assert gw.stop() == 0
    report = analyse(heard)
    desc = report.describe()
    # baresip only decodes what it could decrypt, and the gateway only echoes what it could.
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5, desc
    assert report.fraction_at(1000) > 0.9 and report.active_seconds >= 1.5, desc
    log = gw.log_text()
    assert re.search(r"media: PCMU/0 .*, SRTP AES_CM_128_HMAC_SHA1_(80|32)", log), log
    match = re.search(r"SRTP protected (\d+), unprotected (\d+), dropped (\d+)", log)
    assert match is not None, log
    protected, unprotected, dropped = map(int, match.groups())
    assert protected > 100 and unprotected > 100 and dropped == 0, log
    wait_for(lambda: sdes_logged(caller), 10, caller.log_tail)  # baresip's log may lag


def sdes_logged(caller: Baresip) -> bool:
    """The caller's SIP trace shows its SDES-SRTP offer (RTP/SAVP with a=crypto)."""
    caller_log = caller.log_path.read_text(errors="replace")
    return "RTP/SAVP" in caller_log and "a=crypto:" in caller_log


def test_srtp_call_over_tls_by_default(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """The issue's case (Twilio secure trunking): TLS signalling, SRTP media, default policy."""
    ca = make_ca(tmp_workdir / "pki")
    cert = make_server_cert(ca, tmp_workdir / "pki", "gateway")
    tls = {
        "SIPGW_TRANSPORTS": "udp,tls",
        "SIPGW_TLS_PORT": "0",
        "SIPGW_TLS_CERT": str(cert.cert),
        "SIPGW_TLS_KEY": str(cert.key),
    }
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    with (
        GatewayProcess(tmp_workdir, extra_env=tls) as gw,
        Baresip(
            tmp_workdir,
            "a",
            user="a",
            source_wav=source,
            tls_ca=ca.cert,
            **SRTP_CALLER,  # type: ignore[arg-type]
        ) as caller,
    ):
        check_echoed_srtp_call(gw, caller, f"sip:echo@127.0.0.1:{gw.tls_port};transport=tls")
    assert "SIP/2.0/TLS" in caller.log_path.read_text(errors="replace")


def test_srtp_call_over_udp_when_the_operator_allows_it(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    with (
        GatewayProcess(tmp_workdir, extra_env={"SIPGW_SRTP": "allow-insecure"}) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=source, **SRTP_CALLER) as caller,  # type: ignore[arg-type]
    ):
        check_echoed_srtp_call(gw, caller, gw.uri())


def test_srtp_offer_over_udp_is_refused_by_default(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    with (
        GatewayProcess(tmp_workdir) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000), **SRTP_CALLER) as caller,  # type: ignore[arg-type]
    ):
        caller.dial(gw.uri())
        closed = caller.wait_event("CALL_CLOSED", 5)
        assert "488" in str(closed.get("param")), closed
        time.sleep(0.3)
        assert gw.stop() == 0
    log = gw.log_text()
    assert "incoming call" not in log and "answered on RTP port" not in log, log  # no agent
