"""A placed call redirected by 3xx responses (RFC 3261 §8.1.3.4), on the fake clock.

The far end answers the INVITE with a 302 (or 300) whose Contacts name other targets; the
call follows those its judge allows, best ``q`` first, up to its bound on 3xx, and goes on to
the next target when one fails.
"""

from __future__ import annotations

import random

from sipgw.sip.addressing import Flow
from sipgw.sip.auth import Credentials, DigestServer
from sipgw.sip.events import CallAnswered, CallEnded, CallRedirected, EndReason
from sipgw.sip.redirect import Redirects
from sipgw.sip.uri import SipUri
from tests.sipgw.sip.usages.test_outbound import PROXY, US, Far, answered, reply


def allow_all(uri: SipUri) -> bool:
    return True


def moved(far: Far, *contacts: str, status: int = 302) -> None:
    """The INVITE in progress answered with ``status`` naming ``contacts``."""
    response = reply(far.invite, status, contact="")
    for contact in contacts:
        response.headers.add("Contact", contact)
    far.feed(response)


def redirects(far: Far) -> list[CallRedirected]:
    return [e for e in far.events if isinstance(e, CallRedirected)]


def test_a_302_sends_the_invite_to_its_contact_as_a_new_request_of_the_same_call() -> None:
    far = Far(redirects=Redirects(3, allow_all))
    first = far.invite
    moved(far, "<sip:carol@192.0.2.50:5080>")
    second = far.invite
    assert second.uri == "sip:carol@192.0.2.50:5080"
    assert far.flows("INVITE")[-1] == Flow("UDP", ("192.0.2.50", 5080))
    # §8.1.3.4: a new transaction (branch), the same Call-ID, From and To, our offer again
    assert second.top_via.branch != first.top_via.branch
    assert second.cseq.number == first.cseq.number + 1
    for name in ("Call-ID", "From", "To"):
        assert second.headers.get(name) == first.headers.get(name), name
    assert second.body == first.body
    (event,) = redirects(far)
    assert (event.status, str(event.target), event.refused) == (
        302,
        "sip:carol@192.0.2.50:5080",
        (),
    )
    answered(far)
    assert far.of(CallAnswered) and not far.of(CallEnded)
    assert far.requests("ACK")[-1].cseq.number == second.cseq.number


def test_contacts_are_tried_by_q_and_a_failure_moves_on_to_the_next() -> None:
    far = Far(redirects=Redirects(3, allow_all))
    moved(
        far,
        "<sip:low@192.0.2.51>;q=0.2",
        "<sip:high@192.0.2.52>;q=0.9, <sip:plain@192.0.2.53>",  # no q: 1.0
        status=300,
    )
    assert far.invite.uri == "sip:plain@192.0.2.53"
    far.feed(reply(far.invite, 486))  # busy there: the next
    assert far.invite.uri == "sip:high@192.0.2.52"
    far.feed(reply(far.invite, 404))
    assert far.invite.uri == "sip:low@192.0.2.51"
    far.feed(reply(far.invite, 480))  # none left: the call ends with the last failure
    ended = far.ended()
    assert (ended.reason, ended.status) == (EndReason.NO_ANSWER, 480)
    assert [e.status for e in redirects(far)] == [300, 486, 404]


def test_a_6xx_ends_the_call_with_targets_left() -> None:
    far = Far(redirects=Redirects(3, allow_all))
    moved(far, "<sip:a@192.0.2.51>", "<sip:b@192.0.2.52>")
    far.feed(reply(far.invite, 603))  # §21.6: declined everywhere
    assert far.ended().reason is EndReason.DECLINED
    assert len(far.transactions("INVITE")) == 2


def test_a_refused_target_is_not_tried_and_is_reported() -> None:
    allowed = {"sip:ok@192.0.2.52"}
    far = Far(redirects=Redirects(3, lambda uri: str(uri) in allowed))
    moved(far, "<sip:+4420123@premium.example>", "<sip:ok@192.0.2.52>;q=0.5")
    assert far.invite.uri == "sip:ok@192.0.2.52"
    (event,) = redirects(far)
    assert event.refused == ("sip:+4420123@premium.example",)
    # every target refused: the call ends with the 3xx, and says why
    refused = Far(redirects=Redirects(3, lambda uri: False))
    moved(refused, "<sip:+4420123@premium.example>")
    assert len(refused.transactions("INVITE")) == 1
    (event,) = redirects(refused)
    assert (event.target, event.why, event.refused) == (
        None,
        "refused",
        ("sip:+4420123@premium.example",),
    )
    ended = refused.ended()
    assert (ended.reason, ended.status) == (EndReason.FAILED, 302)


def test_hops_are_bounded_and_a_target_is_never_tried_twice() -> None:
    far = Far(redirects=Redirects(2, allow_all))
    moved(far, "<sip:a@192.0.2.51>")
    moved(far, "<sip:b@192.0.2.52>", "<sip:bob@192.0.2.20>")  # back to the first: not again
    assert far.invite.uri == "sip:b@192.0.2.52"
    moved(far, "<sip:c@192.0.2.53>")  # a third 3xx: over the bound
    assert len(far.transactions("INVITE")) == 3
    assert redirects(far)[-1].why == "hops"
    assert far.ended().status == 302
    # a loop of two targets ends once both were tried
    loop = Far(redirects=Redirects(10, allow_all))
    moved(loop, "<sip:a@192.0.2.51>")
    moved(loop, "<sip:bob@192.0.2.20>")
    assert len(loop.transactions("INVITE")) == 2
    assert redirects(loop)[-1].why == "none" and loop.ended().status == 302


def test_without_redirects_a_3xx_ends_the_call_as_before() -> None:
    far = Far()
    moved(far, "<sip:carol@192.0.2.50>")
    assert len(far.transactions("INVITE")) == 1 and not redirects(far)
    assert far.ended().status == 302


def test_through_a_proxy_the_redirected_invite_goes_to_the_proxy() -> None:
    far = Far(route=(f"sip:{PROXY[0]}:{PROXY[1]};lr",), redirects=Redirects(3, allow_all))
    moved(far, "<sip:carol@carrier.example>")
    assert far.invite.uri == "sip:carol@carrier.example"
    assert far.flows("INVITE")[-1] == Flow("UDP", PROXY)
    assert far.invite.headers.get_all("Route") == [f"<sip:{PROXY[0]}:{PROXY[1]};lr>"]


def test_a_tcp_contact_gets_a_tcp_contact_of_ours() -> None:
    far = Far(redirects=Redirects(3, allow_all))
    moved(far, "<sip:carol@192.0.2.50;transport=tcp>")
    assert far.flows("INVITE")[-1] == Flow("TCP", ("192.0.2.50", 5060))
    assert "transport=tcp" in (far.invite.headers.get("Contact") or "")


def test_over_the_bound_a_3xx_is_a_failure_and_the_targets_left_are_tried() -> None:
    far = Far(redirects=Redirects(1, allow_all))
    moved(far, "<sip:a@192.0.2.51>", "<sip:b@192.0.2.52>;q=0.5")
    moved(far, "<sip:c@192.0.2.53>")  # a's 3xx: one too many, so on to b
    assert far.invite.uri == "sip:b@192.0.2.52"
    assert not [e for e in redirects(far) if "sip:c@" in str(e.target)]


def test_credentials_are_never_shown_to_a_redirect_s_target() -> None:
    """The trunk challenged and got our digest; its 302 names another host: the INVITE
    there carries no credentials, and a challenge from there is not answered."""
    trunk = DigestServer("trunk.example", {"agent": "s3cret"}, random.Random(4))
    far = Far(credentials=Credentials("agent", "s3cret"), redirects=Redirects(3, allow_all))
    far.feed(reply(far.invite, 401, headers=(("WWW-Authenticate", trunk.challenge(0.0, US)),)))
    assert far.invite.headers.get("Authorization")
    moved(far, "<sip:carol@198.51.100.7>")
    redirected = far.invite
    assert redirected.uri == "sip:carol@198.51.100.7"
    assert redirected.headers.get("Authorization") is None
    other = DigestServer("other.example", {"agent": "s3cret"}, random.Random(5))
    far.feed(reply(redirected, 401, headers=(("WWW-Authenticate", other.challenge(0.0, US)),)))
    assert len(far.transactions("INVITE")) == 3  # the first, with credentials, redirected
    assert far.ended().status == 401


def test_through_a_proxy_its_credentials_stay_and_the_far_end_s_go() -> None:
    proxy = DigestServer("proxy.example", {"agent": "s3cret"}, random.Random(3))
    far = Far(
        credentials=Credentials("agent", "s3cret"),
        route=(f"sip:{PROXY[0]}:{PROXY[1]};lr",),
        redirects=Redirects(3, allow_all),
    )
    challenge = ("Proxy-Authenticate", proxy.challenge(0.0, US))
    far.feed(reply(far.invite, 407, tag="proxy-tag", headers=(challenge,)))
    pbx = DigestServer("pbx.example", {"agent": "s3cret"}, random.Random(4))
    far.feed(reply(far.invite, 401, headers=(("WWW-Authenticate", pbx.challenge(0.0, US)),)))
    assert far.invite.headers.get("Authorization") and far.invite.headers.get("Proxy-Authorization")
    moved(far, "<sip:carol@carrier.example>")
    assert far.invite.headers.get("Authorization") is None
    assert far.invite.headers.get("Proxy-Authorization")
