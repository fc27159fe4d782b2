"""RFC 3263 failover to a carrier's second server (docs/transports.md, "Locating a trunk").

A real DNS server (dnsmasq) publishes one SRV name, ``_sip._udp.trunk.test``, for two real
Kamailio registrar/proxies: ``kam1`` (priority 10) and ``kam2`` (priority 20). The gateway
registers ``sip:gw@trunk.test`` and calls ``sip:bob@trunk.test`` (bob is a baresip registered
at each Kamailio). Both go to kam1 first. Then kam1 is killed, its address goes dark: the
next registration refresh and the next call time out there (no response at all, Timer F
and Timer B with a short T1) and are sent to kam2 instead (RFC 3263 §4.3), where the
registration succeeds and bob answers.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sipgw.app.agents import find_agent
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.settings import GatewayConfig
from sipgw.app.upstream.accounts import Account, RegistrationSettings
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.app.upstream.settings import DnsSection
from sipgw.foundation.settings import Sources
from sipgw.sip.events import RegistrationState
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.dnsmasq import Dnsmasq, SrvRecord
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

USERS = {"gw": "gw-pw", "bob": "bob-pw"}
AOR = "sip:gw@trunk.test"
T1 = 0.05
"""A short T1 (Timer B and F = 64·T1 = 3.2 s), so waiting for a dead server takes seconds."""


def kamailio(workdir: Path, name: str) -> Kamailio:
    return Kamailio(
        workdir, name, users=USERS, transports=("udp",), aliases=("trunk.test",), min_expires=0
    )


def gateway(dns: Dnsmasq) -> Gateway:
    config = GatewayConfig(
        bind="127.0.0.1", sip_port=0, public_ip="127.0.0.1",
        rtp_ports=tuple(free_port_range(20)),  # type: ignore[arg-type]
        rtp_timeout=0.0, max_call_seconds=2.0, sip_t1=T1,
    )  # fmt: skip
    account = Account("trunk", AOR, auth_password=USERS["gw"], expires=6)
    return Gateway(
        config,
        find_agent("echo").build(Sources()),
        GatewayParts(
            registration=RegistrationSettings((account,), keepalive_interval=0),
            outbound=OutboundConfig(aor=AOR, username="gw", password=USERS["gw"]),
            dns=DnsSection(dns_servers=(("127.0.0.1", dns.port),)),
        ),
    )


async def registered_at(kam: Kamailio, within: float) -> None:
    deadline = time.monotonic() + within
    while not kam.registrations().get("gw"):
        assert time.monotonic() < deadline, f"gw not registered at {kam.name}"
        await asyncio.sleep(0.2)


async def test_registration_and_calls_survive_one_server_going_dark(tmp_workdir: Path) -> None:
    params = "answermode=auto;audio_codecs=pcmu"
    with kamailio(tmp_workdir, "kam1") as kam1, kamailio(tmp_workdir, "kam2") as kam2:
        records = [
            SrvRecord("_sip._udp.trunk.test", "k1.trunk.test", kam1.sip_port, priority=10),
            SrvRecord("_sip._udp.trunk.test", "k2.trunk.test", kam2.sip_port, priority=20),
        ]
        hosts = {"k1.trunk.test": "127.0.0.1", "k2.trunk.test": "127.0.0.1"}
        with (
            Dnsmasq(tmp_workdir, srv=records, hosts=hosts, ttl=60) as dns,
            Baresip(tmp_workdir, "bob1", user="bob",
                    account=kam1.account_line("bob", params=params)) as bob1,
            Baresip(tmp_workdir, "bob2", user="bob",
                    account=kam2.account_line("bob", params=params)) as bob2,
        ):  # fmt: skip
            kam1.wait_registered("bob")
            kam2.wait_registered("bob")
            gw = gateway(dns)
            await gw.start()
            try:
                # Both servers up: the priority-10 one takes the registration and the call.
                await registered_at(kam1, 10)
                assert not kam2.registrations().get("gw")
                first = await asyncio.wait_for(gw.place_call("sip:bob@trunk.test"), 30)
                assert first.answered, first
                bob1.wait_event("CALL_ESTABLISHED", 5)
                bob1.wait_event("CALL_CLOSED", 8)

                kam1.stop()  # its address goes dark
                # The refresh (at 80-90 % of 6 s) times out there, then goes to kam2.
                await registered_at(kam2, 20)
                # kam2 holds the binding once it has sent its 200; our side follows when that
                # 200 is read (the kamcmd poll above blocks the loop meanwhile).
                kam2_address = ("127.0.0.1", kam2.sip_port)
                deadline = time.monotonic() + 5
                while gw.registrations[AOR].registrar.address != kam2_address:
                    assert time.monotonic() < deadline, gw.registrations[AOR]
                    await asyncio.sleep(0.05)
                assert gw.registrations[AOR].state is RegistrationState.REGISTERED

                # The call tries kam1 first (Timer B), then kam2, where bob answers.
                started = time.monotonic()
                second = await asyncio.wait_for(gw.place_call("sip:bob@trunk.test"), 30)
                assert second.answered, second
                assert time.monotonic() - started >= 64 * T1 * 0.9  # it waited for kam1
                bob2.wait_event("CALL_ESTABLISHED", 5)
                bob2.wait_event("CALL_CLOSED", 8)
            finally:
                await gw.stop()
            wait_for(lambda: resolved_k2(dns), 10, dns.log_text)  # its log may lag


def resolved_k2(dns: Dnsmasq) -> bool:
    """dnsmasq was asked for the trunk's SRV records and for k2's address."""
    queries = dns.log_text()
    return "query[SRV] _sip._udp.trunk.test" in queries and "query[A] k2.trunk.test" in queries
