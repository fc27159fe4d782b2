"""G.711 μ-law (PCMU) and A-law (PCMA), RFC 3551 §4.5.14: 8000 Hz, one octet a sample."""

from __future__ import annotations

from typing import Final

from sipgw.media import g711
from sipgw.media.codecs.base import ULAW_8K, Codec

__all__ = ["PCMA", "PCMU", "G711"]


class G711(Codec):
    """A G.711 law: its decode and encode are :mod:`sipgw.media.g711`'s (``audioop``)."""

    __slots__ = ("_alaw",)

    def __init__(self, name: str, payload_type: int, alaw: bool) -> None:
        super().__init__(
            name,
            payload_type,
            clock_rate=8000,
            sample_rate=8000,
            silence_octet=g711.ALAW_SILENCE if alaw else g711.ULAW_SILENCE,
            to_ulaw=g711.ALAW_TO_ULAW_TABLE if alaw else None,
            from_ulaw=g711.ULAW_TO_ALAW_TABLE if alaw else None,
            native_format=None if alaw else ULAW_8K,
        )
        self._alaw = alaw

    def decode(self, payload: bytes) -> bytes:
        return g711.alaw_to_linear(payload) if self._alaw else g711.ulaw_to_linear(payload)

    def encode(self, pcm: bytes) -> bytes:
        return g711.linear_to_alaw(pcm) if self._alaw else g711.linear_to_ulaw(pcm)


PCMU: Final = G711("PCMU", 0, alaw=False)
"""μ-law, static payload type 0: the agent's default format on the wire as is."""
PCMA: Final = G711("PCMA", 8, alaw=True)
"""A-law, static payload type 8: converted to the agent's format by
:mod:`sipgw.media.codecs.convert`."""
