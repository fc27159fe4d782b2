"""Twilio, Telnyx and Plivo as their documentation describes their SIP trunks, emulated by a
real Kamailio (tests.toolkit.peers.carriers), with real baresips as the phone network.

For each carrier: a call from the phone network to the account's number reaches the
gateway (``sipgw serve``, the assistant against the fake AI services); ``sipgw call`` beside
it, with the same options, places a call through the running gateway's admin API with a
caller id and variables, which reaches a phone behind the trunk and whose greeting uses the
variables; and a call the trunk refuses shows the carrier's words and a hint on screen. The
pages each rule comes from are cited in the trunks' docstrings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, write_pattern
from sipgw.app.evaluation.gateway_process import OVERLOAD_OFF, GatewayProcess
from sipgw.app.evaluation.ports import free_port, free_port_range
from sipgw.app.evaluation.process import child_env
from tests.interop.services import fake_services
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.passport import identity_header, shaken
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.carriers import CarrierTrunk, Registered, plivo, telnyx, twilio
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.sti import StiPki, identity_value, serving_certificates
from tests.toolkit.tls import ServerCertificate, make_ca, make_server_cert

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

DID = "+15551230000"
"""The account's number at the carrier (what the gateway answers, and calls as)."""
CALLEE = "+15557654321"
"""A phone behind the trunk (registered at the emulated carrier under that number)."""
CALLER = "+15559876543"
"""A phone that calls the account's number."""
PHONE_PW = "phone-pw"
GREETING_HZ, REMINDER_HZ = 500, 700
TOKEN = "carrier-test-admin-token"
VARIABLES = ("--var", "first_name=Ada", "--var", "day=Tuesday")


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Hi there": GREETING_HZ, "Hello Ada": REMINDER_HZ}
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


@dataclass
class Carrier:
    """The emulated carrier, the phones behind it, and the gateway on its trunk."""

    kam: Kamailio
    gateway: GatewayProcess
    admin_port: int
    workdir: Path

    def call(self, *args: str, admin: bool = True, timeout: float = 60) -> tuple[int, str]:
        """``sipgw call ARGS`` as a user would run it beside the running ``serve``: the same
        options (admin port and token included, unless ``admin`` is off); exit status and
        output."""
        low, high = free_port_range(8)
        argv = [
            sys.executable, "-m", "sipgw", "call", *args, "--bind", "127.0.0.1",
            "--public-ip", "127.0.0.1", "--rtp-ports", f"{low}-{high}", *OVERLOAD_OFF,
            *(["--admin-port", str(self.admin_port), "--admin-token", TOKEN] if admin else []),
        ]  # fmt: skip
        result = subprocess.run(
            argv, cwd=self.workdir, env=child_env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        (self.workdir / "sipgw-call.log").open("a").write(f"$ {' '.join(argv)}\n{output}\n")
        return result.returncode, output

    def record(self) -> list[dict[str, object]]:
        """The lines of the gateway's call records, every call."""
        return [
            json.loads(line)
            for path in sorted((self.workdir / "calls").glob("*.jsonl"))
            for line in path.read_text().splitlines()
        ]


def phone(workdir: Path, kam: Kamailio, number: str, mediaenc: str | None = None) -> Baresip:
    """A baresip registering at the carrier under ``number``, answering at once, quiet."""
    quiet = workdir / "audio" / "quiet.wav"
    if not quiet.exists():  # one file for all: a phone may be reading it
        write_pattern(quiet, [(None, 30.0)], -12.0)
    return Baresip(
        workdir, f"phone{number[-4:]}", user=number, source_wav=quiet, mediaenc=mediaenc,
        account=kam.account_line(number, PHONE_PW, params="answermode=auto;audio_codecs=pcmu"),
    )  # fmt: skip


@contextmanager
def phones(
    workdir: Path, kam: Kamailio, mediaenc: str | None = None
) -> Iterator[tuple[Baresip, Baresip]]:
    """The callee and the caller, registered at the carrier (both with ``mediaenc``)."""
    with (
        phone(workdir, kam, CALLEE, mediaenc) as callee,
        phone(workdir, kam, CALLER, mediaenc) as caller,
    ):
        kam.wait_registered(CALLEE)
        kam.wait_registered(CALLER)
        yield callee, caller


def start_carrier(
    workdir: Path,
    services: ThreadedFakes,
    trunk: CarrierTrunk,
    gateway_args: Sequence[str],
    users: dict[str, str],
    kam_ports: tuple[int, int],
    *,
    proxy_transport: str = "udp",
    tls_cert: ServerCertificate | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[Kamailio, GatewayProcess, int]:
    """The carrier's Kamailio (``tls_cert`` for its TLS listener) and the gateway on its
    trunk, reaching it over ``proxy_transport`` (its password from the environment, as the
    docs advise: a flag is visible to other local users; ``extra_env`` for the gateway)."""
    kam = Kamailio(
        workdir, "carrier", users={**users, CALLEE: PHONE_PW, CALLER: PHONE_PW},
        invite_route=trunk.script(), sip_port=kam_ports[0], tls_port=kam_ports[1],
        tls_cert=tls_cert,
    )  # fmt: skip
    admin_port = free_port()
    env = {
        **services.env,
        "SIPGW_OUTBOUND_GREETING": "Hello {first_name}, a reminder of your visit on {day}.",
        "SIPGW_ADMIN_TOKEN": TOKEN,
        "SIPGW_MAX_CALL_SECONDS": "4",
        "SIPGW_AUTH_PASSWORD": SIP_PASSWORD,
        **(extra_env or {}),
    }
    gateway = GatewayProcess(
        workdir, agent="assistant", extra_env=env,
        extra_args=["--admin-port", str(admin_port), "--allow-from", "127.0.0.1",
                    "--outbound-proxy", kam.uri(transport=proxy_transport), *gateway_args],
    )  # fmt: skip
    return kam, gateway, admin_port


def heard_hz(heard: Path, hz: float) -> float:
    """Seconds of the recording where ``hz`` dominates."""
    report = analyse(heard)
    step, seconds, t = 0.1, 0.0, 0.0
    while t + step <= report.duration:
        part = report.slice(t, t + step)
        if (part.rms_dbfs or -100) > -40 and part.fraction_at(hz, length=step) > 0.5:
            seconds += step
        t += step
    return seconds


def check_inbound(carrier: Carrier, caller: Baresip) -> None:
    """The phone network calls the account's number: the assistant greets."""
    caller.dial(carrier.kam.uri(DID))
    caller.wait_event("CALL_ESTABLISHED", 10)
    carrier.gateway.wait_log(rf"incoming call from sip:\{CALLER}@", 5)
    caller.wait_event("CALL_CLOSED", 10)  # the 4 s limit
    heard, _ = caller.recordings()
    assert heard_hz(heard, GREETING_HZ) >= 0.1, analyse(heard).describe()


def check_outbound(carrier: Carrier, callee: Baresip, port: int | str | None = None) -> str:
    """``sipgw call`` through the running gateway: the callee hears the reminder greeting
    made with the call's variables, from our number (the trunk at ``port``, with any URI
    parameters: its UDP port by default)."""
    code, output = carrier.call(CALLEE, "--caller-id", DID, *VARIABLES)
    assert code == 0, output
    assert "through the gateway at http://127.0.0.1:" in output, output
    where = carrier.kam.sip_port if port is None else port
    assert f"sip:{CALLEE}@127.0.0.1:{where}: answered, " in output, output
    established = callee.wait_event("CALL_ESTABLISHED", 1)
    assert established["param"].startswith(f"sip:{DID}@"), established  # our caller id
    heard, _ = callee.recordings()
    assert heard_hz(heard, REMINDER_HZ) >= 0.1, analyse(heard).describe()
    placed = [
        r for r in carrier.record() if r.get("type") == "call" and r["direction"] == "outbound"
    ]
    assert placed[-1]["variables"] == {"first_name": "Ada", "day": "Tuesday"}, placed
    return output


def test_twilio_elastic_sip_trunk(
    tmp_workdir: Path, services: ThreadedFakes, peer_stack: object
) -> None:
    """Twilio with secure trunking: origination to a ``sip:`` URI with ``;transport=tls``
    (TLS and SRTP), termination over TLS as docs/providers/twilio.md tells secure-trunking
    users (``--outbound-proxy "sip:NAME.pstn.twilio.com;transport=tls"``, SRTP too) by
    credential list, with a From that must be a number of the account (32204); see
    :func:`tests.toolkit.peers.carriers.twilio` for the pages. Kamailio relays media end to
    end (Twilio anchors it), so the phones speak SRTP themselves."""
    pki = tmp_workdir / "pki"
    ca = make_ca(pki)
    cert = make_server_cert(ca, pki, "gateway")
    kam_ports = (free_port(), free_port())
    gw_tls = free_port()
    trunk = twilio(
        {DID: f"sip:agent@127.0.0.1:{gw_tls};transport=tls"},
        credentials={"sipgw-trunk": SIP_PASSWORD}, caller_ids=(DID,),
    )  # fmt: skip
    kam, gateway, admin_port = start_carrier(
        tmp_workdir, services, trunk,
        ["--transports", "udp,tcp,tls", "--tls-port", str(gw_tls), "--tls-cert", str(cert.cert),
         "--tls-key", str(cert.key), "--tls-ca", str(ca.cert), "--auth-username", "sipgw-trunk"],
        {"sipgw-trunk": SIP_PASSWORD}, kam_ports, proxy_transport="tls",
        tls_cert=make_server_cert(ca, pki, "kamailio"),
    )  # fmt: skip
    with kam, gateway, phones(tmp_workdir, kam, "srtp-mand") as (callee, caller):
        carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
        check_inbound(carrier, caller)
        kam.wait_events("ORIGINATE +15551230000 -> sip:agent@127.0.0.1")
        gateway.wait_log(r"media: PCMU/0 .*SRTP AES_CM_128_HMAC_SHA1_80", 5)  # secure trunking
        check_outbound(carrier, callee, kam.port("tls"))
        terminated = kam.wait_events(f"TERMINATE sip:{CALLEE}")
        assert "(tls from 127.0.0.1:" in terminated[-1], terminated  # over TLS
        kam.wait_events("INVITE challenge")  # the credential list
        code, output = carrier.call(CALLEE, "--caller-id", "+15550000000", *VARIABLES)
        kam.wait_events("CALLERID refused +15550000000")
    assert code == 7, output
    assert f"sip:{CALLEE}@127.0.0.1:{kam_ports[1]}: failed (SIP 403 Forbidden) - refused: " \
        "most often the caller id" in output, output  # fmt: skip


def test_twilio_plain_trunk_over_tcp(
    tmp_workdir: Path, services: ThreadedFakes, peer_stack: object
) -> None:
    """Twilio without secure trunking, over TCP only (the gateway listens on nothing else):
    origination to ``sip:...;transport=tcp``, termination through the trunk over TCP; and
    an INVITE whose Request-URI names another host than the trunk's termination URI gets no
    answer at all (Twilio drops it: twilio.com/docs/sip-trunking/troubleshooting, "Sending
    SIP to Twilio - Best Practices"), so ``sipgw call`` ends it as *unreachable* after Timer
    B (64 x T1; ``--sip-t1 0.05`` here, 32 s by default), as docs/providers/twilio.md says."""
    kam_ports = (free_port(), free_port())
    gw_port = free_port()
    trunk = twilio(
        {DID: f"sip:agent@127.0.0.1:{gw_port};transport=tcp"},
        credentials={"sipgw-trunk": SIP_PASSWORD}, caller_ids=(DID,),
    )  # fmt: skip
    kam, gateway, admin_port = start_carrier(
        tmp_workdir, services, trunk,
        ["--transports", "tcp", "--sip-port", str(gw_port), "--auth-username", "sipgw-trunk"],
        {"sipgw-trunk": SIP_PASSWORD}, kam_ports, proxy_transport="tcp",
    )  # fmt: skip
    with kam, gateway, phones(tmp_workdir, kam) as (callee, caller):
        carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
        check_inbound(carrier, caller)
        kam.wait_events(f"ORIGINATE +15551230000 -> sip:agent@127.0.0.1:{gw_port};transport=tcp")
        check_outbound(carrier, callee)  # to the trunk's TCP port, which is its UDP port
        terminated = kam.wait_events(f"TERMINATE sip:{CALLEE}")
        assert "(tcp from 127.0.0.1:" in terminated[-1], terminated
        code, output = carrier.call(
            f"sip:{CALLEE}@wrong-trunk.pstn.example", "--caller-id", DID, "--sip-t1", "0.05",
            "--outbound-proxy", kam.uri(transport="tcp"), "--auth-username", "sipgw-trunk",
            admin=False,
        )  # fmt: skip
        kam.wait_events(lambda e: "DROPPED sip:" in e and "wrong-trunk.pstn.example" in e)
    assert code == 6, output
    assert f"sip:{CALLEE}@wrong-trunk.pstn.example: unreachable (SIP 408)" in output, output


def test_telnyx_credential_connection(
    tmp_workdir: Path, services: ThreadedFakes, peer_stack: object
) -> None:
    """Telnyx: a credential connection (we register; inbound calls carry the asserted
    identity with verstat), its caller id policy (P-Preferred-Identity, then
    P-Asserted-Identity, then From; refused with 403 Caller Origination Number is Invalid
    D35); see :func:`tests.toolkit.peers.carriers.telnyx` for the pages."""
    kam_ports = (free_port(), free_port())
    trunk = telnyx({DID: Registered("sipgwconn")}, credentials={"sipgwconn": SIP_PASSWORD})
    aor = f"sip:sipgwconn@127.0.0.1:{kam_ports[0]}"
    kam, gateway, admin_port = start_carrier(
        tmp_workdir, services, trunk,
        ["--register", aor, "--pass-headers", "X-Telnyx-*"],
        {"sipgwconn": SIP_PASSWORD}, kam_ports,
    )  # fmt: skip
    with kam, gateway, phones(tmp_workdir, kam) as (callee, caller):
        gateway.wait_log(r"registered sip:sipgwconn@", 10)
        carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
        check_inbound(carrier, caller)
        inbound = [r for r in carrier.record() if r.get("type") == "call"]
        assert inbound[-1]["caller_number_asserted_by_network"] == CALLER, inbound
        check_outbound(carrier, callee)
        # Issue 22: the From was the registered AOR (sip:sipgwconn@...): refused, and why
        code, output = carrier.call(CALLEE, *VARIABLES)
        kam.wait_events("CALLERID refused sipgwconn")
        assert gateway.stop() == 0  # its calls' records complete (the refusal's end is last)
    assert code == 7, output
    assert "failed (SIP 403 Caller Origination Number is Invalid D35) - refused: most often " \
        "the caller id" in output, output  # fmt: skip
    # the carrier's words are kept with the call: its own record (the agent never ran)
    ends = [r for r in carrier.record() if r.get("type") == "end" and not r.get("answered", 1)]
    assert ends[-1]["sip_reason"] == "Caller Origination Number is Invalid D35", ends
    assert ends[-1]["sip_status"] == 403 and "caller id" in str(ends[-1]["hint"]), ends


ROUTES_BY_VERIFICATION = """
[lines.open]
agent = "assistant"

[lines.strict]
agent = "assistant"

[[routes]]
verified = "passed"
line = "open"

[[routes]]
line = "strict"
"""


def test_telnyx_stir_shaken_result_routes_an_unverified_caller_to_a_stricter_line(
    tmp_workdir: Path, services: ThreadedFakes, peer_stack: object
) -> None:
    """Telnyx says what STIR/SHAKEN found with a verstat on P-Asserted-Identity (and here
    passes the caller's Identity header on): a caller whose number failed goes to the strict
    line. Another carries no verstat of worth (``No-TN-Validation``) but a PASSporT really
    signed by a service provider under a test STI-CA the gateway trusts
    (``SIPGW_STIR_CA_FILE``): the gateway fetches its certificate over HTTPS, verifies the
    signature, and the call goes to the open line. Each call's record shows what was found."""
    kam_ports = (free_port(), free_port())
    pki = StiPki.make()
    (tmp_workdir / "sti-ca.pem").write_bytes(pki.root_pem)
    https_ca = make_ca(tmp_workdir / "https")
    https = make_server_cert(https_ca, tmp_workdir / "https", "certs")
    with serving_certificates({"/sp.pem": pki.chain_pem}, https.cert, https.key) as base:
        x5u = f"{base}/sp.pem"
        signed = pki.sign({**shaken("A", orig=CALLEE[1:], dest=DID[1:]), "iat": int(time.time())},
                          x5u=x5u)  # fmt: skip
        passport = identity_header(shaken("C", orig=CALLER[1:], dest=DID[1:]))  # filler signature
        trunk = telnyx(
            {DID: Registered("sipgwconn")}, credentials={"sipgwconn": SIP_PASSWORD},
            verstat={CALLER: "TN-Validation-Failed", "*": "No-TN-Validation"},
            identity={CALLER: passport, CALLEE: identity_value(signed, x5u)},
        )  # fmt: skip
        routes = tmp_workdir / "routes.toml"
        routes.write_text(ROUTES_BY_VERIFICATION)
        aor = f"sip:sipgwconn@127.0.0.1:{kam_ports[0]}"
        stir = {
            "SIPGW_STIR_CA_FILE": str(tmp_workdir / "sti-ca.pem"),
            "SIPGW_STIR_MAX_AGE": "600",  # signed before Kamailio and the gateway start
            "SSL_CERT_FILE": str(https_ca.cert),  # the certificate server's CA
        }
        kam, gateway, admin_port = start_carrier(
            tmp_workdir, services, trunk, ["--register", aor, "--routes", str(routes)],
            {"sipgwconn": SIP_PASSWORD}, kam_ports, extra_env=stir,
        )  # fmt: skip
        with kam, gateway, phones(tmp_workdir, kam) as (callee, caller):
            gateway.wait_log(r"registered sip:sipgwconn@", 10)
            carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
            check_inbound(carrier, caller)  # failed: the strict line
            callee.dial(kam.uri(DID))  # verified: the open line
            callee.wait_event("CALL_ESTABLISHED", 10)
            callee.wait_event("CALL_CLOSED", 10)
            # a call's lines are recorded after its BYE: stopped, the records are complete
            assert gateway.stop() == 0
    calls = {}
    for path in sorted((tmp_workdir / "calls").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        (call,) = [line for line in lines if line.get("type") == "call"]
        (line,) = [line["line"] for line in lines if line.get("type") == "line"]
        calls[str(call["caller"]).split("@")[0]] = (line, call)
    line, call = calls[f"sip:{CALLER}"]
    assert line == "strict", calls
    found = dict(call["caller_verification_asserted_by_carrier"])
    reason = found.pop("signature_reason", "")
    assert found == {
        "status": "failed", "source": "verstat", "verstat": "TN-Validation-Failed",
        "attestation": "C", "orig": CALLER[1:], "dest": [DID[1:]], "signature": "failed",
    }, call  # fmt: skip
    assert reason.startswith("iat is "), call  # the filler PASSporT is from 2023
    line, call = calls[f"sip:{CALLEE}"]
    assert line == "open", calls
    assert call["caller_verification_asserted_by_carrier"] == {
        "status": "passed", "source": "verstat", "verstat": "No-TN-Validation",
        "attestation": "A", "orig": CALLEE[1:], "dest": [DID[1:]], "signature": "verified",
    }, call  # fmt: skip


def test_telnyx_reads_p_preferred_identity_first(
    tmp_workdir: Path, services: ThreadedFakes, peer_stack: object
) -> None:
    """The caller id in P-Preferred-Identity (``--caller-id-header ppi``) is the one Telnyx
    checks, whatever the From says; withheld (``Privacy: id``), it still must be valid."""
    kam_ports = (free_port(), free_port())
    trunk = telnyx({DID: Registered("sipgwconn")}, credentials={"sipgwconn": SIP_PASSWORD})
    aor = f"sip:sipgwconn@127.0.0.1:{kam_ports[0]}"
    kam, gateway, admin_port = start_carrier(
        tmp_workdir, services, trunk,
        ["--register", aor, "--caller-id-header", "ppi",
         "--caller-id-privacy", "id", "--caller-id", DID],
        {"sipgwconn": SIP_PASSWORD}, kam_ports,
    )  # fmt: skip
    with kam, gateway, phone(tmp_workdir, kam, CALLEE) as callee:
        gateway.wait_log(r"registered sip:sipgwconn@", 10)
        kam.wait_registered(CALLEE)
        carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
        code, output = carrier.call(CALLEE, *VARIABLES)
        established = callee.wait_event("CALL_ESTABLISHED", 1)
    assert code == 0, output
    assert any(f"TERMINATE sip:{CALLEE}" in e and f"from {DID}" in e for e in kam.events())
    assert "anonymous" in established["param"], established  # the callee sees no number


def test_plivo_zentrunk(tmp_workdir: Path, services: ThreadedFakes, peer_stack: object) -> None:
    """Plivo Zentrunk: an inbound trunk to our origination URI, an outbound trunk that takes
    our credentials (401 challenge); a caller id that is not one of the account's numbers is
    refused with Plivo's hangup code 4190 ``unknown_caller_id`` (``X-ZT-Hangup-Code``), and
    a wrong password with ``401 Call Rejected`` (4020 ``call_rejected_unauthorized``); both
    shown in the carrier's words with their hint. See
    :func:`tests.toolkit.peers.carriers.plivo` for the pages, and for what is assumed (the
    status line of a 4190: Plivo's pages give none). The wrong password's call is placed by
    ``sipgw call`` from its own process (no admin server named), beside the running
    gateway."""
    kam_ports = (free_port(), free_port())
    gw_port = free_port()
    trunk = plivo({DID: f"sip:agent@127.0.0.1:{gw_port}"}, credentials={"zt-user": SIP_PASSWORD})
    kam, gateway, admin_port = start_carrier(
        tmp_workdir, services, trunk,
        ["--auth-username", "zt-user", "--sip-port", str(gw_port)],  # the trunk names the port
        {"zt-user": SIP_PASSWORD}, kam_ports,
    )  # fmt: skip
    with kam, gateway, phones(tmp_workdir, kam) as (callee, caller):
        carrier = Carrier(kam, gateway, admin_port, tmp_workdir)
        check_inbound(carrier, caller)
        check_outbound(carrier, callee)
        kam.wait_events("INVITE challenge")  # the credentials list
        refused_code, refused = carrier.call(CALLEE, "--caller-id", "+15550000000", *VARIABLES)
        kam.wait_events("CALLERID refused +15550000000")
        code, output = carrier.call(
            CALLEE, "--caller-id", DID, "--outbound-proxy", kam.uri(),
            "--auth-username", "zt-user", "--auth-password", "not-the-password", admin=False,
        )  # fmt: skip
        kam.wait_events("AUTH refused au=zt-user")
    assert refused_code == 7, refused
    assert "failed (SIP 403 Forbidden) [X-ZT-Hangup-Code: 4190] - refused: most often the " \
        "caller id" in refused, refused  # fmt: skip
    assert code == 7, output
    assert "failed (SIP 401 Call Rejected) - the far end wants credentials and refused ours" \
        in output, output  # fmt: skip
