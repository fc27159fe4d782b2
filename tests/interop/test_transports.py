"""baresip calls the echo gateway over TCP and over TLS: echo heard, BYE on the same connection."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_echo_gateway import assert_echo
from tests.tls_ca import CaFiles, make_test_ca
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def gateway(workdir: Path, ca: CaFiles, *extra: str) -> GatewayProcess:
    return GatewayProcess(
        workdir,
        extra_args=[
            "--transports", "udp,tcp,tls", "--tls-port", "0",
            "--tls-cert", str(ca.cert), "--tls-key", str(ca.key), "--tls-ca", str(ca.ca_cert),
            "--log-level", "DEBUG", *extra,
        ],
    )  # fmt: skip


def target(gw: GatewayProcess, transport: str) -> str:
    if transport == "tls":
        return f"sip:echo@127.0.0.1:{gw.tls_port};transport=tls"
    return f"sip:echo@127.0.0.1:{gw.sip_port};transport=tcp"


def connection_ports(log: str, transport: str, what: str) -> set[int]:
    """The peer ports of the connections on which the gateway sent or received ``what``."""
    rx = rf"(?:recv|send) {transport}:127\.0\.0\.1:(\d+) b'{what}"
    return {int(port) for port in re.findall(rx, log)}


@pytest.mark.parametrize(
    ("transport", "who_hangs_up"), [("tcp", "caller"), ("tls", "gateway")], ids=["tcp", "tls"]
)
def test_baresip_call_over_a_stream(
    tmp_workdir: Path, tone_wav: ToneWav, test_ca: CaFiles, transport: str, who_hangs_up: str
) -> None:
    """Each stream transport, and each side's BYE (one on each: the connection the BYE goes
    over is chosen alike for TCP and TLS)."""
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    limit = ["--max-call-seconds", "3"] if who_hangs_up == "gateway" else []
    with (
        gateway(tmp_workdir, test_ca, *limit) as gw,
        Baresip(
            tmp_workdir, "a", user="a", source_wav=source,
            extra_config={"sip_cafile": str(test_ca.ca_cert)},
        ) as caller,
    ):  # fmt: skip
        caller.dial(target(gw, transport))
        caller.wait_event("CALL_ESTABLISHED", 5)
        if who_hangs_up == "caller":
            time.sleep(2.5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended: remote-bye", 5)
        else:
            caller.wait_event("CALL_CLOSED", 8)  # our BYE
            gw.wait_log(r"call ended: local-bye", 2)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
        log = gw.log_text()
    assert_echo(analyse(heard), 1000, -9.0, min_span=1.2)
    wire = transport  # the log names the transport in lower case
    invite_on = connection_ports(log, wire, "INVITE")
    bye_on = connection_ports(log, wire, "BYE")
    assert len(invite_on) == 1, invite_on
    # The BYE, from either side, went over the connection the INVITE came on (not a new one
    # to baresip's listening port), and nothing went over UDP.
    assert bye_on == invite_on, (invite_on, bye_on)
    assert caller.sip_port not in invite_on
    assert "send udp:" not in log
