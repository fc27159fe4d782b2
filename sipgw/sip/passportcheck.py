"""Checking a PASSporT's signature against its certificate (RFC 8224 §6.2, RFC 8225, RFC
8226), sans-IO.

The core cannot fetch anything, so the check is split in three steps around the one
fetch an adapter makes (:mod:`sipgw.app.security.passports`):

1. :func:`check_claims` reads what needs no certificate: the PASSporT's ``alg`` is
   ``ES256``, its ``iat`` is fresh (RFC 8224 §6.2.1: at most :data:`MAX_AGE` seconds from
   ``now``, either way), its ``orig`` is the caller's number and its ``dest`` the called
   one. A PASSporT that fails here has ``failed`` before anything is fetched.
2. :func:`certificate_url` says which certificate the check needs (the JWS header's
   ``x5u``, else the Identity header's ``info``): the adapter fetches it (https only).
3. :func:`check_signature` takes the certificate chain as fetched (PEM, leaf first, as
   RFC 8226 §9 serves it; or one DER certificate) and the operator's trust anchors
   (:class:`TrustAnchors`, the STI-CA roots of a CA bundle file) and decides:

   - ``unverified`` (with a reason) when it cannot say: no trust anchors, the
     ``cryptography`` library missing, a chain that does not lead to a trusted root, a
     certificate that is not valid at ``now`` or not an EC P-256 key;
   - ``failed`` when a trusted certificate's key does not verify the signature;
   - ``verified`` otherwise.

The chain check is direct: each certificate's signature by the next (or by a trusted
root), the issuers marked as CAs, every certificate valid at ``now``, at most
:data:`MAX_CHAIN` certificates. Revocation (CRLs, OCSP) and the STI certificates'
TNAuthList extension (RFC 8226 §9) are not checked.

ES256 is ECDSA on P-256 with SHA-256 over ``header.payload`` (the JWS signing input,
RFC 7515 §5.2); JWS writes the signature as ``r || s``, 32 bytes each (RFC 7518 §3.4),
which is turned into the DER form the ``cryptography`` library verifies.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "MAX_AGE",
    "MAX_CHAIN",
    "NO_ANCHORS",
    "NO_CRYPTOGRAPHY",
    "SignatureCheck",
    "SignatureState",
    "TrustAnchors",
    "certificate_url",
    "check_claims",
    "check_signature",
    "crypto_available",
    "load_trust_anchors",
]

SignatureState = Literal["verified", "failed", "unverified"]
MAX_AGE = 60.0
"""Seconds a PASSporT's ``iat`` may be from the time it is checked (RFC 8224 §6.2.1)."""
MAX_CHAIN = 4
"""Certificates a chain may have below its trusted root."""
NO_CRYPTOGRAPHY = "cryptography not installed"
"""The reason of an ``unverified`` check without the ``cryptography`` library."""
NO_ANCHORS = "no STIR/SHAKEN trust anchors are configured"
"""The reason of an ``unverified`` check when nothing is trusted."""


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What the check of a PASSporT's signature found.

    Attributes:
        state: ``verified``, ``failed`` or ``unverified`` (could not be checked).
        reason: why it is not ``verified`` ("" when it is).
    """

    state: SignatureState
    reason: str = ""


def crypto_available() -> bool:
    """Whether the ``cryptography`` library can be imported (the ``stir`` extra)."""
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """The root certificates a PASSporT's certificate must chain to (the STI-CAs)."""

    roots: tuple[Certificate, ...]


def load_trust_anchors(pem: bytes) -> TrustAnchors:
    """The certificates of a PEM CA bundle.

    Raises:
        ValueError: it holds no PEM certificate, or one that does not parse.
        ImportError: ``cryptography`` is not installed.
    """
    from cryptography import x509

    roots = tuple(x509.load_pem_x509_certificates(pem))
    return TrustAnchors(roots)


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, payload, signing input and signature of a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header, payload = (json.loads(_b64(part)) for part in parts[:2])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("the PASSporT header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64(parts[2])


def certificate_url(token: str, info: str = "") -> str:
    """The URL of the certificate that signed ``token``: its header's ``x5u`` (RFC 8225
    §4.1), else ``info`` (the Identity header's parameter, RFC 8224 §4.1); "" when neither."""
    try:
        header = _token_parts(token)[0]
    except ValueError:
        return ""
    x5u = header.get("x5u")
    return x5u if isinstance(x5u, str) and x5u else info


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _tns(value: object) -> list[str]:
    if isinstance(value, dict):
        value = value.get("tn")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _one_of(numbers: Sequence[str], ours: Sequence[str]) -> bool:
    wanted = {_digits(n) for n in ours if _digits(n)}
    return any(_digits(n) in wanted for n in numbers)


def check_claims(
    token: str,
    *,
    now: float,
    caller_numbers: Sequence[str],
    called_numbers: Sequence[str],
    max_age: float = MAX_AGE,
) -> SignatureCheck | None:
    """The ``failed`` check of a PASSporT whose claims are wrong for this call, or None
    when they are right (the signature is still to be checked).

    Args:
        token: the compact JWS (the Identity header's value before its first ``;``).
        now: the time it is checked, in seconds since the Unix epoch.
        caller_numbers: the caller's numbers (From, asserted): ``orig`` must be one.
        called_numbers: the called numbers (To, Request-URI): a ``dest`` must be one.
        max_age: how far ``iat`` may be from ``now`` (RFC 8224 §6.2.1).
    """
    try:
        header, payload, _, _ = _token_parts(token)
    except ValueError as exc:
        return SignatureCheck("failed", f"the PASSporT does not parse ({exc})")
    if header.get("alg") != "ES256":
        return SignatureCheck("failed", f"alg {header.get('alg')!r} is not ES256")
    iat = payload.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return SignatureCheck("failed", "the PASSporT has no iat")
    if now - iat > max_age:
        return SignatureCheck("failed", f"iat is {now - iat:.0f} s old (at most {max_age:g})")
    if iat - now > max_age:
        return SignatureCheck("failed", f"iat is {iat - now:.0f} s ahead (at most {max_age:g})")
    if not _one_of(_tns(payload.get("orig")), caller_numbers):
        return SignatureCheck("failed", "orig is not the caller's number")
    if not _one_of(_tns(payload.get("dest")), called_numbers):
        return SignatureCheck("failed", "dest is not the called number")
    return None


def _certificates(chain: bytes) -> list[Certificate]:
    from cryptography import x509

    if b"-----BEGIN" in chain:
        return list(x509.load_pem_x509_certificates(chain))
    return [x509.load_der_x509_certificate(chain)]


def _valid_at(cert: Certificate, when: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _is_ca(cert: Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: Certificate, issuer: Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    if not _is_ca(issuer):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chain_problem(
    leaf: Certificate, others: Sequence[Certificate], anchors: TrustAnchors, now: float
) -> str:
    """Why ``leaf`` does not chain to a trusted root through ``others`` ("" when it does)."""
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    current = leaf
    seen: list[Certificate] = []
    for _ in range(MAX_CHAIN):
        if not _valid_at(current, when):
            return f"the certificate {current.subject.rfc4514_string()} is not valid now"
        if current in anchors.roots:
            return ""
        for root in anchors.roots:
            if _issued_by(current, root):
                return "" if _valid_at(root, when) else "the trusted root is not valid now"
        seen.append(current)
        step = next(
            (cert for cert in others if cert not in seen and _issued_by(current, cert)), None
        )  # a self-signed root that is not trusted ends the walk, as a missing issuer does
        if step is None:
            return "the certificate does not chain to a trusted root"
        current = step
    return f"the chain is longer than {MAX_CHAIN} certificates"


def check_signature(
    token: str, chain: bytes, anchors: TrustAnchors | None, *, now: float
) -> SignatureCheck:
    """Whether ``token``'s signature is that of the certificate ``chain`` holds, and the
    certificate one the operator trusts (see the module's docstring for what is checked).

    Args:
        token: the compact JWS.
        chain: the certificate as fetched from :func:`certificate_url`.
        anchors: the trusted roots; None = nothing is trusted (``unverified``).
        now: the time it is checked, in seconds since the Unix epoch.
    """
    if not crypto_available():
        return SignatureCheck("unverified", NO_CRYPTOGRAPHY)
    if anchors is None or not anchors.roots:
        return SignatureCheck("unverified", NO_ANCHORS)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        _, _, signing_input, signature = _token_parts(token)
    except ValueError as exc:
        return SignatureCheck("failed", f"the PASSporT does not parse ({exc})")
    try:
        certificates = _certificates(chain)
    except ValueError:
        return SignatureCheck("unverified", "the certificate does not parse")
    if not certificates:
        return SignatureCheck("unverified", "no certificate was served")
    leaf = certificates[0]
    try:
        problem = _chain_problem(leaf, certificates[1:], anchors, now)
        key = leaf.public_key()
    except (ValueError, TypeError):  # an extension or key cryptography cannot read
        return SignatureCheck("unverified", "the certificate cannot be read")
    if problem:
        return SignatureCheck("unverified", problem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return SignatureCheck("unverified", "the certificate's key is not EC P-256")
    if len(signature) != 64:  # RFC 7518 §3.4: r || s, 32 octets each
        return SignatureCheck("failed", "the signature is not 64 bytes (r || s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return SignatureCheck("failed", "the signature does not match the certificate")
    return SignatureCheck("verified")
