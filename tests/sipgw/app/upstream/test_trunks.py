"""A trunk's servers for registrations and calls (sipgw/app/upstream/trunks.py), from a real
dnsmasq."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from sipgw.aio.dns import ServerLocator
from sipgw.app.upstream.settings import DnsSection
from sipgw.app.upstream.trunks import Trunks
from sipgw.sip.addressing import Flow
from sipgw.sip.locate import TargetList
from sipgw.sip.useragent import OutboundCall, RegistrationConfig
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.dnsmasq import Dnsmasq, SrvRecord

pytestmark = pytest.mark.timeout(30)

AOR = "sip:gw@trunk.test"


class Listener(asyncio.DatagramProtocol):
    """A registrar that only listens: what arrived."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)
        self.arrived.set()


async def listener() -> tuple[Listener, int, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Listener, ("127.0.0.1", 0))
    return protocol, transport.get_extra_info("sockname")[1], transport


async def test_registering_follows_the_srv_records_and_their_changes(tmp_path: Path) -> None:
    first, first_port, first_socket = await listener()
    second, second_port, second_socket = await listener()
    records = [
        SrvRecord("_sip._udp.trunk.test", "a.trunk.test", first_port, priority=10),
        SrvRecord("_sip._udp.trunk.test", "b.trunk.test", second_port, priority=20),
    ]
    hosts = {"a.trunk.test": "127.0.0.1", "b.trunk.test": "127.0.0.1"}
    with Dnsmasq(tmp_path, srv=records, hosts=hosts, ttl=1) as dns:
        async with running_gateway() as (gateway, _):
            gateway.trunks.locator = ServerLocator([("127.0.0.1", dns.port)])
            await gateway.trunks.register(RegistrationConfig(AOR, transport="udp"))
            await asyncio.wait_for(first.arrived.wait(), 5)
            assert first.got[0].startswith(b"REGISTER sip:trunk.test SIP/2.0")
            binding = gateway.ua._register.bindings[AOR]
            assert binding.targets == (
                Flow("UDP", ("127.0.0.1", first_port)), Flow("UDP", ("127.0.0.1", second_port))
            )  # fmt: skip
            dns.restart(srv=records[1:])  # the first server is withdrawn
            for _ in range(100):  # its TTL (1 s) ends, the lookup is made again
                if binding.targets == (Flow("UDP", ("127.0.0.1", second_port)),):
                    break
                await asyncio.sleep(0.05)
            assert binding.targets == (Flow("UDP", ("127.0.0.1", second_port)),)
            assert binding.flow == Flow("UDP", ("127.0.0.1", second_port))
            spec = OutboundCall("sip:bob@trunk.test;transport=udp", 30000)
            assert await gateway.trunks.call_targets(spec) == binding.targets
            assert await gateway.trunks.call_targets(OutboundCall("sip:bob@192.0.2.1", 1)) == ()
    first_socket.close()
    second_socket.close()
    assert socket.AF_INET in gateway.trunks.locator.families


class LosingLocator:
    """Lookups whose second one loses its cancellation, as ``asyncio.wait_for`` does in
    CPython 3.11 when the answer comes at the same moment as the cancel (dnspython's asyncio
    backend waits so): the lookup returns instead of raising. CI once hung 30 s in the
    gateway's stop on it, the refresher looking the registrar up again every second."""

    def __init__(self) -> None:
        self.lookups = 0

    async def locate(self, uri: object, now: float) -> TargetList:
        self.lookups += 1
        if self.lookups == 2:
            with contextlib.suppress(asyncio.CancelledError):  # lost, as in wait_for
                await asyncio.sleep(10)
        return TargetList((Flow("UDP", ("127.0.0.1", 5060)),), now + 0.01)


class NoSip:
    """The SIP endpoint's part the trunks use: actions, done nowhere."""

    ua = None

    def act(self, action: object) -> None:
        pass


async def test_stopping_ends_the_refresher_even_when_its_lookup_loses_the_cancel() -> None:
    trunks = Trunks(DnsSection(), lambda: NoSip())  # type: ignore[arg-type, return-value]
    locator = LosingLocator()
    trunks.locator = locator  # type: ignore[assignment]
    await trunks.register(RegistrationConfig(AOR, transport="udp"))
    await asyncio.sleep(1.2)  # the refresher's second lookup (after at least 1 s) is under way
    assert locator.lookups == 2
    stopping = asyncio.ensure_future(trunks.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2.0)
    assert stopping in done  # before: waited for good on a refresher that went on
    assert locator.lookups == 2


class SlowLocator:
    """Lookups that each wait until ``together`` of them are under way (one after the other,
    the first would time out)."""

    def __init__(self, together: int) -> None:
        self.together = together
        self.looked_up: list[str] = []
        self.all_asked = asyncio.Event()

    async def locate(self, uri: object, now: float) -> TargetList:
        self.looked_up.append(str(uri))
        if len(self.looked_up) == self.together:
            self.all_asked.set()
        await asyncio.wait_for(self.all_asked.wait(), 2.0)
        return TargetList((Flow("UDP", ("127.0.0.1", 5060)),), now + 60)


class RecordingSip(NoSip):
    def __init__(self) -> None:
        self.actions: list[object] = []

    def act(self, action: object) -> None:
        self.actions.append(action)


async def test_the_registrars_of_several_accounts_are_looked_up_at_the_same_time() -> None:
    sip = RecordingSip()
    trunks = Trunks(DnsSection(), lambda: sip)  # type: ignore[arg-type, return-value]
    locator = SlowLocator(3)
    trunks.locator = locator  # type: ignore[assignment]
    accounts = [RegistrationConfig(f"sip:gw{n}@trunk{n}.test", transport="udp") for n in range(3)]
    try:
        await trunks.register_all(accounts)
    finally:
        await trunks.stop()
    assert len(locator.looked_up) == 3 and len(sip.actions) == 3  # each one registering
