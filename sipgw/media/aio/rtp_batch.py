"""Every call's RTP and RTCP sockets read in batches: the native path's receive side.

One ``sipgw.media._rtpio.Poller`` (an epoll set of its own) holds all the sockets; none of them
is registered with the event loop. Datagrams are taken:

- at the start of every tick (:meth:`BatchedRtp.tick_read`, the ticker's ``receive``), so
  the jitter buffers have all that came before the frames are pulled;
- between ticks, every ``window`` seconds, while some call's audio is listened to at
  arrival (its session's ``on_audio``: the speech-to-text, the answering-machine
  detector): one read serves every call whose datagrams came meanwhile, instead of one
  event-loop wake-up a datagram, and a datagram waits at most ``window`` (the caller's
  audio reaches the speech-to-text at arrival, give or take the window). Audio that is
  only played (the echo, a bridged call) is played at a tick and is read at that tick:
  reading it sooner would change nothing but the wake-ups (measured: 550 a second
  instead of 50, 11 % of the echo's CPU at 300 calls). Whether anyone listens is looked
  at on every tick. With ``window`` 0 the poller's one descriptor is watched by the loop
  instead, and each wake-up reads all that waits.

Such a call's RTP socket, once it has had datagrams at three ticks in a row, leaves the
poller's epoll set and is read at each tick directly (``Poller.allow_direct``, told
whenever a call starts or stops being listened to; a direct socket idle for three ticks
is watched again): a stream with a packet every tick then costs no epoll bookkeeping
(6 % of the echo gateway's CPU at 400 calls).

A timer, not a descriptor put to rest and woken again: taking a descriptor out of the
loop's epoll set and back costs two ``epoll_ctl`` calls, and for an epoll descriptor
nested in another one the kernel walks every socket under it each time (measured: 3 % of
the gateway's CPU at 400 calls).

With the shared port (media/shared_port.py) its two sockets are in the poller like a
call's, under a slot of their own: their datagrams go to :class:`SharedPort`, which finds
each one's call; the calls on it have slots without sockets, for the listening question
above and for the poller's routes: the address table of :class:`SharedPort` is copied
into the poller as it changes, so that a datagram from an address a call holds comes out
tagged with that call's token (and one address object kept per source), and only the
others are looked up in Python. What the calls on it send during a tick is held and sent
at the tick's end by one ``sendmmsg`` (:meth:`BatchedRtp.flush`, the ticker's ``flush``).

Each datagram carries the kernel's receive time (``SO_TIMESTAMPNS``), so the jitter
estimate and the RTP timeout see when it came, not when it was read. :class:`Demux`
hands the datagrams to their sessions exactly as the per-socket protocols of
media/aio/rtp_endpoint.py do on the pure-Python path.
"""

from __future__ import annotations

import asyncio
import socket

from sipgw.media import _rtpio
from sipgw.media.demux import Demux, MediaPorts
from sipgw.media.shared_port import Claim, SharedPort

__all__ = ["DEFAULT_WINDOW", "BatchedRtp", "stamping_socket"]

SO_TIMESTAMP = 29
"""Linux's ``SO_TIMESTAMP`` (``asm-generic/socket.h``; not in every build of ``socket``):
any socket asking for receive times switches the kernel's stamping on."""

DEFAULT_WINDOW = 0.002
"""Seconds between two reads outside the ticks (see the module docstring)."""


def stamping_socket() -> socket.socket:
    """A socket that asks for kernel receive times and is kept open.

    Linux stamps incoming datagrams only while some socket on the machine asks for it, and
    switches that on in deferred work after the first one asks: datagrams that come to a
    new call's socket before then carry no stamp and are stamped when read. A reader that
    holds one of these from its start gets the kernel's times from the first datagram on.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    return sock


class BatchedRtp:
    """The batched reader of all calls' sockets, on one loop.

    Attributes:
        sendto: ``sendto(fd, data, host, port) -> errno`` (0 when sent).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float = DEFAULT_WINDOW) -> None:
        self.loop = loop
        self.window = window
        self.demux = Demux()
        self.poller = _rtpio.Poller()
        self.sendto = _rtpio.sendto
        self._tokens: list[int] = []
        self._datas: list[bytes] = []
        self._sources: list[tuple[str, int]] = []
        self._arrivals: list[float] = []
        self._changed: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._listening = False  # some call listens at arrival: read between ticks
        self._closed = False
        self._stamping = stamping_socket()
        self._shared_token = -1  # the shared port's slot; -1: none
        self._shared: SharedPort | None = None
        if window <= 0:
            loop.add_reader(self.poller.fileno(), self._readable)

    def attach(self, ports: MediaPorts, rtp: socket.socket, rtcp: socket.socket) -> int:
        """Read these sockets for ``ports``; returns the RTP token (for :meth:`detach`)."""
        token = self.demux.attach(ports)
        self.poller.add(rtp.fileno(), token)
        self.poller.add(rtcp.fileno(), token + 1)
        return token

    def share(self, shared: SharedPort, rtp: socket.socket, rtcp: socket.socket) -> None:
        """Read the shared port's sockets, their datagrams to ``shared``."""
        self._shared_token = token = self.demux.share(shared)
        self._shared = shared
        self.poller.add(rtp.fileno(), token)
        self.poller.add(rtcp.fileno(), token + 1)
        self.poller.allow_direct(token, not self._listening)
        shared.on_route = self._route

    def attach_shared(self, ports: MediaPorts) -> Claim:
        """A call on the shared port: a slot without sockets (whether it listens counts,
        and its routes tag datagrams with its token) and its claim on the shared port's
        tables; the claim's ``token`` is for :meth:`detach`."""
        shared = self._shared
        if shared is None:
            raise RuntimeError("no shared port is read")
        token = self.demux.attach(ports)
        claim = shared.attach(ports, token)
        self.demux.claimed(token, claim)
        return claim

    def _route(self, address: tuple[str, int], token: int) -> None:
        """The shared port's table changed: the poller's copy follows (an address that is
        no IP literal is not routed: its datagrams are looked up in Python)."""
        if token >= 0:
            self.poller.route(self._shared_token, address[0], address[1], token)
        else:
            self.poller.unroute(self._shared_token, address[0], address[1])

    def detach(self, token: int) -> None:
        """Stop reading a call's sockets (before they are closed)."""
        self.poller.remove(token)
        self.poller.remove(token + 1)
        self.demux.detach(token)

    def drain(self, now: float, tick: bool = False) -> None:
        """Read every datagram waiting and hand each to its session (at a tick, those of
        the sockets read directly too)."""
        tokens, datas, sources, arrivals = self._tokens, self._datas, self._sources, self._arrivals
        if self.poller.drain(now, tokens, datas, sources, arrivals, tick):
            try:
                self.demux.dispatch(tokens, datas, sources, arrivals)
            finally:
                tokens.clear()
                datas.clear()
                sources.clear()
                arrivals.clear()

    def tick_read(self, now: float) -> None:
        """The ticker's read, at every tick: all that waits; then whether reads between
        ticks are needed (some call listens at arrival) until the next tick. With the
        shared port, what its calls send is held from here to :meth:`flush`."""
        self.drain(now, True)
        if self._closed:
            return
        if self._shared_token >= 0:
            self.poller.hold_sends()
        changed = self._changed
        listening = self.demux.update_listening(changed)
        if changed:
            for token in changed:
                self.poller.allow_direct(token, not self.demux.listens(token))
            changed.clear()
        if self._shared_token >= 0 and listening != self._listening:
            # Some call on it listens between ticks: the shared socket stays watched.
            self.poller.allow_direct(self._shared_token, not listening)
        self._listening = listening
        if self.window <= 0:
            return
        if self._listening and self._timer is None:
            self._timer = self.loop.call_later(self.window, self._poll)

    def flush(self) -> None:
        """The ticker's last step: what the calls on the shared port sent during the tick,
        one ``sendmmsg`` (a datagram the kernel refuses is dropped and counted in
        ``send_errors``)."""
        if not self._closed:
            self.poller.flush()

    def _poll(self) -> None:
        """The read between ticks; again in ``window`` while some call listens."""
        self._timer = None
        if self._closed:
            return
        self.drain(self.loop.time())
        if self._listening and len(self.demux):
            self._timer = self.loop.call_later(self.window, self._poll)

    def _readable(self) -> None:
        self.drain(self.loop.time())

    def close(self) -> None:
        """Stop reading (the sockets are the endpoints' to close)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.window <= 0:
            self.loop.remove_reader(self.poller.fileno())
        self.poller.close()
        self._stamping.close()
