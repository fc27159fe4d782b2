"""X-Twilio-Signature, checked against the worked examples Twilio publishes.

Twilio's "Webhooks security" page works one request through: the URL
``https://example.com/myapp.php?foo=1&bar=2``, the POST fields below, the Auth Token ``12345``,
and the signature ``L/OH5YylLD5NRKLltdqwSvS0BnU=``. Its older edition used
``https://mycompany.com/myapp.php?foo=1&bar=2`` with other numbers and
``0/KCTR6DLpKmkAf8muzZqo1nDgQ=``. The JSON example's body hashes to the ``bodySHA256`` it shows.
"""

from __future__ import annotations

import hashlib

import pytest

from sipgw.twilio.signature import signature_for, url_variants, verify_signature

TOKEN = "12345"
URL = "https://example.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "Digits": "1234",
    "To": "+18005551212",
    "From": "+14158675310",
    "Caller": "+14158675310",
    "CallSid": "CA1234567890ABCDE",
}
OLD_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
OLD_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
JSON_URL = (
    "https://example.com/myapp"
    "?bodySHA256=5ccde7145dfb8f56479710896586cb9d5911809d83afbe34627818790db0aec9"
)
JSON_BODY = b'{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'


def test_twilios_published_examples_verify() -> None:
    assert signature_for(TOKEN, URL, PARAMS) == "L/OH5YylLD5NRKLltdqwSvS0BnU="
    assert verify_signature(TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL, PARAMS)
    assert verify_signature(TOKEN, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", OLD_URL, OLD_PARAMS)
    # The order the fields arrive in does not matter: they are sorted.
    backwards = sorted(PARAMS.items())[::-1]
    assert verify_signature(TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL, backwards)


@pytest.mark.parametrize(
    ("token", "signature", "url", "params"),
    [
        ("54321", "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL, PARAMS),
        (TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL.replace("bar=2", "bar=3"), PARAMS),
        (TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL, {**PARAMS, "Digits": "9999"}),
        (TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU=", URL, {**PARAMS, "Extra": ""}),
        (TOKEN, "L/OH5YylLD5NRKLltdqwSvS0BnU", URL, PARAMS),
        (TOKEN, "", URL, PARAMS),
        (TOKEN, None, URL, PARAMS),
        ("", signature_for("", URL, PARAMS), URL, PARAMS),  # an empty key signs for anyone
    ],
)
def test_anything_else_is_refused(
    token: str, signature: str | None, url: str, params: dict[str, str]
) -> None:
    assert not verify_signature(token, signature, url, params)


def test_a_json_body_is_bound_by_its_sha256() -> None:
    assert hashlib.sha256(JSON_BODY).hexdigest() in JSON_URL  # the docs' own pair
    signature = signature_for(TOKEN, JSON_URL)
    assert verify_signature(TOKEN, signature, JSON_URL, body=JSON_BODY)
    assert not verify_signature(TOKEN, signature, JSON_URL, body=JSON_BODY + b" ")
    assert not verify_signature(TOKEN, signature, "https://example.com/myapp", body=JSON_BODY)


def test_the_port_twilio_drops_and_the_handshakes_trailing_slash() -> None:
    # Voice webhooks over HTTPS: Twilio signs the URL without the port.
    signed = signature_for(TOKEN, "https://example.com/voice", PARAMS)
    assert verify_signature(TOKEN, signed, "https://example.com:443/voice", PARAMS)
    assert verify_signature(TOKEN, signed, "https://example.com:8443/voice", PARAMS)
    with_port = signature_for(TOKEN, "https://example.com:443/voice", PARAMS)
    assert verify_signature(TOKEN, with_port, "https://example.com/voice", PARAMS)
    # A Media Streams handshake (a GET): the URL alone, perhaps with a trailing slash.
    handshake = signature_for(TOKEN, "wss://example.com/twilio/stream/")
    assert verify_signature(TOKEN, handshake, "wss://example.com/twilio/stream")
    assert not verify_signature(TOKEN, handshake, "wss://example.com/twilio/other")


def test_url_variants_keep_the_resource() -> None:
    assert url_variants("https://u:p@example.com:8443/a?x=1") == [
        "https://u:p@example.com:8443/a?x=1",
        "https://example.com/a?x=1",
        "https://example.com:8443/a?x=1",
        "https://u:p@example.com:8443/a/?x=1",
        "https://example.com/a/?x=1",
        "https://example.com:8443/a/?x=1",
    ]
    assert url_variants("wss://example.com/s/") == [
        "wss://example.com/s/",
        "wss://example.com:443/s/",
    ]
