"""Hostile input to every SIP-side parser: only the documented errors come out (Hypothesis).

parse_message under tight limits, digest auth parameters and the digest
server's verification of any Authorization header, SDP (a=crypto included),
SIP INFO DTMF bodies, and the accounts TOML file. Round trips where a
serializer exists.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.app.upstream.accounts import parse_accounts_file
from sipgw.foundation.settings import ConfigError
from sipgw.sip.auth import DigestServer, Verdict, parse_auth_params
from sipgw.sip.body import parse_dtmf_info
from sipgw.sip.errors import MessageParseError, RemoteProtocolError, SdpError
from sipgw.sip.limits import MessageLimits
from sipgw.sip.message import RequestParseError, SipRequest, make_response, parse_message
from sipgw.sip.sdp import CryptoAttribute, SessionDescription
from tests.sipgw.sip.builders import SDP_OFFER, invite, parse_request, request

TIGHT = MessageLimits(
    max_message_size=1500,
    max_header_size=700,
    max_header_fields=12,
    max_line_length=120,
    max_uri_length=60,
    max_body_size=400,
)

_token = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
_value = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=20)


@st.composite
def grown_requests(draw: st.DrawFn) -> bytes:
    """A valid request grown past one limit or another: extra lines, long values, a big body."""
    extra = "\r\n".join(
        f"X-{name}: {value}"
        for name, value in draw(
            st.lists(st.tuples(_token, st.text("abc ", max_size=200)), max_size=20)
        )
    )
    uri = "sip:" + "u" * draw(st.integers(1, 120)) + "@192.0.2.1"
    body = "a=" + "b" * draw(st.integers(0, 800)) + "\r\n"
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "ACK", "BYE"]))
    return request(method, uri=uri, extra=extra, body=body)


@settings(max_examples=300)
@given(grown_requests())
def test_requests_over_any_limit_get_a_bounded_answer_or_parse(data):
    try:
        message = parse_message(data, TIGHT)
    except RequestParseError as exc:
        assert exc.status_hint in (413, 414, 513, 400)
        response = make_response(exc.partial, exc.status_hint, to_tag="t")
        assert len(response.serialize()) <= len(data) + 200
        return
    except MessageParseError:
        return
    assert len(data) <= TIGHT.max_message_size
    assert len(message.body) <= TIGHT.max_body_size


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_any_bytes_under_tight_limits_raise_only_message_parse_error(data):
    try:
        parse_message(data, TIGHT)
    except RequestParseError as exc:
        make_response(exc.partial, exc.status_hint).serialize()
    except MessageParseError:
        pass


# -- digest authentication ---------------------------------------------------------


@given(st.text(max_size=120))
def test_auth_params_raise_only_message_parse_error(text):
    try:
        params = parse_auth_params(text)
    except MessageParseError:
        return
    assert all(name == name.lower() for name in params)


@given(st.dictionaries(_token, _value, max_size=6))
def test_auth_params_round_trip(params):
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = ", ".join(f"{name}={quote(value)}" for name, value in params.items())
    assert parse_auth_params(text) == params


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "username",
                    "realm",
                    "nonce",
                    "uri",
                    "response",
                    "nc",
                    "cnonce",
                    "qop",
                    "algorithm",
                    "opaque",
                ]
            ),
            _value,
        ),
        max_size=10,
    ),  # fmt: skip
    st.text(max_size=60),
)
def test_digest_server_verifies_any_authorization_without_raising(pairs, raw):
    server = DigestServer("sipgw", {"alice": "secret"}, rng=random.Random(1))
    for value in (
        "Digest " + ", ".join(f'{name}="{text}"' for name, text in pairs),
        "Digest " + raw,
        raw,
    ):
        req = parse_request(request("INVITE", extra=f"Authorization: {value}".replace("\n", " ")))
        assert server.verify(req, 0.0, "192.0.2.10") is not Verdict.OK  # no nonce of ours


# -- SDP ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_sdp_from_any_bytes_raises_only_sdp_error(data):
    try:
        SessionDescription.parse(data)
    except SdpError:
        pass


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_crypto_lines_raise_only_sdp_error(text):
    try:
        crypto = CryptoAttribute.parse(text)
    except SdpError:
        return
    assert CryptoAttribute.parse(str(crypto)) == crypto
    offer = SDP_OFFER.replace("RTP/AVP", "RTP/SAVP") + f"a=crypto:{text}\r\n"
    try:
        SessionDescription.parse(offer)
    except SdpError:
        pass


@settings(max_examples=200)
@given(st.integers(0, len(SDP_OFFER)), st.binary(max_size=40))
def test_sdp_serialize_round_trip_after_splicing(at, junk):
    data = SDP_OFFER.encode()[:at] + junk + SDP_OFFER.encode()[at:]
    try:
        sdp = SessionDescription.parse(data)
    except SdpError:
        return
    assert SessionDescription.parse(sdp.serialize()).serialize() == sdp.serialize()


# -- SIP INFO DTMF -----------------------------------------------------------------


@given(
    st.sampled_from(["application/dtmf-relay", "application/dtmf", "text/plain", ""]),
    st.binary(max_size=60),
)
def test_dtmf_info_bodies_raise_only_remote_protocol_error(content_type, body):
    req = parse_request(invite())
    info = SipRequest("INFO", req.uri, req.headers, body)
    if content_type:
        info.headers.set("Content-Type", content_type)
    try:
        digit, duration = parse_dtmf_info(info)
    except RemoteProtocolError as exc:
        assert exc.status_hint in (400, 415)
        return
    assert digit in "0123456789*#ABCD!"
    assert duration is None or duration >= 0


# -- the accounts file -------------------------------------------------------------


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda name, key, value: f'[accounts.{name}]\n{key} = "{value}"\n'.encode(),
            _token,
            st.sampled_from(["aor", "password", "transport", "expires", "agent", "bogus"]),
            _value.filter(lambda v: '"' not in v and "\\" not in v),
        ),
    )
)
def test_accounts_file_raises_only_config_error(data):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "accounts.toml"
        path.write_bytes(data)
        try:
            parse_accounts_file(path)
        except ConfigError:
            pass
