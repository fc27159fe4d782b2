"""The throwaway CA (real openssl, real TLS handshakes) and the Kamailio config builder."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from sipgw.testing.peers.kamailio import parse_ul_dump
from sipgw.testing.peers.kamailio_cfg import KamailioOptions, render_config
from sipgw.testing.tls import make_ca, make_server_cert


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> str:
    """One TLS handshake over a socketpair; returns the negotiated version."""
    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.sendall(s.recv(4))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=host) as c:
            c.sendall(b"ping")
            assert c.recv(4) == b"ping"
            version = c.version() or ""
    finally:
        t.join(5)
    assert not errors, errors
    return version


def test_server_certificate_verifies_against_the_ca_for_its_ip(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    cert = make_server_cert(ca, tmp_path, "srv", ips=["127.0.0.1"], dns_names=["sip.test"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert.cert, cert.key)
    client = ssl.create_default_context(cafile=str(ca.cert))
    assert _handshake(server, client, "127.0.0.1").startswith("TLS")
    assert _handshake(server, client, "sip.test").startswith("TLS")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "other.test")
    # the combined file baresip uses holds the certificate and the key
    text = cert.combined.read_text()
    assert "BEGIN CERTIFICATE" in text and "PRIVATE KEY" in text
    san = subprocess.run(
        ["openssl", "x509", "-in", str(cert.cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in san and "DNS:127.0.0.1" in san and "DNS:sip.test" in san


def test_a_client_without_the_ca_refuses_the_certificate(tmp_path: Path) -> None:
    cert = make_server_cert(make_ca(tmp_path / "a"), tmp_path / "a", "srv")
    other_ca = make_ca(tmp_path / "b")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert.cert, cert.key)
    client = ssl.create_default_context(cafile=str(other_ca.cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "127.0.0.1")


def test_options_refuse_what_cannot_go_into_the_config() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        KamailioOptions(algorithm="SHA-512")
    with pytest.raises(ValueError, match="transports"):
        KamailioOptions(transports=("sctp",))
    with pytest.raises(ValueError, match="URI-safe"):
        KamailioOptions(users={"alice": 'pw"; exit; "'})


@pytest.mark.parametrize(
    "opts",
    [
        KamailioOptions(users={"alice": "pw"}),
        KamailioOptions(users={"a": "b"}, algorithm="SHA-256", qop=False, transports=("udp",)),
        KamailioOptions(challenge_invites=True, nat_helper=False, transports=("tcp", "tls")),
    ],
)
def test_rendered_config_passes_kamailio_check(tmp_path: Path, opts: KamailioOptions) -> None:
    """``kamailio -c`` parses the generated script (every module and function exists)."""
    tls_cfg = tmp_path / "tls.cfg"
    tls_cfg.write_text("")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(
        render_config(
            opts, host="127.0.0.1", sip_port=5999, tls_port=5998,
            ctl_socket=tmp_path / "ctl", tls_config=tls_cfg,
        )
    )  # fmt: skip
    result = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = cfg.read_text()
    assert ("route(PROXYAUTH);" in text) is opts.challenge_invites
    assert f'modparam("auth", "algorithm", "{opts.algorithm}")' in text


UL_DUMP = """{
	Domains: {
		Domain: {
			Domain: location
			AoRs: {
				Info: {
					AoR: alice
					Contacts: {
						Contact: {
							Address: sip:alice-1@127.0.0.1:27842;transport=tcp
							Expires: 60
							User-Agent: baresip v1.0.0 (x86_64/linux)
							Received: sip:127.0.0.1:51856;transport=tcp
							Socket: tcp:127.0.0.1:29045
						}
						Contact: {
							Address: sip:alice-2@127.0.0.1:3000
							Expires: 55
							User-Agent: [not set]
							Received: [not set]
							Socket: udp:127.0.0.1:29045
						}
					}
				}
				Info: {
					AoR: bob
					Contacts: {
						Contact: {
							Address: sip:bob@127.0.0.1:4000
							Expires: 30
							Socket: udp:127.0.0.1:29045
						}
					}
				}
			}
		}
	}
}
"""


def test_ul_dump_is_parsed_per_aor() -> None:
    regs = parse_ul_dump(UL_DUMP)
    assert sorted(regs) == ["alice", "bob"]
    first, second = regs["alice"]
    assert first.contact == "sip:alice-1@127.0.0.1:27842;transport=tcp"
    assert (first.expires, first.transport, first.received) == (
        60, "tcp", "sip:127.0.0.1:51856;transport=tcp",
    )  # fmt: skip
    assert (second.expires, second.transport, second.received, second.user_agent) == (
        55, "udp", "", "",
    )  # fmt: skip
    assert regs["bob"][0].expires == 30
    assert parse_ul_dump("{\n}\n") == {}
