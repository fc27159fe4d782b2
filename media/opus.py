"""Opus to 8 kHz μ-law, once, at the edge of the browser leg (PyAV's libopus), sans-IO.

A browser that will not send PCMU sends Opus (48 kHz RTP clock). Each packet is decoded to
mono, resampled to 8 kHz (FFmpeg's resampler, a proper low-pass, not ``audioop.ratecv``'s
linear interpolation) and turned into μ-law, so everything after it (jitter buffer, ingress,
the agent) sees what a SIP call's PCMU would give. The resampler's delay (a couple of ms) is
carried from packet to packet, so each packet comes out with exactly its own duration.

Packets are decoded in arrival order; loss is left to our jitter buffer's concealment, not to
Opus's (a lost packet is simply absent). Cost, measured on this project's 2-core box
(``python -m bench.opus_edge``): 31 µs per 20 ms packet, 0.15 % of a core per call, so it runs
on the event loop: a hop to a worker thread (``run_in_executor``) cost 47 µs, more than the
decode itself.

Needs the ``browser`` extra (``pip install sipgw[browser]``).
"""

from __future__ import annotations

from av import AudioResampler, CodecContext
from av.audio.frame import AudioFrame
from av.packet import Packet

from sipgw.media.g711 import linear_to_ulaw
from sipgw.media.seqnum import Unwrapper

__all__ = ["OPUS_CLOCK", "OpusDecoder"]

OPUS_CLOCK = 48_000
"""Opus's RTP clock rate (RFC 7587 §4.1), whatever the audio's bandwidth."""
_RATIO = OPUS_CLOCK // 8000


class OpusDecoder:
    """One Opus stream in, μ-law at 8 kHz out, with timestamps on the 8 kHz clock.

    Attributes:
        failed: packets the decoder refused (counted, dropped: the jitter buffer conceals).
    """

    def __init__(self) -> None:
        self._codec = CodecContext.create("libopus", "r")
        self._resampler = AudioResampler(format="s16", layout="mono", rate=8000)
        self._carry = b""  # resampled 16-bit samples not yet handed out
        self._unwrap = Unwrapper(32)
        self.failed = 0

    def timestamp(self, rtp_timestamp: int) -> int:
        """A 48 kHz RTP timestamp on the 8 kHz clock (32 bits, continuous across the wrap)."""
        return (self._unwrap.unwrap(rtp_timestamp) // _RATIO) & 0xFFFFFFFF

    def decode(self, payload: bytes) -> bytes:
        """One Opus packet as 8 kHz μ-law, as long as the packet lasts; b"" if undecodable."""
        try:
            frames = self._codec.decode(Packet(payload))
        except Exception:  # PyAV raises its own errors for a corrupt packet
            self.failed += 1
            return b""
        want = 0
        pcm = self._carry
        for frame in frames:
            assert isinstance(frame, AudioFrame)
            want += frame.samples // _RATIO
            for out in self._resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * 2]
        if len(pcm) < want * 2:  # the resampler's start-up delay: lead with silence
            pcm = bytes(want * 2 - len(pcm)) + pcm
        self._carry = pcm[want * 2 :]
        return linear_to_ulaw(pcm[: want * 2])
