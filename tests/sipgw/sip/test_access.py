"""Who may call: the sans-IO access policy, alone and inside the user agent core."""

from __future__ import annotations

import random

import pytest

from sipgw.sip.access import AccessPolicy, AllowList, Refusal
from sipgw.sip.addressing import Flow
from sipgw.sip.auth import Credentials, DigestClient, DigestServer, parse_challenges
from sipgw.sip.events import CallEnded, CallOffered, EndReason, RequestRefused
from sipgw.sip.message import SipResponse
from tests.sipgw.sip.builders import CALLER, ack_for, invite, parse_request, request
from tests.sipgw.sip.ua_harness import Harness

STRANGER = Flow("UDP", ("198.51.100.66", 5060))
USERS = {"alice": "secret"}


def digest_server(algorithm: str = "MD5") -> DigestServer:
    return DigestServer("sipgw", USERS, random.Random(1), algorithm=algorithm)


def refusals(h: Harness) -> list[RequestRefused]:
    return [e for e in h.events if isinstance(e, RequestRefused)]


def offered(h: Harness) -> list[CallOffered]:
    return [e for e in h.events if isinstance(e, CallOffered)]


# --------------------------------------------------------------------------- the allow list


@pytest.mark.parametrize(
    ("entries", "source", "admitted"),
    [
        (["192.0.2.10"], "192.0.2.10", True),
        (["192.0.2.10"], "192.0.2.11", False),
        (["10.0.0.0/8"], "10.200.3.4", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["10.1.2.3/8"], "10.9.9.9", True),  # host bits dropped, as the docs say
        (["2001:db8::1"], "2001:db8::1", True),
        (["2001:db8::1"], "2001:db8::2", False),
        (["2001:db8::/32"], "2001:db8:ffff::7", True),
        (["2001:db8::/32"], "2001:db9::7", False),
        (["2001:db8::/32"], "[2001:db8::7]", True),  # brackets, as in a Via
        (["192.0.2.0/24"], "::ffff:192.0.2.5", True),  # an IPv4 peer on a dual-stack socket
        (["192.0.2.0/24"], "2001:db8::5", False),  # IPv6 never matches an IPv4 network
        (["192.0.2.10", "2001:db8::/32"], "2001:db8::9", True),
        ([], "192.0.2.10", False),
        (["192.0.2.10"], "pbx.example.com", False),  # names are resolved by the app, not here
    ],
)
def test_allow_list_rows(entries: list[str], source: str, admitted: bool) -> None:
    assert (source in AllowList.parse(entries)) is admitted


def test_anyone_is_every_ipv4_and_ipv6_source() -> None:
    anyone = AllowList.anyone()
    assert anyone.admits_anyone and str(anyone) == "anyone"
    assert "203.0.113.9" in anyone and "2001:db8::9" in anyone and "::1" in anyone
    assert not AllowList.parse(["0.0.0.0/0"]).admits_anyone  # IPv6 still closed
    assert str(AllowList.parse(["192.0.2.10", "10.0.0.0/8", "10.0.0.0/8"])) == (
        "192.0.2.10, 10.0.0.0/8"  # duplicates dropped, single addresses without /32
    )


def test_a_bad_entry_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        AllowList.parse(["10.0.0.0/33"])


def test_what_the_policy_guards() -> None:
    guards = AccessPolicy.guards
    assert guards(parse_request(invite()))
    assert guards(parse_request(request("REGISTER")))
    assert not guards(parse_request(request("OPTIONS")))
    assert not guards(parse_request(request("CANCEL")))
    assert not guards(parse_request(invite(to_tag="ours")))  # a re-INVITE: in a dialog
    assert not guards(parse_request(request("BYE", to_tag="ours")))


def test_describe_says_who_is_admitted() -> None:
    assert AccessPolicy.open().describe() == "calls accepted from anyone"
    both = AccessPolicy(AllowList.parse(["192.0.2.10"]), digest_server())
    assert both.describe() == (
        "calls accepted from 192.0.2.10 or with digest credentials (realm 'sipgw')"
    )
    assert "from nobody" in AccessPolicy(AllowList()).describe()


# --------------------------------------------------------------------------- in the UA core


def test_without_a_policy_the_core_admits_everyone() -> None:
    h = Harness()
    h.feed(invite(), STRANGER)
    assert len(offered(h)) == 1 and refusals(h) == []


def test_an_allowed_source_calls_and_a_stranger_gets_403_and_no_call() -> None:
    h = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.0/24"])))
    h.feed(invite())  # from CALLER, 192.0.2.10
    assert h.statuses() == [100] and len(offered(h)) == 1
    h.events.clear()
    h.feed(invite(call_id="stranger-1"), STRANGER)
    (forbidden,) = h.responses()
    assert forbidden.status == 403 and forbidden.reason == "Forbidden"
    assert forbidden.to.tag and forbidden.headers.get("WWW-Authenticate") is None
    assert offered(h) == []  # the application never hears of the call
    (refused,) = refusals(h)
    assert refused.source == STRANGER.address and refused.method == "INVITE"
    assert refused.refusal is Refusal.NOT_ALLOWED and refused.refusal.status == 403
    assert refused.caller == "sip:+15551234567@192.0.2.10"
    assert not any(c.dialog.call_id == "stranger-1" for c in h.ua._ctx.calls.values())


def test_the_refused_invites_retransmission_ack_and_cancel() -> None:
    """A refusal is stateless (RFC 3261 §8.2.7): no transaction, nothing retransmitted."""
    h = Harness(access=AccessPolicy(AllowList()))
    data = invite(via_branch="z9hG4bKrefused")
    h.feed(data, STRANGER)
    (forbidden,) = h.responses()
    assert not h.ua._ctx.transactions.server
    h.feed(data, STRANGER)  # a retransmission gets the same 403 again, same To tag
    (again,) = h.responses()
    assert again.status == 403 and again.to.tag == forbidden.to.tag
    ack = request("ACK", via_branch="z9hG4bKrefused", to_tag=forbidden.to.tag, cseq_method="ACK")
    h.feed(ack, STRANGER)  # the ACK for the 403 is taken quietly
    assert h.take() == []
    cancel = request("CANCEL", via_branch="z9hG4bKrefused", cseq_method="CANCEL")
    h.feed(cancel, STRANGER)  # no INVITE transaction to cancel: 481 (§9.2)
    assert h.statuses() == [481]
    assert len(refusals(h)) == 2 and offered(h) == [] and not h.ua.busy
    h.advance(64.0)
    assert h.take() == [] and h.ended() == []
    assert not h.ua._ctx.transactions.server


def test_options_stays_free_and_other_costly_requests_are_refused() -> None:
    h = Harness(access=AccessPolicy(AllowList()))
    h.feed(request("OPTIONS"), STRANGER)
    assert h.statuses() == [200] and refusals(h) == []
    h.feed(request("REGISTER"), STRANGER)
    assert h.statuses() == [403]


def test_an_in_dialog_request_from_a_stranger_finds_no_call() -> None:
    h = Harness(access=AccessPolicy(AllowList()))
    h.feed(request("BYE", to_tag="guessed"), STRANGER)
    assert h.statuses() == [481] and refusals(h) == []


# --------------------------------------------------------------------------- digest


def challenge_and_answer(
    h: Harness, password: str = "secret", flow: Flow = STRANGER
) -> tuple[SipResponse, bytes]:
    """INVITE without credentials; the 401; the INVITE again, with credentials (CSeq 2)."""
    h.feed(invite(via_branch="z9hG4bKfirst"), flow)
    (unauthorized,) = h.responses()
    h.feed(
        request("ACK", via_branch="z9hG4bKfirst", to_tag=unauthorized.to.tag, cseq_method="ACK"),
        flow,
    )
    again = parse_request(invite(cseq=2))
    assert DigestClient(Credentials("alice", password), random.Random(3)).authorize(
        again, unauthorized
    )
    return unauthorized, again.serialize()


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_a_challenge_then_good_credentials_make_a_call(algorithm: str) -> None:
    h = Harness(access=AccessPolicy(AllowList(), digest_server(algorithm)))
    unauthorized, authorized = challenge_and_answer(h)
    assert unauthorized.status == 401
    (challenge,) = parse_challenges(unauthorized)
    assert challenge.realm == "sipgw" and challenge.algorithm == algorithm
    assert "auth" in challenge.qop and not challenge.stale
    (challenged,) = refusals(h)
    assert challenged.refusal is Refusal.CHALLENGED and challenged.username is None
    assert offered(h) == []
    h.feed(authorized, STRANGER)
    assert h.statuses() == [100] and len(offered(h)) == 1 and len(refusals(h)) == 1


def test_the_wrong_password_gets_403_naming_the_user() -> None:
    h = Harness(access=AccessPolicy(AllowList(), digest_server()))
    _, authorized = challenge_and_answer(h, password="guess")
    h.events.clear()
    h.feed(authorized, STRANGER)
    assert h.statuses() == [403] and offered(h) == []
    (refused,) = refusals(h)
    assert refused.refusal is Refusal.BAD_CREDENTIALS and refused.username == "alice"


def test_a_stale_nonce_gets_a_new_challenge_then_the_call() -> None:
    server = digest_server()
    h = Harness(access=AccessPolicy(AllowList(), server))
    _, authorized = challenge_and_answer(h)
    h.advance(server.nonce_lifetime + 1)  # the nonce expires before the phone answers
    h.take()
    h.feed(authorized, STRANGER)
    (stale,) = h.responses()
    assert stale.status == 401
    (challenge,) = parse_challenges(stale)
    assert challenge.stale
    retry = parse_request(invite(cseq=3))
    assert DigestClient(Credentials("alice", "secret"), random.Random(4)).authorize(retry, stale)
    h.feed(retry.serialize(), STRANGER)
    assert h.statuses() == [100] and len(offered(h)) == 1


def test_a_replayed_answer_is_not_a_second_call() -> None:
    h = Harness(access=AccessPolicy(AllowList(), digest_server()))
    _, authorized = challenge_and_answer(h)
    h.feed(authorized, STRANGER)
    assert len(offered(h)) == 1
    # The same credentials on a new INVITE (new Call-ID, same nonce count): stale, challenged.
    replay = parse_request(authorized)
    replay.headers.set("Call-ID", "replayed@198.51.100.66")
    replay.headers.replace_first("Via", f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch=z9hG4bKr")
    h.take()
    h.feed(replay.serialize(), STRANGER)
    assert h.statuses() == [401] and len(offered(h)) == 1


def test_allowed_sources_are_not_challenged_when_credentials_are_configured() -> None:
    h = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.10"]), digest_server()))
    h.feed(invite())
    assert h.statuses() == [100] and len(offered(h)) == 1 and refusals(h) == []


def test_in_dialog_requests_of_an_admitted_call_need_no_credentials() -> None:
    h = Harness(access=AccessPolicy(AllowList(), digest_server()))
    _, authorized = challenge_and_answer(h)
    h.feed(authorized, STRANGER)
    call = offered(h)[0].call
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(ok, cseq=2), STRANGER)
    # A re-INVITE (hold) and the BYE carry no Authorization: the dialog admits them.
    h.feed(invite(cseq=3, to_tag=ok.to.tag), STRANGER)
    assert h.statuses() == [200]
    h.feed(request("BYE", cseq=4, to_tag=ok.to.tag), STRANGER)
    assert h.statuses() == [200]
    (ended,) = [e for e in h.events if isinstance(e, CallEnded)]
    assert ended.reason is EndReason.REMOTE_BYE
    assert [r.refusal for r in refusals(h)] == [Refusal.CHALLENGED]


def test_a_user_in_backoff_gets_403_whatever_the_password_and_trusted_sources_call_on() -> None:
    """Issue 39: guesses put the user in backoff, where the right password gets the
    wrong one's 403 (no oracle); the registrar's address is never challenged, so
    the trunk's calls go on."""
    trunk = Flow("UDP", ("192.0.2.10", 5060))
    h = Harness(access=AccessPolicy(AllowList.parse(["192.0.2.10"]), digest_server()))
    for n in range(6):
        _, authorized = challenge_and_answer(h, password=f"guess{n}")
        h.take()
        h.feed(authorized, STRANGER)
        assert h.statuses() == [403]
    h.events.clear()
    _, right = challenge_and_answer(h)  # the right password, during the backoff
    h.take()
    h.feed(right, STRANGER)
    assert h.statuses() == [403] and offered(h) == []
    assert [r.refusal for r in refusals(h)][-1] is Refusal.BACKOFF
    h.feed(invite(call_id="from-the-trunk"), trunk)
    assert h.statuses() == [100] and len(offered(h)) == 1
    h.advance(1.0)  # the first backoff is over: the right password is checked again
    _, right = challenge_and_answer(h)
    h.take()
    h.feed(right, STRANGER)
    assert h.statuses() == [100] and len(offered(h)) == 2
