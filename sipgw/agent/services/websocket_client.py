"""The WebSocket client connection of the vendors' clients: one that leaves no reference
cycle behind when it ends or fails.

``websockets``' protocol parses what arrives in a generator of its own (``parser``), whose
frame holds the protocol: a reference cycle while it is suspended. After the end of the
stream it never runs again, yet it stays suspended (``discard()`` ends on a last
``yield``), so every connection, however it ended, left its protocol (reader, buffers,
logger) to the garbage collector; and a suspended generator's finalizer breaks such a
cycle as the collector reaches it, so ``gc.DEBUG_SAVEALL`` does not even list it. Once the
connection is lost :class:`VendorConnection` closes that generator.

``websockets`` also keeps what went wrong on the connection's protocol: the parser's
exception (``parser_exc``: the ``EOFError`` of a connection lost without a close frame)
and the handshake's (``handshake_exc``: an ``InvalidStatus`` when the server refused the
upgrade, the response it carries pointing back at it). Each exception's traceback holds
the frame that raised it, and that frame the protocol or the connection: a cycle for
every connection a vendor dropped or refused, freed only by the garbage collector's
older generations (:mod:`sipgw.foundation.handled_errors`). Once the connection is lost
nothing will raise those exceptions again (``ConnectionClosed`` names the parser's as
its cause, without the frames), so :class:`VendorConnection` lets go of their frames
then. Pass it as ``connect(..., create_connection=VendorConnection)``.

It also writes whole binary messages at once, from outside a coroutine
(:meth:`VendorConnection.send_binary_now`), for the speech-to-text uplink's audio: the
library's own Sans-I/O protocol builds the frame (``protocol.send_binary``: masked, a fresh
key per frame) and the connection's ``send_data`` writes it, as ``send()`` does, but
without ``send()``'s coroutine and context, and only while the library's state is ``OPEN``
and the transport's write buffer is empty. Otherwise it declines and the caller uses
``send()``, whose flow control waits while the buffer is over its limit and whose errors are
the library's (``ConnectionClosed``). These connections never send fragmented messages, so
a whole frame can never fall between the fragments of another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus
from websockets.protocol import State

from sipgw.foundation.handled_errors import forget_frames

__all__ = ["VendorConnection"]


class VendorConnection(ClientConnection):
    """A :class:`~websockets.asyncio.client.ClientConnection` that, once lost, closes its
    protocol's parser and drops the frames of the failures its protocol kept, and that can
    write a binary message at once (:meth:`send_binary_now`)."""

    _wire: asyncio.WriteTransport | None = None
    _clock: Callable[[], float] = time.monotonic  # replaced by the loop's in connection_made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._wire = cast(asyncio.WriteTransport, transport)
        self._clock = asyncio.get_running_loop().time

    @property
    def clock(self) -> Callable[[], float]:
        """The time of the loop the connection runs on (``loop.time``), for callers outside a
        coroutine: ``asyncio.get_running_loop()`` makes a ``getpid`` system call on Python
        3.11."""
        return self._clock

    def send_binary_now(self, payload: bytes) -> bool:
        """Write ``payload`` as one binary message now, if nothing stands in the way.

        True: the frame was handed to the transport. False: nothing was written (the
        connection is not open, its transport is closing, or data is already waiting in its
        write buffer: the peer reads slower than we write); send it with ``send()``, which
        waits for the buffer to drain and raises ``ConnectionClosed`` as it always does.
        """
        wire = self._wire
        if (
            wire is None
            or self.protocol.state is not State.OPEN
            or wire.is_closing()
            or wire.get_write_buffer_size()
        ):
            return False
        self.protocol.send_binary(payload)  # the library's frame: RFC 6455 §5.2, §5.3's mask
        self.send_data()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        protocol = self.protocol
        # at the end of the stream now (super() saw to it): the parser never steps again
        protocol.parser.close()
        forget_frames(protocol.parser_exc)
        refused = protocol.handshake_exc
        forget_frames(refused)
        if isinstance(refused, InvalidStatus):
            # the refused response points back at its exception (websockets' client)
            refused.response._exception = None
