"""Checking an incoming call's PASSporT (sipgw/app/security/passports.py): the certificate
fetched over real HTTPS from a local server, then the core's check.

The STI-CA and the signer are made here (tests/toolkit/sti.py); the HTTPS server's own
certificate comes from a throwaway CA (tests/toolkit/tls.py) the fetcher is told to trust.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from sipgw.app.evaluation.ports import free_port
from sipgw.app.security import passports
from sipgw.app.security.passports import (
    CertificateFetcher,
    PassportVerifier,
    read_trust_anchors,
)
from sipgw.sip.headers import Headers
from sipgw.sip.passportcheck import NO_ANCHORS, NO_CRYPTOGRAPHY, load_trust_anchors
from sipgw.sip.verification import CallerVerification, caller_verification
from tests.refcycles import garbage_of_ours
from tests.toolkit.passport import shaken
from tests.toolkit.sti import StiPki, identity_value
from tests.toolkit.tls import make_ca, make_server_cert

pytestmark = pytest.mark.timeout(30)

CALLER, CALLED = ("+15551234567", ""), ("15550100", "")


@dataclass
class CertServer:
    """A local HTTPS server of certificate chains, by path; counts its requests."""

    base: str
    client_tls: ssl.SSLContext
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[CertServer]:
    ca = make_ca(tmp_path / "pki")
    cert = make_server_cert(ca, tmp_path / "pki", "certs", ips=["127.0.0.1"])
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert.cert, cert.key)
    client = ssl.create_default_context(cafile=str(ca.cert))
    served = CertServer("", client)

    async def handler(request: web.Request) -> web.StreamResponse:
        served.requests.append(request.path)
        if served.delay:
            await asyncio.sleep(served.delay)
        body = served.files.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/pem-certificate-chain")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    served.base = f"https://127.0.0.1:{port}"
    try:
        yield served
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def pki() -> StiPki:
    return StiPki.make()


def read(pki: StiPki, url: str, **changes: object) -> CallerVerification:
    """What the SIP core reads of an INVITE with a PASSporT signed by ``pki``."""
    payload = {**shaken("A", orig="15551234567", dest="15550100"), "iat": int(time.time())}
    token = pki.sign({**payload, **changes}, x5u=url)
    headers = Headers.parse(f"Identity: {identity_value(token, url)}")
    return caller_verification(headers, "sip:+15551234567@carrier", CALLER[:1])


def verifier(server: CertServer, anchors_of: StiPki | None) -> PassportVerifier:
    anchors = load_trust_anchors(anchors_of.root_pem) if anchors_of else None
    return PassportVerifier(anchors, CertificateFetcher(ssl_context=server.client_tls))


async def test_a_good_signature_is_verified_and_the_certificate_kept(
    server: CertServer, pki: StiPki
) -> None:
    server.files["/sp.pem"] = pki.chain_pem
    url = f"{server.base}/sp.pem"
    verification = read(pki, url)
    assert verification.needs_check and verification.certificate_url == url
    assert verification.status == "none"  # a claim until checked
    check = verifier(server, pki)
    checked = await check.check(verification, CALLER, CALLED)
    assert (checked.signature, checked.signature_reason, checked.status) == (
        "verified",
        "",
        "passed",
    )
    assert checked.attestation == "A" and not checked.needs_check
    assert checked.as_dict()["signature"] == "verified"
    again = await check.check(read(pki, url), CALLER, CALLED)
    assert again.signature == "verified"
    assert server.requests == ["/sp.pem"] and check.fetcher.fetches == 1  # cached


async def test_calls_at_once_share_one_fetch(server: CertServer, pki: StiPki) -> None:
    server.files["/sp.pem"], server.delay = pki.chain_pem, 0.2
    check = verifier(server, pki)
    url = f"{server.base}/sp.pem"
    checked = await asyncio.gather(*(check.check(read(pki, url), CALLER, CALLED) for _ in range(5)))
    assert [c.signature for c in checked] == ["verified"] * 5
    assert server.requests == ["/sp.pem"] and check.fetcher.fetches == 1


async def test_a_tampered_passport_fails(server: CertServer, pki: StiPki) -> None:
    server.files["/sp.pem"] = pki.chain_pem
    verification = read(pki, f"{server.base}/sp.pem")
    head, payload, signature = verification.token.split(".")
    forged = read(pki, f"{server.base}/sp.pem", attest="C").token.split(".")[1]
    tampered = CallerVerification(
        source="identity", signature="unverified", token=f"{head}.{forged}.{signature}",
        certificate_url=verification.certificate_url,
    )  # fmt: skip
    checked = await verifier(server, pki).check(tampered, CALLER, CALLED)
    assert checked.signature == "failed" and checked.status == "failed"
    assert checked.signature_reason == "the signature does not match the certificate"


async def test_a_stale_passport_fails_without_a_fetch(server: CertServer, pki: StiPki) -> None:
    server.files["/sp.pem"] = pki.chain_pem
    stale = read(pki, f"{server.base}/sp.pem", iat=int(time.time()) - 300)
    checked = await verifier(server, pki).check(stale, CALLER, CALLED)
    assert checked.signature == "failed" and checked.status == "failed"
    assert re.fullmatch(r"iat is 30[01] s old \(at most 60\)", checked.signature_reason)
    assert server.requests == []


async def test_an_untrusted_signer_is_unverified(server: CertServer, pki: StiPki) -> None:
    server.files["/sp.pem"] = pki.chain_pem
    other = StiPki.make("Another STI-CA")
    checked = await verifier(server, other).check(
        read(pki, f"{server.base}/sp.pem"), CALLER, CALLED
    )
    assert checked.signature == "unverified" and checked.status == "none"
    assert checked.signature_reason == "the certificate does not chain to a trusted root"
    assert checked.as_dict()["signature_reason"] == checked.signature_reason


async def test_no_trust_anchors_no_fetch(server: CertServer, pki: StiPki) -> None:
    server.files["/sp.pem"] = pki.chain_pem
    checked = await verifier(server, None).check(read(pki, f"{server.base}/sp.pem"), CALLER, CALLED)
    assert (checked.signature, checked.signature_reason) == ("unverified", NO_ANCHORS)
    assert server.requests == []


async def test_what_cannot_be_fetched_is_unverified(server: CertServer, pki: StiPki) -> None:
    check = verifier(server, pki)
    missing = await check.check(read(pki, f"{server.base}/gone.pem"), CALLER, CALLED)
    assert missing.signature == "unverified" and missing.signature_reason.endswith("answered 404")
    plain = await check.check(read(pki, "http://127.0.0.1:1/sp.pem"), CALLER, CALLED)
    assert plain.signature_reason == "the certificate URL is not https"
    server.files["/big.pem"] = b"x" * (passports.MAX_CERTIFICATE + 1)
    big = await check.check(read(pki, f"{server.base}/big.pem"), CALLER, CALLED)
    assert big.signature_reason.endswith(f"served more than {passports.MAX_CERTIFICATE} bytes")
    server.files["/slow.pem"], server.delay = pki.chain_pem, 1.0
    slow = PassportVerifier(
        load_trust_anchors(pki.root_pem),
        CertificateFetcher(ssl_context=server.client_tls, timeout=0.2),
    )
    late = await slow.check(read(pki, f"{server.base}/slow.pem"), CALLER, CALLED)
    assert late.signature == "unverified" and "within 0.2 s" in late.signature_reason
    untrusted_tls = await PassportVerifier(load_trust_anchors(pki.root_pem)).check(
        read(pki, f"{server.base}/sp.pem"), CALLER, CALLED
    )  # the server's certificate is not one the system trusts
    assert untrusted_tls.signature == "unverified"
    assert untrusted_tls.signature_reason.startswith("cannot fetch")


async def test_without_cryptography_it_is_unverified(
    server: CertServer, pki: StiPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passports, "crypto_available", lambda: False)
    checked = await verifier(server, pki).check(read(pki, f"{server.base}/sp.pem"), CALLER, CALLED)
    assert (checked.signature, checked.signature_reason) == ("unverified", NO_CRYPTOGRAPHY)
    assert server.requests == []


def test_the_ca_file_is_read_once(tmp_path: Path, pki: StiPki) -> None:
    bundle = tmp_path / "sti-ca.pem"
    bundle.write_bytes(pki.root_pem + StiPki.make("Second STI-CA").root_pem)
    anchors = read_trust_anchors(str(bundle))
    assert anchors is not None and len(anchors.roots) == 2
    assert read_trust_anchors("") is None
    bundle.write_text("not a certificate")
    with pytest.raises(ValueError, match="holds no certificate|not a PEM CA bundle"):
        read_trust_anchors(str(bundle))
    with pytest.raises(ValueError, match="cannot read"):
        read_trust_anchors(str(tmp_path / "missing.pem"))


async def test_a_certificate_server_down_leaves_nothing_to_the_collector() -> None:
    """Each fetch from a certificate server that refuses the connection fails at once,
    and its errors go with their frames: aiohttp's connector keeps the refused
    connection's error in a local of its own frame, ``wait_for``'s frame held the task
    holding the next, and the fetch's frame the shared task holding the last, raised
    through the caller's frames (some 130 objects a fetch, in cycles for the collector)."""
    fetcher = CertificateFetcher(timeout=2.0)
    port = free_port()
    with garbage_of_ours() as leftovers:
        for n in range(3):  # a failure is kept for a while: another URL each time
            with pytest.raises(passports.CertificateUnavailable, match="cannot fetch"):
                await fetcher.fetch(f"https://127.0.0.1:{port}/cert{n}.pem")
    assert fetcher.fetches == 3
    assert leftovers == []
