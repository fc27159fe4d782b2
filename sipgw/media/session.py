"""One call's RTP media, sans-IO: datagrams and ticks in, frames and packets out.

Inbound packets go through the jitter buffer (audio) or the RFC 4733 receiver
(DTMF). A call that agreed no telephone-event (or whose line says its carrier sends
tones anyway: ``inband_dtmf``) also listens for key presses as tones in the audio it plays
out (media/tones/dtmf_detect.py); a press heard both ways is reported once. Outbound frames go
through the stream sender, which keeps sequence
numbers and timestamps continuous for the whole call. The call's codec
(:class:`sipgw.media.codecs.Codec`, resolved once when the session is made) is carried
as is through the jitter buffer, the ingress tap and the sender; the agent sees
the format it declared (8 kHz μ-law by default), converted at the edge by
media/codecs/convert.py (nothing to do for PCMU to μ-law), decided again when the call's
agent changes to one of another format (:meth:`MediaSession.use_agent_format`). An opaque
codec (Opus) is decoded as each packet is accepted, by the call's own decoder
(``Codec.edge_decoder``), into the octet codec it is carried as (``Codec.carried``:
16 kHz μ-law), and the stages carry that; its RTCP statistics stay on the wire's clock.
The edge decodes in sequence order: a late packet is dropped before the decoder, and a
short loss is concealed by the codec itself (Opus's concealment) as the next packet comes.

Symmetric RTP (RFC 4961): we send to the address the caller's RTP comes from,
which is what gets audio through NATs; which source that is, so that nobody else
can take the media over ("RTP bleed"), is :class:`~sipgw.media.latching.SourceLatch`'s
to say. Packets from any other source are counted (``foreign``) and dropped.

We send only when :class:`~sipgw.media.liveness.PeerLiveness` says so: once the dialog
is confirmed (:meth:`MediaSession.confirm`, unless the session starts
confirmed), and while the peer shows it is there (RTP from the latched source,
or RTCP from the host we send to that reports on our stream). After a silence
of :attr:`~sipgw.media.liveness.LivenessConfig.pause_after` seconds (of
:attr:`~sipgw.media.liveness.LivenessConfig.first_sign` seconds while a peer that is to
send RTP has sent nothing yet) sending pauses until the next sign;
:meth:`MediaSession.idle_for` tells the application how long the peer has been
silent (its RTP timeout ends the call).

SRTP (when ``StreamParams.srtp`` is set): every packet received is
authenticated and decrypted before anything else looks at it, so a packet
that fails (tampered, replayed, from someone without the key) is counted in
:attr:`MediaSession.srtp` and dropped, and can never latch a source; every
packet sent is protected. A re-negotiation rekeys only the direction whose key
changed (:meth:`sipgw.media.srtp.SrtpContext.rekey`).

RTCP (RFC 3550 §6): :attr:`MediaSession.rtcp` (media/reporting.py) follows
the accepted RTP, parses the peer's reports from the RTCP port or, with
``rtcp-mux`` (RFC 5761), from the RTP port, and :meth:`MediaSession.rtcp_report`
gives our SR/RR when one is due; with SRTP both ways are SRTCP.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sipgw.media.codecs.base import ULAW_8K, AudioFormat, Codec, Decoder, EdgeDecoder
from sipgw.media.codecs.convert import Conversions, ToAgent, ToWire, conversions
from sipgw.media.codecs.g711 import PCMU
from sipgw.media.ingress import IngressAudio
from sipgw.media.jitterbuffer import JitterBuffer, JitterBufferConfig
from sipgw.media.latching import SourceLatch, ip_literal, same_host
from sipgw.media.liveness import LivenessConfig, PeerLiveness
from sipgw.media.quality import CallQuality
from sipgw.media.reporting import RtcpReporter
from sipgw.media.rtcp import SenderInfo
from sipgw.media.rtp import RtpPacket, RtpParseError, is_rtcp
from sipgw.media.sender import RtpStreamSender
from sipgw.media.srtp import SRTCP_MIN_LENGTH, SrtpContext, SrtpKeying
from sipgw.media.tones.dtmf import DtmfReceiver
from sipgw.media.tones.dtmf_detect import DtmfToneDetected, DtmfToneDetector, detects_tones

__all__ = [
    "STUN_MAGIC_COOKIE",
    "MediaSession",
    "MediaStats",
    "StreamParams",
    "deliverable",
    "is_stun",
]

Address = tuple[str, int]

MIN_INGRESS_WAIT: Final = 0.040
"""Seconds the listeners' tap waits for a missing packet, at least."""
SAME_PRESS: Final = 0.1
"""Seconds apart (at arrival) an RFC 4733 digit and the same digit heard as tones may be and
still be one press, reported once."""
_PRESSES_KEPT: Final = 8
EDGE_CONCEALED: Final = 3
"""An opaque codec's missing packets (60 ms of 20 ms ones) its own concealment fills at
most, as many as the jitter buffer's; a longer loss plays as the buffer's silence."""


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What offer/answer agreed for the audio stream.

    Attributes:
        remote: where the SDP says to send RTP (until symmetric RTP latches).
        codec: the negotiated codec (:func:`sipgw.media.codecs.codec_named`).
        payload_type: the audio payload type, both directions.
        telephone_event_pt: the RFC 4733 payload type, or None.
        ptime_ms: packetization of what we send.
        send: whether we may send media (our direction includes send).
        receive: whether the peer will send media to us.
        srtp: ``(ours, theirs)``: the keying we protect with and the one we
            unprotect with, when the stream is SRTP; None for plain RTP.
    """

    remote: Address
    codec: Codec = PCMU
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
    fmtp: str | None = None
    """The peer's ``a=fmtp`` parameters for the audio payload type (what it wants to
    receive: Opus's bit rate, bandwidth, FEC), or None."""


def _jitter_config(codec: Codec, base: JitterBufferConfig) -> JitterBufferConfig:
    """``base`` for the codec the stages carry: its clock, and frames as long as ``base``'s
    (20 ms), whatever clock ``base`` had (a re-INVITE from Opus back to G.711)."""
    carried = codec.carried
    return JitterBufferConfig(
        codec=carried,
        clock_rate=carried.clock_rate,
        frame_samples=base.frame_samples * carried.clock_rate // base.clock_rate,
        min_delay=base.min_delay,
        max_delay=base.max_delay,
        jitter_multiplier=base.jitter_multiplier,
        max_concealment_frames=base.max_concealment_frames,
        resync_threshold=base.resync_threshold,
    )


def deliverable(address: Address) -> bool:
    """Whether a packet may be sent to ``address``: an IP literal that is not the
    unspecified address, and a port from 1 to 65535.

    ``0.0.0.0`` and ``::`` (in any spelling) are how an SDP puts a call on hold (RFC 3264
    §8.4), never a destination: Linux delivers a datagram sent there to this host itself,
    so RTCP "to the peer on hold" (its RTP port + 1, or the ``a=rtcp`` port it chose)
    would reach whatever listens on the gateway's own host. Port 0 is no port (RFC 3264
    §5.1: a rejected stream), and an RTP port of 65535 has no RTCP port above it.

    Nothing is remembered: every call brings addresses of its own, and the send path
    judges its destination once per change (:meth:`MediaSession.remote_deliverable`).
    """
    host, port = address
    if not 0 < port < 65536:
        return False
    ip = ip_literal(host)  # None for a name: the SDP layer takes literals only
    return ip is not None and not ip.is_unspecified


STUN_MAGIC_COOKIE: Final = b"\x21\x12\xa4\x42"
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
    dtmf_digits: int = 0
    """RFC 4733 digits reported."""
    tone_digits: int = 0
    """Key presses heard as tones in the audio (media/tones/dtmf_detect.py) and reported."""
    tone_duplicates: int = 0
    """Presses that came both as tones and as an RFC 4733 event: reported once, not twice."""
    frames_out: int = 0
    undecodable: int = 0
    """Packets of an opaque codec (Opus) its decoder refused: dropped, filled as a loss."""
    edge_concealed: int = 0
    """An opaque codec's lost packets concealed by the codec itself at the edge."""
    edge_late: int = 0
    """An opaque codec's packets behind the last one decoded (late or repeated): dropped."""
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Press:
    """A digit reported, how (``rfc4733`` or ``tones``), when (arrival times), and whether
    the other way's report of the same press was matched to it."""

    digit: str
    start: float
    end: float
    how: str
    matched: bool = False


class MediaSession:
    """The RTP side of one call; see the module docstring.

    Args:
        params: the negotiated stream.
        now: the current time (seconds), for the RTP timeout clock.
        jitter: jitter buffer settings (its codec is taken from ``params``).
        rng: random source for SSRC, sequence and timestamp origins.
        liveness: when sending pauses for the peer's silence.
        confirmed: whether we may send at once (the dialog is confirmed, or early
            media was asked for); else nothing goes out before :meth:`confirm`.
        agent_format: the frames the agent takes and gives (``Agent.audio_format``):
            :meth:`caller_frame` and the tap give it, :meth:`packets_for` takes it.
        caller_format: the frames the agent takes when it hears another format than it
            gives (``Agent.caller_format``); None: ``agent_format``.
        inband_dtmf: when the call listens for key presses as tones in the audio
            (media/tones/dtmf_detect.py ``DETECT_MODES``): ``auto`` (when its SDP agreed no
            telephone-event), ``on``, or ``off`` (the default here; the gateway passes its
            ``SIPGW_INBAND_DTMF``, ``auto`` unless set).
    """

    __slots__ = (
        "ingress",
        "on_audio",
        "_judged_version",
        "_pending_digits",
        "_inband_dtmf",
        "_presses",
        "_tone_decoder",
        "_tone_silence",
        "tones",
        "_agent_format",
        "_caller_format",
        "_remote_deliverable",
        "_tap_to_agent",
        "_to_agent",
        "_to_wire",
        "_edge",
        "_edge_next",
        "_edge_ratio",
        "_edge_ssrc",
        "_edge_step",
        "_edge_ts",
        "dtmf",
        "jitter",
        "jitter_config",
        "latch",
        "liveness",
        "params",
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
        liveness: LivenessConfig | None = None,
        confirmed: bool = True,
        agent_format: AudioFormat = ULAW_8K,
        caller_format: AudioFormat | None = None,
        inband_dtmf: str = "off",
    ) -> None:
        self.params = params
        self._agent_format = agent_format
        self._caller_format = caller_format if caller_format != agent_format else None
        self.latch = SourceLatch(params.remote)
        """Which source's RTP is the call's (media/latching.py)."""
        self.liveness = PeerLiveness(liveness or LivenessConfig(), now, confirmed)
        """When we may send (media/liveness.py)."""
        self.stats = MediaStats()
        self.jitter_config = _jitter_config(params.codec, jitter or JitterBufferConfig())
        self.jitter = JitterBuffer(self.jitter_config)
        self.sender = RtpStreamSender(
            payload_type=params.payload_type,
            codec=params.codec,
            ptime_ms=params.ptime_ms,
            telephone_event_pt=params.telephone_event_pt,
            rng=rng,
        )
        self.dtmf = DtmfReceiver(clock_rate=params.codec.clock_rate)
        self.ingress = IngressAudio(params.codec.carried)
        self._edge: EdgeDecoder | None = None
        self._edge_next = -1  # the sequence number the edge decoder expects next
        self._edge_ssrc = 0
        self._edge_ts = 0  # the wire timestamp it expects next
        self._edge_step = 0
        self._edge_ratio = 1  # wire clock ticks a carried octet
        self._use_edge(params.codec)
        self.on_audio: Callable[[bytes], None] | None = None
        """Listeners' tap: in-order frames at arrival, in the agent's format (media/ingress.py)."""
        self._pending_digits: list[str] = []
        self._inband_dtmf = inband_dtmf
        self.tones: DtmfToneDetector | None = None
        """The call's in-band DTMF detector; None when it does not listen for tones."""
        self._tone_decoder: Decoder | None = None
        self._tone_silence = b""
        self._presses: deque[_Press] = deque(maxlen=_PRESSES_KEPT)
        self._listen_for_tones(params)
        self._to_agent: ToAgent | None = None
        self._tap_to_agent: ToAgent | None = None
        self._to_wire: ToWire | None = None
        self._convert(conversions(params.codec, agent_format, caller_format, params.fmtp))
        self._judged_version = -1
        self._remote_deliverable = False
        self.srtp: SrtpContext | None = None
        """The call's SRTP, with its counters of dropped packets; None for plain RTP."""
        if params.srtp is not None:
            self.srtp = SrtpContext(*params.srtp)
        bits = rng.getrandbits(64) if rng is not None else secrets.randbits(64)
        cname = f"{bits:016x}@sipgw"  # per call, RFC 7022
        self.rtcp = RtcpReporter(cname, now, params.codec.clock_rate, rng=rng)
        """The call's RTCP: reception statistics, the peer's reports, our next report."""

    # ------------------------------------------------------------------ where and when

    @property
    def latched(self) -> Address | None:
        """The source whose RTP is accepted (media/latching.py); None until one is."""
        return self.latch.latched

    @property
    def remote(self) -> Address:
        """Where our RTP goes: the latched source, else the address the SDP named."""
        return self.latch.target

    def remote_deliverable(self) -> bool:
        """Whether :attr:`remote` is somewhere a packet may go (:func:`deliverable`), judged
        once each time the address changes rather than once a packet."""
        latch = self.latch
        if latch.version != self._judged_version:
            self._judged_version = latch.version
            self._remote_deliverable = deliverable(latch.target)
        return self._remote_deliverable

    @property
    def last_received(self) -> float:
        """When the peer last showed it is there (or sending was confirmed)."""
        return self.liveness.last_sign

    def confirm(self, now: float) -> None:
        """The dialog is confirmed: sending may start (see media/liveness.py)."""
        self.liveness.confirm(now)

    def may_send(self, now: float) -> bool:
        """Whether media may go out now: confirmed, and the peer not silent too long."""
        return self.liveness.may_send(now, self.params.receive)

    # ------------------------------------------------------------------ inbound

    def receive(self, data: bytes, source: Address, now: float) -> None:
        """One datagram from the RTP socket."""
        self.stats.packets_in += 1
        if len(data) < 12 or data[0] >> 6 != 2:
            if is_stun(data):
                self.stats.stun += 1
            elif len(data) >= 8 and data[0] >> 6 == 2 and is_rtcp(data):
                self.receive_rtcp(data, now, source)  # short: an empty RR is 8 octets
            else:
                self.stats.invalid += 1
            return
        if is_rtcp(data):
            self.receive_rtcp(data, now, source)  # rtcp-mux, RFC 5761 §4
            return
        payload_type = data[1] & 0x7F
        is_audio = payload_type == self.params.payload_type
        if not is_audio and payload_type != self.params.telephone_event_pt:
            self.stats.unknown_payload += 1  # comfort noise, another payload type, ...
            if self.latch.is_latched(source) and self.srtp is None:
                self.liveness.sign(now)  # a silent caller's comfort noise (RFC 3389) counts
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
        if not self.latch.accepts(
            source, packet.ssrc, packet.sequence_number, is_audio, self.srtp is not None
        ):
            self.stats.foreign += 1
            return
        self.liveness.sign(now)
        self.rtcp.reception.packet(
            packet.ssrc, packet.sequence_number, packet.timestamp, now, jitter=is_audio
        )
        if is_audio:
            edge = self._edge
            if edge is not None:  # Opus: decoded once, here, into the carried codec
                self._decode_at_edge(edge, packet, now)
                return
            self.jitter.push(packet, now)  # as _push_audio does, inline: every packet's path
            on_audio = self.on_audio
            if on_audio is not None:
                tap = self._tap_to_agent
                for frame in self.ingress.push(packet, now):
                    on_audio(frame if tap is None else tap.convert(frame))
        else:
            digit = self.dtmf.push(packet)
            if digit is not None:
                if self.tones is not None and self._heard_before(digit, now, now, "tones"):
                    self.stats.tone_duplicates += 1
                    return
                self.stats.dtmf_digits += 1
                self._pending_digits.append(digit)

    def _push_audio(self, packet: RtpPacket, now: float) -> None:
        """Audio in the carried codec: to the jitter buffer and the listeners' tap."""
        self.jitter.push(packet, now)
        on_audio = self.on_audio
        if on_audio is not None:
            tap = self._tap_to_agent
            for frame in self.ingress.push(packet, now):
                on_audio(frame if tap is None else tap.convert(frame))

    def _decode_at_edge(self, edge: EdgeDecoder, packet: RtpPacket, now: float) -> None:
        """An opaque codec's packet decoded, in sequence order, into the carried codec.

        A packet behind the last one decoded (late, or repeated) is dropped before the
        decoder sees it, so its state follows the stream. Up to :data:`EDGE_CONCEALED`
        packets missing just before this one (their sequence numbers and timestamps
        skipped, not a pause of the sender's) are concealed by the codec itself
        (``EdgeDecoder.conceal``: Opus's own concealment) before it is decoded.
        """
        seq, wire_ts = packet.sequence_number, packet.timestamp
        expected = self._edge_next
        if expected >= 0 and packet.ssrc == self._edge_ssrc:
            ahead = (seq - expected) & 0xFFFF
            if ahead >= 0x8000:
                self.stats.edge_late += 1
                return
            step = self._edge_step
            if (
                0 < ahead <= EDGE_CONCEALED
                and (wire_ts - self._edge_ts) & 0xFFFFFFFF == ahead * step
            ):
                for k in range(ahead):
                    hidden = edge.conceal()
                    if hidden:
                        self.stats.edge_concealed += 1
                        ts = edge.timestamp((self._edge_ts + k * step) & 0xFFFFFFFF)
                        lost = RtpPacket(
                            packet.payload_type, (expected + k) & 0xFFFF, ts, packet.ssrc
                        )
                        lost.payload = hidden
                        self._push_audio(lost, now)
        audio = edge.decode(packet.payload)
        if not audio:
            self.stats.undecodable += 1
            return
        self._edge_next = (seq + 1) & 0xFFFF
        self._edge_ssrc = packet.ssrc
        self._edge_step = len(audio) * self._edge_ratio  # the packet's wire ticks
        self._edge_ts = (wire_ts + self._edge_step) & 0xFFFFFFFF
        packet.payload = audio
        packet.timestamp = edge.timestamp(wire_ts)
        self._push_audio(packet, now)

    def receive_rtcp(self, data: bytes, now: float, source: Address) -> bool:
        """One RTCP datagram (SRTCP when the call is SRTP) from ``source``.

        Only the host we send to may report on this call (our own reports go
        back there, symmetric RTCP); a report from it about our stream, or any
        report while we send nothing, shows the peer is there. Returns whether
        the datagram was taken (else it is counted as ``foreign``).
        """
        if not same_host(source[0], self.remote[0]):
            self.stats.foreign += 1
            return False
        self.stats.rtcp += 1
        if self.srtp is not None:
            if len(data) < SRTCP_MIN_LENGTH:
                # Too short to be SRTCP: plain RTCP (baresip sends a plain APP "PING"),
                # never parsed on an SRTP call, counted as invalid RTCP, not as an SRTP drop.
                self.rtcp.invalid += 1
                return True
            plain = self.srtp.unprotect_rtcp(data)
            if plain is None:
                return True  # counted in self.srtp.stats
            data = plain
        about_us = self.rtcp.receive(data, self.sender.ssrc, now)
        if about_us or (not self.params.send and about_us is not None):
            self.liveness.sign(now)
        return True

    def rtcp_destination(self, learnt: Address | None) -> Address | None:
        """Where our RTCP goes: the RTP address with rtcp-mux (RFC 5761), else where the
        peer's reports come from (``learnt``, when it is the host we send to), else the
        ``a=rtcp`` port (RFC 3605) or the RTP port + 1 (RFC 3550 §11); None when that is
        nowhere a packet may go (:func:`deliverable`: a call on hold with ``c=0.0.0.0``)."""
        remote = self.remote
        if not deliverable(remote):
            return None  # hold, or a stream with port 0: no RTCP either (RFC 3264 §5.1)
        if self.params.rtcp_mux:
            target = remote
        elif learnt is not None and learnt[0] == remote[0]:
            target = learnt
        else:
            target = (remote[0], self.params.rtcp_port or remote[1] + 1)
        return target if deliverable(target) else None

    def rtcp_report(self, now: float) -> bytes | None:
        """Our compound SR/RR when one is due (RFC 3550 §6.2), protected with SRTP; else None.

        None also while we may not send (not confirmed, or the peer silent: see
        media/liveness.py); the report goes out once we may again.
        """
        rtcp = self.rtcp
        if not rtcp.due(now) or not self.liveness.may_send(now, self.params.receive):
            return None
        sender = self.sender
        info = SenderInfo(0, sender.timestamp, sender.packets_sent, sender.octets_sent)
        report = rtcp.report(sender.ssrc, info if self.params.send else None, now)
        if self.srtp is not None:
            return self.srtp.protect_rtcp(report)
        return report

    def quality(self) -> CallQuality:
        """The call's loss, jitter, round-trip time and estimated MOS so far."""
        ptime = 0.020 if self.params.codec.opaque else self.params.ptime_ms / 1000.0
        quality = self.rtcp.quality(self.jitter.stats.target_delay, ptime)
        return dataclasses.replace(quality, codec=self.params.codec.name)

    @property
    def digits_pending(self) -> bool:
        """Whether digits wait for :meth:`take_digits` (cheap: checked every tick)."""
        return bool(self._pending_digits)

    def take_digits(self) -> list[str]:
        """The caller's digits since the last call, in the order they came: RFC 4733 events
        and key presses heard as tones (a press that came both ways once)."""
        digits, self._pending_digits = self._pending_digits, []
        return digits

    # ------------------------------------------------------------------ in-band DTMF

    def listen_for_tones(self, mode: str) -> None:
        """From now on, listen for key presses as tones as ``mode`` says (``auto``, ``on``,
        ``off``: see the ``inband_dtmf`` argument)."""
        self._inband_dtmf = mode
        self._listen_for_tones(self.params)

    def _listen_for_tones(self, params: StreamParams, fresh: bool = False) -> None:
        """A detector when the call listens for tones (its mode, its telephone-event), at
        the rate its carried codec decodes to; none otherwise. One already there is kept
        unless ``fresh`` (the codec changed)."""
        carried = params.codec.carried
        if not detects_tones(self._inband_dtmf, params.telephone_event_pt) or (
            carried.sample_rate not in (8000, 16000)
        ):
            self.tones = self._tone_decoder = None
        elif self.tones is None or fresh:
            self.tones = DtmfToneDetector(carried.sample_rate)
            self._tone_decoder = carried.decoder()  # its own state (G.722), or the law itself
            self._tone_silence = bytes(carried.sample_rate // 50 * 2)

    def _listen(self, tones: DtmfToneDetector, frame: bytes | None, now: float) -> None:
        """This tick's played-out frame (None: nothing played, silence) to the detector;
        each press it ends is the caller's digit unless it came as RFC 4733 already."""
        decoder = self._tone_decoder
        pcm = self._tone_silence if frame is None or decoder is None else decoder.decode(frame)
        presses = tones.push(pcm)
        if presses:
            # the detector's clock (its samples) to ours, at arrival: this frame plays from
            # now for 20 ms, the jitter buffer's delay after it came
            heard_at = tones.blocks * 0.010
            shift = now + 0.020 - heard_at - self.jitter.stats.target_delay
            for press in presses:
                self._tone_press(press, press.start + shift, press.end + shift)

    def _tone_press(self, press: DtmfToneDetected, start: float, end: float) -> None:
        if self._heard_before(press.digit, start, end, "rfc4733"):
            self.stats.tone_duplicates += 1
            return
        self.stats.tone_digits += 1
        self._pending_digits.append(press.digit)

    def _heard_before(self, digit: str, start: float, end: float, other: str) -> bool:
        """Whether ``digit``, heard from ``start`` to ``end`` (arrival times), is a press
        already reported the ``other`` way (within :data:`SAME_PRESS`): then that record
        is used up (one report matches one press). Else it is kept as this way's."""
        match: _Press | None = None
        best = SAME_PRESS
        for press in self._presses:
            if press.digit != digit or press.how != other or press.matched:
                continue
            apart = max(press.start - end, start - press.end, 0.0)
            if apart <= best:
                match, best = press, apart
        if match is not None:
            match.matched = True
            return True
        self._presses.append(
            _Press(digit, start, end, "tones" if other == "rfc4733" else "rfc4733")
        )
        return False

    # ------------------------------------------------------------------ the 20 ms tick

    def poll_ingress(self, now: float) -> None:
        """Per tick: release gaps and silence to the listeners' tap (see media/ingress.py).

        A gap is waited for as long as the playout buffer's adaptive delay, at
        least 40 ms: what would play late is still heard in order.
        """
        on_audio = self.on_audio
        if on_audio is not None:
            wait = max(MIN_INGRESS_WAIT, self.jitter.stats.target_delay)
            tap = self._tap_to_agent
            for frame in self.ingress.poll(now, wait):
                on_audio(frame if tap is None else tap.convert(frame))

    def caller_frame(self, now: float) -> bytes | None:
        """The caller's next 20 ms in the agent's format, or None when there is nothing to play."""
        frame = self.jitter.pop(now)
        tones = self.tones
        if tones is not None:
            self._listen(tones, frame, now)
        convert = self._to_agent
        if frame is not None and convert is not None:
            return convert.convert(frame)
        return frame

    def packets_for(self, frame: bytes | None, now: float) -> list[bytes]:
        """The packets that carry the agent's frame (or silence) this tick.

        None (an empty list) on hold, before the dialog is confirmed and while the peer is silent
        (:meth:`may_send`): the timestamp stays on wall time, nothing is sent.
        """
        if not self.params.send or not self.liveness.may_send(now, self.params.receive):
            if self.params.send:
                self.liveness.withheld += 1
            self.sender.skip(1)
            return []
        if not self.remote_deliverable():
            self.sender.skip(1)  # c=0.0.0.0 and sendrecv, or port 0: nowhere to send
            return []
        convert = self._to_wire
        silence = None
        if convert is not None:
            if frame is not None:
                frame = convert.convert(frame)
            elif self._edge is not None:
                silence = convert.silence()  # Opus: the encoder hears the silence too
        self.stats.frames_out += 1
        packets = self.sender.push_frame(frame, silence)
        srtp = self.srtp
        if srtp is None:
            return packets
        protected = [srtp.protect(packet) for packet in packets]
        return [packet for packet in protected if packet is not None]

    def can_send_early(self, now: float, continuing: bool = False) -> bool:
        """Whether the next tick's packet may go out now (the talkspurt fast path).

        Only at the start of a talkspurt (the last frame was silence), with 20 ms
        packets and no DTMF playing, while we may send: the packet is the one the
        next tick would send, same sequence number and timestamp, just up to 20 ms
        sooner. ``continuing``: also within a talkspurt, for an agent whose audio comes
        in real time and had run out (a Media Streams app's: sipgw/twilio/streamside.py),
        so each frame goes as it arrives rather than at the tick after.
        """
        sender = self.sender
        return (
            self.params.send
            and (self.params.ptime_ms == 20 or self.params.codec.opaque)
            and (continuing or not sender.talking)
            and not sender.dtmf_pending
            and self.remote_deliverable()
            and self.liveness.may_send(now, self.params.receive)
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
        a payload type change within a stream). A new address is latched afresh
        (media/latching.py); when media starts flowing again (back from hold) or
        goes to a new address, the peer's silence counts from ``now``. When the
        direction changes (a hold, a resume), the listeners' tap forgets the audio before
        (media/ingress.py): a gap after a resume is silence, not the hold's music concealed.
        """
        old = self.params
        if (params.send, params.receive) != (old.send, old.receive):
            self.ingress.forget()
        was_active = old.send or old.receive
        changed_remote = params.remote != old.remote
        self.params = params
        if changed_remote and deliverable(params.remote):  # not to hold (c=0.0.0.0)
            self.latch.retarget(params.remote)
        if (params.send or params.receive) and (changed_remote or not was_active):
            self.liveness.restart(now, new_address=changed_remote)
        if params.codec is not old.codec or params.fmtp != old.fmtp:
            if params.codec.carried is not self.jitter_config.codec:
                self.jitter_config = _jitter_config(params.codec, self.jitter_config)
                self.jitter = JitterBuffer(self.jitter_config)
                self.ingress = IngressAudio(params.codec.carried)
            if params.codec is not old.codec:
                self._use_edge(params.codec)
                self.dtmf = DtmfReceiver(clock_rate=params.codec.clock_rate)
                self.rtcp.reception.clock_rate = params.codec.clock_rate  # its jitter's unit
            self._convert(
                conversions(params.codec, self._agent_format, self._caller_format, params.fmtp)
            )
        if params.srtp is None:
            self.srtp = None
        elif self.srtp is None:
            self.srtp = SrtpContext(*params.srtp)
        else:
            self.srtp.rekey(*params.srtp)
        self.sender.payload_type = params.payload_type
        self.sender.codec = params.codec
        self.sender.telephone_event_pt = params.telephone_event_pt
        if params.codec is not old.codec or params.telephone_event_pt != old.telephone_event_pt:
            self._listen_for_tones(params, fresh=params.codec is not old.codec)

    @property
    def heard_format(self) -> AudioFormat:
        """The format of the caller's frames it gives (:meth:`caller_frame`, the tap)."""
        return self._caller_format or self._agent_format

    def use_agent_format(
        self, agent_format: AudioFormat, caller_format: AudioFormat | None = None
    ) -> bool:
        """The call's agent is one of another format from now on (a hand-off between
        lines, a bridge): the conversions are decided again for it (media/codecs/convert.py),
        the codec's decoders and encoder going on with their state; the next frame either
        way is in the new format (those the tap and the jitter buffer hold too: they are
        kept in the codec). Returns whether anything changed (nothing when the formats are
        the ones it has)."""
        if caller_format == agent_format:
            caller_format = None
        if (agent_format, caller_format) == (self._agent_format, self._caller_format):
            return False
        self._agent_format, self._caller_format = agent_format, caller_format
        before = Conversions(self._to_agent, self._tap_to_agent, self._to_wire)
        params = self.params
        self._convert(conversions(params.codec, agent_format, caller_format, params.fmtp, before))
        return True

    def _convert(self, decided: Conversions) -> None:
        self._to_agent, self._tap_to_agent, self._to_wire = (
            decided.to_agent, decided.tap, decided.to_wire,
        )  # fmt: skip

    def _use_edge(self, codec: Codec) -> None:
        """A fresh edge decoder for an opaque codec (none for the others)."""
        self._edge = codec.edge_decoder() if codec.opaque else None
        self._edge_next = -1
        self._edge_ratio = codec.clock_rate // codec.carried.clock_rate

    def idle_for(self, now: float) -> float:
        """Seconds the peer has given no sign of life (media/liveness.py).

        0 while no media flows either way (``a=inactive``): there is nothing to
        hear from the peer and nothing of ours to aim anywhere. A listen-only peer
        (it offered ``a=recvonly``) shows itself with RTCP about our stream.
        """
        if not self.params.send and not self.params.receive:
            self.liveness.restart(now)  # no sign: a later re-INVITE's peer must show itself
            return 0.0
        return self.liveness.silent_for(now)
