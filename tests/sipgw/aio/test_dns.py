"""RFC 3263 lookups (sipgw/aio/dns.py) against a real DNS server (dnsmasq) on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.aio.dns import RETRY_AFTER, ServerLocator
from sipgw.sip.addressing import Flow
from sipgw.sip.uri import SipUri
from tests.toolkit.peers.dnsmasq import Dnsmasq, NaptrRecord, SrvRecord

pytestmark = pytest.mark.timeout(30)

HOSTS = {"kam1.trunk.test": "127.0.0.1", "kam2.trunk.test": "127.0.0.2"}
SRV = [
    SrvRecord("_sip._udp.trunk.test", "kam2.trunk.test", 5072, priority=20),
    SrvRecord("_sip._udp.trunk.test", "kam1.trunk.test", 5071, priority=10),
    SrvRecord("_sip._tcp.trunk.test", "kam1.trunk.test", 5081, priority=10),
    SrvRecord("_sips._tcp.trunk.test", "kam1.trunk.test", 5091, priority=10),
]


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[Dnsmasq]:
    with Dnsmasq(tmp_path, srv=SRV, hosts=HOSTS, ttl=7) as server:
        yield server


def locator(dns: Dnsmasq) -> ServerLocator:
    return ServerLocator([("127.0.0.1", dns.port)], families=(socket.AF_INET,))


async def test_naptr_then_srv_then_a(dns: Dnsmasq) -> None:
    dns.restart(
        naptr=[
            NaptrRecord("trunk.test", "SIP+D2T", "_sip._tcp.trunk.test", order=10),
            NaptrRecord("trunk.test", "SIP+D2U", "_sip._udp.trunk.test", order=20),
        ]
    )
    found = await locator(dns).locate(SipUri.parse("sip:gw@trunk.test"), now=100.0)
    assert found.flows == (
        Flow("TCP", ("127.0.0.1", 5081)),  # NAPTR order 10
        Flow("UDP", ("127.0.0.1", 5071)),  # then UDP: priority 10 ...
        Flow("UDP", ("127.0.0.2", 5072)),  # ... before 20
    )
    assert found.expires == 107.0  # the smallest TTL


async def test_without_naptr_each_transports_srv(dns: Dnsmasq) -> None:
    found = await locator(dns).locate(SipUri.parse("sip:trunk.test"), now=0.0)
    assert found.flows == (
        Flow("UDP", ("127.0.0.1", 5071)), Flow("UDP", ("127.0.0.2", 5072)),
        Flow("TCP", ("127.0.0.1", 5081)),
        Flow("TLS", ("kam1.trunk.test", 5091)),  # TLS keeps the name (certificate check)
    )  # fmt: skip
    tcp = await locator(dns).locate(SipUri.parse("sip:trunk.test;transport=tcp"), now=0.0)
    assert tcp.flows == (Flow("TCP", ("127.0.0.1", 5081)),)


async def test_no_srv_falls_back_to_a_and_an_explicit_port_skips_srv(dns: Dnsmasq) -> None:
    plain = await locator(dns).locate(SipUri.parse("sip:kam2.trunk.test"), now=0.0)
    assert plain.flows == (Flow("UDP", ("127.0.0.2", 5060)),)
    port = await locator(dns).locate(SipUri.parse("sip:trunk.test:5999"), now=0.0)
    assert port.flows == ()  # trunk.test has no A record: the caller sends as before
    assert port.expires == RETRY_AFTER
    ip = await locator(dns).locate(SipUri.parse("sip:192.0.2.7:5070"), now=0.0)
    assert ip.flows == (Flow("UDP", ("192.0.2.7", 5070)),)


async def test_answers_are_kept_for_their_ttl_and_then_asked_again(dns: Dnsmasq) -> None:
    finder = locator(dns)
    target = SipUri.parse("sip:trunk.test;transport=udp")
    first = await finder.locate(target, now=0.0)
    assert first.flows[0] == Flow("UDP", ("127.0.0.1", 5071))
    dns.restart(srv=[SrvRecord("_sip._udp.trunk.test", "kam2.trunk.test", 5072)])
    assert await finder.locate(target, now=6.9) == first  # within the TTL: not asked
    again = await finder.locate(target, now=7.0)
    assert again.flows == (Flow("UDP", ("127.0.0.2", 5072)),)
    dns.close()  # the server is gone: nothing found, asked again later
    gone = await ServerLocator([("127.0.0.1", dns.port)], timeout=0.5).locate(target, now=0.0)
    assert gone.flows == () and gone.expires == RETRY_AFTER
