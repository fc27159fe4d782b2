"""The asyncio adapter of the SIP core over UDP.

It does three things, as the sans-IO contract asks: pass ``loop.time()`` and
each datagram into the :class:`~sipgw.useragent.UserAgent`, send what the
core returns, and re-arm ``loop.call_at`` for the core's next deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import cast

from sipgw.addressing import Flow
from sipgw.events import SipEvent
from sipgw.useragent import UserAgent

__all__ = ["SipUdpEndpoint", "open_sip_udp"]

log = logging.getLogger("sipgw.sip")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SipUdpEndpoint(asyncio.DatagramProtocol):
    """Drives a :class:`UserAgent` from one UDP socket.

    Args:
        ua: the sans-IO user agent core.
        on_event: called for every event the core produces; it may call the
            core's actions (ring, answer, ...) directly.
    """

    def __init__(self, ua: UserAgent, on_event: Callable[[SipEvent], None]) -> None:
        self.ua = ua
        self.on_event = on_event
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._resolved: dict[str, str] = {}
        self._resolving: set[asyncio.Task[None]] = set()
        self._flushing = False
        self._idle_waiters: list[asyncio.Future[None]] = []
        self.errors = 0

    # -- asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport implements the interface without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("recv %s:%d %s", addr[0], addr[1], data.split(b"\r\n", 1)[0][:100])
        try:
            self.ua.receive_datagram(data, Flow("UDP", (addr[0], addr[1])), self.loop.time())
        except Exception:  # the core must not raise; if it does, keep serving
            self.errors += 1
            log.exception("internal error handling a datagram from %s:%d", addr[0], addr[1])
        self.flush()

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)  # ICMP unreachable etc.; transactions time out

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # -- driving the core

    def act(self, action: Callable[[float], object]) -> None:
        """Run an application action on the core (``action(now)``), then flush."""
        action(self.loop.time())
        self.flush()

    def flush(self) -> None:
        """Send queued datagrams, dispatch events, and re-arm the timer."""
        if self._flushing:
            return  # an event handler acted on the core; the outer loop drains it
        self._flushing = True
        try:
            while True:
                datagrams = self.ua.datagrams_to_send()
                for data, flow in datagrams:
                    self._send(data, flow)
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

    def when_idle(self) -> asyncio.Future[None]:
        """A future done once the core has no calls and no BYEs of ours in progress.

        Checked after every flush (datagram, action or timer); already done when
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

    def _send(self, data: bytes, flow: Flow) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        host, port = flow.address
        if not _is_ip(host):
            resolved = self._resolved.get(host)
            if resolved is None:
                task = self.loop.create_task(self._resolve_and_send(data, host, port))
                self._resolving.add(task)
                task.add_done_callback(self._resolving.discard)
                return
            host = resolved
        if log.isEnabledFor(logging.DEBUG):
            log.debug("send %s:%d %s", host, port, data.split(b"\r\n", 1)[0][:100])
        self.transport.sendto(data, (host, port))

    async def _resolve_and_send(self, data: bytes, host: str, port: int) -> None:
        try:
            family = socket.AF_INET
            if self.transport is not None:
                sock = self.transport.get_extra_info("socket")
                family = sock.family if sock is not None else family
            infos = await self.loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.warning("cannot resolve %s: %s", host, exc)
            return
        self._resolved[host] = str(infos[0][4][0])
        self._send(data, Flow("UDP", (self._resolved[host], port)))

    def close(self) -> None:
        """Close the socket and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()


async def open_sip_udp(
    bind: str, port: int, make_ua: Callable[[int], UserAgent], on_event: Callable[[SipEvent], None]
) -> SipUdpEndpoint:
    """Bind the SIP UDP socket, then build the core knowing the real port.

    ``make_ua`` receives the bound port (useful with port 0).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((bind, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    ua = make_ua(bound_port)
    _, protocol = await loop.create_datagram_endpoint(
        lambda: SipUdpEndpoint(ua, on_event), sock=sock
    )
    return protocol
