"""One browser call's received audio, sans-IO: decrypted RTP in, 20 ms μ-law frames out.

aiortc does the browser leg's ICE, DTLS-SRTP and SDP; its own jitter buffer is left out of the
agent's path (design.md: with 20 ms audio one lost packet stalled its output for 300 ms). The
packets it decrypted come here instead (``media/aio/browser.py`` taps them) and go through the
same stages as a SIP call's RTP: the jitter buffer for the agent's per-tick frame, the ingress
stage for the listeners' tap, the RFC 3550 reception statistics for the call's quality
figures. PCMU passes through; PCMA is converted once (media/codecs/convert.py); Opus (when
the browser insists) is decoded once to 8 kHz μ-law by :class:`sipgw.media.opus.OpusDecoder`, given
by the caller, so this module needs no optional package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sipgw.media.codecs import CODECS, ULAW_8K
from sipgw.media.codecs.convert import ToAgent
from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.quality import CallQuality
from sipgw.media.received import CallerAudio
from sipgw.media.reporting import RtcpReporter
from sipgw.media.rtp import RtpPacket

__all__ = ["BrowserAudio", "BrowserAudioStats", "Decoder"]


class Decoder(Protocol):
    """Turns one codec's packets into 8 kHz μ-law (:class:`sipgw.media.opus.OpusDecoder`)."""

    def timestamp(self, rtp_timestamp: int) -> int:
        """The packet's timestamp on the 8 kHz clock."""
        ...

    def decode(self, payload: bytes) -> bytes:
        """The packet's audio as 8 kHz μ-law."""
        ...


@dataclass(slots=True)
class BrowserAudioStats:
    """Counters of one browser call's received audio."""

    packets_in: int = 0
    unknown_payload: int = 0
    """Packets of a payload type not negotiated for audio (dropped)."""
    undecodable: int = 0


class BrowserAudio(CallerAudio):
    """The receive side of one browser call; see the module docstring.

    Args:
        codecs: payload type -> codec name (``PCMU``, ``PCMA``, ``opus``), as negotiated.
        now: the current time (seconds).
        jitter: the playout buffer's settings (its codec is forced to μ-law).
        decoders: payload type -> decoder, for codecs other than G.711.
    """

    def __init__(
        self,
        codecs: Mapping[int, str],
        now: float,
        jitter: JitterBufferConfig | None = None,
        decoders: Mapping[int, Decoder] | None = None,
    ) -> None:
        super().__init__(jitter)
        self.rtcp = RtcpReporter("browser@sipgw", now)
        self.codecs = dict(codecs)
        self._to_ulaw = {
            pt: ToAgent(CODECS[name.upper()], ULAW_8K)
            for pt, name in codecs.items()
            if name.upper() in CODECS and not CODECS[name.upper()].opaque
        }  # G.711, resolved once; the others (Opus) need a decoder
        self.decoders = dict(decoders or {})
        self.stats = BrowserAudioStats()
        self.last_received = now

    def receive(self, packet: RtpPacket, now: float) -> None:
        """One decrypted RTP packet from the browser."""
        self.stats.packets_in += 1
        if packet.payload_type not in self.codecs:
            self.stats.unknown_payload += 1
            return
        to_ulaw = self._to_ulaw.get(packet.payload_type)
        if to_ulaw is not None:
            if not to_ulaw.passthrough:
                packet.payload = to_ulaw.convert(packet.payload)
        else:
            decoder = self.decoders.get(packet.payload_type)
            audio = b"" if decoder is None else decoder.decode(packet.payload)
            if not audio or decoder is None:
                self.stats.undecodable += 1
                return
            packet.timestamp = decoder.timestamp(packet.timestamp)
            packet.payload = audio
        packet.payload_type = 0
        self.last_received = now
        self.rtcp.reception.packet(packet.ssrc, packet.sequence_number, packet.timestamp, now)
        self.push(packet, now)

    def quality(self) -> CallQuality:
        """Loss and jitter of what the browser sent, and the estimated MOS."""
        return self.rtcp.quality(self.jitter.stats.target_delay)

    def idle_for(self, now: float) -> float:
        """Seconds since the last audio packet."""
        return now - self.last_received
