"""The codecs the media layer carries, as types (docs/architecture.md, "Adding a codec").

:data:`CODECS` is every codec by its ``a=rtpmap`` name; negotiation offers and accepts
from it, and :func:`codec_named` resolves the name it agreed on, once per call, to the
:class:`Codec` the call's stages use. :mod:`sipgw.media.codecs.convert` converts between it
and the agent's :class:`AudioFormat`.
"""

from __future__ import annotations

from typing import Final

from sipgw.media.codecs.base import PCM16_8K, PCM16_16K, ULAW_8K, AudioFormat, Codec
from sipgw.media.codecs.g711 import PCMA, PCMU

__all__ = [
    "CODECS",
    "PCM16_8K",
    "PCM16_16K",
    "PCMA",
    "PCMU",
    "ULAW_8K",
    "AudioFormat",
    "Codec",
    "codec_named",
]

CODECS: Final[dict[str, Codec]] = {codec.name: codec for codec in (PCMU, PCMA)}
"""Every codec we carry, by upper-case name, in our default order of preference."""


def codec_named(name: str) -> Codec:
    """The codec called ``name`` (case-insensitive, as an ``a=rtpmap`` writes it).

    Raises:
        ValueError: no codec of ours has that name (the message names it and ours).
    """
    codec = CODECS.get(name.upper())
    if codec is None:
        raise ValueError(f"unknown codec {name!r} (we carry {', '.join(CODECS)})")
    return codec
