"""Crafted SHAKEN PASSporTs (RFC 8225, RFC 8588) as an ``Identity`` header (RFC 8224 §4.1)
carries them, for tests: the signature is 64 bytes of filler, never a real one."""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["b64", "identity_header", "shaken"]


def b64(data: object) -> str:
    """``data`` as JSON, base64url without padding (a JWS part)."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def shaken(
    attest: object = "A", orig: str = "15551234567", dest: str = "15550100"
) -> dict[str, Any]:
    """A SHAKEN PASSporT payload (RFC 8588 §4)."""
    return {"attest": attest, "orig": {"tn": orig}, "dest": {"tn": [dest]}, "iat": 1_700_000_000,
            "origid": "123e4567-e89b-12d3-a456-426655440000"}  # fmt: skip


def identity_header(payload: dict[str, Any], cert: str = "https://cert.example/shaken.pem") -> str:
    """The ``Identity`` header value of a PASSporT with ``payload`` (``alg=ES256``)."""
    jose = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": cert}
    signature = base64.urlsafe_b64encode(b"\x01" * 64).rstrip(b"=").decode()
    return f"{b64(jose)}.{b64(payload)}.{signature};info=<{cert}>;alg=ES256;ppt=shaken"
