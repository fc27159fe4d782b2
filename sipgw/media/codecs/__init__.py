"""The codecs the media layer carries, as types.

:data:`CODECS` is every codec by its ``a=rtpmap`` name; negotiation offers and accepts
from it, and :func:`codec_named` resolves the name it agreed on, once per call, to the
:class:`Codec` the call's stages use. :mod:`sipgw.media.codecs.convert` converts between it
and the agent's :class:`AudioFormat`.

Adding a codec:

1. ``sipgw/media/codecs/<name>.py``: a subclass of :class:`Codec` (its ``a=rtpmap`` name,
   static payload type or None for a dynamic one, RTP clock, sample rate, silence octet,
   ``decode``/``encode`` of s16le at its rate; ``decoder()``/``encoder()`` when it keeps
   state per call; ``unavailable()`` when it needs a library that may be missing), and one
   module-level instance. When its octets are not one a clock tick (Opus's packets; L16's
   two octets a sample), pass ``carried=`` (a one-octet-a-tick codec, e.g. :data:`PCMU`:
   that makes it :attr:`Codec.opaque`) and give it an ``edge_decoder()`` that turns each
   packet into the carried codec's octets.
2. Add it to :data:`CODECS` (the order is the default preference) and to the registry's
   test (``tests/media/codecs/test_base.py``), with ``tests/media/codecs/test_<name>.py``.
3. Add its path, ``sipgw/media/codecs/<name>.py`` (its import name, not the ``media/`` link),
   to ``COMPILED`` in ``setup.py`` (a compiled :class:`Codec` cannot be subclassed by a
   module that is not), then run ``python -m tests.test_architecture`` and
   ``scripts/build-native`` (it runs the tree's ``.venv/bin/python``; until it has run, the
   build is stale and the pure path runs).
4. Name it where people read the list of codecs: ``SIPGW_CODECS``'s help (the gateway's
   settings in ``sipgw/app``; then regenerate docs/configuration.md and .env.example:
   docs/writing-an-agent.md, "Adding a vendor", step 3), the negotiated-codec metric's help
   (``sipgw/app/operations/metrics.py``) and docs/hd-voice.md.

Nothing else names it: the gateway gives :data:`CODECS` to the SIP core as ``RtpCodec``
descriptions, so it is offered (in this order) and answered; which codecs a call may use is
the operator's (``SIPGW_CODECS``, docs/hd-voice.md: a new codec is used only when listed).
To see it offered without a peer, give ``rtp_codecs(("<NAME>",))`` (sipgw/app/codecs.py) to
``create_offer`` (sipgw/sip/offeranswer.py); the evaluation phone
(sipgw/app/evaluation/phone.py) offers G.711 only, but its ``sdp`` can be replaced to offer
another.

tests/sipgw/app/test_codecs.py takes the registry from :data:`CODECS`, so a new codec is
tested there without being listed by hand.
"""

from __future__ import annotations

from typing import Final

from sipgw.media.codecs.base import PCM16_8K, PCM16_16K, PCM16_24K, ULAW_8K, AudioFormat, Codec
from sipgw.media.codecs.g711 import PCMA, PCMU
from sipgw.media.codecs.g722 import G722_CODEC as G722
from sipgw.media.codecs.opus import OPUS, ULAW_16K

__all__ = [
    "CODECS",
    "G722",
    "OPUS",
    "PCM16_8K",
    "PCM16_16K",
    "PCM16_24K",
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
