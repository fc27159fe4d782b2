"""Opus on SIP (RFC 7587): a dynamic payload type, ``opus/48000/2``, a 48000 Hz RTP clock.

Opus packets are not one octet a clock tick, so an Opus call is :attr:`Codec.opaque`: each
packet received is decoded at the edge, in arrival order, into 16 kHz μ-law
(:data:`ULAW_16K`: one octet a sample at a 16000 Hz clock, which the jitter buffer, the
ingress tap and the converters to the agent carry as they carry G.711), its timestamp
divided by 3; each 20 ms the agent's frame (8 or 16 kHz, as the agent declares) is encoded
by the call's own encoder into one packet, 960 ticks of the 48 kHz clock. Its RFC 4733
events are ``telephone-event/48000`` (the audio's clock, RFC 4733 §2.1).

The codec itself is libopus through PyAV (:mod:`sipgw.media.opus`, a pure module imported
when a call needs it): PyAV is the ``opus`` extra, and :meth:`Opus.unavailable` says so
when it is missing, so that listing ``OPUS`` without it stops start-up with the command
that installs it.

What we ask to receive (``a=fmtp``, RFC 7587 §6.1): 16 kHz audio at most
(``maxplaybackrate``; we capture 16 kHz at most too, ``sprop-maxcapturerate``), mono
(``stereo=0``), at most 24 kbit/s (``maxaveragebitrate``); no ``useinbandfec=1``: the
decoder PyAV gives cannot use in-band FEC (sipgw.media.opus), and asking for it would
have the peer spend bits on it for nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from sipgw.media import g711
from sipgw.media.codecs.base import Codec, EdgeDecoder, Encoder

__all__ = ["OPUS", "OPUS_FMTP", "ULAW_16K", "Opus", "WidebandUlaw"]

OPUS_CLOCK: Final = 48000
CARRIED_RATE: Final = 16000
OPUS_FMTP: Final = (
    "maxplaybackrate=16000;sprop-maxcapturerate=16000;stereo=0;sprop-stereo=0;"
    "maxaveragebitrate=24000"
)
"""Our ``a=fmtp`` for Opus: what we want to receive (see the module docstring)."""


class WidebandUlaw(Codec):
    """μ-law at 16 kHz, one octet a sample: what an Opus call's stages carry (never on the
    wire, never negotiated). μ-law keeps the stages' one octet a tick; its companding
    noise (G.711's, about 38 dB below the signal) is far under what an Opus stream at
    24 kbit/s already has."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(
            "ULAW16",
            None,
            clock_rate=CARRIED_RATE,
            sample_rate=CARRIED_RATE,
            silence_octet=g711.ULAW_SILENCE,
            conceals=False,  # the pitch concealment's search is tuned to 8 kHz: silence fills
        )

    def decode(self, payload: bytes) -> bytes:
        return g711.ulaw_to_linear(payload)

    def encode(self, pcm: bytes) -> bytes:
        return g711.linear_to_ulaw(pcm)


ULAW_16K: Final = WidebandUlaw()
"""The carried form of an Opus call's received audio."""


class Opus(Codec):
    """Opus (see the module docstring): a fresh libopus state per call and direction."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(
            "OPUS",
            None,  # dynamic (RFC 7587 §7): our offers number it from 96
            clock_rate=OPUS_CLOCK,
            sample_rate=CARRIED_RATE,
            silence_octet=0,
            conceals=False,
            rtpmap_name="opus",
            channels=2,  # "opus/48000/2" whatever is sent (RFC 7587 §7)
            fmtp=OPUS_FMTP,
            carried=ULAW_16K,
            encode_rates=(8000, 16000),
        )

    def edge_decoder(self) -> EdgeDecoder:
        from sipgw.media.opus import OpusDecoder  # PyAV: the opus extra

        return OpusDecoder(CARRIED_RATE)

    def encoder(self, sample_rate: int = 0, fmtp: str | None = None) -> Encoder:
        from sipgw.media.opus import OpusEncoder  # PyAV: the opus extra

        return OpusEncoder(sample_rate or CARRIED_RATE, fmtp)

    def decode(self, payload: bytes) -> bytes:
        """One packet as 16 kHz s16le, from a fresh decoder (one-shot: its level)."""
        return self.carried.decode(self.edge_decoder().decode(payload))

    def encode(self, pcm: bytes) -> bytes:
        """20 ms of 16 kHz s16le as one packet, from a fresh encoder (one-shot)."""
        return self.encoder().encode(pcm)

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("av") is None:
            return "needs PyAV, which is not installed: pip install 'sipgw[opus]'"
        return None


OPUS: Final = Opus()
"""Opus, a dynamic payload type, ``opus/48000/2``."""
