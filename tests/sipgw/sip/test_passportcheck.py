"""The PASSporT signature check (sipgw/sip/passportcheck.py): claims, chain, ES256.

A test STI-CA and a leaf it signs are made here (tests/toolkit/sti.py); nothing is fetched.
"""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from sipgw.sip import passportcheck
from sipgw.sip.passportcheck import (
    NO_ANCHORS,
    NO_CRYPTOGRAPHY,
    SignatureCheck,
    certificate_url,
    check_claims,
    check_signature,
    load_trust_anchors,
)
from tests.toolkit.passport import shaken
from tests.toolkit.sti import StiPki, certificate, jws_part

NOW = float(int(time.time()))  # the test certificates are valid from a day ago, for 30 days
CALLER, CALLED = ("+15551234567", ""), ("15550100", "")


@pytest.fixture(scope="module")
def pki() -> StiPki:
    return StiPki.make()


def passport(pki: StiPki, **changes: object) -> str:
    return pki.sign({**shaken("A", orig="15551234567", dest="15550100"), "iat": NOW, **changes})


def claims(token: str, now: float = NOW) -> SignatureCheck | None:
    return check_claims(token, now=now, caller_numbers=CALLER, called_numbers=CALLED)


def test_a_good_signature_from_a_trusted_chain_is_verified(pki: StiPki) -> None:
    token = passport(pki)
    anchors = load_trust_anchors(pki.root_pem)
    assert claims(token) is None
    assert check_signature(token, pki.chain_pem, anchors, now=NOW) == SignatureCheck("verified")
    leaf_only = pki.chain_pem[: pki.chain_pem.index(b"-----END CERTIFICATE-----") + 26]
    assert check_signature(token, leaf_only, anchors, now=NOW).state == "verified"
    der = pki.leaf.public_bytes(Encoding.DER)
    assert check_signature(token, der, anchors, now=NOW).state == "verified"


def test_a_tampered_payload_or_signature_fails(pki: StiPki) -> None:
    anchors = load_trust_anchors(pki.root_pem)
    head, _, signature = passport(pki).split(".")
    other = jws_part({**shaken("A", orig="15559999999", dest="15550100"), "iat": NOW})
    found = check_signature(f"{head}.{other}.{signature}", pki.chain_pem, anchors, now=NOW)
    assert found == SignatureCheck("failed", "the signature does not match the certificate")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[5] ^= 1
    flipped = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    token = passport(pki)
    tampered = token.rsplit(".", 1)[0] + "." + flipped
    assert check_signature(tampered, pki.chain_pem, anchors, now=NOW).state == "failed"
    short = token.rsplit(".", 1)[0] + "." + flipped[:40]
    assert check_signature(short, pki.chain_pem, anchors, now=NOW).reason == (
        "the signature is not 64 bytes (r || s)"
    )


def test_another_root_leaves_it_unverified(pki: StiPki) -> None:
    other = load_trust_anchors(StiPki.make("Another STI-CA").root_pem)
    found = check_signature(passport(pki), pki.chain_pem, other, now=NOW)
    assert found == SignatureCheck("unverified", "the certificate does not chain to a trusted root")
    assert check_signature(passport(pki), pki.chain_pem, None, now=NOW) == SignatureCheck(
        "unverified", NO_ANCHORS
    )


def test_a_certificate_out_of_its_validity_is_unverified(pki: StiPki) -> None:
    anchors = load_trust_anchors(pki.root_pem)
    later = pki.leaf.not_valid_after_utc.timestamp() + 10
    found = check_signature(passport(pki), pki.chain_pem, anchors, now=later)
    assert found.state == "unverified" and "is not valid now" in found.reason


def test_a_leaf_is_no_issuer(pki: StiPki) -> None:
    """A certificate without basicConstraints CA cannot vouch for another, though its key
    signed it; and what is not a certificate is no chain."""
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = certificate("Rogue signer", key, "Test SHAKEN signer", pki.leaf_key, ca=False)
    chain = rogue.public_bytes(Encoding.PEM) + pki.chain_pem
    anchors = load_trust_anchors(pki.root_pem)
    token = StiPki(pki.root, rogue, key).sign(
        {**shaken("A", orig="15551234567", dest="15550100"), "iat": NOW}
    )
    found = check_signature(token, chain, anchors, now=NOW)
    assert found == SignatureCheck("unverified", "the certificate does not chain to a trusted root")
    assert check_signature(passport(pki), b"junk", anchors, now=NOW).state == "unverified"


def test_stale_future_and_wrong_numbers_fail_before_any_fetch(pki: StiPki) -> None:
    token = passport(pki)
    assert claims(token, NOW + 60) is None
    assert claims(token, NOW + 61) == SignatureCheck("failed", "iat is 61 s old (at most 60)")
    assert claims(token, NOW - 120) == SignatureCheck("failed", "iat is 120 s ahead (at most 60)")
    assert claims(passport(pki, orig={"tn": "15550000000"})) == SignatureCheck(
        "failed", "orig is not the caller's number"
    )
    assert claims(passport(pki, dest={"tn": ["15551111111"]})) == SignatureCheck(
        "failed", "dest is not the called number"
    )
    assert claims(passport(pki, iat="soon")) == SignatureCheck("failed", "the PASSporT has no iat")
    head = jws_part({"alg": "RS256", "ppt": "shaken"})
    assert claims(head + token[token.index(".") :]) == SignatureCheck(
        "failed", "alg 'RS256' is not ES256"
    )
    broken = claims("a.b")
    assert broken is not None and broken.state == "failed"


def test_the_certificate_url_is_x5u_else_info(pki: StiPki) -> None:
    assert (
        certificate_url(pki.sign(shaken(), x5u="https://a/x.pem"), "https://b") == "https://a/x.pem"
    )
    head = jws_part({"alg": "ES256"})
    assert certificate_url(f"{head}.e30.AA", "https://b/y.pem") == "https://b/y.pem"
    assert certificate_url("junk", "https://b/y.pem") == ""


def test_without_cryptography_it_says_so(monkeypatch: pytest.MonkeyPatch, pki: StiPki) -> None:
    monkeypatch.setattr(passportcheck, "crypto_available", lambda: False)
    found = check_signature(passport(pki), pki.chain_pem, load_trust_anchors(pki.root_pem), now=NOW)
    assert found == SignatureCheck("unverified", NO_CRYPTOGRAPHY)
