"""The many-source digest cracker (tests.toolkit.cracker); used against a real gateway in
tests/interop/test_digest_guessing.py."""

from __future__ import annotations

import random

from sipgw.sip.auth import Credentials, DigestClient, DigestServer, Verdict
from sipgw.sip.message import SipResponse, parse_message
from tests.toolkit.cracker import DigestCracker, Guess, ipv4_sources

COPIED = ("Via", "From", "To", "Call-ID", "CSeq")
"""What a response copies of its request (RFC 3261 §8.2.6.2)."""


def test_ipv4_sources_count_on_across_octets() -> None:
    assert ipv4_sources(3, "127.1.0.254") == ["127.1.0.254", "127.1.0.255", "127.1.1.0"]


def test_only_a_final_answer_past_the_access_check_is_admitted() -> None:
    assert [Guess("a", "p", s).admitted for s in (0, 401, 403, 503, 405, 200)] == [
        False, False, False, False, True, True,
    ]  # fmt: skip


def test_its_request_outgrows_its_challenge_and_its_answer_verifies() -> None:
    server = DigestServer("sipgw", {"alice": "1234"}, random.Random(1))
    cracker = DigestCracker(("192.0.2.9", 5060), "alice")
    request = cracker._request()
    copied = "".join(f"{name}: {request.headers.get(name)}\r\n" for name in COPIED)
    challenge = server.challenge(0.0, "198.51.100.7")
    text = f"SIP/2.0 401 Unauthorized\r\n{copied}WWW-Authenticate: {challenge}\r\n\r\n"
    assert len(request.serialize()) > len(text) + 100  # so it comes back over UDP
    response = parse_message(text.encode())
    assert isinstance(response, SipResponse)
    answer = cracker._request(cseq=2)
    assert DigestClient(Credentials("alice", "1234")).authorize(answer, response)
    assert server.verify(answer, 1.0, "198.51.100.7") is Verdict.OK
