"""The throwaway STIR/SHAKEN PKI (tests/toolkit/sti.py): a chain and a real ES256 signature."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sipgw.sip.verification import parse_passport
from tests.toolkit.passport import shaken
from tests.toolkit.sti import StiPki, identity_value, serving_certificates
from tests.toolkit.tls import make_ca, make_server_cert


def test_the_leaf_is_issued_by_the_root_and_signs_r_s() -> None:
    pki = StiPki.make()
    pki.leaf.verify_directly_issued_by(pki.root)
    token = pki.sign(shaken("A"), x5u="https://sti.test/a.pem")
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = pki.leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    read = parse_passport(identity_value(token, "https://sti.test/a.pem"))
    assert read["header"]["x5u"] == "https://sti.test/a.pem"
    assert pki.chain_pem.count(b"BEGIN CERTIFICATE") == 2


def test_chains_are_served_over_https(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki")
    server = make_server_cert(ca, tmp_path / "pki", "sti")
    pki = StiPki.make()
    client = ssl.create_default_context(cafile=str(ca.cert))
    with serving_certificates({"/sp.pem": pki.chain_pem}, server.cert, server.key) as base:
        with urllib.request.urlopen(f"{base}/sp.pem", context=client, timeout=5) as response:
            assert response.read() == pki.chain_pem
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{base}/other.pem", context=client, timeout=5)
