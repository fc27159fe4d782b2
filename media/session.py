"""One call's RTP media, sans-IO: datagrams and ticks in, frames and packets out.

Inbound packets go through the jitter buffer (audio) or the RFC 4733 receiver
(DTMF). Outbound frames go through the stream sender, which keeps sequence
numbers and timestamps continuous for the whole call. The agent always sees
μ-law; an A-law call is converted here, once, at the edge.

Symmetric RTP (RFC 4961): we send to the address the caller's RTP comes from,
which is what gets audio through NATs. To stop a third party from hijacking
the stream ("RTP bleed"), the first source that sends valid RTP is latched;
another source only takes over after the latched one has been silent for
:data:`RELATCH_SILENCE` seconds and the newcomer has sent
:data:`RELATCH_PACKETS` packets in sequence. Packets from a source that is
not latched are dropped.

SRTP (when ``StreamParams.srtp`` is set): every packet received is
authenticated and decrypted before anything else looks at it, so a packet
that fails (tampered, replayed, from someone without the key) is counted in
:attr:`MediaSession.srtp` and dropped, and can never latch a source; every
packet sent is protected. A re-negotiation rekeys only the direction whose key
changed (:meth:`media.srtp.SrtpContext.rekey`).

RTCP (RFC 3550 §6): :attr:`MediaSession.rtcp` (media/reporting.py) follows
the accepted RTP, parses the peer's reports from the RTCP port or, with
``rtcp-mux`` (RFC 5761), from the RTP port, and :meth:`MediaSession.rtcp_report`
gives our SR/RR when one is due; with SRTP both ways are SRTCP.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from media import g711
from media.dtmf import DtmfReceiver
from media.ingress import IngressAudio
from media.jitterbuffer import JitterBuffer, JitterBufferConfig
from media.quality import CallQuality
from media.reporting import RtcpReporter
from media.rtcp import SenderInfo
from media.rtp import RtpPacket, RtpParseError, is_rtcp
from media.sender import RtpStreamSender
from media.srtp import SRTCP_MIN_LENGTH, SrtpContext, SrtpKeying

__all__ = [
    "RELATCH_PACKETS",
    "RELATCH_SILENCE",
    "STUN_MAGIC_COOKIE",
    "MediaSession",
    "MediaStats",
    "StreamParams",
    "is_stun",
]

Address = tuple[str, int]

RELATCH_SILENCE = 1.0
"""Seconds the latched source must be silent before another may take over."""
RELATCH_PACKETS = 4
"""Consecutive in-sequence packets a new source must send to take over."""
MIN_INGRESS_WAIT = 0.040
"""Seconds the listeners' tap waits for a missing packet, at least."""


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What offer/answer agreed for the audio stream.

    Attributes:
        remote: where the SDP says to send RTP (until symmetric RTP latches).
        codec: ``"PCMU"`` or ``"PCMA"``.
        payload_type: the audio payload type, both directions.
        telephone_event_pt: the RFC 4733 payload type, or None.
        ptime_ms: packetization of what we send.
        send: whether we may send media (our direction includes send).
        receive: whether the peer will send media to us.
        srtp: ``(ours, theirs)``: the keying we protect with and the one we
            unprotect with, when the stream is SRTP; None for plain RTP.
    """

    remote: Address
    codec: str = "PCMU"
    payload_type: int = 0
    telephone_event_pt: int | None = None
    ptime_ms: int = 20
    send: bool = True
    receive: bool = True
    srtp: tuple[SrtpKeying, SrtpKeying] | None = None
    rtcp_mux: bool = False
    """RTCP shares the RTP port (RFC 5761): both offered and answered."""
    rtcp_port: int | None = None
    """The peer's RTCP port (``a=rtcp``, RFC 3605); None: the RTP port + 1."""


STUN_MAGIC_COOKIE = b"\x21\x12\xa4\x42"
"""RFC 5389 §6: octets 4-7 of every STUN message."""


def is_stun(data: bytes) -> bool:
    """Whether a datagram looks like STUN: 20+ octets, top two bits 0, the magic cookie."""
    return len(data) >= 20 and data[0] < 0x40 and data[4:8] == STUN_MAGIC_COOKIE


@dataclass(slots=True)
class MediaStats:
    """Counters of one session (the jitter buffer and sender keep their own)."""

    packets_in: int = 0
    invalid: int = 0
    foreign: int = 0
    unknown_payload: int = 0
    rtcp: int = 0
    """RTCP datagrams received, on either port (RFC 5761 §4: second octet 192-223)."""
    stun: int = 0
    """STUN-looking datagrams (RFC 5389 §6 magic cookie): counted, dropped (no ICE here)."""
    relatches: int = 0
    dtmf_digits: int = 0
    frames_out: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class MediaSession:
    """The RTP side of one call; see the module docstring.

    Args:
        params: the negotiated stream.
        now: the current time (seconds), for the RTP timeout clock.
        jitter: jitter buffer settings (its codec is taken from ``params``).
        rng: random source for SSRC, sequence and timestamp origins.
    """

    __slots__ = (
        "_candidate",
        "ingress",
        "on_audio",
        "_candidate_count",
        "_candidate_seq",
        "_pending_digits",
        "_to_ulaw",
        "dtmf",
        "jitter",
        "jitter_config",
        "last_received",
        "latched",
        "params",
        "remote",
        "rtcp",
        "sender",
        "srtp",
        "stats",
    )

    def __init__(
        self,
        params: StreamParams,
        now: float,
        jitter: JitterBufferConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.params = params
        self.remote: Address = params.remote
        self.latched: Address | None = None
        self.last_received = now
        self.stats = MediaStats()
        base = jitter or JitterBufferConfig()
        self.jitter_config = JitterBufferConfig(
            codec=params.codec,
            clock_rate=base.clock_rate,
            frame_samples=base.frame_samples,
            min_delay=base.min_delay,
            max_delay=base.max_delay,
            jitter_multiplier=base.jitter_multiplier,
            max_concealment_frames=base.max_concealment_frames,
            resync_threshold=base.resync_threshold,
        )
        self.jitter = JitterBuffer(self.jitter_config)
        self.sender = RtpStreamSender(
            payload_type=params.payload_type,
            codec=params.codec,
            ptime_ms=params.ptime_ms,
            telephone_event_pt=params.telephone_event_pt,
            rng=rng,
        )
        self.dtmf = DtmfReceiver()
        self.ingress = IngressAudio(params.codec)
        self.on_audio: Callable[[bytes], None] | None = None
        """Listeners' tap: in-order μ-law frames at arrival (see media/ingress.py)."""
        self._pending_digits: list[str] = []
        self._to_ulaw = params.codec == "PCMA"
        self._candidate: Address | None = None
        self._candidate_seq = 0
        self._candidate_count = 0
        self.srtp: SrtpContext | None = None
        """The call's SRTP, with its counters of dropped packets; None for plain RTP."""
        if params.srtp is not None:
            self.srtp = SrtpContext(*params.srtp)
        cname = f"{(rng or random).getrandbits(64):016x}@sipgw"  # per call, RFC 7022
        self.rtcp = RtcpReporter(cname, now, rng=rng)
        """The call's RTCP: reception statistics, the peer's reports, our next report."""

    # ------------------------------------------------------------------ inbound

    def receive(self, data: bytes, source: Address, now: float) -> None:
        """One datagram from the RTP socket."""
        self.stats.packets_in += 1
        if len(data) < 12 or data[0] >> 6 != 2:
            if is_stun(data):
                self.stats.stun += 1
            elif len(data) >= 8 and data[0] >> 6 == 2 and is_rtcp(data):
                self._rtcp_on_rtp_port(data, source, now)  # short: an empty RR is 8 octets
            else:
                self.stats.invalid += 1
            return
        if is_rtcp(data):
            self._rtcp_on_rtp_port(data, source, now)
            return
        payload_type = data[1] & 0x7F
        is_audio = payload_type == self.params.payload_type
        if not is_audio and payload_type != self.params.telephone_event_pt:
            self.stats.unknown_payload += 1  # comfort noise, another payload type, ...
            return
        if self.srtp is not None:
            plain = self.srtp.unprotect(data)
            if plain is None:
                return  # counted in self.srtp.stats
            data = plain
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            self.stats.invalid += 1
            return
        if source != self.latched and not self._accept_source(source, packet, now):
            self.stats.foreign += 1
            return
        self.last_received = now
        self.rtcp.reception.packet(
            packet.ssrc, packet.sequence_number, packet.timestamp, now, jitter=is_audio
        )
        if is_audio:
            self.jitter.push(packet, now)
            if self.on_audio is not None:
                for frame in self.ingress.push(packet, now):
                    self.on_audio(frame)
        else:
            digit = self.dtmf.push(packet)
            if digit is not None:
                self.stats.dtmf_digits += 1
                self._pending_digits.append(digit)

    def _rtcp_on_rtp_port(self, data: bytes, source: Address, now: float) -> None:
        """RTCP on the RTP port (rtcp-mux, RFC 5761 §4): only from the latched source."""
        if self.latched is not None and source != self.latched:
            self.stats.foreign += 1
            return
        self.receive_rtcp(data, now)

    def receive_rtcp(self, data: bytes, now: float) -> None:
        """One RTCP datagram (SRTCP when the call is SRTP) from the peer."""
        self.stats.rtcp += 1
        if self.srtp is not None:
            if len(data) < SRTCP_MIN_LENGTH:
                # Too short to be SRTCP: plain RTCP (baresip sends a plain APP "PING"),
                # never parsed on an SRTP call, counted as invalid RTCP, not as an SRTP drop.
                self.rtcp.invalid += 1
                return
            plain = self.srtp.unprotect_rtcp(data)
            if plain is None:
                return  # counted in self.srtp.stats
            data = plain
        self.rtcp.receive(data, self.sender.ssrc, now)

    def rtcp_report(self, now: float) -> bytes | None:
        """Our compound SR/RR when one is due (RFC 3550 §6.2), protected with SRTP; else None."""
        rtcp = self.rtcp
        if not rtcp.due(now):
            return None
        sender = self.sender
        info = SenderInfo(0, sender.timestamp, sender.packets_sent, sender.octets_sent)
        report = rtcp.report(sender.ssrc, info if self.params.send else None, now)
        if self.srtp is not None:
            return self.srtp.protect_rtcp(report)
        return report

    def quality(self) -> CallQuality:
        """The call's loss, jitter, round-trip time and estimated MOS so far."""
        ptime = self.params.ptime_ms / 1000.0
        return self.rtcp.quality(self.jitter.stats.target_delay, ptime)

    def _accept_source(self, source: Address, packet: RtpPacket, now: float) -> bool:
        """Latch the first source; let another take over only as the module says."""
        if self.latched is None:
            self._latch(source)
            return True
        if now - self.last_received < RELATCH_SILENCE:
            return False
        if (
            source == self._candidate
            and packet.sequence_number == (self._candidate_seq + 1) & 0xFFFF
        ):
            self._candidate_count += 1
        else:
            self._candidate, self._candidate_count = source, 1
        self._candidate_seq = packet.sequence_number
        if self._candidate_count < RELATCH_PACKETS:
            return False
        self._latch(source)
        self.stats.relatches += 1
        return True

    def _latch(self, source: Address) -> None:
        self.latched = source
        self.remote = source
        self._candidate = None
        self._candidate_count = 0

    @property
    def digits_pending(self) -> bool:
        """Whether RFC 4733 digits wait for :meth:`take_digits` (cheap: checked every tick)."""
        return bool(self._pending_digits)

    def take_digits(self) -> list[str]:
        """RFC 4733 digits received since the last call."""
        digits, self._pending_digits = self._pending_digits, []
        return digits

    # ------------------------------------------------------------------ the 20 ms tick

    def poll_ingress(self, now: float) -> None:
        """Per tick: release gaps and silence to the listeners' tap (see media/ingress.py).

        A gap is waited for as long as the playout buffer's adaptive delay, at
        least 40 ms: what would play late is still heard in order.
        """
        on_audio = self.on_audio
        if on_audio is not None:
            wait = max(MIN_INGRESS_WAIT, self.jitter.stats.target_delay)
            for frame in self.ingress.poll(now, wait):
                on_audio(frame)

    def caller_frame(self, now: float) -> bytes | None:
        """The caller's next 20 ms as μ-law, or None when there is nothing to play."""
        frame = self.jitter.pop(now)
        if frame is not None and self._to_ulaw:
            return g711.alaw_to_ulaw(frame)
        return frame

    def packets_for(self, frame: bytes | None) -> list[bytes]:
        """The packets that carry the agent's μ-law frame (or silence) this tick."""
        if not self.params.send:
            self.sender.skip(1)  # on hold: keep the timestamp on wall time, send nothing
            return []
        if frame is not None and self._to_ulaw:
            frame = g711.ulaw_to_alaw(frame)
        self.stats.frames_out += 1
        packets = self.sender.push_frame(frame)
        srtp = self.srtp
        if srtp is None:
            return packets
        protected = [srtp.protect(packet) for packet in packets]
        return [packet for packet in protected if packet is not None]

    def can_send_early(self) -> bool:
        """Whether the next tick's packet may go out now (the talkspurt fast path).

        Only at the start of a talkspurt (the last frame was silence), with 20 ms
        packets and no DTMF playing: the packet is the one the next tick would
        send, same sequence number and timestamp, just up to 20 ms sooner.
        """
        sender = self.sender
        return (
            self.params.send
            and self.params.ptime_ms == 20
            and not sender.talking
            and not sender.dtmf_pending
        )

    def skip(self, ticks: int) -> None:
        """Ticks the ticker had to drop after a stall: keep timestamps on wall time."""
        if ticks > 0:
            self.sender.skip(ticks)

    def send_dtmf(self, digits: str) -> None:
        """Queue RFC 4733 digits to the caller."""
        self.sender.send_dtmf(digits)

    # ------------------------------------------------------------------ control

    def update(self, params: StreamParams, now: float) -> None:
        """Apply a re-negotiation (re-INVITE/UPDATE) at ``now``: address, codec, direction, keys.

        The sender keeps its SSRC, sequence and timestamp (RFC 3550 §5.1 allows
        a payload type change within a stream). When the peer is expected to
        send again (back from hold), :meth:`idle_for` counts from ``now``.
        """
        if params.receive and not self.params.receive:
            self.last_received = now
        changed_remote = params.remote != self.params.remote
        self.params = params
        if changed_remote and params.remote[0] not in ("0.0.0.0", "::"):
            self.remote = params.remote
            self.latched = None
        if params.codec != self.jitter_config.codec:
            self.jitter_config = JitterBufferConfig(
                codec=params.codec,
                clock_rate=self.jitter_config.clock_rate,
                frame_samples=self.jitter_config.frame_samples,
                min_delay=self.jitter_config.min_delay,
                max_delay=self.jitter_config.max_delay,
                jitter_multiplier=self.jitter_config.jitter_multiplier,
                max_concealment_frames=self.jitter_config.max_concealment_frames,
                resync_threshold=self.jitter_config.resync_threshold,
            )
            self.jitter = JitterBuffer(self.jitter_config)
            self.ingress = IngressAudio(params.codec)
        self._to_ulaw = params.codec == "PCMA"
        if params.srtp is None:
            self.srtp = None
        elif self.srtp is None:
            self.srtp = SrtpContext(*params.srtp)
        else:
            self.srtp.rekey(*params.srtp)
        self.sender.payload_type = params.payload_type
        self.sender.codec = params.codec
        self.sender.telephone_event_pt = params.telephone_event_pt

    def idle_for(self, now: float) -> float:
        """Seconds since the last valid RTP packet; 0 while the peer is not expected to send."""
        if not self.params.receive:
            self.last_received = now
            return 0.0
        return now - self.last_received
