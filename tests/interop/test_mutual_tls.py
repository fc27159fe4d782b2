"""Mutual TLS against a real Kamailio (``tls`` module, ``verify_certificate`` and
``require_certificate``), both ways.

- The gateway as client: Kamailio requires a client certificate signed by the trunk's CA. An
  account of the gateway's, with its own ``tls_cert``/``tls_key``/``tls_ca`` in
  ``accounts.toml`` (the gateway itself has no certificate and no TLS listener), registers
  over TLS and takes a call through Kamailio on that connection; the same account with a
  certificate another CA signed, or with none, is refused by Kamailio and never registers.
- The gateway as server: ``SIPGW_TLS_PEER_CA`` and ``SIPGW_TLS_PEER_NAMES`` on its TLS
  listener; Kamailio relays a caller's INVITE to it over TLS presenting its own certificate.
  Signed by that CA and named as required, the call is answered and the echo heard; signed
  by another CA, or named otherwise, the gateway refuses the connection and no call is made.
- A line with ``tls_peer_names``: the listener takes any certificate the CA signed, the line
  only the Kamailio it names; a call relayed by another, or straight over UDP, gets 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_kamailio_transports import (
    PASSWORD,
    USER,
    USERS,
    assert_heard,
    call_the_gateway,
    wait_gateway_registered,
)
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.tls import CertificateAuthority, ServerCertificate, make_ca, make_server_cert

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
KAMAILIO_NAME = "kamailio.trunk.test"


class Pki:
    """The trunk's CA (Kamailio's certificate, the gateway's, the account's) and a stranger's."""

    def __init__(self, workdir: Path) -> None:
        where = workdir / "pki"
        self.ca: CertificateAuthority = make_ca(where, name="trunk-ca")
        self.kamailio = make_server_cert(self.ca, where, "kamailio", dns_names=(KAMAILIO_NAME,))
        self.gateway = make_server_cert(self.ca, where, "gateway")
        self.account = make_server_cert(self.ca, where, "office", dns_names=("office.test",))
        self.stranger_ca: CertificateAuthority = make_ca(where / "stranger", name="stranger-ca")

    def stranger(self, name: str, dns: str) -> ServerCertificate:
        return make_server_cert(self.stranger_ca, self.ca.cert.parent / "stranger", name,
                                dns_names=(dns,))  # fmt: skip


def requiring_kamailio(workdir: Path, pki: Pki, **options: object) -> Kamailio:
    return Kamailio(
        workdir,
        users=USERS,
        tls_cert=pki.kamailio,
        tls_peer_ca=pki.ca.cert,
        **options,  # type: ignore[arg-type]
    )


def account_gateway(
    workdir: Path, kam: Kamailio, cert: ServerCertificate | None, ca: Path
) -> GatewayProcess:
    """The echo gateway with one account registering at ``kam`` over TLS, presenting
    ``cert`` (None: no certificate) and trusting ``ca``; paths relative to the file."""
    lines = [
        "[accounts.office]",
        f'aor = "{kam.aor(USER)}"',
        f'registrar = "{kam.uri(transport="tls")}"',
        f'auth_password = "{PASSWORD}"',
        f'tls_ca = "{ca.relative_to(workdir)}"',
    ]
    if cert is not None:
        lines += [f'tls_cert = "{cert.cert.relative_to(workdir)}"',
                  f'tls_key = "{cert.key.relative_to(workdir)}"']  # fmt: skip
    accounts = workdir / "accounts.toml"
    accounts.write_text("\n".join(lines) + "\n")
    accounts.chmod(0o600)  # it holds a password
    return GatewayProcess(
        workdir, extra_env={"SIPGW_ACCOUNTS": str(accounts), "SIPGW_LOG_LEVEL": "DEBUG"}
    )


def test_a_kamailio_that_requires_client_certificates_takes_the_accounts(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    pki = Pki(tmp_workdir)
    with (
        requiring_kamailio(tmp_workdir, pki) as kam,
        account_gateway(tmp_workdir, kam, pki.account, pki.ca.cert) as gw,
        Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
    ):
        wait_gateway_registered(gw, kam, "tls")
        heard = call_the_gateway(caller, kam, gw, kam.aor(USER))
        assert "TLS" not in gw.log_text().split("listening", 1)[0]  # no listener of its own
    assert_heard(heard, 1000)


@pytest.mark.parametrize(
    ("presented", "kamailio_says", "alert"),
    [
        ("a stranger's certificate", "certificate verify failed", "alert unknown ca"),
        ("no certificate", "peer did not return a certificate", "alert certificate required"),
    ],
)
def test_a_kamailio_that_requires_client_certificates_refuses_a_stranger(
    tmp_workdir: Path, presented: str, kamailio_says: str, alert: str
) -> None:
    pki = Pki(tmp_workdir)
    cert = pki.stranger("office", "office.test") if presented.startswith("a ") else None
    with (
        requiring_kamailio(tmp_workdir, pki) as kam,
        account_gateway(tmp_workdir, kam, cert, pki.ca.cert) as gw,
    ):
        gw.wait_log(rf"registration of {kam.aor(USER)} failed", 20)
        # Kamailio's worker sends the alert before it logs why; the gateway can have read
        # the alert and given up before the line is written (7 ms apart on a quiet machine).
        kam.wait_log(rf"TLS accept:error:.*{kamailio_says}", 10)
        assert kam.registrations().get(USER, []) == []
        log = gw.log_text()
    assert "registered sip:" not in log and alert in log, log[-3000:]


def relaying_kamailio(
    workdir: Path, pki: Pki, cert: ServerCertificate, gw: GatewayProcess
) -> Kamailio:
    """A Kamailio that relays every INVITE to ``gw``'s TLS listener, presenting ``cert``."""
    route = (
        "route[INVITE_ROUTE] {\n"
        f'\t$ru = "sip:{USER}@127.0.0.1:{gw.tls_port};transport=tls";\n'
        "\troute(RELAY);\n\texit;\n}\n"
    )
    return Kamailio(
        workdir, users=USERS, tls_cert=cert, tls_peer_ca=pki.ca.cert, invite_route=route
    )


def requiring_gateway(workdir: Path, pki: Pki, *, line_names: bool = False) -> GatewayProcess:
    """The echo gateway with a TLS listener that requires a certificate the trunk's CA signed
    naming Kamailio; with ``line_names`` the name is its one line's requirement instead of the
    listener's."""
    env = {
        "SIPGW_TRANSPORTS": "udp,tls",
        "SIPGW_TLS_PORT": "0",
        "SIPGW_TLS_CERT": str(pki.gateway.cert),
        "SIPGW_TLS_KEY": str(pki.gateway.key),
        "SIPGW_TLS_PEER_CA": str(pki.ca.cert),
        "SIPGW_LOG_LEVEL": "DEBUG",
    }
    args: list[str] = []
    if line_names:
        routes = workdir / "routes.toml"
        routes.write_text(
            f'default = "trunk"\n[lines.trunk]\ntls_peer_names = ["{KAMAILIO_NAME}"]\n'
        )
        args = ["--routes", str(routes)]
    else:
        env["SIPGW_TLS_PEER_NAMES"] = KAMAILIO_NAME
    return GatewayProcess(workdir, extra_args=args, extra_env=env, allow_from="127.0.0.0/8")


def test_a_gateway_that_requires_certificates_takes_a_call_from_the_kamailio_its_ca_signed(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    pki = Pki(tmp_workdir)
    with requiring_gateway(tmp_workdir, pki) as gw:
        with (
            relaying_kamailio(tmp_workdir, pki, pki.kamailio, gw) as kam,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            heard = call_the_gateway(caller, kam, gw, kam.aor(USER))
        log = gw.log_text()
    assert_heard(heard, 1000)
    assert "recv tls:127.0.0.1:" in log and "TLS handshake from" not in log, log[-3000:]


@pytest.mark.parametrize("kamailio_cert", ["signed by a stranger", "named otherwise"])
def test_a_gateway_that_requires_certificates_refuses_a_stranger(
    tmp_workdir: Path, tone_wav: ToneWav, kamailio_cert: str
) -> None:
    pki = Pki(tmp_workdir)
    if kamailio_cert == "signed by a stranger":
        cert, why = pki.stranger("kamailio", KAMAILIO_NAME), "certificate verify failed"
    else:
        cert = make_server_cert(
            pki.ca, tmp_workdir / "pki", "elsewhere", dns_names=("elsewhere.test",)
        )
        why = "its certificate names elsewhere.test, 127.0.0.1, none of SIPGW_TLS_PEER_NAMES"
    with requiring_gateway(tmp_workdir, pki) as gw:
        with (
            relaying_kamailio(tmp_workdir, pki, cert, gw) as kam,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            caller.dial(kam.aor(USER))
            caller.wait_event("CALL_CLOSED", 40)
            gw.wait_log(why, 5)
            time.sleep(0.5)
        log = gw.log_text()
    assert "call offered" not in log.lower() and "recv tls:" not in log, log[-3000:]


def test_a_line_takes_calls_only_from_the_tls_peers_it_names(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    """The listener takes any certificate the trunk's CA signed; the line, only Kamailio's:
    a call relayed by a Kamailio named otherwise, and one straight over UDP, get 403."""
    pki = Pki(tmp_workdir)
    elsewhere = make_server_cert(
        pki.ca, tmp_workdir / "pki", "elsewhere", dns_names=("elsewhere.test",)
    )
    with requiring_gateway(tmp_workdir, pki, line_names=True) as gw:
        with (
            relaying_kamailio(tmp_workdir, pki, pki.kamailio, gw) as kam,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            heard = call_the_gateway(caller, kam, gw, kam.aor(USER))
        with (
            relaying_kamailio(tmp_workdir / "other", pki, elsewhere, gw) as other,
            Baresip(tmp_workdir, "second", user="second", source_wav=tone_wav(1000)) as second,
        ):
            second.dial(other.aor(USER))
            closed = second.wait_event("CALL_CLOSED", 20)
            second.dial(gw.uri(USER))  # over UDP, straight to the gateway
            direct = second.wait_event("CALL_CLOSED", 20)
        gw.wait_log(r"refused call .*: line trunk takes calls from kamailio\.trunk\.test only: "
                    r"it came not over TLS \(403\)", 5)  # fmt: skip
        log = gw.log_text()
    assert_heard(heard, 1000)
    assert "403" in str(closed.get("param")) and "403" in str(direct.get("param")), (closed, direct)
    assert ("line trunk takes calls from kamailio.trunk.test only: it came from elsewhere.test, "
            "127.0.0.1 (403)") in log, log[-3000:]  # fmt: skip
