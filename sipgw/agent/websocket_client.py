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
"""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

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
