"""Locating SIP servers (sipgw/sip/locate.py): RFC 3263 transport and target choice, RFC 2782
order."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from sipgw.sip.locate import (
    Candidate,
    Naptr,
    Srv,
    explicit_candidate,
    fallback_candidate,
    naptr_choices,
    order_srv,
    parse_nameservers,
    srv_names,
)
from sipgw.sip.uri import SipUri


def uri(text: str) -> SipUri:
    return SipUri.parse(text)


def test_an_ip_host_or_an_explicit_port_needs_no_srv() -> None:
    """§4.1/§4.2: numeric host, or a port: that host and port, UDP (TLS for sips)."""
    assert explicit_candidate(uri("sip:192.0.2.1")) == Candidate("UDP", "192.0.2.1", 5060)
    assert explicit_candidate(uri("sips:192.0.2.1")) == Candidate("TLS", "192.0.2.1", 5061)
    assert explicit_candidate(uri("sip:pbx.test:5070")) == Candidate("UDP", "pbx.test", 5070)
    assert explicit_candidate(uri("sip:pbx.test:5070;transport=tcp")) == Candidate(
        "TCP", "pbx.test", 5070
    )
    assert explicit_candidate(uri("sip:pbx.test;maddr=192.0.2.9")) == Candidate(
        "UDP", "192.0.2.9", 5060
    )
    assert explicit_candidate(uri("sip:pbx.test")) is None  # DNS decides


def test_srv_names_without_naptr() -> None:
    assert srv_names(uri("sip:trunk.test")) == [
        ("UDP", "_sip._udp.trunk.test"), ("TCP", "_sip._tcp.trunk.test"),
        ("TLS", "_sips._tcp.trunk.test"),
    ]  # fmt: skip
    assert srv_names(uri("sip:trunk.test;transport=tcp")) == [("TCP", "_sip._tcp.trunk.test")]
    assert srv_names(uri("sips:trunk.test")) == [("TLS", "_sips._tcp.trunk.test")]
    assert srv_names(uri("sip:trunk.test"), supported=("UDP",)) == [("UDP", "_sip._udp.trunk.test")]


def test_naptr_records_in_order_and_preference_of_what_we_speak() -> None:
    records = [
        Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.trunk.test"),
        Naptr(10, 20, "s", "SIP+D2T", "_sip._tcp.trunk.test"),
        Naptr(10, 10, "S", "SIPS+D2T", "_sips._tcp.trunk.test"),
        Naptr(10, 5, "s", "SIP+D2S", "_sip._sctp.trunk.test"),  # SCTP: not ours
        Naptr(5, 5, "a", "SIP+D2U", "other.trunk.test"),  # not terminal
    ]
    assert naptr_choices(records, secure=False) == [
        ("TLS", "_sips._tcp.trunk.test"), ("TCP", "_sip._tcp.trunk.test"),
        ("UDP", "_sip._udp.trunk.test"),
    ]  # fmt: skip
    assert naptr_choices(records, secure=True) == [("TLS", "_sips._tcp.trunk.test")]
    assert naptr_choices(records, secure=False, supported=("UDP",)) == [
        ("UDP", "_sip._udp.trunk.test")
    ]


def test_srv_order_is_priority_then_weighted_chance() -> None:
    """RFC 2782: lower priority first; within one, picked in proportion to weight."""
    a = Srv(10, 60, 5060, "a.test")
    b = Srv(10, 20, 5060, "b.test")
    c = Srv(10, 20, 5060, "c.test")
    backup = Srv(20, 0, 5060, "backup.test")
    dead = Srv(5, 0, 0, ".")
    draws = itertools.cycle([n / 1000 for n in range(1000)])
    firsts = Counter(order_srv([backup, c, a, dead, b], lambda: next(draws))[0].target
                     for _ in range(1000))  # fmt: skip
    assert set(firsts) == {"a.test", "b.test", "c.test"}
    assert 580 <= firsts["a.test"] <= 620 and 180 <= firsts["b.test"] <= 220
    one = order_srv([backup, c, a, dead, b], lambda: 0.7)
    assert one[-1] == backup and len(one) == 4  # "." dropped, the backup last
    zeros = [Srv(10, 0, 1, "z1.test"), Srv(10, 5, 1, "w.test"), Srv(10, 0, 1, "z2.test")]
    assert order_srv(zeros, lambda: 0.5)[0].target == "w.test"  # weight 0 only on a 0 draw
    assert order_srv(zeros, lambda: 0.0)[0].target == "z1.test"


def test_the_fallback_is_the_host_on_the_default_port() -> None:
    assert fallback_candidate(uri("sip:trunk.test")) == Candidate("UDP", "trunk.test", 5060)
    assert fallback_candidate(uri("sips:trunk.test")) == Candidate("TLS", "trunk.test", 5061)
    assert fallback_candidate(uri("sip:trunk.test"), "TCP") == Candidate("TCP", "trunk.test", 5060)


def test_name_servers_are_addresses_with_an_optional_port() -> None:
    assert parse_nameservers("10.0.0.2, 127.0.0.1:5353, [::1]:5300, ::1") == (
        ("10.0.0.2", 53), ("127.0.0.1", 5353), ("::1", 5300), ("::1", 53),
    )  # fmt: skip
    assert parse_nameservers(" ") == ()
    with pytest.raises(ValueError, match="not an IP address"):
        parse_nameservers("dns.example.com")
    with pytest.raises(ValueError, match="must be a number"):
        parse_nameservers("10.0.0.2:dns")
