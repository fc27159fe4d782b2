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
older generations (:mod:`sipgw.agent.handled_errors`). Once the connection is lost
nothing will raise those exceptions again (``ConnectionClosed`` names the parser's as
its cause, without the frames), so :class:`VendorConnection` lets go of their frames
then. Pass it as ``connect(..., create_connection=VendorConnection)``.

:meth:`VendorConnection.send_binary` sends one binary message as ``send`` does, without
``send``'s dispatch on the message's type and its ``send_context`` (an async generator's
context manager a message) while the connection is open and writable: the speech-to-text
uplink sends about 11 messages a second a call.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus
from websockets.protocol import State

from sipgw.agent.handled_errors import forget_frames

__all__ = ["VendorConnection"]


class VendorConnection(ClientConnection):
    """A :class:`~websockets.asyncio.client.ClientConnection` that, once lost, closes its
    protocol's parser and drops the frames of the failures its protocol kept."""

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

    async def send_binary(self, data: bytes) -> None:
        """Send ``data`` as one binary message: what ``send(data)`` does (raises
        ``ConnectionClosed`` the same way), done directly while the connection is open,
        no other send is under way (a fragmented message) and the transport is neither
        closing nor paused; ``send`` itself otherwise."""
        protocol = self.protocol
        transport = self.transport
        if (
            self.send_in_progress is not None
            or protocol.state is not State.OPEN
            or protocol.close_expected()
            or self.paused
            or transport.is_closing()
        ):
            await self.send(data)
            return
        protocol.send_binary(data)
        failed = False
        try:
            self.send_data()
        except Exception as exc:  # as in send_context: the connection is done for
            self.set_connection_exc(exc)
            failed = True
        if failed:
            transport.abort()
            await asyncio.shield(self.connection_lost_waiter)
            raise self.close_exc
        if self.paused or transport.is_closing():
            await self.drain()
