"""What the caller's carrier says it verified of the caller's number (STIR/SHAKEN), sans-IO.

A carrier that checks the caller's number (STIR/SHAKEN, RFC 8224 / RFC 8588) tells the
called side in one of two ways:

- a ``verstat`` parameter on the P-Asserted-Identity or From URI's user part
  (``tel:+15551234567;verstat=TN-Validation-Passed``, 3GPP TS 24.229 §7.2A.20):
  ``TN-Validation-Passed``, ``TN-Validation-Failed`` or ``No-TN-Validation``; some
  carriers add the attestation level (``TN-Validation-Passed-A``, ``-B``, ``-C``);
- an ``Identity`` header (RFC 8224 §4): a PASSporT (RFC 8225), a JWT whose payload has
  ``attest`` (A, B, C: RFC 8588), ``orig`` and ``dest`` numbers and ``iat``, with
  ``info=<certificate URL>`` and ``alg=ES256``.

:func:`caller_verification` reads both. Neither proves anything by itself: the verstat
is the word of whoever sent the INVITE (believed, like P-Asserted-Identity, only from a
source the operator named: :mod:`sipgw.sip.trustedid`), and a PASSporT's ``attest`` is
what it *claims* until its signature is checked. The SIP core reads; it fetches nothing:
a PASSporT's :attr:`CallerVerification.signature` is ``unverified`` as read, with the
:attr:`~CallerVerification.certificate_url` the check needs, and the application (which
fetches the certificate, :mod:`sipgw.app.security.passports`) records what the check
found with :meth:`CallerVerification.with_signature` (:mod:`sipgw.sip.passportcheck`):
``verified`` makes the status ``passed`` (unless the verstat says the check failed),
``failed`` makes it ``failed``, ``unverified`` (no trust anchors, no certificate, an
untrusted one) leaves it to the verstat. A PASSporT whose ``orig`` is not the caller's
number (From or P-Asserted-Identity) is not believed at all: the status is ``failed``.
Reading never fails the call: what does not parse is described in
:attr:`CallerVerification.problem`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sipgw.sip.headers import Headers, split_header_list
from sipgw.sip.passportcheck import SignatureCheck, certificate_url

__all__ = [
    "ATTESTATIONS",
    "NOT_VERIFIED",
    "STATUSES",
    "VERSTATS",
    "CallerVerification",
    "Status",
    "caller_verification",
    "parse_passport",
    "same_number",
]

Status = Literal["passed", "failed", "none"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "none")
"""What a route can ask of a call's verification (``verified = [...]``)."""
ATTESTATIONS = ("A", "B", "C")
"""SHAKEN attestation levels (RFC 8588 §4): full, partial, gateway."""
VERSTATS = ("TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation")
"""The verstat values of 3GPP TS 24.229 (a ``-A``/``-B``/``-C`` suffix may follow Passed)."""

_VERSTAT = re.compile(r"[;?&]verstat=([A-Za-z0-9_.-]{1,64})", re.IGNORECASE)
_INFO = re.compile(r";\s*info\s*=\s*<([^>]*)>", re.IGNORECASE)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TOKEN = 8192


@dataclass(frozen=True, slots=True)
class CallerVerification:
    """The carrier's assertion about the caller's number.

    Attributes:
        source: where it came from: ``verstat`` (a URI parameter), ``identity`` (a
            PASSporT only), or "" (nothing asserted, or not believed).
        verstat: the verstat value as sent ("" when none).
        attestation: A, B or C, from a verstat suffix or the PASSporT's ``attest`` (a
            claim: see :attr:`signature`); "" when none.
        orig: the PASSporT's originating number ("" without one).
        dest: the PASSporT's destination numbers.
        signature: the PASSporT signature: ``unverified`` (as read, or not checkable),
            ``verified``, ``failed`` (:meth:`with_signature`) or ``none`` (no PASSporT).
        signature_reason: why the signature is not ``verified`` ("" before it is checked).
        certificate_url: where the PASSporT's certificate is (its ``x5u``, else the
            Identity header's ``info``): what a check must fetch ("" without one).
        token: the PASSporT as sent (the compact JWS), for the check; not in
            :meth:`as_dict`.
        problem: what was wrong with what was sent ("" when nothing).
        foreign: the PASSporT's ``orig`` is not the caller's number: it is not believed,
            and the status is ``failed``.
    """

    source: str = ""
    verstat: str = ""
    attestation: str = ""
    orig: str = ""
    dest: tuple[str, ...] = ()
    signature: str = "none"
    signature_reason: str = ""
    certificate_url: str = ""
    token: str = field(default="", repr=False)
    problem: str = ""
    foreign: bool = False

    @property
    def status(self) -> Status:
        """``passed`` (the carrier says the number is verified, or we verified the
        PASSporT's signature), ``failed`` (the carrier says the check failed, the
        PASSporT is not for this caller, or its signature or claims failed our check) or
        ``none``."""
        if self.foreign or self.signature == "failed":
            return "failed"
        value = self.verstat.lower()
        if value.startswith("tn-validation-passed"):
            return "passed"
        if value == "tn-validation-failed":
            return "failed"
        return "passed" if self.signature == "verified" else "none"

    @property
    def needs_check(self) -> bool:
        """There is a PASSporT whose signature is not checked yet."""
        return bool(self.token) and self.signature == "unverified" and not self.signature_reason

    def with_signature(self, check: SignatureCheck) -> CallerVerification:
        """This verification with what the check of its PASSporT's signature found."""
        return replace(self, signature=check.state, signature_reason=check.reason)

    def as_dict(self) -> dict[str, Any]:
        """The non-empty fields and the status, for a call record or a prompt."""
        data: dict[str, Any] = {"status": self.status}
        for name in ("source", "verstat", "attestation", "orig"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.dest:
            data["dest"] = list(self.dest)
        if self.signature != "none":
            data["signature"] = self.signature
        if self.signature_reason:
            data["signature_reason"] = self.signature_reason
        if self.problem:
            data["problem"] = self.problem
        return data


NOT_VERIFIED = CallerVerification()
"""Nothing asserted (or nothing believed)."""


def same_number(a: str, b: str) -> bool:
    """Whether two telephone numbers are the same, compared by digits (``+1 555`` and
    ``1555`` are); never for an empty one."""
    da, db = re.sub(r"\D", "", a), re.sub(r"\D", "", b)
    return bool(da) and da == db


def _b64(part: str) -> bytes:
    if not _B64URL.fullmatch(part):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _tn(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("tn")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _tns(value: object) -> tuple[str, ...]:
    if isinstance(value, dict):
        value = value.get("tn")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def parse_passport(value: str) -> dict[str, Any]:
    """The header and payload of an ``Identity`` header value's PASSporT (RFC 8224 §4.1:
    ``token;info=<url>;alg=ES256;ppt=shaken``), as ``{"header": ..., "payload": ...}``.

    Raises:
        ValueError: it is not a compact JWS whose header and payload are JSON objects.
    """
    token = value.split(";", 1)[0].strip()
    if len(token) > _MAX_TOKEN:
        raise ValueError("the PASSporT is too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError("not a PASSporT (header.payload.signature)")
    decoded: list[object] = []
    for name, part in zip(("header", "payload"), parts[:2], strict=True):
        try:
            decoded.append(json.loads(_b64(part)))
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"the PASSporT {name} is not base64url JSON") from None
        if not isinstance(decoded[-1], dict):
            raise ValueError(f"the PASSporT {name} is not a JSON object")
    header, payload = decoded
    assert isinstance(header, dict) and isinstance(payload, dict)
    return {"header": header, "payload": payload}


def _shaken_passport(values: Sequence[str]) -> tuple[dict[str, Any] | None, str, str]:
    """The SHAKEN PASSporT of ``Identity`` header values: the first whose ``ppt`` is
    ``shaken`` (a forwarding carrier adds a ``div`` one, RFC 8946), else the first that
    parses; the header value it came in ("" when none); and what was wrong with the first
    that did not parse ("" when none)."""
    found: list[tuple[dict[str, Any], str]] = []
    trouble = ""
    for value in values:
        try:
            passport = parse_passport(value)
        except ValueError as exc:
            trouble = trouble or str(exc)
            continue
        if passport["header"].get("ppt") == "shaken":
            return passport, value, ""
        found.append((passport, value))
    if found:
        return found[0][0], found[0][1], ""
    return None, "", trouble


def _info(value: str) -> str:
    """The ``info`` parameter of an Identity header value (RFC 8224 §4.1), without <>."""
    found = _INFO.search(value)
    return found.group(1).strip() if found else ""


def _verstat(uris: Iterable[str]) -> str:
    for uri in uris:
        found = _VERSTAT.search(uri)
        if found:
            return found.group(1)
    return ""


def _attest_of_verstat(verstat: str) -> str:
    lower = verstat.lower()
    if lower.startswith("tn-validation-passed-") and verstat[-1:].upper() in ATTESTATIONS:
        return verstat[-1:].upper()
    return ""


def caller_verification(
    headers: Headers, caller_uri: str, caller_numbers: Sequence[str]
) -> CallerVerification:
    """The verification an INVITE carries.

    Args:
        headers: the INVITE's headers (P-Asserted-Identity, Identity).
        caller_uri: its From URI, as text (a verstat there counts after the PAI's).
        caller_numbers: the caller's numbers (From user, asserted number): a PASSporT's
            ``orig`` must be one of them.
    """
    pai = [
        part
        for value in headers.get_all("P-Asserted-Identity")
        for part in split_header_list(value)
    ]
    verstat = _verstat([*pai, caller_uri])
    problems: list[str] = []
    if verstat and not any(
        verstat.lower() == known.lower() or verstat.lower().startswith("tn-validation-passed-")
        for known in VERSTATS
    ):
        problems.append(f"unknown verstat {verstat!r}")
    attestation = _attest_of_verstat(verstat)
    orig, dest, signature, foreign = "", tuple[str, ...](), "none", False
    passport, value, trouble = _shaken_passport(headers.get_all("Identity"))
    if trouble:
        problems.append(f"Identity: {trouble}")
    token = url = ""
    if passport is not None:
        payload = passport["payload"]
        signature = "unverified"
        token = value.split(";", 1)[0].strip()
        url = certificate_url(token, _info(value))
        orig, dest = _tn(payload.get("orig")), _tns(payload.get("dest"))
        attest = payload.get("attest")
        numbers = [n for n in caller_numbers if n]
        if not any(same_number(orig, number) for number in numbers):
            problems.insert(0, f"orig {orig or '(none)'} is not the caller's number")
            attestation, foreign = "", True
        elif attest in ATTESTATIONS and not attestation:
            attestation = str(attest)
        elif attest not in ATTESTATIONS:
            problems.append(f"attest {attest!r} is not A, B or C")
    source = "verstat" if verstat else ("identity" if signature != "none" else "")
    return CallerVerification(
        source=source,
        verstat=verstat,
        attestation=attestation,
        orig=orig,
        dest=dest,
        signature=signature,
        certificate_url=url,
        token=token,
        problem="; ".join(problems),
        foreign=foreign,
    )
