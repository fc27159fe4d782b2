"""Digest authentication, both sides (sipgw.sip.auth)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sipgw.sip.auth import (
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    Verdict,
    digest_response,
    parse_auth_params,
    parse_challenges,
)
from sipgw.sip.message import SipRequest, SipResponse, parse_message

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "sip"

# RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
RFC7616 = dict(
    username="Mufasa",
    realm="http-auth@example.org",
    password="Circle of Life",
    method="GET",
    uri="/dir/index.html",
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    qop="auth",
    nc="00000001",
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_response_matches_the_rfc_7616_examples(algorithm: str, expected: str) -> None:
    assert digest_response(algorithm=algorithm, **RFC7616) == expected


def test_rfc_2069_style_response_without_qop() -> None:
    # RFC 2617 §3.5's example (no qop): HA1:nonce:HA2
    assert (
        digest_response(
            algorithm="MD5",
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        )
        == "670fd8c2df070c60b045671b8b24ff02"
    )


def test_auth_params_with_quotes_escapes_and_tokens() -> None:
    params = parse_auth_params(
        'realm="a \\"q\\", b", nonce=abc, qop="auth,auth-int" ,algorithm=SHA-256, stale=TRUE'
    )
    assert params == {
        "realm": 'a "q", b',
        "nonce": "abc",
        "qop": "auth,auth-int",
        "algorithm": "SHA-256",
        "stale": "TRUE",
    }


def _request(method: str = "REGISTER", uri: str = "sip:example.com") -> SipRequest:
    raw = (
        f"{method} {uri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Call-ID: c1\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipRequest)
    return message


def _challenge_response(status: int, *values: str) -> SipResponse:
    name = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    lines = "".join(f"{name}: {v}\r\n" for v in values)
    raw = (
        f"SIP/2.0 {status} Auth\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\n"
        "To: <sip:alice@example.com>;tag=2\r\n"
        "Call-ID: c1\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"{lines}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipResponse)
    return message


def test_parses_every_digest_challenge_of_a_real_401() -> None:
    message = parse_message((DATA_DIR / "register_401.sip").read_bytes())
    assert isinstance(message, SipResponse)
    md5, sha = parse_challenges(message)
    assert md5 == Challenge(
        realm="sip.example.com",
        nonce="Y2xhc3NpY25vbmNl,c29tZXRoaW5n",
        algorithm="MD5",
        qop=("auth", "auth-int"),
        opaque="",
    )
    assert sha.algorithm == "SHA-256" and sha.qop == ("auth",) and not sha.proxy


def _params(request: SipRequest, name: str = "Authorization") -> dict[str, str]:
    value = request.headers.get(name)
    assert value is not None and value.startswith("Digest ")
    return parse_auth_params(value[len("Digest ") :])


def test_client_answers_the_strongest_algorithm_with_qop_auth() -> None:
    client = DigestClient(Credentials("alice", "secret"), random.Random(1))
    request = _request()
    response = _challenge_response(
        401,
        'Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"',
        'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth", opaque="op"',
    )
    assert client.authorize(request, response)
    params = _params(request)
    assert params["algorithm"] == "SHA-256" and params["nonce"] == "n2"
    assert params["qop"] == "auth" and params["nc"] == "00000001" and params["opaque"] == "op"
    assert params["uri"] == "sip:example.com" and params["username"] == "alice"
    assert params["response"] == digest_response(
        algorithm="SHA-256",
        username="alice",
        realm="r",
        password="secret",
        method="REGISTER",
        uri="sip:example.com",
        nonce="n2",
        qop="auth",
        nc="00000001",
        cnonce=params["cnonce"],
    )


def test_client_answers_407_with_proxy_authorization() -> None:
    client = DigestClient(Credentials("alice", "secret"))
    request = _request("INVITE", "sip:bob@example.com")
    assert client.authorize(request, _challenge_response(407, 'Digest realm="p", nonce="x"'))
    assert "Authorization" not in request.headers
    params = _params(request, "Proxy-Authorization")
    assert "qop" not in params and params["algorithm"] == "MD5"


def test_client_gives_up_when_its_first_answer_is_refused() -> None:
    client = DigestClient(Credentials("alice", "wrong"))
    request = _request()
    challenge = 'Digest realm="r", nonce="n1", qop="auth"'
    assert client.authorize(request, _challenge_response(401, challenge))
    # The server challenges again with a new nonce and no stale=true: wrong password.
    again = 'Digest realm="r", nonce="n2", qop="auth"'
    assert not client.authorize(request, _challenge_response(401, again))


def test_client_retries_a_stale_nonce_without_giving_up() -> None:
    client = DigestClient(Credentials("alice", "secret"))
    request = _request()
    assert client.authorize(request, _challenge_response(401, 'Digest realm="r", nonce="n1"'))
    stale = 'Digest realm="r", nonce="n2", stale=true'
    assert client.authorize(request, _challenge_response(401, stale))
    assert _params(request)["nonce"] == "n2"
    assert len(request.headers.get_all("Authorization")) == 1


def test_client_reuses_the_nonce_with_a_higher_count_then_accepts_a_new_one() -> None:
    client = DigestClient(Credentials("alice", "secret"))
    first = _request()
    assert client.authorize(
        first, _challenge_response(401, 'Digest realm="r", nonce="n1", qop=auth')
    )
    refresh = _request()
    assert client.reauthorize(refresh)
    assert _params(refresh)["nc"] == "00000002" and _params(refresh)["nonce"] == "n1"
    # The server no longer takes n1 (without saying stale): one more try is fair.
    assert client.authorize(
        refresh, _challenge_response(401, 'Digest realm="r", nonce="n9", qop=auth')
    )
    assert _params(refresh)["nc"] == "00000001"


@pytest.mark.parametrize(
    "challenge",
    [
        'Digest realm="r", nonce="n", algorithm=SHA-1',  # not in RFC 8760
        'Digest realm="r", nonce="n", qop="auth-int"',  # we only do auth
        'Basic realm="r"',
        'Digest nonce="n"',
    ],
)
def test_client_refuses_challenges_it_cannot_answer(challenge: str) -> None:
    client = DigestClient(Credentials("alice", "secret"))
    assert not client.authorize(_request(), _challenge_response(401, challenge))


def test_credentials_bound_to_a_realm_ignore_other_realms() -> None:
    client = DigestClient(Credentials("alice", "secret", realm="mine"))
    assert not client.authorize(
        _request(), _challenge_response(401, 'Digest realm="other", nonce="n"')
    )


def test_password_is_not_in_the_repr() -> None:
    assert "hunter2" not in repr(Credentials("alice", "hunter2"))
    assert "hunter2" not in repr(DigestServer("r", {"alice": "hunter2"}))


# ---------------------------------------------------------------- server


def _answer(server: DigestServer, password: str, now: float, method: str = "INVITE") -> SipRequest:
    request = _request(method, "sip:agent@192.0.2.9")
    challenged = _challenge_response(401, server.challenge(now))
    assert DigestClient(Credentials("alice", password), random.Random(2)).authorize(
        request, challenged
    )
    return request


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_server_accepts_the_right_password(algorithm: str) -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), algorithm=algorithm)
    request = _answer(server, "secret", now=100.0)
    assert server.verify(request, now=101.0) is Verdict.OK
    assert server.username(request) == "alice"


def test_server_verdicts() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), nonce_lifetime=60)
    assert server.verify(_request("INVITE"), now=0.0) is Verdict.MISSING
    assert server.verify(_answer(server, "wrong", now=0.0), now=1.0) is Verdict.BAD
    good = _answer(server, "secret", now=0.0)
    assert server.verify(good, now=61.0) is Verdict.STALE  # nonce too old
    fresh = _answer(server, "secret", now=100.0)
    assert server.verify(fresh, now=100.5) is Verdict.OK
    assert server.verify(fresh, now=100.6) is Verdict.STALE  # the same nc again: a replay


def test_server_refuses_a_nonce_it_did_not_issue() -> None:
    ours = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    other = DigestServer("sipgw", {"alice": "secret"}, random.Random(4))
    assert ours.verify(_answer(other, "secret", now=0.0), now=1.0) is Verdict.BAD


def test_server_refuses_credentials_computed_for_another_uri() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    request = _answer(server, "secret", now=0.0)
    request.uri = "sip:other@192.0.2.9"
    assert server.verify(request, now=1.0) is Verdict.BAD


def test_stale_challenge_says_so() -> None:
    server = DigestServer("sipgw", {}, random.Random(3))
    assert "stale=true" in server.challenge(0.0, stale=True)
    assert "stale" not in server.challenge(0.0)
