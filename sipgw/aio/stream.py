"""SIP over TCP and TLS: listeners, connections, and connection reuse (RFC 3261 §18).

Every connection, accepted or opened by us, gets a number and a
:class:`~sipgw.sip.addressing.Flow` ``(transport, peer address, number)``; each
message framed on it (:mod:`sipgw.sip.framing`) goes up with that flow, so the
core's responses come back on the same connection (§18.2.2).

:meth:`StreamPool.send` picks the connection for an outgoing message:

1. the flow's own connection, when it names one that is still open;
2. an open connection to the flow's address, in either direction: one we
   opened to it, or one the peer opened from it, or one whose requests carried
   a top Via with that peer's address and port (an alias in the spirit of
   RFC 5923: the peer's listening port learnt from its Via);
3. otherwise a new connection, TLS-verified against the URI host when the
   flow is TLS. Messages queue while it connects. (A host name that resolves to the
   address of an open TLS connection uses it only when the peer's certificate names it.)

A connection that cannot be opened, breaks, or closes while transactions use
it is reported to ``on_error`` with each flow that was sent on it, so those
transactions fail at once. A connection no call or transaction uses is
closed after ``idle_timeout`` seconds without traffic.

Bounds on what peers may hold (hostile input, see docs/security.md):

* each connection buffers at most one header section and one body within the
  framing limits (:class:`~sipgw.sip.framing.FramingLimits`), else it is closed;
* a message must arrive whole within ``message_timeout`` seconds of its first
  octet: a peer that trickles bytes (a slow sender) is disconnected;
* a TLS handshake must finish within ``handshake_timeout`` seconds, and a
  connection counts against the caps from its TCP handshake on (our own accept
  loop counts it, then :meth:`asyncio.loop.connect_accepted_socket` runs the
  TLS handshake on it);
* at most ``max_per_source`` accepted connections per peer IP address, and
  ``max_connections`` in all, of which ``reserved_for_allowed`` only sources
  the access policy allows (``trusted``) may take: strangers cannot lock the
  trunk out. A connection over a cap is closed at once (connections we open
  ourselves are not counted);
* an accepted connection that carries no SIP message either way for
  ``idle_timeout`` seconds, and that no call or transaction uses, is closed:
  RFC 5626 keep-alive CRLFs do not hold it open.

Every request on a connection gets a final response, or the connection is
closed with a log line (:meth:`StreamPool.close_connection`, for what the core
will not answer). Warnings about a peer are logged at most once per address per
minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, cast

from sipgw.aio.sourcelog import SourceLog
from sipgw.aio.tls import certificate_names, names_allowed
from sipgw.aio.tlsfiles import ClientTls, ReloadingContext
from sipgw.aio.udp import is_ip
from sipgw.sip.addressing import Flow, default_port
from sipgw.sip.framing import (
    FramingFailed,
    FramingLimits,
    MessageFramed,
    PingReceived,
    StreamConnection,
)

__all__ = ["SipStreamProtocol", "StreamPool"]

log = logging.getLogger("sipgw.sip")

MAX_WRITE_BUFFER = 1 << 20
"""A peer that leaves this much of our data unread is dropped."""

_VIA_RE = re.compile(
    rb"^(?:Via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z]+)[ \t]+"
    rb"(\[[0-9A-Fa-f:.]+\]|[^;:,\s]+)(?:[ \t]*:[ \t]*([0-9]+))?",
    re.IGNORECASE | re.MULTILINE,
)

_Key = tuple[str, str, int]
"""(transport, IP address, port)."""


class SipStreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: frames messages in, writes messages out."""

    def __init__(self, pool: StreamPool, transport_name: str, accepted: bool = False) -> None:
        self.pool = pool
        self.transport_name = transport_name
        self.accepted = accepted
        """Whether the peer opened it (counted against the connection caps)."""
        self.refused = False
        self.counted = False  # admitted under the connection caps
        self.stranger = False  # counted among the connections of sources not allowed
        self.id = next(pool.ids)
        self.flow = Flow(transport_name, ("", 0), self.id)
        self.framing = StreamConnection(pool.limits, pool.server)
        self.transport: asyncio.Transport | None = None
        self.keys: set[_Key] = set()
        self.flows: set[Flow] = set()  # flows sent on this connection (reported if it breaks)
        self.last_activity = pool.loop.time()
        """The last SIP message either way (and, on a connection we opened, our keep-alives)."""
        self._idle: asyncio.TimerHandle | None = None
        self._message_since: float | None = None  # first octet of the unfinished message
        self._slow: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.flow = Flow(self.transport_name, (str(peer[0]), int(peer[1])), self.id)
        # A TLS connection was counted when accepted, before its handshake.
        if self.accepted and not self.counted and not self.pool.admit(self):
            self.refused = True
            self.transport.abort()
            return
        if self.accepted and not self.pool.peer_named(self):  # before any of its data
            self.refused = True
            self.pool.release(self)
            self.transport.abort()
            return
        self.last_activity = self.pool.loop.time()
        self.pool.register(self)
        self._arm_idle(self.pool.idle_timeout)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        now = self.pool.loop.time()
        if not self.accepted:
            self.last_activity = now
        framing = self.framing
        framing.receive_data(data)
        framed = False
        while (event := framing.next_event()) is not None:
            if isinstance(event, MessageFramed):
                framed = True
                self.last_activity = now
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "recv %s:%s:%d %s",
                        self.transport_name.lower(), *self.flow.address,
                        event.data.split(b"\r\n", 1)[0][:100],
                    )  # fmt: skip
                self.pool.learn_alias(self, event.data)
                self.pool.on_message(event.data, self.flow)
            elif isinstance(event, PingReceived):
                self.write(framing.data_to_send(), message=False)  # the pong, in order
            elif isinstance(event, FramingFailed):
                self.pool.warnings.warn(
                    self.flow.address[0], now, "%s from %s:%d: %s; closing the connection",
                    self.transport_name, *self.flow.address, event.reason,
                )  # fmt: skip
            if self.transport is None:
                return  # closed by a handler
        out = framing.data_to_send()
        if out:
            self.write(out, message=False)
        if framing.failed:
            self.close()
        elif not framing.in_message:
            self._message_since = None
        elif framed or self._message_since is None:
            self._message_since = now  # a new message began in this read
            if self._slow is None and self.pool.message_timeout > 0:
                self._slow = self.pool.loop.call_later(self.pool.message_timeout, self._check_slow)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for timer in (self._idle, self._slow):
            if timer is not None:
                timer.cancel()
        if not self.refused:
            self.pool.unregister(self, exc)

    # -- used by the pool

    def write(self, data: bytes, flow: Flow | None = None, message: bool = True) -> None:
        """Write bytes; ``flow`` is remembered for error reports.

        ``message``: a SIP message (it keeps an idle connection open), not a
        keep-alive ping or pong.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if flow is not None and flow not in self.flows and len(self.flows) < 64:
            self.flows.add(flow)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "send %s:%s:%d %s",
                self.transport_name.lower(), *self.flow.address, data.split(b"\r\n", 1)[0][:100],
            )  # fmt: skip
        transport.write(data)
        if message or not self.accepted:
            self.last_activity = self.pool.loop.time()
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("%s:%s:%d does not read; closing", self.transport_name, *self.flow.address)
            transport.abort()

    def ping(self) -> None:
        """Send an RFC 5626 keep-alive ping (CRLFCRLF)."""
        self.framing.send_ping()
        self.write(self.framing.data_to_send(), message=False)

    def close(self) -> None:
        """Close the connection (its loss is reported by connection_lost)."""
        if self.transport is not None:
            self.transport.close()

    def _arm_idle(self, delay: float) -> None:
        if self.pool.idle_timeout > 0:
            self._idle = self.pool.loop.call_later(delay, self._check_idle)

    def _check_slow(self) -> None:
        """Disconnect a peer whose message did not arrive whole in ``message_timeout``."""
        self._slow = None
        since, pool = self._message_since, self.pool
        if since is None or self.transport is None:
            return
        left = since + pool.message_timeout - pool.loop.time()
        if left > 0:
            self._slow = pool.loop.call_later(left, self._check_slow)
            return
        pool.slow_senders += 1
        pool.warnings.warn(
            self.flow.address[0], pool.loop.time(),
            "%s from %s:%d: no whole message %.0f s after its first octet (%d buffered); "
            "closing the connection",
            self.transport_name, *self.flow.address, pool.message_timeout, self.framing.buffered,
        )  # fmt: skip
        self.transport.abort()

    def _check_idle(self) -> None:
        self._idle = None
        pool = self.pool
        quiet = pool.loop.time() - self.last_activity
        if quiet >= pool.idle_timeout and not pool.in_use(self.id):
            host, port = self.flow.address
            log.debug("closing idle %s connection to %s:%d", self.transport_name, host, port)
            self.close()
            return
        self._arm_idle(max(pool.idle_timeout - quiet, 1.0))


class StreamPool:
    """All TCP and TLS connections of one endpoint; see the module docstring.

    Args:
        on_message: called with each framed message and its flow.
        on_error: called with a flow whose connection failed or broke.
        in_use: whether a connection (by number) is still needed by the core.
        client_ssl: the contexts of TLS connections we open, per server (None = no TLS
            out); each is made (in a thread) at its first connection: the system's CAs took
            25 ms of a gateway's start, and most gateways open none.
        tls_peer_names: names an accepted TLS peer's certificate must carry one of (its
            chain is the listener context's business); () = any.
        idle_timeout: seconds without traffic before an unused connection is closed.
        connect_timeout: seconds to connect (and finish the TLS handshake).
        limits: framing limits per connection.
        server: the Server header of framing error responses.
        message_timeout: seconds from a message's first octet to its last; a
            slower peer is disconnected (0 = no limit).
        handshake_timeout: seconds for a peer's TLS handshake on our listener.
        max_per_source: accepted connections per peer IP address (0 = no limit).
        max_connections: accepted connections in all (0 = no limit).
        reserved_for_allowed: of ``max_connections``, how many only ``trusted``
            sources may take.
        trusted: whether a peer IP address is one the access policy allows (the
            trunk, the PBX); default: none is.
    """

    def __init__(
        self,
        on_message: Callable[[bytes, Flow], None],
        on_error: Callable[[Flow], None],
        in_use: Callable[[int], bool],
        *,
        client_ssl: ClientTls | None = None,
        tls_peer_names: tuple[str, ...] = (),
        idle_timeout: float = 300.0,
        connect_timeout: float = 10.0,
        limits: FramingLimits | None = None,
        server: str | None = None,
        message_timeout: float = 10.0,
        handshake_timeout: float = 10.0,
        max_per_source: int = 32,
        max_connections: int = 1024,
        reserved_for_allowed: int = 256,
        trusted: Callable[[str], bool] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.on_error = on_error
        self.in_use = in_use
        self.client_ssl = client_ssl
        self.tls_peer_names = tls_peer_names
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.limits = limits or FramingLimits()
        self.server = server
        self.message_timeout = message_timeout
        self.handshake_timeout = handshake_timeout
        self.max_per_source = max_per_source
        self.max_connections = max_connections
        self.reserved_for_allowed = reserved_for_allowed
        self.trusted = trusted or (lambda host: False)
        self.warnings = SourceLog(log)
        """Rate-limited warnings about peers (framing errors, slow senders, refusals)."""
        self.refused = 0
        """Connections closed at once for being over a connection cap."""
        self.slow_senders = 0
        """Connections closed for not finishing a message in ``message_timeout``."""
        self.handshake_failures = 0
        """Accepted TLS connections closed because their handshake failed or took too long."""
        self.closed_unanswered = 0
        """Connections closed because the core would not answer a request on them."""
        self._accepted: dict[str, int] = {}  # peer IP -> accepted connections open
        self._accepted_total = 0
        self._strangers_total = 0  # of those, from sources that are not trusted
        self.ids = itertools.count(1)
        self.connections: dict[int, SipStreamProtocol] = {}
        self._by_key: dict[_Key, SipStreamProtocol] = {}
        self._pending: dict[_Key, list[tuple[bytes, Flow]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._listening: list[socket.socket] = []  # TLS listeners we accept on ourselves

    # -- listeners

    async def listen(
        self,
        sock: socket.socket,
        transport: str,
        ssl_context: ssl.SSLContext | ReloadingContext | None,
    ) -> None:
        """Accept connections on a bound, listening socket."""
        if ssl_context is None:
            server = await self.loop.create_server(
                lambda: SipStreamProtocol(self, transport, accepted=True), sock=sock
            )
            self._servers.append(server)
            return
        # TLS: our own accept loop, so that a peer still in its TLS handshake already
        # counts against the caps (create_server would count it only once it is done).
        self._listening.append(sock)
        self._spawn(self._accept_tls(sock, transport, ssl_context))

    async def _accept_tls(
        self, listening: socket.socket, transport: str, context: ssl.SSLContext | ReloadingContext
    ) -> None:
        while True:
            try:
                sock, address = await self.loop.sock_accept(listening)
            except OSError as exc:
                if listening.fileno() < 0:
                    return  # closed
                log.warning("accepting %s connections: %s", transport, exc)
                await asyncio.sleep(0.1)
                continue
            conn = SipStreamProtocol(self, transport, accepted=True)
            conn.flow = Flow(transport, (str(address[0]), int(address[1])), conn.id)
            if not self.admit(conn):
                sock.close()
                continue
            current = context.get() if isinstance(context, ReloadingContext) else context
            self._spawn(self._handshake(conn, sock, current))

    async def _handshake(
        self, conn: SipStreamProtocol, sock: socket.socket, context: ssl.SSLContext
    ) -> None:
        """The TLS handshake of an accepted, counted connection (``handshake_timeout``)."""
        try:
            await self.loop.connect_accepted_socket(
                lambda: conn, sock, ssl=context, ssl_handshake_timeout=self.handshake_timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            # the handshake's waiter keeps the error, in a frame of its traceback: a cycle
            # through this frame and the connection for the collector; only its text is kept
            exc.__traceback__ = None
            self.handshake_failures += 1
            host, port = conn.flow.address
            self.warnings.warn(host, self.loop.time(),
                               "TLS handshake from %s:%d failed: %s; closing the connection",
                               host, port, str(exc) or type(exc).__name__)  # fmt: skip
            sock.close()
            self.release(conn)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def peer_named(self, conn: SipStreamProtocol) -> bool:
        """Whether an accepted TLS peer's certificate names one of ``tls_peer_names`` (True
        when none are required, and for TCP); logs a refusal."""
        if conn.transport_name != "TLS" or not self.tls_peer_names or conn.transport is None:
            return True
        peercert = conn.transport.get_extra_info("peercert")
        if names_allowed(peercert, self.tls_peer_names):
            return True
        self.handshake_failures += 1
        host, port = conn.flow.address
        names = ", ".join(certificate_names(peercert)) or "no name"
        self.warnings.warn(host, self.loop.time(),
                           "TLS peer %s:%d refused: its certificate names %s, none of "
                           "SIPGW_TLS_PEER_NAMES", host, port, names)  # fmt: skip
        return False

    def peer_names(self, connection_id: int) -> tuple[str, ...]:
        """The names in the verified certificate of a TLS connection's peer (() for none)."""
        conn = self.connections.get(connection_id)
        if conn is None or conn.transport is None:
            return ()
        return certificate_names(conn.transport.get_extra_info("peercert"))

    # -- connection table

    def admit(self, conn: SipStreamProtocol) -> bool:
        """Count a connection a peer opened; False when it is over a cap (then closed)."""
        host = conn.flow.address[0]
        here = self._accepted.get(host, 0)
        stranger = not self.trusted(host)
        strangers_cap = max(0, self.max_connections - self.reserved_for_allowed)
        if self.max_per_source and here >= self.max_per_source:
            open_, where = here, "from that address"
        elif self.max_connections and self._accepted_total >= self.max_connections:
            open_, where = self._accepted_total, "in all"
        elif self.max_connections and stranger and self._strangers_total >= strangers_cap:
            open_, where = self._strangers_total, "from sources not allowed"
        else:
            self._accepted[host] = here + 1
            self._accepted_total += 1
            self._strangers_total += stranger
            conn.counted = True
            conn.stranger = stranger
            return True
        self.refused += 1
        self.warnings.warn(
            host, self.loop.time(), "%s connection from %s:%d refused: %d already open %s",
            conn.transport_name, *conn.flow.address, open_, where,
        )  # fmt: skip
        return False

    def register(self, conn: SipStreamProtocol) -> None:
        """A connection is up: index it by number and by peer address."""
        self.connections[conn.id] = conn
        host, port = conn.flow.address
        self._index(conn, (conn.transport_name, host, port))

    def release(self, conn: SipStreamProtocol) -> None:
        """Give back what a connection took of the caps (idempotent)."""
        if not conn.counted:
            return
        conn.counted = False
        host = conn.flow.address[0]
        left = self._accepted.get(host, 0) - 1
        if left > 0:
            self._accepted[host] = left
        else:
            self._accepted.pop(host, None)
        self._accepted_total -= 1
        self._strangers_total -= conn.stranger

    def close_connection(self, connection_id: int, why: str) -> None:
        """Close a connection on which the core will not answer a request; log it."""
        conn = self.connections.get(connection_id)
        if conn is None or conn.transport is None:
            return
        self.closed_unanswered += 1
        host, port = conn.flow.address
        self.warnings.warn(host, self.loop.time(), "%s from %s:%d: %s; closing the connection",
                           conn.transport_name, host, port, why)  # fmt: skip
        conn.close()

    def unregister(self, conn: SipStreamProtocol, exc: Exception | None) -> None:
        """A connection is gone: drop it, and fail what was still using it."""
        self.connections.pop(conn.id, None)
        self.release(conn)
        for key in conn.keys:
            if self._by_key.get(key) is conn:
                del self._by_key[key]
        if exc is not None:
            name, (host, port) = conn.transport_name, conn.flow.address
            log.info("%s connection to %s:%d lost: %s", name, host, port, exc)
        for flow in (conn.flow, *conn.flows):
            self.on_error(flow)

    def learn_alias(self, conn: SipStreamProtocol, data: bytes) -> None:
        """Reuse this connection for the peer's listening port named in a request's Via."""
        if data[:4] == b"SIP/":
            return  # a response: its Via is ours
        m = _VIA_RE.search(data)
        if m is None or m.group(1).upper().decode() != conn.transport_name:
            return
        port = int(m.group(3)) if m.group(3) else default_port(conn.transport_name)
        key = (conn.transport_name, conn.flow.address[0], port)
        if key not in conn.keys:
            self._index(conn, key)

    def _index(self, conn: SipStreamProtocol, key: _Key) -> None:
        if len(conn.keys) < 8:
            conn.keys.add(key)
            self._by_key[key] = conn

    def find(self, flow: Flow) -> SipStreamProtocol | None:
        """The open connection for ``flow``, or None (see the module docstring)."""
        if flow.connection_id is not None:
            conn = self.connections.get(flow.connection_id)
            if conn is not None:
                return conn
        host, port = flow.address
        return self._by_key.get((flow.transport, host, port))

    # -- sending

    def send(self, data: bytes, flow: Flow) -> None:
        """Write ``data`` on the connection for ``flow``, opening one if needed."""
        conn = self.find(flow)
        if conn is not None:
            conn.write(data, flow)
            return
        host, port = flow.address
        key = (flow.transport, host, port)
        pending = self._pending.get(key)
        if pending is not None:
            pending.append((data, flow))
            return
        self._pending[key] = [(data, flow)]
        self._spawn(self._connect(key))

    def ping(self, flow: Flow) -> bool:
        """Send a keep-alive ping on the open connection for ``flow``; False if none."""
        conn = self.find(flow)
        if conn is None:
            return False
        conn.ping()
        return True

    async def _connect(self, key: _Key) -> None:
        transport, host, port = key
        try:
            async with asyncio.timeout(self.connect_timeout):
                conn = await self._open(transport, host, port)
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            # asyncio keeps the error where a frame of its traceback holds it (the task
            # of wait_for, the waiter of a TLS handshake): only its text is kept
            exc.__traceback__ = None
            reason = str(exc) or type(exc).__name__
            log.warning("cannot connect %s to %s:%d: %s", transport, host, port, reason)
            for _, flow in self._pending.pop(key, []):
                self.on_error(flow)
            return
        self._index(conn, key)
        for data, flow in self._pending.pop(key, []):
            conn.write(data, flow)

    async def _open(self, transport: str, host: str, port: int) -> SipStreamProtocol:
        context: ssl.SSLContext | None = None
        peer_names: tuple[str, ...] = ()
        if transport == "TLS":
            if self.client_ssl is None:
                raise OSError("TLS is not enabled")
            profile = self.client_ssl.profile_for(host, port)
            # in a thread: the first build loads the system's CAs (25 ms), a reload reads files
            context = await self.loop.run_in_executor(None, profile.context.get)
            peer_names = profile.peer_names
        address = host
        if not is_ip(host):
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            address = str(infos[0][4][0])
            existing = self._by_key.get((transport, address, port))
            if existing is not None and self._speaks_for(existing, peer_names or (host,)):
                return existing
        secure = transport == "TLS"
        _, protocol = await self.loop.create_connection(
            lambda: SipStreamProtocol(self, transport),
            address,
            port,
            ssl=context,
            # RFC 5922 §7.2: the server's certificate must match the URI host (or, where
            # configured, one of the names we were told it has).
            server_hostname=host if secure else None,
        )
        if peer_names and protocol.transport is not None:
            peercert = protocol.transport.get_extra_info("peercert")
            if not names_allowed(peercert, peer_names):
                self._forget(protocol)  # nothing was sent on it: no flow to fail
                names = ", ".join(certificate_names(peercert)) or "no name"
                raise OSError(f"the server's certificate names {names}, none of "
                              f"{', '.join(peer_names)}")  # fmt: skip
        return protocol

    @staticmethod
    def _speaks_for(conn: SipStreamProtocol, names: tuple[str, ...]) -> bool:
        """Whether an open connection to a name's address may carry its requests: over TLS
        only when the peer's verified certificate names it (RFC 5923: reuse rests on the
        certificate; RFC 5922 §7.2)."""
        if conn.transport_name != "TLS":
            return True
        transport = conn.transport
        return transport is not None and names_allowed(transport.get_extra_info("peercert"), names)

    def _forget(self, conn: SipStreamProtocol) -> None:
        """Drop a connection we have just opened and will not use, without reports."""
        self.connections.pop(conn.id, None)
        for key in conn.keys:
            if self._by_key.get(key) is conn:
                del self._by_key[key]
        conn.refused = True
        if conn.transport is not None:
            conn.transport.abort()

    # -- shutdown

    def close(self) -> None:
        """Stop listening and close every connection."""
        for server in self._servers:
            server.close()
        for listening in self._listening:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.loop.remove_reader(listening.fileno())
            listening.close()
        for conn in list(self.connections.values()):
            conn.close()
        for task in self._tasks:
            task.cancel()
