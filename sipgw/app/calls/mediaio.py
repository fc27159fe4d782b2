"""How the calls' RTP sockets are read: in batches on the native path, else one by one.

:mod:`sipgw.media._accel` chose the path when ``media`` was first imported. On the native path
(the compiled modules and ``sipgw.media._rtpio``, on Linux) one :class:`BatchedRtp` reads every
call's sockets at each tick, and between ticks while some call's audio is listened to at
arrival (media/aio/rtp_batch.py); on the pure-Python path each socket
is an asyncio datagram endpoint. The start-up log line and ``/metrics``
(``sipgw_media_path``) say which runs and why.

With ``SIPGW_RTP_SHARED_PORT`` every call is on that one port pair instead
(media/shared_port.py, media/aio/shared_rtp.py), read the same two ways.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from sipgw.agent.conversation.caller_audio import shared_batcher
from sipgw.media import _accel
from sipgw.media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from sipgw.media.aio.shared_rtp import SharedRtp, open_shared_rtp
from sipgw.media.aio.ticker import Ticker
from sipgw.media.ports import PortAllocator
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.shared_port import SharedPort

if TYPE_CHECKING:
    from sipgw.media.aio.rtp_batch import BatchedRtp

__all__ = ["MediaIO"]


class MediaIO:
    """The RTP sockets' reader for every call of one gateway.

    Args:
        read_window: seconds the batched reader rests between reads outside ticks.
        shared_port: every call's RTP on this port (RTCP on the one above); 0: a port
            pair per call from the range.
    """

    def __init__(self, read_window: float, shared_port: int = 0) -> None:
        self.read_window = read_window
        self.shared_port = shared_port
        self.batched: BatchedRtp | None = None
        self.shared: SharedRtp | None = None

    @property
    def path(self) -> str:
        """``native`` or ``pure``."""
        return _accel.PATH

    def describe(self) -> str:
        """The start-up line: which path, and why."""
        return f"media path: {_accel.PATH} ({_accel.REASON})"

    async def start(self, ticker: Ticker, bind: str) -> None:
        """On the native path, read in batches from now on; with a shared port, bind it
        on ``bind`` (before the ticker starts).

        Raises:
            OSError: the shared port cannot be bound.
        """
        # The model voice detector's batch runs before the calls tick (a no-op without it).
        ticker.heard = shared_batcher().flush
        if _accel.native() and sys.platform == "linux" and self.batched is None:
            from sipgw.media.aio.rtp_batch import BatchedRtp  # loads sipgw.media._rtpio

            self.batched = BatchedRtp(asyncio.get_running_loop(), self.read_window)
            ticker.receive = self.batched.tick_read
            ticker.flush = self.batched.flush
        if self.shared_port and self.shared is None:
            self.shared = await open_shared_rtp(bind, self.shared_port, self.batched)

    def describe_shared(self) -> str | None:
        """The start-up line of the shared port; None without one."""
        shared = self.shared
        if shared is None:
            return None
        return (
            f"RTP: every call on port {shared.port.port} (RTCP {shared.port.port + 1}), "
            f"buffers {shared.receive_buffer // 1024} KiB in, {shared.send_buffer // 1024} "
            "KiB out; media is taken only from "
            "the address each call's SDP names (or its stream's SSRC): callers behind a NAT "
            "are not heard (docs/security.md)"
        )

    def shared_tables(self) -> SharedPort | None:
        """The shared port's tables and counters; None without one."""
        return self.shared.port if self.shared is not None else None

    async def open_endpoint(self, bind: str, ports: PortAllocator) -> RtpEndpoint | None:
        """Bind a call's RTP/RTCP pair (or join the shared port), read the way this
        gateway reads."""
        shared = self.shared
        if shared is not None:
            endpoint = RtpEndpoint(asyncio.get_running_loop(), shared.port.port)
            endpoint.join_shared(shared)
            return endpoint
        return await open_rtp_endpoint(bind, ports, batched=self.batched)

    def update(
        self, session: MediaSession, endpoint: RtpEndpoint | None, params: StreamParams, now: float
    ) -> None:
        """Apply a re-negotiation to a call's session; on the shared port its endpoint
        takes the new address at once. The datagrams already waiting are read first
        (:meth:`RtpEndpoint.read_waiting`): a hold's music that came before the resume is
        heard as held."""
        if endpoint is not None:
            endpoint.read_waiting(now)
        session.update(params, now)
        if endpoint is not None:
            endpoint.session_changed()

    def release(self, endpoint: RtpEndpoint, ports: PortAllocator) -> None:
        """Close a call's endpoint; its port pair, if its own, back to ``ports``."""
        own = endpoint.shared is None
        endpoint.close()
        if own:
            ports.release(endpoint.port)

    def stop(self, ticker: Ticker) -> None:
        """Stop reading in batches and close the shared port (once every call's endpoint
        is closed)."""
        if self.batched is not None or self.shared is not None:
            ticker.receive = ticker.flush = None
        if self.batched is not None:
            self.batched.close()
            self.batched = None
        if self.shared is not None:
            self.shared.close()
            self.shared = None
