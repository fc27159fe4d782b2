"""Digest authentication, both sides (sipgw.sip.auth)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sipgw.sip.auth import (
    Backoff,
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

PHONE = "198.51.100.66"
"""Where the tests' answers come from (what the nonce is bound to)."""


def _answer(
    server: DigestServer,
    password: str,
    now: float,
    method: str = "INVITE",
    source: str = PHONE,
    user: str = "alice",
) -> SipRequest:
    request = _request(method, "sip:agent@192.0.2.9")
    challenged = _challenge_response(401, server.challenge(now, source))
    assert DigestClient(Credentials(user, password), random.Random(2)).authorize(
        request, challenged
    )
    return request


def _guess(server: DigestServer, password: str, now: float, source: str = PHONE) -> Verdict:
    """One guess as a cracker makes it: a fresh challenge, an answer, the verdict."""
    return server.verify(_answer(server, password, now, source=source), now, source)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_server_accepts_the_right_password(algorithm: str) -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), algorithm=algorithm)
    request = _answer(server, "secret", now=100.0)
    assert server.verify(request, 101.0, PHONE) is Verdict.OK
    assert server.username(request) == "alice"


def test_server_verdicts() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), nonce_lifetime=60)
    assert server.verify(_request("INVITE"), 0.0, PHONE) is Verdict.MISSING
    assert server.verify(_answer(server, "wrong", now=0.0), 1.0, PHONE) is Verdict.BAD
    good = _answer(server, "secret", now=0.0)
    assert server.verify(good, 61.0, PHONE) is Verdict.STALE  # nonce too old
    fresh = _answer(server, "secret", now=100.0)
    assert server.verify(fresh, 100.5, PHONE) is Verdict.OK
    assert server.verify(fresh, 100.6, PHONE) is Verdict.STALE  # the same nc again: a replay


def test_server_does_not_take_a_nonce_it_did_not_issue() -> None:
    ours = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    other = DigestServer("sipgw", {"alice": "secret"}, random.Random(4))
    assert ours.verify(_answer(other, "secret", now=0.0), 1.0, PHONE) is Verdict.STALE
    assert ours.verify(_answer(other, "wrong", now=0.0), 1.0, PHONE) is Verdict.STALE


def test_server_refuses_credentials_computed_for_another_uri() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    request = _answer(server, "secret", now=0.0)
    request.uri = "sip:other@192.0.2.9"
    assert server.verify(request, 1.0, PHONE) is Verdict.BAD


def test_stale_challenge_says_so() -> None:
    server = DigestServer("sipgw", {}, random.Random(3))
    assert "stale=true" in server.challenge(0.0, PHONE, stale=True)
    assert "stale" not in server.challenge(0.0, PHONE)


def test_a_nonce_is_good_only_from_the_address_it_was_sent_to() -> None:
    """Issue 39: a nonce from source A is not taken from source B, not even from B's /64."""
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    for a, b in (("198.51.100.66", "198.51.100.67"), ("2001:db8::1", "2001:db8::2")):
        request = _answer(server, "secret", 0.0, source=a)
        assert server.verify(request, 1.0, b) is Verdict.STALE
        assert server.verify(request, 1.0, a) is Verdict.OK
    # a dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d: the same source
    request = _answer(server, "secret", 2.0, source="198.51.100.66")
    assert server.verify(request, 3.0, "::ffff:198.51.100.66") is Verdict.OK


def test_a_nonce_is_good_only_in_its_realm() -> None:
    one = DigestServer("one", {"alice": "secret"}, random.Random(3))
    two = DigestServer("two", {"alice": "secret"}, random.Random(3))  # the same secret
    request = _answer(one, "secret", 0.0)
    request.headers.set(
        "Authorization", (request.headers.get("Authorization") or "").replace('"one"', '"two"')
    )
    assert two.verify(request, 1.0, PHONE) is Verdict.STALE


@pytest.mark.parametrize("password", ["secret", "wrong"])
def test_an_unusable_nonce_gets_stale_whatever_the_password(password: str) -> None:
    """Issue 39: a 310 s old nonce answered 403 to a wrong password and stale=true to the
    right one (an oracle). Now: expired, replayed or used up, the answer is not checked."""
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    old = _answer(server, password, 0.0)
    assert server.verify(old, 310.0, PHONE) is Verdict.STALE
    future = _answer(server, password, 100.0)
    assert server.verify(future, 50.0, PHONE) is Verdict.STALE  # stamped after now
    replayed = _answer(server, "secret", 400.0)
    assert server.verify(replayed, 400.0, PHONE) is Verdict.OK
    replayed.headers.set("Authorization", _with_response(replayed, password))
    assert server.verify(replayed, 401.0, PHONE) is Verdict.STALE


def _with_response(request: SipRequest, password: str) -> str:
    """The request's Authorization with the response computed for ``password`` instead."""
    params = parse_auth_params((request.headers.get("Authorization") or "").partition(" ")[2])
    response = digest_response(
        algorithm=params["algorithm"], username=params["username"], realm=params["realm"],
        password=password, method=request.method, uri=params["uri"], nonce=params["nonce"],
        qop=params["qop"], nc=params["nc"], cnonce=params["cnonce"],
    )  # fmt: skip
    value = request.headers.get("Authorization") or ""
    return value.replace(params["response"], response)


def test_a_wrong_answer_uses_its_nonce_up() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    challenged = _challenge_response(401, server.challenge(0.0, PHONE))
    wrong = DigestClient(Credentials("alice", "wrong"), random.Random(2))
    right = DigestClient(Credentials("alice", "secret"), random.Random(2))
    first = _request("INVITE", "sip:agent@192.0.2.9")
    assert wrong.authorize(first, challenged)
    assert server.verify(first, 1.0, PHONE) is Verdict.BAD
    second = _request("INVITE", "sip:agent@192.0.2.9")
    assert right.authorize(second, challenged)
    value = second.headers.get("Authorization") or ""
    second.headers.set("Authorization", value.replace("nc=00000001", "nc=00000002"))
    assert server.verify(second, 2.0, PHONE) is Verdict.STALE  # not checked: no second guess


def test_a_right_answer_may_be_followed_by_higher_counts() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    client = DigestClient(Credentials("alice", "secret"), random.Random(2))
    first = _request("INVITE", "sip:agent@192.0.2.9")
    assert client.authorize(first, _challenge_response(401, server.challenge(0.0, PHONE)))
    assert server.verify(first, 1.0, PHONE) is Verdict.OK
    second = _request("INVITE", "sip:agent@192.0.2.9")
    assert client.reauthorize(second)  # nc=00000002 on the same nonce
    assert server.verify(second, 2.0, PHONE) is Verdict.OK
    assert server.verify(second, 3.0, PHONE) is Verdict.STALE  # and not twice


def test_forgotten_nonces_count_as_used() -> None:
    """The table of used nonces is bounded; what it forgot cannot be replayed."""
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), max_nonces=8)
    early = _answer(server, "secret", 0.0)
    assert server.verify(early, 0.0, PHONE) is Verdict.OK
    unused = _answer(server, "secret", 1.0)
    for t in range(10):
        assert _guess(server, "secret", 2.0 + t) is Verdict.OK
    assert len(server._used) == 8
    assert server.verify(early, 20.0, PHONE) is Verdict.STALE  # a replay, forgotten
    assert server.verify(unused, 20.0, PHONE) is Verdict.STALE  # issued before a forgotten one
    assert _guess(server, "secret", 21.0) is Verdict.OK


def test_backoff_after_free_failures_doubles_up_to_the_ceiling() -> None:
    backoff = Backoff(free=5, first=1.0, ceiling=900.0)
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), backoff=backoff)
    now = 0.0
    for _ in range(5):
        assert _guess(server, "wrong", now) is Verdict.BAD
    assert server.backoff_until("alice", PHONE, now) == float("-inf")
    waits = []
    for _ in range(14):
        assert _guess(server, "wrong", now) is Verdict.BAD
        until = server.backoff_until("alice", PHONE, now)
        waits.append(until - now)
        # during the backoff the answer is not checked: the right one is refused too
        assert _guess(server, "secret", until - 0.01) is Verdict.BACKOFF
        now = until
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]
    # after the backoff, the right password works, and clears the count
    assert _guess(server, "secret", now) is Verdict.OK
    assert _guess(server, "wrong", now) is Verdict.BAD
    assert server.backoff_until("alice", PHONE, now) == float("-inf")


def _checked_guesses(server: DigestServer, seconds: float, sources: list[str]) -> int:
    """Guess every 2 s from rotating sources; count the answers checked."""
    checked, t, i = 0, 0.0, 0
    while t < seconds:
        verdict = _guess(server, "wrong", t, sources[i % len(sources)])
        checked += verdict is Verdict.BAD
        t += 2.0
        i += 1
    return checked


def test_guesses_per_user_are_bounded_across_sources() -> None:
    """Issue 39: 250 sources guessed 5,000 a second. Whatever the sources, one user's
    answers are checked at most free + the doubling steps + one per ceiling, and one more
    for each network (/24) the guesses came from (its first answer, sipgw/sip/guessing.py)."""
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    one_network = _checked_guesses(server, 3600.0, [PHONE])
    # 5 free (0-8 s), 10 doubling backoffs (1, 2, 4, ... 512 s, from 10 s to 1034 s: the
    # 1 s one lasts until the next guess), then one per 900 s: at 1034, 1934 and 2834 s
    assert one_network == 5 + 10 + 3
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    sources = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(1000)]  # four /24s
    first_hour = _checked_guesses(server, 3600.0, sources)
    # the guesses move to a new /24 at 500, 1000 and 1500 s: each first answer is checked,
    # and each pushes the user-wide backoff on, so fewer checked ones follow
    assert one_network < first_hour <= one_network + 3


def test_an_unknown_user_gets_what_a_known_one_gets() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    request = _answer(server, "secret", 0.0, user="mallory")
    assert server.verify(request, 1.0, PHONE) is Verdict.BAD
    assert server._guessing == {}  # no state for names nobody configured


def test_the_user_is_not_locked_out_by_guesses_from_other_networks() -> None:
    """Guesses from strangers hold only the strangers' networks: the user calling from a
    network it authenticated from before, or from a new one, still gets in."""
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    home, office = "203.0.113.5", "2001:db8:1:2::10"
    assert _guess(server, "secret", 0.0, home) is Verdict.OK
    assert _guess(server, "secret", 1.0, office) is Verdict.OK
    t = 2.0
    for i in range(40):
        _guess(server, "wrong", t, f"127.0.0.{i + 1}")
        t += 0.01
    assert _guess(server, "secret", t, "127.0.0.77") is Verdict.BACKOFF  # the guessers' /24
    assert _guess(server, "secret", t, "127.0.1.1") is Verdict.OK  # a new place
    assert _guess(server, "secret", t, home) is Verdict.OK
    assert _guess(server, "secret", t, "2001:db8:1:2::99") is Verdict.OK  # office's /64
    # the stranger cannot forge the home address: a nonce sent elsewhere is not taken there
    stolen = _answer(server, "wrong", t, source="127.0.0.9")
    assert server.verify(stolen, t, home) is Verdict.STALE
    assert server.backoff_until("alice", home, t) == float("-inf")


def test_known_sources_are_bounded_and_expire() -> None:
    backoff = Backoff(known_sources=2, known_for=100.0)
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3), backoff=backoff)
    for i, source in enumerate(("192.0.2.1", "198.51.100.2", "203.0.113.3")):
        assert _guess(server, "secret", float(i), source) is Verdict.OK
    user = server._guessing["alice"]
    assert list(user.known) == ["198.51.100.0/24", "203.0.113.0/24"]
    assert user.is_known("203.0.113.0/24", 50.0)
    assert not user.is_known("203.0.113.0/24", 103.0)


def test_wrong_answers_are_forgotten_after_a_quiet_day() -> None:
    server = DigestServer("sipgw", {"alice": "secret"}, random.Random(3))
    now = 0.0
    for _ in range(8):
        assert _guess(server, "wrong", now) is Verdict.BAD
        now = max(now, server.backoff_until("alice", PHONE, now))
    assert now == 1.0 + 2.0 + 4.0
    now += 86_401.0
    for _ in range(5):  # forgotten: five free ones again
        assert _guess(server, "wrong", now) is Verdict.BAD
    assert server.backoff_until("alice", PHONE, now) < now
    assert _guess(server, "wrong", now) is Verdict.BAD
    assert server.backoff_until("alice", PHONE, now) == now + 1.0
