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
from sipgw.media.codecs.g722 import G722_CODEC as G722
from sipgw.media.codecs.opus import OPUS, ULAW_16K

__all__ = [
    "CODECS",
    "G722",
    "OPUS",
    "PCM16_8K",
    "PCM16_16K",
    "PCMA",
    "PCMU",
    "ULAW_16K",
    "ULAW_8K",
    "AudioFormat",
    "Codec",
    "codec_named",
]

CODECS: Final[dict[str, Codec]] = {codec.name: codec for codec in (PCMU, PCMA, G722, OPUS)}
"""Every codec we carry, by upper-case name, in our default order of preference (which of
them a call may use is the operator's: ``SIPGW_CODECS``, docs/hd-voice.md)."""


def codec_named(name: str) -> Codec:
    """The codec called ``name`` (case-insensitive, as an ``a=rtpmap`` writes it).

    Raises:
        ValueError: no codec of ours has that name (the message names it and ours).
    """
    codec = CODECS.get(name.upper())
    if codec is None:
        raise ValueError(f"unknown codec {name!r} (we carry {', '.join(CODECS)})")
    return codec
