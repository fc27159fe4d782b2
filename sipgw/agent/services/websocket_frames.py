"""A WebSocket client's binary frames, built without ``websockets``' send path: sans-IO.

Theory of operation
-------------------
The speech-to-text uplink sends about ten binary messages a second a call, each 50-100 ms of
audio (400-800 bytes of μ-law). Through ``websockets``' ``ClientConnection.send`` each one
costs its ``send_context`` (an async context manager, the state checks, the flow-control
wait), the library's ``Frame.serialize`` (an ``io.BytesIO``, the extensions loop) and a
``getrandom`` system call for its mask (``secrets.token_bytes(4)``). :class:`ClientFrames`
builds the same bytes directly:

* **One frame a message** (RFC 6455 §5.2): FIN set, RSV1-3 clear (no extension is
  negotiated on these connections: ``compression=None``), opcode 0x2 (binary), the MASK bit
  set, the payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits (the minimal
  encoding, §5.2 "the minimal number of bytes MUST be used").
* **A fresh masking key per frame** (§5.3: "a new masking key ... from the set of allowed
  32-bit values", "derived from a strong source of entropy", and not predictable from the
  keys before it). Keys are cut from blocks of the operating system's random source
  (:func:`os.urandom`, the one ``secrets`` reads), :data:`KEYS_PER_DRAW` keys a draw: the
  same source as the library's, one system call for many frames instead of one each. A key
  is used once and forgotten.
* **The mask** is ``websockets``' own ``apply_mask`` (its C speedup when built, else its
  pure-Python one, as ``websockets.frames`` picks it).

Nothing here writes: :class:`sipgw.agent.services.websocket_client.VendorConnection` writes the
frames to its transport, and only while the library says the connection is open (the library keeps
the receive side, pings, pongs and the close handshake).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["KEYS_PER_DRAW", "ClientFrames", "binary_frame"]

KEYS_PER_DRAW: Final = 256
"""Masking keys cut from one draw of the random source (1 KiB)."""

_FIN_BINARY: Final = 0x82  # FIN, RSV1-3 clear, opcode 0x2
_MASKED: Final = 0x80
_LEN16: Final = struct.Struct("!BBH")
_LEN64: Final = struct.Struct("!BBQ")


def binary_frame(payload: bytes, mask: bytes) -> bytes:
    """One masked binary frame holding ``payload`` (a whole message), masked with ``mask``.

    Raises:
        ValueError: ``mask`` is not 4 bytes.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    size = len(payload)
    if size < 126:
        head = bytes((_FIN_BINARY, _MASKED | size))
    elif size < 0x10000:
        head = _LEN16.pack(_FIN_BINARY, _MASKED | 126, size)
    else:
        head = _LEN64.pack(_FIN_BINARY, _MASKED | 127, size)
    return head + mask + apply_mask(payload, mask)


class ClientFrames:
    """Masked binary frames for one client connection, each with a key of its own.

    Args:
        entropy: the random source, ``n -> n random bytes`` (:func:`os.urandom`; tests pass
            their own).
        keys_per_draw: keys taken from one call of ``entropy``.
    """

    def __init__(
        self, entropy: Callable[[int], bytes] = os.urandom, keys_per_draw: int = KEYS_PER_DRAW
    ) -> None:
        if keys_per_draw < 1:
            raise ValueError("keys_per_draw must be at least 1")
        self._entropy = entropy
        self._draw = 4 * keys_per_draw
        self._keys = b""
        self._next = 0  # offset of the next unused key in _keys

    def next_mask(self) -> bytes:
        """A masking key never handed out before (4 bytes)."""
        at = self._next
        if at >= len(self._keys):
            self._keys = self._entropy(self._draw)
            if len(self._keys) != self._draw:
                raise ValueError("the random source returned the wrong number of bytes")
            at = 0
        self._next = at + 4
        return self._keys[at : at + 4]

    def binary(self, payload: bytes) -> bytes:
        """``payload`` as one masked binary frame (a whole message), with a fresh key."""
        return binary_frame(payload, self.next_mask())
