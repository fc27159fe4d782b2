"""SDP offer/answer (RFC 3264) for one audio stream, sans-IO.

Theory of operation
-------------------
The gateway carries exactly one audio stream per call in one of the codecs
:attr:`LocalMedia.codecs` describes (:class:`RtpCodec`: the media layer's, given by
the gateway; G.711 PCMU and PCMA by default) over plain RTP, plus RFC 4733
telephone-events for DTMF. Everything here is a pure function of the SDP it is
given and a :class:`LocalMedia` describing our side; the caller owns the session
version and bumps it when our SDP changes.

Answering (:func:`answer_offer`, RFC 3264 §6):

1. The answer has exactly as many ``m=`` lines as the offer, in the same order.
   The first *usable* audio line is accepted; every other line is rejected
   with port 0, keeping its media type, proto and one format (§6, §8.2).
2. Usable means: ``audio``, port not 0, proto ``RTP/AVP`` or ``RTP/AVPF``, and
   at least one of our codecs (name, clock rate, mono), found by static payload
   type or by ``a=rtpmap``. ``RTP/SAVP`` and ``RTP/SAVPF`` (SRTP keyed by SDES,
   RFC 4568) are usable when the call may use SRTP (``LocalMedia.srtp``, see
   :mod:`sipgw.sip.sdes`) and one ``a=crypto`` line is one we can honour: the
   answer keeps the proto and carries that line's tag and suite with our own
   fresh key (RFC 4568 §7.1.2). ``UDP/TLS/RTP/SAVP(F)`` needs DTLS-SRTP, which
   we do not do. ``RTP/AVP`` with ``a=crypto`` is "best-effort" SRTP and is
   answered as plain RTP without ``a=crypto``, unless SRTP is required.
3. We answer one codec (our preference order, default PCMU then PCMA) using
   the offerer's payload type number (§6.1), with its ``a=fmtp`` of ours when it
   has one (Opus's, RFC 7587 §7: what we want to receive), plus the
   telephone-event at the codec's own clock rate if it was offered and we want
   it (``telephone-event/8000`` beside G.711 and G.722, ``telephone-event/48000``
   beside Opus: RFC 4733 §2.1, the events share the audio's timestamps; else the
   8000 one, as UAs that offer no other beside Opus expect). The
   offer's ``a=fmtp`` for the codec is what the offerer wants to receive
   (:attr:`NegotiatedAudio.fmtp`). ICE, ``rtcp-fb``, ``ssrc``, ``mid`` and
   ``group`` attributes are never copied into the answer.
4. Direction is mirrored (§6.1): the offerer's sendonly is our recvonly and so
   on. ``c=0.0.0.0`` is the old RFC 2543 way to put a call on hold (RFC 3264
   §8.4): the offerer does not want to receive, whatever the attribute says.

Offering (:func:`create_offer`, §5) and processing the answer to our offer
(:func:`accept_answer`, §7) follow the same rules from the other side.

Errors are :class:`~sipgw.sip.errors.SdpError`: ``status_hint`` 488 when the SDP is
fine but nothing in it is acceptable, 400 when it is unusable as SDP (for
example no ``c=`` for the audio stream).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sipgw.sip.addressing import ip_literal
from sipgw.sip.errors import SdpError
from sipgw.sip.sdes import (
    KEY_SALT_LENGTH,
    SUPPORTED_SUITES,
    NegotiatedSrtp,
    SrtpUse,
    acceptable_crypto,
    crypto_unusable_reason,
)
from sipgw.sip.sdp import (
    DIRECTIONS,
    Connection,
    CryptoAttribute,
    InlineKey,
    MediaDescription,
    Origin,
    SessionDescription,
)

__all__ = [
    "DEFAULT_TELEPHONE_EVENTS",
    "G711",
    "TELEPHONE_EVENT_PT",
    "LocalMedia",
    "NegotiatedAudio",
    "OfferChoice",
    "RtpCodec",
    "accept_answer",
    "answer_offer",
    "answer_with",
    "choose_answer",
    "create_offer",
]


@dataclass(frozen=True, slots=True)
class RtpCodec:
    """An audio codec as SDP names it (``a=rtpmap``, RFC 8866 §6.6): what negotiation matches.

    The SIP core knows no codec by name: the gateway gives it the media layer's
    (media/codecs, in ``UserAgentConfig.codecs``); :data:`G711` is the default.

    Attributes:
        name: the encoding name (matched case-insensitively).
        clock_rate: the RTP clock rate.
        payload_type: the static payload type (RFC 3551 §6); None for a dynamic one
            (our offers number it from 96).
        channels: 1 for mono (Opus always says 2, RFC 7587 §7).
        fmtp: our ``a=fmtp`` parameters for it (what we want to receive), or None.
    """

    name: str
    clock_rate: int
    payload_type: int | None = None
    channels: int = 1
    fmtp: str | None = None

    def matches(self, encoding: tuple[str, int, int | None]) -> bool:
        """Whether an ``a=rtpmap`` encoding (name, clock, channels or None) is this codec."""
        name, clock, channels = encoding
        return (
            name.upper() == self.name.upper()
            and clock == self.clock_rate
            and (channels or 1) == self.channels
        )


G711 = (RtpCodec("PCMU", 8000, 0), RtpCodec("PCMA", 8000, 8))
"""PCMU then PCMA at their static payload types: the default of :class:`LocalMedia`."""

_DYNAMIC_PTS = range(96, 128)  # RFC 3551 §6

#: The dynamic payload type we use for telephone-event in our own offers.
TELEPHONE_EVENT_PT = 101

#: The events we offer, and answer when the offer has no ``a=fmtp`` for
#: telephone-event: the DTMF digits 0-15 (0-9, *, #, A-D) and 16, flash (RFC 4733 §3).
DEFAULT_TELEPHONE_EVENTS = "0-16"

_RTP_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})
_SDES_PROTOS = frozenset({"RTP/SAVP", "RTP/SAVPF"})
_DTLS_PROTOS = frozenset({"UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"})
_DEFAULT_PTIME = 20
_PTIME = re.compile(r"([0-9]{1,5})(?:\.[0-9]{1,6})?")

# (we send, we receive) <-> direction attribute, RFC 8866 §6.7.
_FLAGS_TO_DIRECTION = {
    (True, True): "sendrecv",
    (True, False): "sendonly",
    (False, True): "recvonly",
    (False, False): "inactive",
}
_DIRECTION_TO_FLAGS = {v: k for k, v in _FLAGS_TO_DIRECTION.items()}


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Our side of the audio stream, as it goes into an offer or answer.

    Attributes:
        address: what goes into ``c=`` and ``o=`` (the gateway's public IP;
            ``IP6`` is written if it contains a colon).
        port: our RTP port for this call.
        session_id: the ``o=`` session id, stable for the whole call.
        session_version: the ``o=`` version; the caller increments it each time
            our SDP changes (RFC 3264 §8).
        codecs: the codecs we accept, in order of preference (the media layer's).
        telephone_event: whether to negotiate RFC 4733 telephone-events.
        ptime: the packetization, in ms, we ask the peer to send (``a=ptime``
            in our SDP), and the one we send when the peer does not ask for one.
        direction: what we are willing to do: ``sendrecv``, or ``sendonly`` /
            ``inactive`` to put the peer on hold (RFC 3264 §8.4).
        srtp: what this call may do with SRTP (from the operator's policy and
            the signalling transport, :func:`sipgw.sip.sdes.srtp_use`).
        srtp_key: our SRTP master key and salt (30 random bytes) for the
            ``a=crypto`` we send; needed unless ``srtp`` is ``OFF``; never in ``repr``.
        origin_username: the ``o=`` user name; ``-`` = none (RFC 4566 §5.2), which
            names no software.
        session_name: the ``s=`` text; ``-`` = none (RFC 4566 §5.3).
    """

    address: str
    port: int
    session_id: str
    session_version: int
    codecs: tuple[RtpCodec, ...] = G711
    telephone_event: bool = True
    ptime: int = 20
    direction: str = "sendrecv"
    srtp: SrtpUse = SrtpUse.OFF
    srtp_key: bytes = field(default=b"", repr=False)
    origin_username: str = "-"
    session_name: str = "-"

    def __post_init__(self) -> None:
        """Reject settings no SDP could carry.

        Raises:
            ValueError: no codec, a port outside
                1..65535, a non-positive ptime, an unknown direction, SRTP
                allowed without a 30-byte key, an ``o=`` user name that is empty
                or has blanks, or an empty ``s=`` or one with a line break.
        """
        if not self.codecs:
            raise ValueError("codecs must not be empty")
        if not 0 < self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if self.ptime <= 0:
            raise ValueError(f"ptime must be positive: {self.ptime}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}: {self.direction!r}")
        if self.srtp is not SrtpUse.OFF and len(self.srtp_key) != KEY_SALT_LENGTH:
            raise ValueError(f"srtp_key must be {KEY_SALT_LENGTH} bytes when SRTP may be used")
        if not self.origin_username or any(ch.isspace() for ch in self.origin_username):
            raise ValueError(f"o= user name must be one word: {self.origin_username!r}")
        if not self.session_name.strip() or any(ch in "\r\n\0" for ch in self.session_name):
            raise ValueError(f"s= must be one non-empty line: {self.session_name!r}")


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """The outcome of offer/answer for the call's audio stream.

    Attributes:
        remote_address: where to send RTP until symmetric RTP latches;
            ``0.0.0.0`` for RFC 2543 hold.
        remote_port: the peer's RTP port.
        remote_rtcp_port: ``a=rtcp`` (RFC 3605) or the RTP port + 1; ``None``
            with rtcp-mux.
        codec: the codec's name as ours is written (``PCMU``).
        payload_type: the payload type to send and receive for the codec: the
            offerer's number (RFC 3264 §6.1).
        telephone_event_pt: the payload type of the telephone-event at the codec's
            clock rate, ``None`` if not negotiated.
        ptime: the packetization we send, in ms: the peer's ``a=ptime`` if it is
            10..60 and a multiple of 10, else our own ptime (``LocalMedia.ptime``
            or our offer's ``a=ptime`` if that is valid, else 20), lowered to
            fit the peer's ``a=maxptime``.
        direction: our direction: ``sendrecv``, ``sendonly``, ``recvonly`` or
            ``inactive``.
        rtcp_mux: whether RTP and RTCP share the port (RFC 5761).
        media_index: which ``m=`` line carries the audio.
        srtp: the SDES keying both ways when the stream is SRTP, else None.
        fmtp: the peer's ``a=fmtp`` parameters for the codec's payload type (what it
            wants to receive), or None.
    """

    remote_address: str
    remote_port: int
    remote_rtcp_port: int | None
    codec: str
    payload_type: int
    telephone_event_pt: int | None
    ptime: int
    direction: str
    rtcp_mux: bool
    media_index: int
    srtp: NegotiatedSrtp | None = None
    fmtp: str | None = None

    @property
    def sends(self) -> bool:
        """Whether we send RTP (``sendrecv`` or ``sendonly``)."""
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        """Whether we expect RTP (``sendrecv`` or ``recvonly``)."""
        return self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True, slots=True)
class OfferChoice:
    """The audio stream of an offer we accept, and how (RFC 3264 §6), chosen once.

    :func:`choose_answer` makes it as soon as the offer arrives (a new INVITE is
    refused with 488 before it rings); :func:`answer_with` writes the answer from it
    once our port and key are known.

    Attributes:
        index: which ``m=`` line carries the audio.
        media: that line of the offer.
        connection: its ``c=`` (the line's own, else the session's).
        codec: our codec's name, upper case.
        payload_type: the offerer's number for it (§6.1).
        crypto: the offer's ``a=crypto`` line we honour, when the stream is SRTP.
    """

    index: int
    media: MediaDescription
    connection: Connection
    codec: str
    payload_type: int
    crypto: CryptoAttribute | None

    @property
    def remote_address(self) -> str:
        """Where the offerer wants our RTP (``0.0.0.0``: RFC 2543 hold)."""
        return self.connection.address


def choose_answer(
    offer: SessionDescription, codecs: tuple[RtpCodec, ...], srtp: SrtpUse
) -> OfferChoice:
    """Choose the offer's audio stream and codec that we answer (RFC 3264 §6).

    Args:
        offer: the peer's offer.
        codecs: ours, most preferred first.
        srtp: what the call may do with SRTP.

    Raises:
        SdpError: status_hint 488 if no audio stream is acceptable (including
            an SRTP stream the call may not use, or whose ``a=crypto`` lines
            we cannot honour), 400 if the accepted stream has no ``c=`` line.
    """
    index, media, (name, pt), crypto = _choose_stream(offer, codecs, srtp)
    connection = offer.connection_for(media)
    if connection is None:
        raise SdpError(f"SDP offer has no c= line for m={index}", status_hint=400)
    return OfferChoice(index, media, connection, name, pt, crypto)


def answer_offer(
    offer: SessionDescription, local: LocalMedia
) -> tuple[SessionDescription, NegotiatedAudio]:
    """Answer an SDP offer (RFC 3264 §6): :func:`choose_answer`, then :func:`answer_with`.

    Args:
        offer: the peer's offer.
        local: our address, port, codecs and session id/version.

    Returns:
        The answer to send, and what was agreed for the audio stream.

    Raises:
        SdpError: as :func:`choose_answer`.
    """
    return answer_with(offer, choose_answer(offer, local.codecs, local.srtp), local)


def answer_with(
    offer: SessionDescription, choice: OfferChoice, local: LocalMedia
) -> tuple[SessionDescription, NegotiatedAudio]:
    """The answer to ``offer`` for the stream and codec of ``choice``, with our port and key.

    Args:
        offer: the peer's offer (the one ``choice`` was made from).
        choice: what :func:`choose_answer` chose.
        local: our address, port, key and session id/version, direction and ptime.

    Returns:
        The answer to send, and what was agreed for the audio stream.
    """
    index, media, pt, crypto = choice.index, choice.media, choice.payload_type, choice.crypto
    codec = _ours(local.codecs, choice.codec, media.rtpmap()[pt])
    te_pt = _telephone_event_pt(media, codec.clock_rate) if local.telephone_event else None
    if te_pt == pt:
        te_pt = None  # one payload type cannot be both; keep the audio
    # The offerer's direction, corrected for c=0.0.0.0 hold; we mirror it
    # (RFC 3264 §6.1) within what we are willing to do ourselves.
    they_send, they_receive = _peer_flags(offer, media, choice.connection)
    we_send, we_receive = _DIRECTION_TO_FLAGS[local.direction]
    direction = _FLAGS_TO_DIRECTION[(we_send and they_receive, we_receive and they_send)]
    # RFC 5761 §5.1.1: answer rtcp-mux only if it was offered.
    rtcp_mux = media.attribute("rtcp-mux") is not None
    te_fmtp = media.fmtp(te_pt) if te_pt is not None else None
    te = None if te_pt is None else (te_pt, media.rtpmap()[te_pt][1])  # its clock as offered
    accepted = MediaDescription(
        media=media.media,
        port=local.port,
        proto=media.proto,
        formats=[str(pt)] if te_pt is None else [str(pt), str(te_pt)],
        attributes=_audio_attributes(codec, pt, te, te_fmtp, local.ptime),
    )
    if rtcp_mux:
        accepted.attributes.append(("rtcp-mux", None))
    srtp = None
    if crypto is not None:
        # RFC 4568 §7.1.2: the offer's tag and suite, our own key.
        ours = InlineKey(local.srtp_key)
        srtp = NegotiatedSrtp(crypto.tag, crypto.suite, local=ours, remote=crypto.keys[0])
        accepted.attributes.append(
            ("crypto", str(CryptoAttribute(crypto.tag, crypto.suite, (ours,))))
        )
    accepted.attributes.append((direction, None))
    answer = _session(local)
    answer.media = [accepted if i == index else _rejected(m) for i, m in enumerate(offer.media)]
    negotiated = NegotiatedAudio(
        remote_address=choice.connection.address,
        remote_port=media.port,
        remote_rtcp_port=_rtcp_port(media, rtcp_mux),
        codec=choice.codec,
        payload_type=pt,
        telephone_event_pt=te_pt,
        ptime=_send_ptime(offer, media, local.ptime),
        direction=direction,
        rtcp_mux=rtcp_mux,
        media_index=index,
        srtp=srtp,
        fmtp=media.fmtp(pt),
    )
    return answer, negotiated


def create_offer(local: LocalMedia) -> SessionDescription:
    """Build our offer (RFC 3264 §5), e.g. for a 200 to an INVITE without SDP.

    One audio line over RTP/AVP with every codec of ``local`` at its static
    payload type (dynamic ones numbered from 96), each with its ``a=fmtp`` when it
    has one, a telephone-event for each clock rate among them if enabled (8000 at
    payload type 101; Opus's 48000 at a free dynamic number), ``a=ptime`` and
    ``local.direction``. When the call offers SRTP (``local.srtp``), the
    line is RTP/SAVP with one ``a=crypto`` per supported suite, 80-bit tag
    first, tags 1, 2, ... and our key (RFC 4568 §5.1).

    Args:
        local: our address, port, codecs and session id/version.

    Returns:
        The offer.
    """
    te_pt = TELEPHONE_EVENT_PT if local.telephone_event else None
    numbered = _numbered(local.codecs, te_pt)
    attributes: list[tuple[str, str | None]] = []
    for pt, codec in numbered.items():
        attributes.append(("rtpmap", f"{pt} {_encoding(codec)}"))
        if codec.fmtp:
            attributes.append(("fmtp", f"{pt} {codec.fmtp}"))
    events = _event_pts(numbered, te_pt)
    for clock, event_pt in events.items():
        attributes.append(("rtpmap", f"{event_pt} telephone-event/{clock}"))
        attributes.append(("fmtp", f"{event_pt} {DEFAULT_TELEPHONE_EVENTS}"))
    attributes.append(("ptime", str(local.ptime)))
    if local.srtp.offers_srtp:
        key = InlineKey(local.srtp_key)
        for tag, suite in enumerate(SUPPORTED_SUITES, start=1):
            attributes.append(("crypto", str(CryptoAttribute(tag, suite, (key,)))))
    attributes.append((local.direction, None))
    formats = [str(pt) for pt in numbered] + [str(pt) for pt in events.values()]
    offer = _session(local)
    offer.media = [
        MediaDescription(
            media="audio",
            port=local.port,
            proto="RTP/SAVP" if local.srtp.offers_srtp else "RTP/AVP",
            formats=formats,
            attributes=attributes,
        )
    ]
    return offer


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedAudio:
    """Check the peer's answer to our offer and extract the audio stream (RFC 3264 §7).

    Args:
        offer: the offer we sent (normally from :func:`create_offer`).
        answer: the peer's answer.

    Returns:
        What was agreed for the audio stream.

    Raises:
        SdpError: status_hint 488 if the answer does not match the offer (a
            different number of ``m=`` lines, no audio payload type we offered, an
            SRTP answer without a usable ``a=crypto`` for one of our tags) or
            rejects our audio stream; 400 if it has no ``c=`` for the stream.
    """
    # RFC 3264 §6: the answer has exactly one m= line per offered m= line.
    if len(answer.media) != len(offer.media):
        raise SdpError(
            f"SDP answer has {len(answer.media)} m= lines, the offer had {len(offer.media)}",
            status_hint=488,
        )
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if _kind_reason(ours, SrtpUse.PREFERRED) is not None:
            continue  # not a stream of ours (our a=crypto lines are read once, below)
        if not _audio_pts(ours):
            continue
        if theirs.port == 0:
            continue  # RFC 3264 §8.2: this stream was rejected; try the next one.
        if (theirs.media.lower(), theirs.proto.upper()) != (ours.media.lower(), ours.proto.upper()):
            raise SdpError(f"SDP answer changed m={index} to {theirs.m_line()!r}", 488)
        connection = answer.connection_for(theirs)
        if connection is None:
            raise SdpError(f"SDP answer has no c= line for m={index}", status_hint=400)
        name, pt = _answered_codec(ours, theirs, index)
        te_pt = _answered_telephone_event(ours, theirs, _audio_pts(ours)[pt][1])
        they_send, they_receive = _peer_flags(answer, theirs, connection)
        we_send, we_receive = _DIRECTION_TO_FLAGS[offer.direction(ours)]
        rtcp_mux = (
            ours.attribute("rtcp-mux") is not None and theirs.attribute("rtcp-mux") is not None
        )
        srtp = _answered_srtp(ours, theirs, index) if ours.proto.upper() in _SDES_PROTOS else None
        return NegotiatedAudio(
            remote_address=connection.address,
            remote_port=theirs.port,
            remote_rtcp_port=_rtcp_port(theirs, rtcp_mux),
            codec=name,
            payload_type=pt,
            telephone_event_pt=te_pt,
            ptime=_send_ptime(answer, theirs, _milliseconds(_attribute(offer, ours, "ptime"))),
            direction=_FLAGS_TO_DIRECTION[(we_send and they_receive, we_receive and they_send)],
            rtcp_mux=rtcp_mux,
            media_index=index,
            srtp=srtp,
            fmtp=theirs.fmtp(pt),
        )
    raise SdpError("SDP answer rejected our audio stream (port 0)", status_hint=488)


def _session(local: LocalMedia) -> SessionDescription:
    addrtype = "IP6" if ":" in local.address else "IP4"
    return SessionDescription(
        origin=Origin(
            username=local.origin_username,
            session_id=local.session_id,
            session_version=local.session_version,
            addrtype=addrtype,
            address=local.address,
        ),
        session_name=local.session_name,
        connection=Connection(address=local.address, addrtype=addrtype),
        times=["0 0"],
    )


def _audio_attributes(
    codec: RtpCodec, pt: int, te: tuple[int, int] | None, te_fmtp: str | None, ptime: int
) -> list[tuple[str, str | None]]:
    # RFC 3264 §6.1: rtpmap for the dynamic types, and SHOULD for static ones too.
    attributes: list[tuple[str, str | None]] = [("rtpmap", f"{pt} {_encoding(codec)}")]
    if codec.fmtp:
        attributes.append(("fmtp", f"{pt} {codec.fmtp}"))
    if te is not None:
        te_pt, te_clock = te
        attributes.append(("rtpmap", f"{te_pt} telephone-event/{te_clock}"))
        attributes.append(("fmtp", f"{te_pt} {te_fmtp or DEFAULT_TELEPHONE_EVENTS}"))
    attributes.append(("ptime", str(ptime)))
    return attributes


def _rejected(media: MediaDescription) -> MediaDescription:
    # RFC 3264 §6 and §8.2: port 0, same media type and proto, and at least one
    # format from the offer (the m= line grammar needs one).
    return MediaDescription(
        media=media.media, port=0, proto=media.proto, formats=media.formats[:1] or ["0"]
    )


def _unusable_reason(
    media: MediaDescription, srtp: SrtpUse
) -> tuple[str | None, CryptoAttribute | None]:
    """Why the stream cannot be ours (None when it can), and the ``a=crypto`` line we would
    honour on an SRTP stream (parsed here, once)."""
    reason = _kind_reason(media, srtp)
    if reason is not None or media.proto.upper() not in _SDES_PROTOS:
        return reason, None
    try:
        return None, acceptable_crypto(media)
    except SdpError as exc:
        return str(exc), None


def _kind_reason(media: MediaDescription, srtp: SrtpUse) -> str | None:
    """Why the stream cannot be ours by its media, port and proto (None when it can); its
    ``a=crypto`` lines are not read here."""
    if media.media.lower() != "audio":
        return f"{media.media} not wanted"
    if media.port == 0:
        return "audio rejected by the offerer (port 0)"
    proto = media.proto.upper()
    if proto in _SDES_PROTOS:
        return None if srtp.answers_srtp else f"{media.proto} (SRTP) not allowed on this call"
    if proto in _DTLS_PROTOS:
        return f"{media.proto} needs DTLS-SRTP"
    if proto not in _RTP_PROTOS:
        return f"unsupported proto {media.proto}"
    if srtp is SrtpUse.REQUIRED:
        return f"{media.proto} (plain RTP) refused: SRTP is required"
    return None


def _choose_stream(
    offer: SessionDescription, codecs: tuple[RtpCodec, ...], srtp: SrtpUse
) -> tuple[int, MediaDescription, tuple[str, int], CryptoAttribute | None]:
    """Return the first usable audio stream of ``offer``, our codec and its crypto line."""
    reasons: list[str] = []
    for index, media in enumerate(offer.media):
        reason, crypto = _unusable_reason(media, srtp)
        codec = None if reason else _pick_codec(media, codecs)
        if codec is not None:
            return index, media, codec, crypto
        reasons.append(f"m={index} {reason or 'no ' + ', '.join(map(_encoding, codecs))}")
    detail = "; ".join(reasons) if reasons else "no m= lines"
    raise SdpError(f"SDP offer has no acceptable audio stream ({detail})", status_hint=488)


def _encoding(codec: RtpCodec) -> str:
    """``name/clock[/channels]`` as an ``a=rtpmap`` writes it."""
    channels = f"/{codec.channels}" if codec.channels != 1 else ""
    return f"{codec.name}/{codec.clock_rate}{channels}"


def _ours(
    codecs: tuple[RtpCodec, ...], name: str, encoding: tuple[str, int, int | None]
) -> RtpCodec:
    """Our description of the codec chosen as ``name`` for the offer's ``encoding``."""
    for codec in codecs:
        if codec.name.upper() == name and codec.matches(encoding):
            return codec
    return RtpCodec(name, encoding[1], channels=encoding[2] or 1)  # not reached: it was picked


def _event_pts(numbered: dict[int, RtpCodec], te_pt: int | None) -> dict[int, int]:
    """Our offer's telephone-event payload types, one per clock rate of its codecs (RFC 4733
    §2.1): ``te_pt`` for 8000 (or the first), free dynamic numbers for the others."""
    if te_pt is None:
        return {}
    clocks = sorted({c.clock_rate for c in numbered.values()}, key=lambda c: c != 8000)
    taken = set(numbered) | {te_pt}
    free = (pt for pt in _DYNAMIC_PTS if pt not in taken)
    return {clock: te_pt if i == 0 else next(free) for i, clock in enumerate(clocks)}


def _numbered(codecs: tuple[RtpCodec, ...], te_pt: int | None) -> dict[int, RtpCodec]:
    """Our offer's payload types: the static ones, then free dynamic numbers; each once."""
    numbered: dict[int, RtpCodec] = {}
    taken = {c.payload_type for c in codecs} | {te_pt}
    free = (pt for pt in _DYNAMIC_PTS if pt not in taken)
    for codec in dict.fromkeys(codecs):
        pt = codec.payload_type if codec.payload_type is not None else next(free)
        numbered.setdefault(pt, codec)
    return numbered


def _audio_pts(media: MediaDescription) -> dict[int, tuple[str, int, int | None]]:
    """The line's audio formats: every encoding but telephone-event (our offer's are ours)."""
    return {
        pt: encoding
        for pt, encoding in media.rtpmap().items()
        if encoding[0].lower() != "telephone-event"
    }


def _pick_codec(
    media: MediaDescription, preference: tuple[RtpCodec, ...]
) -> tuple[str, int] | None:
    rtpmap = media.rtpmap()
    for wanted in preference:
        for pt, encoding in rtpmap.items():
            if wanted.matches(encoding):
                return wanted.name.upper(), pt
    return None


def _telephone_event_pt(
    media: MediaDescription, clock_rate: int, among: list[int] | None = None
) -> int | None:
    # RFC 4733 §2.1: the events share the audio's SSRC and timestamps, so their clock is
    # the codec's: with both 8000 and 48000 offered (Opus-capable UAs), G.711 takes the
    # 8000 one and Opus the 48000 one. An Opus offer with telephone-event/8000 alone
    # (baresip 1.0's) gets that one: the digits are what matters, and such a UA times its
    # events in the audio's clock as we do (media/sender.py).
    events = {
        clock: pt
        for pt, (name, clock, _) in media.rtpmap().items()
        if name.lower() == "telephone-event" and (among is None or pt in among)
    }
    return events.get(clock_rate, events.get(8000))


def _answered_codec(
    ours: MediaDescription, theirs: MediaDescription, index: int
) -> tuple[str, int]:
    offered = _audio_pts(ours)
    answered = theirs.rtpmap()
    for pt in theirs.payload_types():
        # RFC 3264 §6.1: the answer may list formats we did not offer, but the
        # one we use must be ours, under our payload type number.
        if pt not in offered:
            continue
        mine = RtpCodec(offered[pt][0], offered[pt][1], channels=offered[pt][2] or 1)
        if mine.matches(answered.get(pt, offered[pt])):
            return mine.name.upper(), pt
    raise SdpError(f"SDP answer m={index} has no audio payload type that we offered", 488)


def _answered_srtp(ours: MediaDescription, theirs: MediaDescription, index: int) -> NegotiatedSrtp:
    """The keying of an SRTP answer to our SRTP offer (RFC 4568 §7.1.3)."""
    offered = {c.tag: c for c in ours.crypto() if isinstance(c, CryptoAttribute)}
    reasons: list[str] = []
    for crypto in theirs.crypto():
        if isinstance(crypto, SdpError):
            reasons.append(str(crypto))
            continue
        mine = offered.get(crypto.tag)
        if mine is None or mine.suite != crypto.suite:
            reasons.append(f"tag {crypto.tag} {crypto.suite} was not offered")
            continue
        reason = crypto_unusable_reason(crypto)
        if reason is None:
            return NegotiatedSrtp(crypto.tag, crypto.suite, mine.keys[0], crypto.keys[0])
        reasons.append(f"tag {crypto.tag}: {reason}")
    detail = "; ".join(reasons) or "no a=crypto line"
    raise SdpError(f"SDP answer m={index} has no usable SDES crypto ({detail})", 488)


def _answered_telephone_event(
    ours: MediaDescription, theirs: MediaDescription, clock_rate: int
) -> int | None:
    return _telephone_event_pt(ours, clock_rate, theirs.payload_types())


def _peer_flags(
    sd: SessionDescription, media: MediaDescription, connection: Connection
) -> tuple[bool, bool]:
    """Return (peer sends, peer receives) for ``media`` of the peer's SDP."""
    sends, receives = _DIRECTION_TO_FLAGS[sd.direction(media)]
    if _unspecified(connection.address):
        # RFC 3264 §8.4: an RFC 2543 UA puts the call on hold with c=0.0.0.0;
        # whatever the direction attribute says, it cannot receive.
        receives = False
    return sends, receives


def _unspecified(address: str) -> bool:
    """``0.0.0.0`` or ``::``, however written (``0:0::0``, ``::ffff:0.0.0.0``)."""
    ip = ip_literal(address)
    return ip is not None and ip.is_unspecified


def _attribute(sd: SessionDescription, media: MediaDescription, name: str) -> str | None:
    value = media.attribute(name)
    return sd.attribute(name) if value is None else value


def _milliseconds(value: str | None) -> int | None:
    # RFC 8866 §6.4 allows a decimal packet time ("20.0"); round down.
    match = _PTIME.fullmatch(value.strip()) if value is not None else None
    return int(match.group(1)) if match else None


def _valid_ptime(ptime: int) -> bool:
    # Our pacer works in 10 ms steps up to 60 ms.
    return 10 <= ptime <= 60 and ptime % 10 == 0


def _send_ptime(sd: SessionDescription, media: MediaDescription, fallback: int | None) -> int:
    # RFC 8866 §6.4/§6.5: a=ptime is what the peer wants to receive, a=maxptime
    # the most it can take. ptime belongs at media level, but some UAs put it at
    # session level. Without a usable a=ptime we send our own ptime, which is
    # 20 ms unless configured otherwise (the RFC 3551 §4.5 default for G.711).
    ptime = _milliseconds(_attribute(sd, media, "ptime"))
    if ptime is None or not _valid_ptime(ptime):
        ptime = fallback if fallback is not None and _valid_ptime(fallback) else _DEFAULT_PTIME
    maxptime = _milliseconds(_attribute(sd, media, "maxptime"))
    if maxptime is not None and 0 < maxptime < ptime:
        ptime = max(10, maxptime // 10 * 10)
    return ptime


def _rtcp_port(media: MediaDescription, rtcp_mux: bool) -> int | None:
    if rtcp_mux:
        return None  # RFC 5761 §5.1.1: RTCP goes to the RTP port.
    # RFC 3605 §2.1: a=rtcp:<port> [<nettype> <addrtype> <address>].
    value = media.attribute("rtcp")
    first = value.split()[0] if value else ""
    if first.isascii() and first.isdigit() and 0 < len(first) <= 5 and 0 < int(first) <= 65535:
        return int(first)
    # RFC 3550 §11: otherwise the next port up.
    return media.port + 1 if media.port < 65535 else None
