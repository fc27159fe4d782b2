"""The TCP and TLS adapters on loopback: same-connection responses, reuse, keep-alive, TLS."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.aio.stream import StreamPool
from sipgw.aio.tlsfiles import ClientTls, ReloadingContext, TlsClientProfile
from sipgw.sip.addressing import Flow
from sipgw.sip.config import UserAgentConfig
from sipgw.sip.events import CallOffered, SipEvent
from sipgw.sip.framing import MessageFramed, StreamConnection
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from sipgw.sip.useragent import UserAgent
from tests.refcycles import garbage_of_ours
from tests.tls_ca import CaFiles, make_test_ca

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def make_ua(ports: dict[str, int]) -> UserAgent:
    sip_port = ports.get("UDP") or ports.get("TCP") or ports["TLS"]
    listeners = tuple(ports.items())
    config = UserAgentConfig(public_host="127.0.0.1", sip_port=sip_port, listeners=listeners)
    return UserAgent(config)


async def start(
    opened: list[SipEndpoint], *, answer: bool = False, **config: object
) -> SipEndpoint:
    """An endpoint on 127.0.0.1 free ports; with ``answer``, it answers every call."""
    holder: list[SipEndpoint] = []

    def on_event(event: SipEvent) -> None:
        if answer and isinstance(event, CallOffered):
            ua = holder[0].ua
            ua.answer(event.call, 30000, asyncio.get_running_loop().time())

    settings: dict[str, object] = {"bind": "127.0.0.1", "sip_port": 0, "tls_port": 0}
    settings.update(config)
    endpoint = await open_sip_endpoint(TransportConfig(**settings), make_ua, on_event)  # type: ignore[arg-type]
    holder.append(endpoint)
    opened.append(endpoint)
    return endpoint


def port_of(endpoint: SipEndpoint, transport: str) -> int:
    return next(port for name, _, port in endpoint.listening if name == transport)


class Peer:
    """A raw SIP peer on one stream connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framing = StreamConnection()
        self.raw = b""

    @classmethod
    async def connect(cls, port: int, ssl_context: ssl.SSLContext | None = None) -> Peer:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl_context, server_hostname="127.0.0.1" if ssl_context else None
        )
        return cls(reader, writer)

    @property
    def local_port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, wait: float = 5.0) -> SipRequest | SipResponse | None:
        """The next message, or None at EOF."""
        while True:
            event = self.framing.next_event()
            if isinstance(event, MessageFramed):
                return parse_message(event.data)
            data = await asyncio.wait_for(self.reader.read(65536), wait)
            if not data:
                return None
            self.raw += data
            self.framing.receive_data(data)

    def close(self) -> None:
        self.writer.close()


def options(transport: str, port: int, call_id: str = "opt-1", branch: str = "z9hG4bKo1") -> bytes:
    return (
        f"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch={branch}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:gw@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


SDP = (
    "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n"
)


def invite(transport: str, port: int, extra: str = "") -> bytes:
    return (
        f"INVITE sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bKinv1\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:gw@127.0.0.1>\r\n"
        f"Call-ID: call-1\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:peer@127.0.0.1:{port};transport={transport.lower()}>\r\n{extra}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}"
    ).encode()


def ack(transport: str, port: int, to_tag: str) -> bytes:
    return (
        f"ACK sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bKack1\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\n"
        f"To: <sip:gw@127.0.0.1>;tag={to_tag}\r\nCall-ID: call-1\r\nCSeq: 1 ACK\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def answered_call(peer: Peer, transport: str, via_port: int, extra: str = "") -> str:
    """INVITE, wait for the 200, ACK; returns the gateway's To tag."""
    peer.send(invite(transport, via_port, extra))
    while True:
        message = await peer.read()
        assert isinstance(message, SipResponse), message
        if message.status == 200:
            break
    assert message.to.tag
    peer.send(ack(transport, via_port, message.to.tag))
    return message.to.tag


# --------------------------------------------------------------------------- TCP


async def test_tcp_response_on_the_same_connection_and_ping_pong(
    endpoints: list[SipEndpoint],
) -> None:
    endpoint = await start(endpoints)
    assert {name for name, _, _ in endpoint.listening} == {"UDP", "TCP"}
    assert port_of(endpoint, "UDP") == port_of(endpoint, "TCP")
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    peer.send(b"\r\n\r\n")  # RFC 5626 ping first
    peer.send(options("TCP", 5099))
    response = await peer.read()
    assert isinstance(response, SipResponse) and response.status == 200
    assert peer.raw.startswith(b"\r\nSIP/2.0 200 OK\r\n")  # the pong, then the answer
    peer.close()


async def test_tcp_missing_content_length_gets_400_and_close(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints)
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    peer.send(options("TCP", 5099).replace(b"Content-Length: 0\r\n", b""))
    response = await peer.read()
    assert isinstance(response, SipResponse) and response.status == 400
    assert "Content-Length" in response.reason
    assert await peer.read() is None  # then the gateway closes the connection


async def test_bye_goes_back_on_the_callers_connection(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints, answer=True)
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    await answered_call(peer, "TCP", 5099)  # 5099: nobody listens there
    await asyncio.sleep(0.05)
    endpoint.act(endpoint.ua.shutdown)
    bye = await peer.read()
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert bye.top_via.transport == "TCP"
    assert bye.top_via.sent_by == ("127.0.0.1", port_of(endpoint, "TCP"))
    peer.close()


async def test_outbound_connection_is_reused_and_serves_the_peers_requests(
    endpoints: list[SipEndpoint],
) -> None:
    endpoint = await start(endpoints)
    accepted: list[Peer] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(Peer(r, w)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    flow = Flow("TCP", ("127.0.0.1", port))
    endpoint.send(options("TCP", 1, "out-1", "z9hG4bKa"), flow)
    endpoint.send(options("TCP", 1, "out-2", "z9hG4bKb"), flow)
    first = await _eventually(lambda: accepted)
    got = [await first.read(), await first.read()]
    assert [m.call_id for m in got if m is not None] == ["out-1", "out-2"]
    endpoint.send(options("TCP", 1, "out-3", "z9hG4bKc"), flow)
    third = await first.read()
    assert third is not None and third.call_id == "out-3"
    assert len(accepted) == 1  # one connection for all three
    # The peer's own request on that connection is answered on it.
    first.send(options("TCP", port, "in-1", "z9hG4bKd"))
    response = await first.read()
    assert isinstance(response, SipResponse) and response.call_id == "in-1"
    server.close()


async def test_a_connection_the_peer_opened_is_reused_by_its_via_port(
    endpoints: list[SipEndpoint],
) -> None:
    endpoint = await start(endpoints)
    accepted: list[Peer] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(Peer(r, w)), "127.0.0.1", 0)
    listening = server.sockets[0].getsockname()[1]
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    peer.send(options("TCP", listening))  # its Via names its listening port
    assert isinstance(await peer.read(), SipResponse)
    endpoint.send(options("TCP", 1, "out-1", "z9hG4bKx"), Flow("TCP", ("127.0.0.1", listening)))
    request = await peer.read()
    assert request is not None and request.call_id == "out-1"
    assert accepted == []  # no new connection to the peer's listening port
    server.close()
    peer.close()


async def test_idle_connections_are_closed(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints, idle_timeout=0.3)
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    peer.send(options("TCP", 5099))
    assert isinstance(await peer.read(), SipResponse)
    # Timer J is 0 over TCP: nothing uses the connection, so it closes.
    assert await peer.read(wait=5) is None


async def test_a_connection_in_use_by_a_call_is_kept(endpoints: list[SipEndpoint]) -> None:
    endpoint = await start(endpoints, answer=True, idle_timeout=0.2)
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    await answered_call(peer, "TCP", 5099)
    with pytest.raises(TimeoutError):
        await peer.read(wait=1.0)  # still open: the call's dialog uses it
    endpoint.act(endpoint.ua.shutdown)
    bye = await peer.read()
    assert isinstance(bye, SipRequest) and bye.method == "BYE"


# --------------------------------------------------------------------------- TLS


async def test_tls_listener_answers_on_the_connection(
    endpoints: list[SipEndpoint], test_ca: CaFiles
) -> None:
    endpoint = await start(
        endpoints, transports=("UDP", "TCP", "TLS"),
        tls_cert=str(test_ca.cert), tls_key=str(test_ca.key),
    )  # fmt: skip
    tls_port = port_of(endpoint, "TLS")
    assert tls_port != port_of(endpoint, "TCP")
    client = ssl.create_default_context(cafile=str(test_ca.ca_cert))
    peer = await Peer.connect(tls_port, client)
    peer.send(options("TLS", 5098))
    response = await peer.read()
    assert isinstance(response, SipResponse) and response.status == 200
    assert response.top_via.transport == "TLS"
    peer.close()


async def _tls_server(
    test_ca: CaFiles, accepted: list[Peer], host: str = "127.0.0.1"
) -> tuple[asyncio.Server, int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_ca.cert, test_ca.key)
    server = await asyncio.start_server(
        lambda r, w: accepted.append(Peer(r, w)), host, 0, ssl=context
    )
    return server, server.sockets[0].getsockname()[1]


async def test_tls_out_verifies_the_server_with_the_configured_ca(
    endpoints: list[SipEndpoint], test_ca: CaFiles
) -> None:
    endpoint = await start(endpoints, tls_ca=str(test_ca.ca_cert))
    accepted: list[Peer] = []
    server, port = await _tls_server(test_ca, accepted)
    endpoint.send(options("TLS", 1, "tls-1"), Flow("TLS", ("127.0.0.1", port)))
    peer = await _eventually(lambda: accepted)
    request = await peer.read()
    assert request is not None and request.call_id == "tls-1"
    server.close()


async def test_the_context_of_tls_out_is_made_at_the_first_tls_connection_only(
    test_ca: CaFiles,
) -> None:
    """A gateway's start does not load the system's CAs (25 ms): the pool makes its client
    context when it first opens a TLS connection, once, and verifies the server with it."""
    made: list[ssl.SSLContext] = []

    def make() -> ssl.SSLContext:
        made.append(ssl.create_default_context(cafile=str(test_ca.ca_cert)))
        return made[-1]

    accepted: list[Peer] = []
    server, port = await _tls_server(test_ca, accepted)
    client = ClientTls(TlsClientProfile(ReloadingContext(make, (), "test")))
    pool = StreamPool(lambda data, flow: None, lambda flow: None, lambda number: False,
                      client_ssl=client)  # fmt: skip
    plain = await asyncio.start_server(lambda r, w: accepted.append(Peer(r, w)), "127.0.0.1", 0)
    pool.send(
        options("TCP", 1, "tcp-1"), Flow("TCP", ("127.0.0.1", plain.sockets[0].getsockname()[1]))
    )
    await _eventually(lambda: accepted)
    assert made == []  # no TLS yet
    for n in range(2):
        pool.send(options("TLS", n, f"tls-{n}"), Flow("TLS", ("127.0.0.1", port)))
    for _ in range(500):
        if len(accepted) > 1:
            break
        await asyncio.sleep(0.01)
    request = await accepted[1].read()
    assert request is not None and request.call_id in ("tls-0", "tls-1")
    assert len(made) == 1 and client.default.context.get() is made[0]
    pool.close()
    server.close()
    plain.close()


@pytest.mark.parametrize("failure", ["unverified", "wrong-name", "refused"])
async def test_a_failed_connection_fails_the_transaction_fast(
    endpoints: list[SipEndpoint],
    test_ca: CaFiles,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Our BYE toward a Record-Route we cannot reach ends at once, not after Timer F (32 s)."""
    ca = "" if failure == "unverified" else str(test_ca.ca_cert)  # "" = system CAs
    endpoint = await start(endpoints, answer=True, tls_ca=ca)
    accepted: list[Peer] = []
    # 127.0.0.2 is on loopback but not in the certificate's subjectAltName.
    host = "localhost" if failure != "wrong-name" else "127.0.0.2"
    bind = "127.0.0.1" if host == "localhost" else host
    server, port = await _tls_server(test_ca, accepted, bind)
    if failure == "refused":
        server.close()
        await server.wait_closed()
        route = f"<sip:127.0.0.1:{port};transport=tcp;lr>"
    else:
        route = f"<sip:{host}:{port};transport=tls;lr>"
    peer = await Peer.connect(port_of(endpoint, "TCP"))
    await answered_call(peer, "TCP", 5099, extra=f"Record-Route: {route}\r\n")
    await asyncio.sleep(0.05)
    caplog.set_level(logging.WARNING, "sipgw.sip")
    endpoint.act(endpoint.ua.shutdown)
    await asyncio.wait_for(endpoint.when_idle(), 5)
    expected = {
        "unverified": "certificate verify failed",
        "wrong-name": "certificate verify failed",
        "refused": "Connect call failed",
    }[failure]
    assert any(expected in r.getMessage() for r in caplog.records), caplog.text
    server.close()
    peer.close()


@pytest.mark.parametrize("failure", ["refused", "unverified"])
async def test_a_peer_failing_every_connection_leaves_nothing_to_the_collector(
    test_ca: CaFiles, failure: str
) -> None:
    """Each message toward a peer that refuses the connection (or whose certificate does
    not verify) is a failed connection, reported at once; its error goes with its frames
    (a connection bounded by ``asyncio.wait_for`` raised it from a frame holding the task
    that held it: the connection's frames, some 60 objects each, in a cycle for the
    collector)."""
    server, port = await _tls_server(test_ca, [])
    if failure == "refused":
        server.close()
        await server.wait_closed()
    transport = "TCP" if failure == "refused" else "TLS"
    failed: list[Flow] = []
    pool = StreamPool(lambda data, flow: None, failed.append, lambda number: False,
                      client_ssl=_client_tls(ssl.create_default_context()))  # fmt: skip
    with garbage_of_ours() as leftovers:
        for n in range(3):
            pool.send(options(transport, n, f"down-{n}"), Flow(transport, ("127.0.0.1", port)))
            for _ in range(500):
                if len(failed) > n:
                    break
                await asyncio.sleep(0.01)
    pool.close()
    server.close()
    assert len(failed) == 3
    assert leftovers == []


async def test_handshakes_failing_on_our_tls_listener_leave_nothing_to_the_collector(
    test_ca: CaFiles,
) -> None:
    """Each peer that speaks plain SIP to our TLS port fails its handshake and is closed;
    the handshake's error goes with its frames (asyncio's handshake waiter keeps it, in
    a frame of its traceback: a cycle through the handshake's frame and the connection,
    some 40 objects each, for the collector)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_ca.cert, test_ca.key)
    pool = StreamPool(lambda data, flow: None, lambda flow: None, lambda number: False)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    listening.setblocking(False)
    await pool.listen(listening, "TLS", context)
    port = listening.getsockname()[1]
    with garbage_of_ours() as leftovers:
        for n in range(3):
            peer = await Peer.connect(port)
            peer.send(options("TLS", 5099, f"plain-{n}"))
            for _ in range(500):
                if pool.handshake_failures > n:
                    break
                await asyncio.sleep(0.01)
            peer.close()
    pool.close()
    assert pool.handshake_failures == 3
    assert leftovers == []


async def _eventually(get: Callable[[], list[Peer]]) -> Peer:
    for _ in range(500):
        items = get()
        if items:
            return items[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no connection came")


def test_tls_without_cert_fails_to_start(tmp_path: Path) -> None:
    async def main() -> None:
        await open_sip_endpoint(
            TransportConfig(bind="127.0.0.1", sip_port=0, transports=("TLS",), tls_port=0),
            make_ua,
            lambda e: None,
        )

    with pytest.raises((OSError, ssl.SSLError)):
        asyncio.run(main())


def _client_tls(context: ssl.SSLContext) -> ClientTls:
    """Every server gets ``context``."""
    return ClientTls(TlsClientProfile(ReloadingContext(lambda: context, (), "test")))
