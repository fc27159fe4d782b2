"""Every call's RTP and RTCP sockets read in batches: the native path's receive side.

One ``media._rtpio.Poller`` (an epoll set of its own) holds all the sockets; nothing of
them is registered with the event loop one by one. Datagrams are taken:

- at the start of every tick (:meth:`BatchedRtp.drain`, the ticker's ``receive``), so
  the jitter buffers have all that came before the frames are pulled;
- when any socket has something and the loop is free, through the poller's one
  descriptor; after such a read the descriptor rests for ``window`` seconds, so that
  under load one wake-up reads the datagrams of many calls (not one wake-up each)
  while a lone datagram waits at most that long (the caller's audio reaches the
  speech-to-text at arrival, give or take the window).

Each datagram carries the kernel's receive time (``SO_TIMESTAMPNS``), so the jitter
estimate and the RTP timeout see when it came, not when it was read. :class:`Demux`
hands the datagrams to their sessions exactly as the per-socket protocols of
media/aio/rtp_endpoint.py do on the pure-Python path.
"""

from __future__ import annotations

import asyncio
import socket

from media import _rtpio
from media.demux import Demux, MediaPorts

__all__ = ["DEFAULT_WINDOW", "BatchedRtp"]

DEFAULT_WINDOW = 0.002
"""Seconds the poller's descriptor rests after a read (see the module docstring)."""


class BatchedRtp:
    """The batched reader of all calls' sockets, on one loop.

    Attributes:
        sendto: ``sendto(fd, data, host, port) -> errno`` (0 when sent).
        reads: reads that found datagrams (at ticks and on wake-ups).
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
        self._resting: asyncio.TimerHandle | None = None
        self._closed = False
        loop.add_reader(self.poller.fileno(), self._readable)

    def attach(self, ports: MediaPorts, rtp: socket.socket, rtcp: socket.socket) -> int:
        """Read these sockets for ``ports``; returns the RTP token (for :meth:`detach`)."""
        token = self.demux.attach(ports)
        self.poller.add(rtp.fileno(), token)
        self.poller.add(rtcp.fileno(), token + 1)
        return token

    def detach(self, token: int) -> None:
        """Stop reading a call's sockets (before they are closed)."""
        self.poller.remove(token)
        self.poller.remove(token + 1)
        self.demux.detach(token)

    def drain(self, now: float) -> None:
        """Read every datagram waiting and hand each to its session."""
        tokens, datas, sources, arrivals = self._tokens, self._datas, self._sources, self._arrivals
        if self.poller.drain(now, tokens, datas, sources, arrivals):
            try:
                self.demux.dispatch(tokens, datas, sources, arrivals)
            finally:
                tokens.clear()
                datas.clear()
                sources.clear()
                arrivals.clear()

    def _readable(self) -> None:
        self.drain(self.loop.time())
        if self.window > 0 and not self._closed:
            self.loop.remove_reader(self.poller.fileno())
            self._resting = self.loop.call_later(self.window, self._rested)

    def _rested(self) -> None:
        self._resting = None
        if not self._closed:
            self.loop.add_reader(self.poller.fileno(), self._readable)

    def close(self) -> None:
        """Stop reading (the sockets are the endpoints' to close)."""
        if self._closed:
            return
        self._closed = True
        if self._resting is not None:
            self._resting.cancel()
        else:
            self.loop.remove_reader(self.poller.fileno())
        self.poller.close()
