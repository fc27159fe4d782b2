"""The browser leg's media on aiortc: ICE, DTLS-SRTP and SDP from aiortc, the audio path ours.

:class:`BrowserLeg` answers a browser's SDP offer with one ``sendrecv`` audio transceiver whose
codecs are ordered by :attr:`BrowserLegConfig.codecs` (PCMU first, so the agent's μ-law passes
through both ways). Then:

- **In.** aiortc's receiver hands every decrypted RTP packet to ``_handle_rtp_packet``; ours is
  put in its place on that receiver, so packets go to :class:`sipgw.media.browser.BrowserAudio` (our
  jitter buffer, ingress, reception statistics) and never to aiortc's jitter buffer or decoder
  thread (design.md: it stalls 300 ms per lost packet). aiortc 1.x types this hook (the
  ``RtpReceiver`` protocol of ``rtcdtlstransport``); a loopback test fails if it moves. The
  tap still feeds the receiver's per-SSRC statistics (aiortc's ``StreamStatistics``, what its
  own handler updates first), so aiortc's RTCP task keeps sending the browser receiver
  reports (RFC 3550 §6.4.2: its loss, jitter and round-trip time in ``getStats()``) and the
  receiver's ``getStats()`` keeps its ``inbound-rtp``; a loopback test checks both.
- **Out.** :class:`AgentTrack` is the ``MediaStreamTrack`` aiortc's sender pulls. The shared
  ticker pushes one frame per 20 ms (:meth:`BrowserLeg.send_frame`: the agent's, or silence,
  so RTP never stops), so the pace is the ticker's, not aiortc's. With PCMU each frame goes out
  as an ``av.Packet`` that aiortc packetizes as is (no decode, no encode); with PCMA it is
  converted once; with Opus it goes as 16-bit audio that aiortc's encoder resamples and
  encodes on its own worker thread.
- **ICE** gathers the host's addresses (aioice: every interface but 127.0.0.1 and ::1) and,
  with :attr:`BrowserLegConfig.ice_servers`, server-reflexive (STUN) and relayed (TURN) ones.
  aiortc does not trickle: the answer carries every candidate, and an answer with none
  (a host whose only address is loopback, no STUN/TURN answering) is refused with
  :class:`NoIceCandidates` instead of a call that could never connect.

Needs the ``browser`` extra (``pip install sipgw[browser]``).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket as AiortcRtpPacket
from av.audio.frame import AudioFrame
from av.packet import Packet

from sipgw.media import g711
from sipgw.media.browser import BrowserAudio, Decoder
from sipgw.media.codecs import CODECS, PCMU, ULAW_8K
from sipgw.media.codecs.convert import ToWire
from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.opus import OpusDecoder
from sipgw.media.quality import CallQuality
from sipgw.media.rtp import RtpPacket

__all__ = ["AgentTrack", "BrowserLeg", "BrowserLegConfig", "IceServer", "NoIceCandidates"]

log = logging.getLogger("sipgw.media")

FRAME = 160
SILENCE = g711.silence_frame("PCMU")
_TIME_BASE = fractions.Fraction(1, 8000)


class NoIceCandidates(RuntimeError):
    """The answer would carry no ICE candidate: the browser could never reach us."""


CLOCK_RATES = {"PCMU": 8000, "PCMA": 8000, "opus": 48000}
"""RTP clock rates of the codecs we take (RFC 3551 §4.5.14; RFC 7587 §4.1: Opus is 48 kHz)."""


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN or TURN server (the W3C ``RTCIceServer``)."""

    urls: tuple[str, ...]
    """``stun:host:port``, ``turn:host:port?transport=udp|tcp``, ``turns:host:port``."""
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class BrowserLegConfig:
    """Settings of the browser leg's media."""

    ice_servers: tuple[IceServer, ...] = ()
    """STUN/TURN servers; none: host candidates only (a browser on the same network)."""
    codecs: tuple[str, ...] = ("PCMU", "opus")
    """Accepted codecs, most preferred first (``PCMU``, ``PCMA``, ``opus``)."""
    jitter: JitterBufferConfig = JitterBufferConfig()
    max_queued_frames: int = 3
    """Agent frames that may wait for aiortc's sender (60 ms); older ones are dropped."""


class AgentTrack(MediaStreamTrack):
    """The agent's audio as aiortc's sender pulls it, paced by the ticker's pushes.

    Attributes:
        dropped: frames dropped because the sender fell behind by more than the queue.
    """

    kind = "audio"

    def __init__(self, max_queued: int = 3) -> None:
        super().__init__()
        self.codec = "PCMU"
        self.wire: ToWire | None = ToWire(PCMU, ULAW_8K)
        """The negotiated codec's conversion from μ-law when it is one of ours (packets
        aiortc sends as they are); None: aiortc encodes 16-bit audio (Opus)."""
        self.max_queued = max_queued
        self.dropped = 0
        self._queue: deque[tuple[int, bytes]] = deque()
        self._ready = asyncio.Event()
        self._pts = 0

    def push(self, frame: bytes) -> None:
        """One 20 ms μ-law frame, from the tick; returns at once."""
        if len(self._queue) >= self.max_queued:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((self._pts, frame))
        self._pts += FRAME
        self._ready.set()

    def skip(self, ticks: int) -> None:
        """Ticks the ticker dropped: keep the timestamps on wall time."""
        self._pts += ticks * FRAME

    def clear(self) -> int:
        """Drop the frames aiortc's sender has not taken yet (barge-in); how many."""
        dropped = len(self._queue)
        self._queue.clear()
        return dropped

    async def recv(self) -> Packet[Any] | AudioFrame:
        """The next frame, as aiortc's encoder for the negotiated codec takes it."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        pts, frame = self._queue.popleft()
        wire = self.wire
        if wire is not None:
            packet = Packet(frame if wire.passthrough else wire.convert(frame))
            packet.pts = pts
            packet.time_base = _TIME_BASE
            return packet
        audio = AudioFrame(format="s16", layout="mono", samples=FRAME)
        audio.planes[0].update(g711.ulaw_to_linear(frame))
        audio.sample_rate = 8000
        audio.pts = pts
        audio.time_base = _TIME_BASE
        return audio

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class BrowserLeg:
    """One browser call's media; see the module docstring.

    Attributes:
        audio: the received side (set once an offer is answered).
        track: the agent's side.
        on_state: called with aiortc's connection state (``connected``, ``failed``,
            ``closed``...) as it changes: the caller ends the call on ``failed``/``closed``.
    """

    def __init__(self, config: BrowserLegConfig | None = None) -> None:
        self.config = config or BrowserLegConfig()
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.config.ice_servers
        ]
        self.configuration = RTCConfiguration(iceServers=servers)
        """What the peer connection was made with (its ICE servers)."""
        self.pc = RTCPeerConnection(self.configuration)
        self.track = AgentTrack(self.config.max_queued_frames)
        self.audio: BrowserAudio | None = None
        self.codec = ""
        self.on_state: Callable[[str], None] | None = None
        self._transceiver: RTCRtpTransceiver | None = None

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.on_state is not None:
                self.on_state(self.pc.connectionState)

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to a browser's offer (every ICE candidate in it).

        Raises:
            ValueError: the offer is not SDP with an audio section, or has no audio in a
                codec of :attr:`BrowserLegConfig.codecs`.
        """
        loop = asyncio.get_running_loop()
        try:
            offered = aiortc_sdp.SessionDescription.parse(offer_sdp).media
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"the browser's offer is not SDP aiortc can read: {exc}") from exc
        if not any(m.kind == "audio" for m in offered):
            raise ValueError("the browser's offer has no audio section (m=audio)")
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        wanted = {c.lower() for c in self.config.codecs}
        capabilities = RTCRtpSender.getCapabilities("audio")
        assert capabilities is not None
        preferred = sorted(
            (c for c in capabilities.codecs if c.mimeType.split("/")[1].lower() in wanted),
            key=lambda c: [x.lower() for x in self.config.codecs].index(
                c.mimeType.split("/")[1].lower()
            ),
        )
        transceiver.setCodecPreferences(preferred)
        self._transceiver = transceiver
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:  # aiortc: OperationError when no codec is in common
            raise ValueError(
                f"the browser's offer has no audio in {', '.join(self.config.codecs)}: {exc}"
            ) from exc
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        local = self.pc.localDescription
        media = aiortc_sdp.SessionDescription.parse(local.sdp).media
        if not any(m.ice_candidates for m in media):
            servers = ", ".join(u for s in self.config.ice_servers for u in s.urls) or "none"
            raise NoIceCandidates(
                "no ICE candidate to answer with: this host has no address ICE can use "
                "(aioice leaves 127.0.0.1 and ::1 out) and no STUN/TURN server gave one "
                f"(SIPGW_ICE_SERVERS: {servers})"
            )
        codecs = {
            c.payloadType: c.mimeType.split("/")[1]
            for c in media[0].rtp.codecs
            if c.payloadType is not None
        }
        first = media[0].rtp.codecs[0].mimeType.split("/")[1]
        self.codec = "opus" if first.lower() == "opus" else first.upper()
        self.track.codec = self.codec
        # G.711 goes out as our frames; Opus is aiortc's own encoder's (its 48 kHz clock)
        ours = CODECS.get(first.upper())
        self.track.wire = None if ours is None or ours.opaque else ToWire(ours, ULAW_8K)
        decoders: dict[int, Decoder] = {
            pt: OpusDecoder() for pt, name in codecs.items() if name.lower() == "opus"
        }
        self.audio = BrowserAudio(
            {pt: ("opus" if n.lower() == "opus" else n.upper()) for pt, n in codecs.items()},
            loop.time(),
            self.config.jitter,
            decoders,
        )
        rates = {pt: CLOCK_RATES[n] for pt, n in self.audio.codecs.items() if n in CLOCK_RATES}
        _tap(transceiver.receiver, self.audio, rates)
        return local.sdp

    # -- the tick (the same face as a SIP call's media session)

    def poll_ingress(self, now: float) -> None:
        """Release gaps and silence to the listeners' tap."""
        if self.audio is not None:
            self.audio.poll_ingress(now)

    def caller_frame(self, now: float) -> bytes | None:
        """The browser's next 20 ms as μ-law (our jitter buffer), or None."""
        return None if self.audio is None else self.audio.caller_frame(now)

    def send_frame(self, frame: bytes | None) -> None:
        """This tick's agent frame (None: silence: RTP keeps flowing)."""
        self.track.push(SILENCE if frame is None else frame)

    def skip(self, ticks: int) -> None:
        """Ticks the ticker dropped after a stall."""
        self.track.skip(ticks)

    def clear(self) -> int:
        """Barge-in: drop the agent frames still queued for aiortc's sender; how many.

        What was sent is heard (RTP): at most :attr:`BrowserLegConfig.max_queued_frames`.
        """
        return self.track.clear()

    def quality(self) -> CallQuality | None:
        """Loss, jitter and MOS of the browser's audio (None before the answer)."""
        return None if self.audio is None else self.audio.quality()

    def idle_for(self, now: float) -> float:
        """Seconds since the browser's last audio packet."""
        return 0.0 if self.audio is None else self.audio.idle_for(now)

    async def close(self) -> None:
        """Stop the track and close the peer connection (ICE, DTLS)."""
        self.track.stop()
        await self.pc.close()


def _tap(receiver: RTCRtpReceiver, audio: BrowserAudio, clock_rates: dict[int, int]) -> None:
    """Route the receiver's decrypted packets to ``audio`` instead of aiortc's jitter buffer,
    keeping its statistics (and so its receiver reports) fed; ``clock_rates`` by payload type.

    Raises:
        RuntimeError: this aiortc keeps its statistics elsewhere (a version we do not know).
    """
    loop = asyncio.get_running_loop()
    # aiortc's handler updates these first of all (RTCRtpReceiver._handle_rtp_packet); its
    # RTCP task reads them for the receiver reports, getStats() for inbound-rtp.
    streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", None)
    if not isinstance(streams, dict):
        raise RuntimeError("aiortc's receiver keeps no per-SSRC statistics where 1.x does")

    async def handle_rtp_packet(packet: AiortcRtpPacket, arrival_time_ms: int) -> None:
        clock_rate = clock_rates.get(packet.payload_type)
        if clock_rate is not None:  # aiortc too counts only packets of a negotiated codec
            stats = streams.get(packet.ssrc)
            if stats is None:
                stats = streams[packet.ssrc] = StreamStatistics(clock_rate)
            stats.add(packet)
        audio.receive(
            RtpPacket(
                payload_type=packet.payload_type,
                sequence_number=packet.sequence_number,
                timestamp=packet.timestamp,
                ssrc=packet.ssrc,
                marker=bool(packet.marker),
                payload=packet.payload,
            ),
            loop.time(),
        )

    # An instance attribute: the DTLS transport's router calls receiver._handle_rtp_packet.
    setattr(receiver, "_handle_rtp_packet", handle_rtp_packet)  # noqa: B010
