"""The asyncio adapter of the SIP core (sipgw.aio.endpoint), over UDP on loopback.

The TCP and TLS side (StreamPool) has its own tests: test_stream.py and
test_hostile_peers.py. Here: binding, the core driven by messages, actions and its
timer, errors that must not stop the endpoint, and the idle signal a drain waits for.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import pytest

from sipgw.aio.endpoint import SipEndpoint, TransportConfig, _bind_sip_port, open_sip_endpoint
from sipgw.app.evaluation.ports import free_port
from sipgw.sip.addressing import Flow
from sipgw.sip.message import SipResponse, parse_message
from tests.sipgw.aio.test_stream import ack, invite, make_ua, options, port_of, start

pytestmark = pytest.mark.timeout(30)


class UdpPeer:
    """A raw SIP peer on a UDP socket of its own."""

    def __init__(self, gateway_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.gateway = ("127.0.0.1", gateway_port)

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, self.gateway)

    async def read(self, wait: float = 5.0) -> SipResponse:
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 65536), wait)
        message = parse_message(data)
        assert isinstance(message, SipResponse), data
        return message


def bye(port: int, to_tag: str) -> bytes:
    return (
        f"BYE sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbye1\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\n"
        f"To: <sip:gw@127.0.0.1>;tag={to_tag}\r\nCall-ID: call-1\r\nCSeq: 2 BYE\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def test_udp_and_tcp_listen_on_one_port_number(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints)
    assert [name for name, _, _ in endpoint.listening] == ["UDP", "TCP"]
    assert port_of(endpoint, "UDP") == port_of(endpoint, "TCP") > 0
    assert endpoint.ua.config.sip_port == port_of(endpoint, "UDP")  # the core knows it


def test_a_port_taken_for_either_transport_is_an_error() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(OSError) as raised:
            _bind_sip_port("127.0.0.1", taken.getsockname()[1], udp=True, tcp=True)
        assert raised.value.errno == errno.EADDRINUSE
    finally:
        taken.close()


async def test_a_tls_file_that_cannot_be_read_frees_the_ports_bound_before() -> None:
    port = free_port()  # free for UDP and TCP, outside the ephemeral range
    config = TransportConfig(bind="127.0.0.1", sip_port=port, tls_port=0,
                             transports=("UDP", "TCP", "TLS"), tls_cert="/nonexistent.crt",
                             tls_key="/nonexistent.key")  # fmt: skip
    with pytest.raises(OSError):
        await open_sip_endpoint(config, make_ua, lambda event: None)
    sockets = _bind_sip_port("127.0.0.1", port, udp=True, tcp=True)  # both free again
    for sock in sockets.values():
        sock.close()


async def test_a_udp_request_is_answered(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints)
    peer = UdpPeer(port_of(endpoint, "UDP"))
    try:
        await peer.send(options("UDP", peer.port))
        assert (await peer.read()).status == 200
    finally:
        peer.sock.close()


async def test_an_error_inside_the_core_is_counted_and_the_next_message_served(
    endpoints: list[SipEndpoint], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = await start(endpoints)
    peer = UdpPeer(port_of(endpoint, "UDP"))
    real = endpoint.ua.receive_datagram
    failures = [RuntimeError("a bug in the core")]

    def receive_once_broken(data: bytes, flow: Flow, now: float) -> None:
        if failures:
            raise failures.pop()
        real(data, flow, now)

    monkeypatch.setattr(endpoint.ua, "receive_datagram", receive_once_broken)
    try:
        with caplog.at_level(logging.ERROR, logger="sipgw.sip"):
            await peer.send(options("UDP", peer.port, call_id="lost"))
            await peer.send(options("UDP", peer.port, call_id="next", branch="z9hG4bKo2"))
            response = await peer.read()
        assert response.status == 200 and response.call_id == "next"
        assert endpoint.errors == 1
        assert "internal error handling a message from" in caplog.text
    finally:
        peer.sock.close()


async def test_an_event_handler_that_raises_does_not_stop_the_endpoint(
    endpoints: list[SipEndpoint],
) -> None:
    endpoint = await start(endpoints, answer=True)
    raised: list[str] = []

    def on_event(event: object) -> None:
        raised.append(type(event).__name__)
        raise RuntimeError("the application's bug")

    endpoint.on_event = on_event
    peer = UdpPeer(port_of(endpoint, "UDP"))
    try:
        await peer.send(invite("UDP", peer.port))
        assert (await peer.read()).status == 100  # the core still answers
        await peer.send(options("UDP", peer.port, call_id="after", branch="z9hG4bKo3"))
        while (response := await peer.read()).call_id != "after":
            pass
        assert response.status == 200
        assert raised and endpoint.errors == len(raised)
    finally:
        peer.sock.close()


async def test_the_cores_timer_retransmits_an_unacknowledged_200(
    endpoints: list[SipEndpoint],
) -> None:
    """RFC 3261 §13.3.1.4: the 200 goes again after T1 until the ACK comes."""
    endpoint = await start(endpoints, answer=True)
    peer = UdpPeer(port_of(endpoint, "UDP"))
    try:
        await peer.send(invite("UDP", peer.port))
        statuses: list[int] = []
        while statuses.count(200) < 2:
            statuses.append((await peer.read()).status)
        assert endpoint._timer is not None  # armed for the next retransmission
    finally:
        peer.sock.close()


async def test_when_idle_waits_for_the_last_call_to_end(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints, answer=True)
    assert endpoint.when_idle().done()  # nothing up: at once
    peer = UdpPeer(port_of(endpoint, "UDP"))
    try:
        await peer.send(invite("UDP", peer.port))
        while (response := await peer.read()).status != 200:
            pass
        assert response.to.tag
        await peer.send(ack("UDP", peer.port, response.to.tag))
        idle = endpoint.when_idle()
        await asyncio.sleep(0.1)
        assert not idle.done()  # a call is up
        await peer.send(bye(peer.port, response.to.tag))
        await asyncio.wait_for(idle, 5.0)
    finally:
        peer.sock.close()


async def test_an_action_runs_on_the_core_and_what_it_sends_goes_out(
    endpoints: list[SipEndpoint],
) -> None:
    endpoint = await start(endpoints)
    peer = UdpPeer(port_of(endpoint, "UDP"))
    try:
        endpoint.send_keepalive(Flow("UDP", ("127.0.0.1", peer.port)))
        loop = asyncio.get_running_loop()
        assert await asyncio.wait_for(loop.sock_recv(peer.sock, 64), 5.0) == b"\r\n\r\n"
        seen: list[float] = []
        endpoint.act(seen.append)
        assert seen and seen[0] <= loop.time()
    finally:
        peer.sock.close()
