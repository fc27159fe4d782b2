"""Where a peer may aim our RTP: the rules of sipgw.sip.mediatarget, and the user agent
applying them.

Issue 21: ``c=`` was never checked (host names, loopback, anybody's host were taken, a host
name was even resolved), so one INVITE aimed 50 packets a second at a victim. Each offer and
answer here names an address the gateway must refuse, and gets 488 with a Warning saying why.
"""

from __future__ import annotations

import pytest

from sipgw.sip.access import parse_network
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallState
from sipgw.sip.events import CallOffered, EndReason
from sipgw.sip.mediatarget import MediaAddressRefused, MediaRange, MediaTargetPolicy
from sipgw.sip.message import SipRequest
from tests.sipgw.sip.builders import SDP_OFFER, ack_for, invite
from tests.sipgw.sip.ua_harness import Harness, answered_call

PUBLIC = "203.0.113.5"
LOOPBACK = "127.0.0.1"


@pytest.mark.parametrize(
    ("address", "source", "why"),
    [
        ("victim.example.com", PUBLIC, "not an IP address"),
        ("127.0.0.1", PUBLIC, "loopback"),
        ("::1", "2001:db8::5", "loopback"),
        ("169.254.1.1", PUBLIC, "link-local"),
        ("fe80::1", "2001:db8::5", "link-local"),
        ("224.0.0.1", PUBLIC, "not a unicast"),
        ("224.2.1.1/127", PUBLIC, "not a unicast"),
        ("ff02::1", "2001:db8::5", "not a unicast"),
        ("255.255.255.255", PUBLIC, "not a unicast"),
        ("240.0.0.1", PUBLIC, "reserved"),
        ("127.0.0.9", "::ffff:203.0.113.5", "loopback"),  # a dual-stack socket's spelling
    ],
)
def test_refused_addresses(address: str, source: str, why: str) -> None:
    reason = MediaTargetPolicy().refusal(address, source)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("198.51.100.20", PUBLIC),  # someone else's public host: only a range can tell
        ("10.1.2.3", PUBLIC),  # a caller behind a NAT writes its private address
        ("192.168.1.20", "192.168.1.1"),  # a PBX on the LAN
        ("127.0.0.9", LOOPBACK),  # a softphone on this host
        ("::ffff:127.0.0.1", LOOPBACK),
        ("fe80::2", "fe80::1"),  # a phone on the same link
        ("0.0.0.0", PUBLIC),  # RFC 2543 hold: nothing is sent there
        ("::", PUBLIC),
        ("[2001:db8::7]", "2001:db8::5"),
    ],
)
def test_accepted_addresses(address: str, source: str) -> None:
    assert MediaTargetPolicy().refusal(address, source) is None


def test_a_trunks_media_networks_bound_its_calls_only() -> None:
    trunk = MediaRange(parse_network("203.0.113.0/28"), (parse_network("198.51.100.0/24"),))
    policy = MediaTargetPolicy((trunk,))
    assert policy.refusal("198.51.100.20", "203.0.113.5") is None
    assert "outside the media networks" in (policy.refusal("192.0.2.77", "203.0.113.5") or "")
    assert policy.refusal("192.0.2.77", "203.0.113.99") is None  # another source: no range
    assert policy.refusal("0.0.0.0", "203.0.113.5") is None  # hold stays possible
    with pytest.raises(MediaAddressRefused, match="media address 192.0.2.77 refused"):
        policy.check("192.0.2.77", "203.0.113.5")


def offer_to(address: str, direction: str = "sendrecv") -> str:
    return SDP_OFFER.replace("c=IN IP4 192.0.2.10", f"c=IN IP4 {address}").replace(
        "a=sendrecv", f"a={direction}"
    )


@pytest.mark.parametrize("address", ["127.0.0.9", "victim.example.com", "224.0.0.1"])
def test_an_invite_aiming_elsewhere_gets_488_with_a_warning_and_no_call(address: str) -> None:
    h = Harness()
    h.feed(invite(body=offer_to(address)))
    (response,) = h.responses()
    warning = response.headers.get("Warning") or ""
    assert response.status == 488 and warning.startswith("399 192.0.2.1 ")
    assert f"media address {address} refused" in warning
    assert not [e for e in h.events if isinstance(e, CallOffered)]


def test_a_loopback_caller_may_use_loopback_media() -> None:
    h = Harness()
    h.feed(invite(body=offer_to("127.0.0.9")), Flow("UDP", ("127.0.0.1", 5062)))
    assert h.statuses() == [100]


def test_a_reinvite_aiming_elsewhere_gets_488_and_the_call_goes_on() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.feed(ack_for(ok))
    h.feed(invite(cseq=2, to_tag=ok.to.tag, body=offer_to("127.0.0.1")))
    (response,) = h.responses()
    assert response.status == 488 and "loopback" in (response.headers.get("Warning") or "")
    assert call.state is CallState.CONFIRMED and call.media is not None
    assert call.media.remote_address == "192.0.2.10"


def test_a_delayed_offer_answered_with_an_address_elsewhere_ends_the_call() -> None:
    h = Harness()
    call, ok = answered_call(h, body="")
    h.feed(ack_for(ok, body=offer_to("169.254.9.9")))
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]
    assert h.ended()[0].reason is EndReason.MEDIA_FAILED


def test_the_trunk_ranges_come_from_the_core_config() -> None:
    trunk = MediaRange(parse_network("192.0.2.0/24"), (parse_network("198.51.100.0/24"),))
    h = Harness(media_targets=MediaTargetPolicy((trunk,)))
    h.feed(invite())  # c= 192.0.2.10 from the trunk 192.0.2.10: not in its media network
    (response,) = h.responses()
    assert response.status == 488
    h.feed(invite(call_id="call-2", body=offer_to("198.51.100.30")))
    assert h.statuses() == [100]
