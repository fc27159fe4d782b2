"""The asyncio adapter of the SIP core: UDP, TCP and TLS in one endpoint.

It does what the sans-IO contract asks: pass ``loop.time()`` and each
received message (a datagram, or a message framed on a stream) into the
:class:`~sipgw.sip.useragent.UserAgent`, send each ``(bytes, Flow)`` the core
returns on the socket or connection of the flow's transport, report broken
connections as transport errors, and re-arm ``loop.call_at`` for the core's
next deadline.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from sipgw.aio.stream import StreamPool
from sipgw.aio.tls import server_context
from sipgw.aio.tlsfiles import ClientTls, ReloadingContext, client_profile
from sipgw.aio.udp import UdpSocket, bind_udp, receive_buffer_warning
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo
from sipgw.sip.events import SipEvent
from sipgw.sip.framing import FramingLimits
from sipgw.sip.useragent import UserAgent

__all__ = ["MAX_LOADING", "SipEndpoint", "TransportConfig", "UserStates", "open_sip_endpoint"]

log = logging.getLogger("sipgw.sip")

TRANSPORTS = ("UDP", "TCP", "TLS")


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Where the endpoint listens and how it connects.

    Attributes:
        bind: local address of every listener.
        sip_port: the UDP and TCP port (the same number); 0 = a free one.
        transports: the transports to listen on, upper case.
        tls_port: the TLS port; 0 = a free one.
        tls_cert: our certificate chain (PEM), for the TLS listener.
        tls_key: its private key (PEM).
        tls_ca: CA file to verify servers we connect to over TLS; "" = system CAs.
        tls_peer_ca: CA file peers connecting to our TLS listener must present a
            certificate chained to (mutual TLS); "" = they are not asked for one.
        tls_peer_names: names such a peer's certificate must carry one of; () = any.
        idle_timeout: seconds without traffic before an unused TCP/TLS
            connection is closed; 0 = never.
        connect_timeout: seconds to open a connection (TLS handshake included).
        message_timeout: seconds a peer may take to send one whole message over
            TCP/TLS after its first octet before it is disconnected; 0 = no limit.
        handshake_timeout: seconds a peer may take for its TLS handshake.
        max_connections_per_source: TCP/TLS connections one IP address may
            open to us at once; 0 = no limit.
        max_connections: TCP/TLS connections peers may open to us at once;
            0 = no limit.
        reserved_for_allowed: of ``max_connections``, how many are kept for
            sources the access policy allows by address (the trunk, the PBX):
            strangers get at most the rest.
    """

    bind: str = "0.0.0.0"
    sip_port: int = 5060
    transports: tuple[str, ...] = ("UDP", "TCP")
    tls_port: int = 5061
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    tls_peer_ca: str = ""
    tls_peer_names: tuple[str, ...] = ()
    idle_timeout: float = 300.0
    connect_timeout: float = 10.0
    message_timeout: float = 10.0
    handshake_timeout: float = 10.0
    max_connections_per_source: int = 32
    max_connections: int = 1024
    reserved_for_allowed: int = 256


class UserStates(Protocol):
    """Where the digest users' guessing state is kept when several processes share it
    (:attr:`~sipgw.sip.auth.DigestServer.shared`): the application's store."""

    def holding(self, username: str) -> AbstractAsyncContextManager[object]:
        """Load ``username``'s state, install it in the digest server and hold it until the
        block ends (then store it); the block runs without awaiting."""
        ...


MAX_LOADING = 64
"""Users' states loaded at once; a request past that is dropped (a UDP peer retransmits)."""


class SipEndpoint:
    """Drives a :class:`UserAgent` from its UDP socket and TCP/TLS connections.

    Args:
        ua: the sans-IO user agent core.
        on_event: called for every event the core produces; it may call the
            core's actions (ring, answer, ...) directly.
    """

    def __init__(self, ua: UserAgent, on_event: Callable[[SipEvent], None]) -> None:
        self.ua = ua
        self.on_event = on_event
        self.loop = asyncio.get_running_loop()
        self.udp: UdpSocket | None = None
        self.streams: StreamPool | None = None
        self.listening: list[tuple[str, str, int]] = []
        """(transport, address, port) of each listener."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushing = False
        self._idle_waiters: list[asyncio.Future[None]] = []
        self.errors = 0
        self.users: UserStates | None = None
        """The store of the users' guessing state, when shared (set by the application)."""
        self._loading: set[asyncio.Task[None]] = set()

    # -- messages in

    def receive(self, data: bytes, flow: Flow) -> None:
        """A datagram or a framed stream message arrived on ``flow``."""
        try:
            self.ua.receive_datagram(data, flow, self.loop.time())
        except Exception:  # the core must not raise; if it does, keep serving
            self.errors += 1
            log.exception("internal error handling a message from %s", flow)
        self.flush()

    def transport_failed(self, flow: Flow) -> None:
        """A connection for ``flow`` failed or closed: its transactions fail now."""
        try:
            self.ua.transport_error(flow, self.loop.time())
        except Exception:
            self.errors += 1
            log.exception("internal error handling a transport error on %s", flow)
        self.flush()

    # -- driving the core

    def act(self, action: Callable[[float], object]) -> None:
        """Run an application action on the core (``action(now)``), then flush."""
        action(self.loop.time())
        self.flush()

    def flush(self) -> None:
        """Send queued messages, dispatch events, and re-arm the timer."""
        if self._flushing:
            return  # an event handler acted on the core; the outer loop drains it
        self._flushing = True
        try:
            while True:
                datagrams = self.ua.datagrams_to_send()
                for data, flow in datagrams:
                    self.send(data, flow)
                for username, data, flow in self.ua.awaiting_users():
                    self._verify_later(username, data, flow)
                if self.streams is not None:  # after what was written to them
                    for connection_id, why in self.ua.connections_to_close():
                        self.streams.close_connection(connection_id, why)
                event = self.ua.next_event()
                if event is None and not datagrams:
                    break
                if event is not None:
                    try:
                        self.on_event(event)
                    except Exception:
                        self.errors += 1
                        log.exception("internal error handling %s", type(event).__name__)
        finally:
            self._flushing = False
        self._arm()
        if self._idle_waiters and not self.ua.busy:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _verify_later(self, username: str, data: bytes, flow: Flow) -> None:
        """Verify a request again once its user's guessing state is loaded."""
        if self.users is None or len(self._loading) >= MAX_LOADING:
            if flow.reliable and self.streams is not None and flow.connection_id is not None:
                self.streams.close_connection(flow.connection_id, "credentials not checked")
            return
        task = self.loop.create_task(self._verify_loaded(self.users, username, data, flow))
        self._loading.add(task)
        task.add_done_callback(self._loading.discard)

    async def _verify_loaded(
        self, users: UserStates, username: str, data: bytes, flow: Flow
    ) -> None:
        try:
            async with users.holding(username):
                self.receive(data, flow)  # verified with the state installed, no await
        except Exception as exc:  # the store failed: unchecked, dropped (closed on a stream)
            self.errors += 1
            log.warning("credentials of %r not checked: their state is unavailable (%s)",
                        username[:64], exc)  # fmt: skip
            if flow.reliable and self.streams is not None and flow.connection_id is not None:
                self.streams.close_connection(flow.connection_id, "credentials not checked")

    def tls_peer(self, call: CallInfo) -> tuple[str, ...] | None:
        """The names in the verified certificate of the peer an incoming call came from
        over TLS (() when it presented none, or its connection is gone); None when the call
        did not come over TLS."""
        flow = call.source
        if flow is None or flow.transport != "TLS":
            return None
        if self.streams is None or flow.connection_id is None:
            return ()
        return self.streams.peer_names(flow.connection_id)

    def send(self, data: bytes, flow: Flow) -> None:
        """Send on the socket or connection of ``flow.transport``."""
        if flow.transport == "UDP":
            if self.udp is not None:
                self.udp.send(data, flow)
        elif self.streams is not None:
            self.streams.send(data, flow)
        else:
            self.loop.call_soon(self.transport_failed, flow)

    def send_keepalive(self, flow: Flow) -> None:
        """An RFC 5626 §4.4.1 CRLF keep-alive toward ``flow`` (holds NAT bindings open).

        Over TCP/TLS a double CRLF on the open connection (nothing if none is
        open); over UDP a double-CRLF datagram.
        """
        if flow.transport == "UDP":
            if self.udp is not None:
                self.udp.send(b"\r\n\r\n", flow)
        elif self.streams is not None:
            self.streams.ping(flow)

    def when_idle(self) -> asyncio.Future[None]:
        """A future done once the core has no calls and no BYEs of ours in progress.

        Checked after every flush (message, action or timer); already done when
        the core is idle now.
        """
        waiter = self.loop.create_future()
        if self.ua.busy:
            self._idle_waiters.append(waiter)
        else:
            waiter.set_result(None)
        return waiter

    def _arm(self) -> None:
        deadline = self.ua.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self.ua.handle_timer(self.loop.time())
        except Exception:
            self.errors += 1
            log.exception("internal error in a SIP timer")
        self.flush()

    def close(self) -> None:
        """Close every socket and connection and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.udp is not None:
            self.udp.close()
        if self.streams is not None:
            self.streams.close()


def _bind_stream(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _bind_sip_port(bind: str, port: int, udp: bool, tcp: bool) -> dict[str, socket.socket]:
    """UDP and TCP on one port number; with port 0, retry until both get the same one."""
    for _ in range(20):
        sockets: dict[str, socket.socket] = {}
        try:
            if udp:
                sockets["UDP"] = bind_udp(bind, port)
            if tcp:
                number = sockets["UDP"].getsockname()[1] if udp else port
                sockets["TCP"] = _bind_stream(bind, number)
            return sockets
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free port for both UDP and TCP")


async def open_sip_endpoint(
    config: TransportConfig,
    make_ua: Callable[[dict[str, int]], UserAgent],
    on_event: Callable[[SipEvent], None],
) -> SipEndpoint:
    """Bind the listeners, build the core knowing the real ports, start serving.

    ``make_ua`` receives the bound port of each transport (useful with port 0).

    Raises:
        OSError: a port cannot be bound.
        ssl.SSLError, OSError: a TLS file cannot be read or does not match.
    """
    transports = tuple(t.upper() for t in config.transports)
    sockets = _bind_sip_port(config.bind, config.sip_port, "UDP" in transports, "TCP" in transports)
    server_ssl: ReloadingContext | None = None
    try:
        if "TLS" in transports:
            server_ssl = ReloadingContext(
                partial(server_context, config.tls_cert, config.tls_key, config.tls_peer_ca),
                (config.tls_cert, config.tls_key, config.tls_peer_ca),
                "SIPGW_TLS_CERT",
            )
            server_ssl.get()  # read now: a bad file fails here
            sockets["TLS"] = _bind_stream(config.bind, config.tls_port)
        client_ssl = ClientTls(
            client_profile(config.tls_ca, config.tls_cert, config.tls_key, what="SIPGW_TLS_CA")
        )
        if config.tls_ca or config.tls_cert or config.tls_key:  # read now: a bad file fails here
            client_ssl.default.context.get()
    except (OSError, ssl.SSLError):
        for sock in sockets.values():
            sock.close()
        raise
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    ua = make_ua(ports)
    endpoint = SipEndpoint(ua, on_event)
    if "UDP" in sockets:
        warning = receive_buffer_warning(sockets["UDP"])
        if warning is not None:
            log.warning("%s", warning)
        _, endpoint.udp = await endpoint.loop.create_datagram_endpoint(
            lambda: UdpSocket(endpoint.receive), sock=sockets["UDP"]
        )
    pool = endpoint.streams = StreamPool(
        endpoint.receive,
        endpoint.transport_failed,
        ua.uses_connection,
        client_ssl=client_ssl,
        tls_peer_names=config.tls_peer_names,
        idle_timeout=config.idle_timeout,
        connect_timeout=config.connect_timeout,
        # A framed message is then parsed within ua.config.limits (413/513 there).
        limits=FramingLimits(ua.config.limits.max_header_size, ua.config.limits.max_body_size),
        server=ua.config.user_agent,
        message_timeout=config.message_timeout,
        handshake_timeout=config.handshake_timeout,
        max_per_source=config.max_connections_per_source,
        max_connections=config.max_connections,
        reserved_for_allowed=config.reserved_for_allowed,
        trusted=ua.access.allow.__contains__,
    )
    for name in ("TCP", "TLS"):
        if name in sockets:
            await pool.listen(sockets[name], name, server_ssl if name == "TLS" else None)
    endpoint.listening = [(name, config.bind, ports[name]) for name in TRANSPORTS if name in ports]
    return endpoint
