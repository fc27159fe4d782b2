"""Opus through PyAV's libopus, sans-IO: decoded once at the edge, encoded once a frame.

Two users. The browser leg: a browser that will not send PCMU sends Opus, decoded to 8 kHz
μ-law (:class:`OpusDecoder`), so everything after it sees what a SIP call's PCMU would give.
A SIP call whose peer offered Opus (RFC 7587, ``media/codecs/opus.py``): its packets are
decoded to 16 kHz μ-law, the octets the jitter buffer and the ingress tap carry
(:class:`OpusDecoder` at 16000), and the agent's 20 ms frames are encoded at the agent's own
rate, 8 or 16 kHz (:class:`OpusEncoder`).

Decoding: libopus always decodes at 48 kHz here (FFmpeg's wrapper opens it so), mono (a
stereo stream is mixed down by libopus); FFmpeg's resampler (a proper low-pass, not
``audioop.ratecv``'s linear interpolation) takes it to the carried rate. The resampler's
delay (a couple of ms) is carried from packet to packet, so each packet comes out with
exactly its own duration. Packets are decoded in arrival order. A lost packet of a SIP
call is concealed by libopus itself (:meth:`OpusDecoder.conceal`: a packet of its TOC octet
alone is a frame of length 0, which libopus decodes as a lost frame, RFC 6716 §3.2.1),
when the session sees the loss (media/session.py); in-band FEC is not reachable through
PyAV: FFmpeg's libopus decoder calls ``opus_decode`` with ``decode_fec=0``, and takes an
empty packet for the end of the stream (docs/hd-voice.md, "Opus"). The browser leg leaves
loss to the jitter buffer's concealment.

Decoding runs on the event loop: a 20 ms packet takes a few tens of µs, less than a hop to
a worker thread (``run_in_executor``) would; the encoder costs several times that
(``python -m bench.codec_cost``, docs/performance.md).

Needs PyAV: the ``browser`` or the ``opus`` extra (``pip install 'sipgw[opus]'``).
"""

from __future__ import annotations

import fractions
from collections.abc import Iterable
from typing import Final

from av import AudioResampler, CodecContext
from av.audio.frame import AudioFrame
from av.packet import Packet

from sipgw.media.g711 import linear_to_ulaw
from sipgw.media.seqnum import Unwrapper

__all__ = ["OPUS_CLOCK", "OpusDecoder", "OpusEncoder", "OpusSendParams"]

OPUS_CLOCK: Final = 48_000
"""Opus's RTP clock rate (RFC 7587 §4.1), whatever the audio's bandwidth."""
ENCODE_RATES: Final = (8000, 16000)
"""The rates :class:`OpusEncoder` takes: the agents' (libopus takes them as they are)."""
COMPLEXITY: Final = 5
"""libopus's encoder complexity (0-10, FFmpeg's ``compression_level``; 10 by default):
5 costs about 15 % less CPU than 10 at 16 kHz for speech a voice agent speaks; 0 costs a
quarter of 10 but its SILK is audibly rougher."""
EXPECTED_LOSS: Final = 5
"""The loss (%) the encoder plans its in-band FEC for, when the peer asked for FEC."""


class OpusDecoder:
    """One Opus stream in, μ-law at ``rate`` out, with timestamps on that clock.

    Args:
        rate: the μ-law's sample rate: 8000 (the browser leg) or 16000 (a SIP call).

    Attributes:
        failed: packets the decoder refused (counted, dropped: the jitter buffer conceals).
    """

    def __init__(self, rate: int = 8000) -> None:
        self._codec = CodecContext.create("libopus", "r")
        self._codec.layout = "mono"  # libopus mixes a stereo stream down: 15 % less CPU
        self._resampler = AudioResampler(format="s16", layout="mono", rate=rate)
        self._ratio = OPUS_CLOCK // rate
        self._carry = b""  # resampled 16-bit samples not yet handed out
        self._unwrap = Unwrapper(32)
        self._toc = -1  # the last packet's TOC octet (RFC 6716 §3.1)
        self.failed = 0

    def timestamp(self, rtp_timestamp: int) -> int:
        """A 48 kHz RTP timestamp on the μ-law's clock (32 bits, continuous across the wrap)."""
        return (self._unwrap.unwrap(rtp_timestamp) // self._ratio) & 0xFFFFFFFF

    def decode(self, payload: bytes) -> bytes:
        """One Opus packet as μ-law, as long as the packet lasts; b"" if undecodable."""
        if not payload:  # PyAV takes an empty packet for the end of the stream: never decode
            self.failed += 1  # one, or every later packet is refused (RFC 6716 §3.4 R1)
            return b""
        try:
            frames = self._codec.decode(Packet(payload))
        except Exception:  # PyAV raises its own errors for a corrupt packet
            self.failed += 1
            return b""
        self._toc = payload[0] & 0xFC  # its configuration, one frame (code 0)
        return self._resampled(frames)

    def conceal(self) -> bytes:
        """One lost frame (of the last packet's frame size: 20 ms as SIP phones send them),
        concealed by libopus from what it decoded last, as μ-law; b"" before any packet."""
        if self._toc < 0:
            return b""
        try:  # the TOC octet alone: a frame of length 0, decoded as lost (RFC 6716 §3.2.1)
            frames = self._codec.decode(Packet(bytes((self._toc,))))
        except Exception:
            return b""
        return self._resampled(frames)

    def _resampled(self, frames: Iterable[object]) -> bytes:
        want = 0
        pcm = self._carry
        for frame in frames:
            assert isinstance(frame, AudioFrame)
            want += frame.samples // self._ratio
            for out in self._resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * 2]
        if len(pcm) < want * 2:  # the resampler's start-up delay: lead with silence
            pcm = bytes(want * 2 - len(pcm)) + pcm
        self._carry = pcm[want * 2 :]
        return linear_to_ulaw(pcm[: want * 2])


class OpusSendParams:
    """How we encode for a peer, from its ``a=fmtp`` for the payload type (RFC 7587 §6.1).

    The peer's parameters say what it wants to receive: ``maxaveragebitrate`` caps our bit
    rate, ``maxplaybackrate`` below 16000 narrows our audio to what it plays, and
    ``useinbandfec=1`` has us add in-band FEC (``stereo`` needs nothing: we send mono, which
    a stereo receiver takes, §3.4). Malformed or unknown parameters are ignored (§6.1: a
    receiver ignores what it does not understand), so a peer's typo never fails a call.

    Attributes:
        bitrate: bits per second, at most ``maxaveragebitrate`` (6000-510000, §6.1).
        cutoff: the encoder's audio bandwidth in Hz (4000 narrowband, 8000 wideband).
        fec: whether to add in-band FEC.
    """

    __slots__ = ("bitrate", "cutoff", "fec")

    DEFAULT_BITRATE: Final = 24_000
    """Wideband speech at 24 kbit/s (RFC 7587 §3.1.1: 16-20 kbit/s already gives "good
    quality" wideband speech), our own ``maxaveragebitrate`` too."""

    def __init__(self, fmtp: str | None, rate: int) -> None:
        params: dict[str, str] = {}
        for item in (fmtp or "").split(";"):
            key, _, value = item.partition("=")
            params[key.strip().lower()] = value.strip()
        self.bitrate = self.DEFAULT_BITRATE
        cap = _number(params.get("maxaveragebitrate"))
        if cap is not None and 6000 <= cap <= 510_000:
            self.bitrate = min(self.bitrate, cap)
        self.cutoff = 8000 if rate >= 16000 else 4000
        playback = _number(params.get("maxplaybackrate"))
        if playback is not None and 8000 <= playback < 16000:
            self.cutoff = 4000
        self.fec = params.get("useinbandfec") == "1"


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


class OpusEncoder:
    """One call's Opus stream out: 20 ms of s16le at ``rate`` in, one Opus packet out.

    Args:
        rate: the s16le's sample rate, one of :data:`ENCODE_RATES` (libopus takes it as
            is: an 8 kHz agent's audio is not resampled).
        fmtp: the peer's ``a=fmtp`` parameters for the payload type (:class:`OpusSendParams`).
        complexity: libopus's (0-10): :data:`COMPLEXITY` (the benchmark tries others).
    """

    def __init__(
        self, rate: int = 16000, fmtp: str | None = None, complexity: int = COMPLEXITY
    ) -> None:
        if rate not in ENCODE_RATES:
            raise ValueError(f"Opus encodes 8000 or 16000 Hz audio here, not {rate}")
        send = OpusSendParams(fmtp, rate)
        codec = CodecContext.create("libopus", "w")
        codec.sample_rate = rate
        codec.format = "s16"
        codec.layout = "mono"
        codec.bit_rate = send.bitrate
        codec.time_base = fractions.Fraction(1, rate)
        options = {
            "application": "voip",
            "frame_duration": "20",
            "compression_level": str(complexity),
            "cutoff": str(send.cutoff),
        }
        if send.fec:
            options |= {"fec": "1", "packet_loss": str(EXPECTED_LOSS)}
        codec.options = options
        codec.open()
        self._codec = codec
        self._rate = rate
        self._samples = rate // 50
        self._pts = 0
        self.params = send

    def encode(self, pcm: bytes) -> bytes:
        """20 ms of s16le at the encoder's rate as one Opus packet.

        Raises:
            ValueError: ``pcm`` is not 20 ms.
        """
        if len(pcm) != self._samples * 2:
            raise ValueError(f"Opus frames are 20 ms: {self._samples * 2} octets, not {len(pcm)}")
        frame = AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += self._samples
        packets = self._codec.encode(frame)
        # libopus gives one packet a frame (FFmpeg queues none at 20 ms); a TOC octet
        # alone is a valid 20 ms packet (RFC 6716 §3.2.1: a frame of length 0) otherwise
        return b"".join(bytes(p) for p in packets[:1]) or b"\x48"
