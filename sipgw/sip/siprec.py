"""SIPREC, the Session Recording Client's side (RFC 7866; its metadata, RFC 7865), sans-IO.

The gateway records a call by calling a Session Recording Server (SRS): a new INVITE, the
recording session (RS), whose body is ``multipart/mixed`` (RFC 7866 §6.1.2; RFC 5621):

- an SDP offer (:func:`recording_offer`) with one ``m=audio`` line per stream recorded,
  each ``a=sendonly`` (the SRC only sends, RFC 7866 §8.1.1) and ``a=label`` (RFC 4574), the
  label the metadata's ``<stream>`` names: ``1`` for what the caller says, ``2`` for what
  the other side (the agent, or the called party of a ``<Dial>``) says; no
  telephone-event (DTMF is not recorded);
- the metadata, ``application/rs-metadata+xml`` with ``Content-Disposition:
  recording-session`` (RFC 7866 §9.1; RFC 7865 §6, built by :class:`RecordingMetadata`):
  the communication session (the call recorded, its start time), its two participants
  (their address of record and name), the streams and who sends and receives each.

The INVITE carries ``Require: siprec`` and a Contact with the ``+sip.src`` feature tag
(RFC 7866 §6.1.1, :data:`REQUIRE`, :data:`SRC_FEATURE`). The SRS answers each stream
``a=recvonly`` (or rejects it, port 0); :func:`accept_recording_answer` reads each line
with the ordinary offer/answer rules (:func:`~sipgw.sip.offeranswer.accept_answer`).

:func:`multipart_body` writes the body; :func:`new_id` draws the metadata's identifiers
(16 random octets in base64, as RFC 7865 §6.9 asks of a UUID-like id).
"""

from __future__ import annotations

import base64
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

from sipgw.sip.errors import SdpError
from sipgw.sip.offeranswer import LocalMedia, NegotiatedAudio, accept_answer, create_offer
from sipgw.sip.sdp import SessionDescription

__all__ = [
    "LABELS",
    "METADATA_DISPOSITION",
    "METADATA_TYPE",
    "NAMESPACE",
    "REQUIRE",
    "SRC_FEATURE",
    "RecordedParticipant",
    "RecordingMetadata",
    "RecordingOffer",
    "accept_recording_answer",
    "multipart_body",
    "new_id",
    "recording_offer",
]

REQUIRE = "siprec"
"""The option tag a recording session's INVITE requires (RFC 7866 §6.1.1)."""
SRC_FEATURE = "+sip.src"
"""The Contact feature tag that marks the INVITE as a Session Recording Client's."""
METADATA_TYPE = "application/rs-metadata+xml"
"""The metadata's media type (RFC 7865 §11.1)."""
METADATA_DISPOSITION = "recording-session"
"""The metadata part's Content-Disposition (RFC 7866 §9.1)."""
NAMESPACE = "urn:ietf:params:xml:ns:recording:1"
"""The metadata's XML namespace (RFC 7865 §10)."""
LABELS = ("1", "2")
"""The streams' labels: the caller's, then the other side's."""


def new_id(rng: random.Random) -> str:
    """A metadata identifier: 16 random octets in base64 (RFC 7865 §6.9)."""
    return base64.b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode("ascii")


@dataclass(frozen=True, slots=True)
class RecordedParticipant:
    """One party of the call recorded (RFC 7865 §6.3).

    Attributes:
        aor: its address of record (a ``sip:``, ``sips:`` or ``tel:`` URI).
        name: its display name ("": none).
        participant_id: its metadata identifier (:func:`new_id`).
        stream_id: the identifier of the stream it sends ("": its side is not recorded).
    """

    aor: str
    name: str
    participant_id: str
    stream_id: str


@dataclass(frozen=True, slots=True)
class RecordingMetadata:
    """The recording session's metadata (RFC 7865), complete (``datamode`` ``complete``).

    Attributes:
        session_id: the communication session's identifier (:func:`new_id`).
        start_time: when it started, ISO 8601 in UTC (``2026-11-26T20:41:07Z``).
        caller: the party whose stream is labelled ``1``.
        callee: the other side, whose stream is labelled ``2``.
        sip_session_id: the call's Session-ID (RFC 7989), "" when it has none (then no
            ``<sipSessionID>``).
    """

    session_id: str
    start_time: str
    caller: RecordedParticipant
    callee: RecordedParticipant
    sip_session_id: str = ""

    @classmethod
    def new(
        cls,
        rng: random.Random,
        start_time: str,
        caller: tuple[str, str],
        callee: tuple[str, str],
        sip_session_id: str = "",
        recorded: tuple[bool, bool] = (True, True),
    ) -> RecordingMetadata:
        """The metadata of a new recording session, its identifiers drawn from ``rng``;
        ``caller`` and ``callee`` are (address of record, name); ``recorded`` says whose
        side has a stream (the caller's, the callee's)."""
        session_id = new_id(rng)
        parties = [
            RecordedParticipant(aor, name, new_id(rng), new_id(rng) if sent else "")
            for (aor, name), sent in zip((caller, callee), recorded, strict=True)
        ]
        return cls(session_id, start_time, parties[0], parties[1], sip_session_id)

    def to_xml(self) -> bytes:
        """The ``application/rs-metadata+xml`` document (UTF-8, with its declaration):
        the session, both participants and their association with it, the streams
        recorded (labels :data:`LABELS`: the caller's 1, the callee's 2) and which
        participant sends and receives each."""
        ET.register_namespace("", NAMESPACE)
        ns = f"{{{NAMESPACE}}}"
        root = ET.Element(f"{ns}recording")
        ET.SubElement(root, f"{ns}datamode").text = "complete"
        session = ET.SubElement(root, f"{ns}session", session_id=self.session_id)
        if self.sip_session_id:
            ET.SubElement(session, f"{ns}sipSessionID").text = self.sip_session_id
        ET.SubElement(session, f"{ns}start-time").text = self.start_time
        parties = (self.caller, self.callee)
        for party in parties:
            element = ET.SubElement(root, f"{ns}participant", participant_id=party.participant_id)
            name_id = ET.SubElement(element, f"{ns}nameID", aor=party.aor)
            if party.name:
                ET.SubElement(name_id, f"{ns}name").text = party.name
        for party in parties:
            assoc = ET.SubElement(root, f"{ns}participantsessionassoc",
                                  participant_id=party.participant_id,
                                  session_id=self.session_id)  # fmt: skip
            ET.SubElement(assoc, f"{ns}associate-time").text = self.start_time
        for party, label in zip(parties, LABELS, strict=True):
            if not party.stream_id:
                continue
            stream = ET.SubElement(root, f"{ns}stream", stream_id=party.stream_id,
                                   session_id=self.session_id)  # fmt: skip
            ET.SubElement(stream, f"{ns}label").text = label
        for party, other in (parties, parties[::-1]):
            assoc = ET.SubElement(root, f"{ns}participantstreamassoc",
                                  participant_id=party.participant_id)  # fmt: skip
            if party.stream_id:
                ET.SubElement(assoc, f"{ns}send").text = party.stream_id
            if other.stream_id:
                ET.SubElement(assoc, f"{ns}recv").text = other.stream_id
        ET.indent(root)
        body: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
        return body.replace(b"<?xml version='1.0' encoding='UTF-8'?>",
                            b'<?xml version="1.0" encoding="UTF-8"?>') + b"\r\n"  # fmt: skip


@dataclass(frozen=True, slots=True)
class RecordingOffer:
    """What makes a placed call a recording session
    (:attr:`~sipgw.sip.usages.outbound.OutboundCall.recording`).

    Attributes:
        ports: our RTP port of each stream.
        metadata: the ``application/rs-metadata+xml`` document
            (:meth:`RecordingMetadata.to_xml`).
        labels: each stream's label (:data:`LABELS`: ``1`` the caller's, ``2`` the
            callee's), in the order of ``ports``.
    """

    ports: tuple[int, ...]
    metadata: bytes
    labels: tuple[str, ...] = LABELS


def recording_offer(
    local: LocalMedia, ports: tuple[int, ...], labels: tuple[str, ...] = LABELS
) -> SessionDescription:
    """The SDP offer of a recording session: one ``m=audio`` line per port of ``ports``
    (ours, one per stream), each with ``local``'s codecs, ``a=sendonly`` and the
    ``a=label`` of ``labels`` in the same place (no telephone-event: DTMF is not recorded).

    Raises:
        ValueError: no port, or not one label per port, or a port out of range.
    """
    if not ports or len(ports) != len(labels):
        raise ValueError(f"a recording session has one label per stream: {ports}, {labels}")
    offer: SessionDescription | None = None
    for port, label in zip(ports, labels, strict=True):
        one = create_offer(replace(local, port=port, direction="sendonly", telephone_event=False))
        (media,) = one.media
        media.attributes.append(("label", label))
        if offer is None:
            offer = one
        else:
            offer.media.append(media)
    assert offer is not None
    return offer


def accept_recording_answer(
    offer: SessionDescription, answer: SessionDescription
) -> tuple[NegotiatedAudio | None, ...]:
    """The SRS's answer read line by line (RFC 3264 §6, each as
    :func:`~sipgw.sip.offeranswer.accept_answer` reads an audio line): for each stream of
    ``offer``, what to send it with, or None when the SRS rejected it (port 0) or will not
    receive it (``a=sendonly`` or ``a=inactive``).

    Raises:
        SdpError: status_hint 488 when the answer has another number of ``m=`` lines,
            or a line names no codec we offered; 400 when a line has no ``c=``.
    """
    if len(answer.media) != len(offer.media):
        raise SdpError(
            f"SDP answer has {len(answer.media)} m= lines, the offer had {len(offer.media)}",
            status_hint=488,
        )
    streams: list[NegotiatedAudio | None] = []
    for ours, theirs in zip(offer.media, answer.media, strict=True):
        if theirs.port == 0:
            streams.append(None)
            continue
        agreed = accept_answer(replace(offer, media=[ours]), replace(answer, media=[theirs]))
        streams.append(agreed if agreed.sends else None)
    return tuple(streams)


def multipart_body(sdp: bytes, metadata: bytes, boundary: str) -> tuple[str, bytes]:
    """The recording session's INVITE body: ``(Content-Type, body)``, ``multipart/mixed``
    with the SDP first and the metadata second (RFC 7866 §6.1.2, RFC 2046 §5.1).

    Raises:
        ValueError: ``boundary`` is empty, too long, or occurs in a part.
    """
    if not 0 < len(boundary) <= 70 or not boundary.isascii() or not boundary.isalnum():
        raise ValueError(f"boundary {boundary[:80]!r}: 1 to 70 letters or digits")
    delimiter = b"--" + boundary.encode("ascii")
    if delimiter in sdp or delimiter in metadata:
        raise ValueError("the boundary occurs in a part")
    body = b"".join(
        (
            delimiter, b"\r\nContent-Type: application/sdp\r\n\r\n", sdp.removesuffix(b"\r\n"),
            b"\r\n", delimiter, b"\r\nContent-Type: ", METADATA_TYPE.encode(),
            b"\r\nContent-Disposition: ", METADATA_DISPOSITION.encode(), b"\r\n\r\n",
            metadata.removesuffix(b"\r\n"), b"\r\n", delimiter, b"--\r\n",
        )
    )  # fmt: skip
    return f"multipart/mixed;boundary={boundary}", body
