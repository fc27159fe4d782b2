"""Signing webhooks (sipgw/app/webhooks/signing.py): the Standard Webhooks scheme."""

from __future__ import annotations

import pytest

from sipgw.app.webhooks.signing import TOLERANCE, WebhookSecret, signed_headers, verify

# The specification's published test vector (reproduced by its reference libraries).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TIME = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_test_vector() -> None:
    secret = WebhookSecret.parse(VECTOR_SECRET)
    assert secret.sign(VECTOR_ID, VECTOR_TIME, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = signed_headers(secret, VECTOR_ID, VECTOR_TIME, VECTOR_BODY)
    assert headers == {
        "content-type": "application/json",
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIME),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_verify_checks_signature_time_and_body() -> None:
    secret = WebhookSecret.parse(VECTOR_SECRET)
    headers = signed_headers(secret, VECTOR_ID, VECTOR_TIME, VECTOR_BODY)
    assert verify(secret, headers, VECTOR_BODY, VECTOR_TIME + 10)
    assert not verify(secret, headers, VECTOR_BODY + b" ", VECTOR_TIME)  # another body
    assert not verify(secret, headers, VECTOR_BODY, VECTOR_TIME + TOLERANCE + 1)  # replayed
    other = WebhookSecret.parse("a plain text secret of enough bytes")
    assert not verify(other, headers, VECTOR_BODY, VECTOR_TIME)
    rotated = {**headers, "webhook-signature": "v1,bm9wZQ== " + VECTOR_SIGNATURE}
    assert verify(secret, rotated, VECTOR_BODY, VECTOR_TIME)  # any one of several
    assert not verify(secret, {**headers, "webhook-timestamp": "soon"}, VECTOR_BODY, 0)


def test_a_secret_is_whsec_base64_or_long_enough_text() -> None:
    assert WebhookSecret.parse("x" * 24).key == b"x" * 24
    assert repr(WebhookSecret.parse(VECTOR_SECRET)) == "WebhookSecret()"  # never shown
    with pytest.raises(ValueError, match="at least 24 bytes"):
        WebhookSecret.parse("short")
    with pytest.raises(ValueError, match="whsec_ followed by base64"):
        WebhookSecret.parse("whsec_not base64!")
