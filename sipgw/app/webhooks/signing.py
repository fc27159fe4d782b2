"""Signing webhooks as the Standard Webhooks specification has it (HMAC-SHA256, ``v1``).

Each request carries three headers: ``webhook-id`` (the event's id, the same on every
retry: an idempotency key), ``webhook-timestamp`` (integer Unix seconds of this attempt)
and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{webhook-id}.{webhook-timestamp}.{body}`` under the secret. A secret written
``whsec_<base64>`` (the specification's form, which its libraries take) is the decoded
bytes; any other text is its UTF-8 bytes. Source: the specification,
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
("Signature scheme", "Webhook headers", "Verifying signatures").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "MIN_SECRET_BYTES",
    "TOLERANCE",
    "WebhookSecret",
    "signed_headers",
    "verify",
]

MIN_SECRET_BYTES = 24
"""The specification's smallest symmetric secret: "Random. At least 24 bytes"."""
TOLERANCE = 300
"""Seconds a receiver accepts between a request's timestamp and its own clock (5 min)."""
_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A signing key (never shown)."""

    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> WebhookSecret:
        """``whsec_<base64>`` or plain text of at least :data:`MIN_SECRET_BYTES` bytes.

        Raises:
            ValueError: not base64 after ``whsec_``, or too short.
        """
        value = text.strip()
        if value.startswith(_PREFIX):
            try:
                key = base64.b64decode(value[len(_PREFIX) :], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be whsec_ followed by base64") from None
        else:
            key = value.encode()
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes (e.g. whsec_ and the base64 of 32 "
                "random bytes: python3 -c 'import base64,os; "
                'print("whsec_" + base64.b64encode(os.urandom(32)).decode())\')'
            )
        return cls(key)

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of ``msg_id``, ``timestamp`` and ``body``."""
        content = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(self.key, content, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: WebhookSecret, msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The request's headers: the three of the specification and the JSON content type."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": secret.sign(msg_id, timestamp, body),
    }


def verify(secret: WebhookSecret, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """Whether a request is ours: a ``v1`` signature that matches (constant-time compare)
    and a timestamp within :data:`TOLERANCE` of ``now``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE:
        return False
    expected = secret.sign(msg_id, int(stamp), body)
    return any(
        hmac.compare_digest(given, expected)
        for given in lowered.get("webhook-signature", "").split()
    )
