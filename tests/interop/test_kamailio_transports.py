"""The same calls through a real Kamailio over UDP, TCP and TLS (and SRTP over TLS).

Inbound: the gateway registers to Kamailio over the transport (``--registrar
sip:HOST:PORT;transport=X``), Kamailio's location table has it on that transport, and a baresip
calls the gateway's AOR through Kamailio, which reaches the gateway over the registration's flow
(the same TCP/TLS connection): the echo agent's echo is heard. Outbound: ``Gateway.place_call``
with Kamailio as the outbound proxy over the transport (407 challenge answered), to a registered
baresip, audio both ways. Over TLS, with baresips that insist on SRTP (``mediaenc=srtp-mand``),
both calls use SRTP end to end (RTP/SAVP answered and offered by the gateway).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.agents import find_agent
from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.settings import GatewayConfig
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.foundation.settings import Sources
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.tls import CertificateAuthority, ServerCertificate, make_ca, make_server_cert

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
TRANSPORTS = ["udp", "tcp", "tls"]
USER, PASSWORD = "sipgw", SIP_PASSWORD
USERS = {USER: PASSWORD, "bob": "bob-pw", "caller": "caller-pw"}


class Pki:
    """One test CA; Kamailio's and the gateway's certificates signed by it."""

    def __init__(self, workdir: Path) -> None:
        self.ca: CertificateAuthority = make_ca(workdir / "pki")
        self.kamailio: ServerCertificate = make_server_cert(self.ca, workdir / "pki", "kamailio")
        self.gateway: ServerCertificate = make_server_cert(self.ca, workdir / "pki", "gateway")


def kamailio(workdir: Path, pki: Pki, **options: object) -> Kamailio:
    return Kamailio(workdir, users=USERS, tls_cert=pki.kamailio, **options)  # type: ignore[arg-type]


def registering_gateway(workdir: Path, kam: Kamailio, pki: Pki, transport: str) -> GatewayProcess:
    """The gateway (echo agent) registering ``USER`` at ``kam`` over ``transport``."""
    return GatewayProcess(
        workdir,
        extra_args=["--register", kam.aor(USER), "--registrar", kam.uri(transport=transport)],
        extra_env={
            "SIPGW_AUTH_PASSWORD": PASSWORD,
            "SIPGW_TRANSPORTS": "udp,tcp,tls",
            "SIPGW_TLS_PORT": "0",
            "SIPGW_TLS_CERT": str(pki.gateway.cert),
            "SIPGW_TLS_KEY": str(pki.gateway.key),
            "SIPGW_TLS_CA": str(pki.ca.cert),
            "SIPGW_LOG_LEVEL": "DEBUG",
        },
    )


def assert_heard(recording: Path, hz: int, min_active: float = 1.0) -> None:
    report = analyse(recording)
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - hz) <= 5, desc
    assert report.fraction_at(hz) > 0.9 and report.active_seconds >= min_active, desc


def srtp_counts(log: str) -> tuple[int, int, int]:
    match = re.search(r"SRTP protected (\d+), unprotected (\d+), dropped (\d+)", log)
    assert match is not None, log[-3000:]
    protected, unprotected, dropped = map(int, match.groups())
    return protected, unprotected, dropped


_START_LINE = re.compile(r"^(?:SIP/2\.0 \d{3} .*|[A-Z]+ sips?:\S+ SIP/2\.0)$")


def sip_messages(trace: Path) -> list[str]:
    """The SIP messages in a baresip log's SIP trace, each from its start line on."""
    messages: list[list[str]] = []
    for line in trace.read_text(errors="replace").splitlines():
        if _START_LINE.match(line):
            messages.append([])
        if messages:
            messages[-1].append(line)
    return ["\n".join(m) for m in messages]


def wait_gateway_registered(gw: GatewayProcess, kam: Kamailio, transport: str) -> None:
    aor = re.escape(kam.aor(USER))
    gw.wait_log(rf"registered {aor} via 127\.0\.0\.1:{kam.port(transport)}", 15)
    (contact,) = kam.wait_registered(USER, transport=transport)
    assert contact.transport == transport, contact
    assert len(kam.registrations()[USER]) == 1, kam.registrations()


def call_the_gateway(caller: Baresip, kam: Kamailio, gw: GatewayProcess, target: str) -> Path:
    """``caller`` dials the gateway's AOR through Kamailio, talks 2.5 s, hangs up."""
    caller.dial(target)
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(2.5)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 5)
    gw.wait_log(r"call ended: remote-bye", 5)
    gw.wait_log(r"media stats:", 5)
    heard, _ = caller.recordings()
    return heard


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gateway_registers_over_transport_and_is_called_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav, transport: str
) -> None:
    pki = Pki(tmp_workdir)
    with (
        kamailio(tmp_workdir, pki) as kam,
        registering_gateway(tmp_workdir, kam, pki, transport) as gw,
        Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
    ):
        wait_gateway_registered(gw, kam, transport)
        heard = call_the_gateway(caller, kam, gw, kam.aor(USER))
        assert gw.stop() == 0
        assert kam.registrations().get(USER, []) == []  # unregistered over the same transport
        log = gw.log_text()
    assert_heard(heard, 1000)
    if transport != "udp":
        # The INVITE came over the registration's connection, not over UDP.
        assert re.search(rf"recv {transport}:127\.0\.0\.1:\d+ b'INVITE", log), log[-3000:]
        assert not re.search(r"recv udp:\S+ b'INVITE", log), log[-3000:]


def outbound_gateway(
    kam: Kamailio, pki: Pki, transport: str, max_call_seconds: float, srtp: str = "tls-only"
) -> Gateway:
    config = GatewayConfig(
        bind="127.0.0.1",
        sip_port=0,
        transports=("UDP", "TCP", "TLS"),
        tls_port=0,
        tls_cert=str(pki.gateway.cert),
        tls_key=str(pki.gateway.key),
        tls_ca=str(pki.ca.cert),
        public_ip="127.0.0.1",
        rtp_ports=tuple(free_port_range(20)),  # type: ignore[arg-type]
        rtp_timeout=0.0,
        max_call_seconds=max_call_seconds,
        srtp=srtp,
    )
    outbound = OutboundConfig(
        proxy=kam.uri(transport=transport),
        caller_id=f"sip:{USER}@{kam.hostport()}",
        username=USER,
        password=PASSWORD,
    )
    factory = find_agent("echo").build(Sources())
    return Gateway(config, factory, GatewayParts(outbound=outbound))


async def place_call_to_bob(
    kam: Kamailio,
    pki: Pki,
    bob: Baresip,
    transport: str,
    bob_transport: str,
    srtp: str = "tls-only",
) -> tuple[float, Path]:
    """The gateway calls bob's AOR through ``kam`` over ``transport``; (duration, bob heard)."""
    kam.wait_registered("bob", transport=bob_transport)
    gateway = outbound_gateway(kam, pki, transport, max_call_seconds=4.0, srtp=srtp)
    await gateway.start()
    try:
        outcome = await asyncio.wait_for(gateway.place_call(kam.aor("bob")), 30)
    finally:
        await gateway.stop()
    assert outcome.answered and outcome.kind == "answered", outcome
    assert 3.5 <= outcome.duration <= 6.0, outcome
    bob.wait_event("CALL_CLOSED", 5)
    heard, _ = bob.recordings()
    kam.wait_events(lambda e: f"INVITE challenge from={USER}" in e and f"({transport} from" in e)
    kam.wait_events(f"INVITE authorized au={USER}")
    return outcome.duration, heard


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_gateway_calls_through_kamailio_over_transport(
    tmp_workdir: Path, tone_wav: ToneWav, transport: str
) -> None:
    pki = Pki(tmp_workdir)
    params = "answermode=auto;audio_codecs=pcmu"
    with (
        kamailio(tmp_workdir, pki, challenge_invites=True) as kam,
        Baresip(
            tmp_workdir, "bob", user="bob", source_wav=tone_wav(700, 30, -9.0, lead_silence=0.3),
            account=kam.account_line("bob", params=params),
        ) as bob,
    ):  # fmt: skip
        # bob has no SRTP: over TLS our RTP/SAVP offer gets 488 and the gateway offers plain
        # RTP once more (tls-only policy); SRTP end to end is
        # test_outbound_call_over_tls_offers_srtp.
        _, heard = await place_call_to_bob(kam, pki, bob, transport, "udp")
        expected = 2 if transport == "tls" else 1
        authorized = kam.wait_events(f"INVITE authorized au={USER}", count=expected)
        assert len(authorized) == expected, authorized
    assert_heard(heard, 700, min_active=2.0)  # bob's tone went through the agent and came back


def test_srtp_end_to_end_when_called_over_tls(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """A baresip insisting on SRTP calls over TLS; Kamailio relays over the gateway's TLS
    registration; the gateway answers RTP/SAVP and echoes what it decrypted."""
    pki = Pki(tmp_workdir)
    with (
        kamailio(tmp_workdir, pki) as kam,
        registering_gateway(tmp_workdir, kam, pki, "tls") as gw,
        Baresip(
            tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000),
            account=kam.account_line("caller", transport="tls", params="audio_codecs=pcmu"),
            mediaenc="srtp-mand", tls_ca=pki.ca.cert,
        ) as caller,
    ):  # fmt: skip
        wait_gateway_registered(gw, kam, "tls")
        kam.wait_registered("caller", transport="tls")
        heard = call_the_gateway(caller, kam, gw, kam.aor(USER, "tls"))
        assert gw.stop() == 0
        log = gw.log_text()
    assert_heard(heard, 1000)  # baresip only plays what it could decrypt
    assert re.search(r"media: PCMU/0 .*, SRTP AES_CM_128_HMAC_SHA1_(80|32)", log), log[-3000:]
    protected, unprotected, dropped = srtp_counts(log)
    # No drop of any kind: baresip's unprotected RTCP BYE at hangup, when it arrives before
    # the SIP BYE, is plain RTCP (counted as such), not an SRTP failure.
    assert protected > 100 and unprotected > 100 and dropped == 0, log[-3000:]
    plain = re.search(r"plain RTCP (\d+)(?: \[last (.*?)\])?", log)
    assert plain is not None and (plain[1] == "0" or ", pt 203, " in plain[2]), log[-3000:]
    answers = [m for m in sip_messages(caller.log_path) if m.startswith("SIP/2.0 200 OK")]
    invite_ok = [m for m in answers if re.search(r"^CSeq: \d+ INVITE$", m, re.M)]
    assert invite_ok, answers
    assert re.search(r"^m=audio \d+ RTP/SAVP ", invite_ok[0], re.M), invite_ok[0]
    assert re.search(r"^a=crypto:", invite_ok[0], re.M), invite_ok[0]


async def test_outbound_call_over_tls_offers_srtp(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """The gateway calls, through Kamailio over TLS, a baresip registered over TLS that
    insists on SRTP: the offer is RTP/SAVP and the audio goes both ways."""
    pki = Pki(tmp_workdir)
    params = "answermode=auto;audio_codecs=pcmu"
    with (
        kamailio(tmp_workdir, pki, challenge_invites=True) as kam,
        Baresip(
            tmp_workdir, "bob", user="bob", source_wav=tone_wav(700, 30, -9.0, lead_silence=0.3),
            account=kam.account_line("bob", transport="tls", params=params),
            mediaenc="srtp-mand", tls_ca=pki.ca.cert,
        ) as bob,
    ):  # fmt: skip
        _, heard = await place_call_to_bob(kam, pki, bob, "tls", "tls")
    bob_log = bob.log_path.read_text(errors="replace")
    assert re.search(r"m=audio \d+ RTP/SAVP", bob_log) and "a=crypto:" in bob_log, bob_log[-3000:]
    assert_heard(heard, 700, min_active=2.0)  # bob decrypted our SRTP, we decrypted his
