"""How the calls' RTP sockets are read: in batches on the native path, else one by one.

:mod:`media._accel` chose the path when ``media`` was first imported. On the native path
(the compiled modules and ``media._rtpio``, on Linux) one :class:`BatchedRtp` reads every
call's sockets at each tick, and between ticks while some call's audio is listened to at
arrival (media/aio/rtp_batch.py); on the pure-Python path each socket
is an asyncio datagram endpoint. The start-up log line and ``/metrics``
(``sipgw_media_path``) say which runs and why.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from media import _accel
from media.aio.rtp_endpoint import RtpEndpoint, open_rtp_endpoint
from media.aio.ticker import Ticker
from media.ports import PortAllocator

if TYPE_CHECKING:
    from media.aio.rtp_batch import BatchedRtp

__all__ = ["MediaIO"]


class MediaIO:
    """The RTP sockets' reader for every call of one gateway.

    Args:
        read_window: seconds the batched reader rests between reads outside ticks.
    """

    def __init__(self, read_window: float) -> None:
        self.read_window = read_window
        self.batched: BatchedRtp | None = None

    @property
    def path(self) -> str:
        """``native`` or ``pure``."""
        return _accel.PATH

    def describe(self) -> str:
        """The start-up line: which path, and why."""
        return f"media path: {_accel.PATH} ({_accel.REASON})"

    def start(self, ticker: Ticker) -> None:
        """On the native path, read in batches from now on (before the ticker starts)."""
        if _accel.native() and sys.platform == "linux" and self.batched is None:
            from media.aio.rtp_batch import BatchedRtp  # loads media._rtpio

            self.batched = BatchedRtp(asyncio.get_running_loop(), self.read_window)
            ticker.receive = self.batched.tick_read

    async def open_endpoint(self, bind: str, ports: PortAllocator) -> RtpEndpoint | None:
        """Bind a call's RTP/RTCP pair, read the way this gateway reads."""
        return await open_rtp_endpoint(bind, ports, batched=self.batched)

    def stop(self, ticker: Ticker) -> None:
        """Stop reading in batches (once every call's endpoint is closed)."""
        if self.batched is not None:
            ticker.receive = None
            self.batched.close()
            self.batched = None
