"""SIPREC, the Session Recording Server's side (RFC 7866), sans-IO.

A Session Recording Client (SRC: an SBC, a PBX, another gateway) records a call by placing
a *recording session* to us (RFC 7866 §6.1): an INVITE that requires ``siprec`` (or whose
Contact carries the ``+sip.src`` feature tag) with a ``multipart/mixed`` body holding an
SDP offer of one ``a=sendonly`` ``m=audio`` line per recorded stream, each with an
``a=label`` (RFC 4574), and the metadata (``application/rs-metadata+xml``:
:mod:`sipgw.sip.rsmetadata`) naming who sends each labelled stream.

- :func:`recording_request` tells a recording session from an ordinary call and keeps what
  the application needs of it (:class:`RecordingRequest`: the labels, the metadata);
- :func:`recording_answer` answers its offer: every audio line we can receive is answered
  ``a=recvonly`` (RFC 7866 §8.1.1) on a port of its own with the same ``a=label``, never
  with telephone-event (nothing of ours is sent); any other line is rejected (port 0);
- our Contact carries :data:`SRS_FEATURE` (``+sip.srs``, RFC 7866 §6.1.1);
- at most :data:`MAX_RECORDED_STREAMS` streams are recorded at a time: the lines over it
  are rejected like any other (port 0);
- :func:`stream_changes` reads how a re-INVITE's or UPDATE's new offer changes the streams
  (RFC 7866 §8.1, RFC 3264 §8): the streams it adds, those over the bound, those it
  removes (port 0).

The SIP core keeps answering re-INVITEs and UPDATEs of the session the same way (RFC 7866
§8: a new offer, or new metadata, :class:`~sipgw.sip.events.RecordingMetadataReceived`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sipgw.sip.body import body_part
from sipgw.sip.errors import SdpError
from sipgw.sip.message import SipRequest
from sipgw.sip.offeranswer import LocalMedia, NegotiatedAudio, answer_with, choose_answer
from sipgw.sip.sdp import MediaDescription, SessionDescription
from sipgw.sip.siprec import METADATA_TYPE, REQUIRE, SRC_FEATURE

__all__ = [
    "MAX_RECORDED_STREAMS",
    "SRS_FEATURE",
    "RecordingRequest",
    "StreamChanges",
    "recording_answer",
    "recording_metadata",
    "recording_request",
    "recording_streams",
    "stream_changes",
]

SRS_FEATURE = "+sip.srs"
"""The Contact feature tag of a Session Recording Server (RFC 7866 §6.1.1)."""
MAX_RECORDED_STREAMS = 8
"""The most streams a recording session records at a time (each one an RTP port and a
speech-to-text session): the recordable lines over it are rejected (port 0)."""


@dataclass(frozen=True, slots=True)
class RecordingRequest:
    """What makes an incoming INVITE a SIPREC recording session.

    Attributes:
        required: it requires ``siprec`` (``Require: siprec``); False: only its Contact's
            ``+sip.src`` says it is one.
        labels: the ``a=label`` of each ``m=`` line of its offer, in order ("" for a line
            without one).
        streams: the index of each ``m=`` line that can be recorded
            (:func:`recording_streams`), in order, at most :data:`MAX_RECORDED_STREAMS`.
        metadata: its ``application/rs-metadata+xml`` part, b"" when it has none.
        over: the recordable lines over :data:`MAX_RECORDED_STREAMS` (rejected, port 0).
    """

    required: bool
    labels: tuple[str, ...] = ()
    streams: tuple[int, ...] = ()
    metadata: bytes = b""
    over: tuple[int, ...] = ()


def recording_request(
    request: SipRequest, offer: SessionDescription | None
) -> RecordingRequest | None:
    """The recording session ``request`` opens (with ``offer``, its SDP), None when it is
    an ordinary call: neither ``Require: siprec`` nor ``+sip.src`` in its Contact."""
    required = any(tag.strip().lower() == REQUIRE for tag in request.headers.get_all("Require"))
    if not required and not _src_contact(request.headers.get("Contact") or ""):
        return None
    if offer is None:
        return RecordingRequest(required, metadata=recording_metadata(request))
    labels = tuple(m.attribute("label") or "" for m in offer.media)
    streams = recording_streams(offer)
    return RecordingRequest(
        required,
        labels,
        streams[:MAX_RECORDED_STREAMS],
        recording_metadata(request),
        streams[MAX_RECORDED_STREAMS:],
    )


def recording_metadata(request: SipRequest) -> bytes:
    """The metadata part of a recording session's INVITE, re-INVITE or UPDATE (b"": none)."""
    return body_part(request, METADATA_TYPE) or b""


def _src_contact(contact: str) -> bool:
    """Whether a Contact value carries the ``+sip.src`` feature tag (a header parameter,
    after the URI: RFC 3840 §9)."""
    params = contact.rpartition(">")[2] if "<" in contact else contact
    return any(
        param.split("=")[0].strip().lower() == SRC_FEATURE for param in params.split(";")[1:]
    )


def recording_streams(offer: SessionDescription) -> tuple[int, ...]:
    """The index of each ``m=`` line of ``offer`` that can be recorded: audio, not
    rejected (port 0), and one the SRC sends (not ``recvonly``/``inactive``)."""
    return tuple(
        index
        for index, media in enumerate(offer.media)
        if media.media == "audio"
        and media.port != 0
        and offer.direction(media) in ("sendonly", "sendrecv")
    )


@dataclass(frozen=True, slots=True)
class StreamChanges:
    """How a recording session's new offer changes its streams (:func:`stream_changes`).

    Attributes:
        added: the recordable lines not recorded yet, within :data:`MAX_RECORDED_STREAMS`
            (a new participant, a transfer: RFC 7866 §8.3), in order.
        over: the new recordable lines over that bound (to be rejected, port 0).
        removed: the recorded lines the offer removes: port 0 (RFC 3264 §8.2), or no audio
            line at their place any more.
    """

    added: tuple[int, ...] = ()
    over: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()


def stream_changes(offer: SessionDescription, recorded: Collection[int]) -> StreamChanges:
    """What ``offer`` (a re-INVITE's or UPDATE's) does to the streams ``recorded`` (the
    ``m=`` line indexes answered so far): a line of a removed stream may be reused by a new
    one in a later offer (RFC 3264 §8.3), which is then added."""
    media = offer.media
    removed = tuple(
        index
        for index in sorted(recorded)
        if index >= len(media) or media[index].port == 0 or media[index].media != "audio"
    )
    new = tuple(index for index in recording_streams(offer) if index not in recorded)
    room = max(0, MAX_RECORDED_STREAMS - (len(recorded) - len(removed)))
    return StreamChanges(new[:room], new[room:], removed)


def recording_answer(
    offer: SessionDescription, local: LocalMedia, ports: Mapping[int, int]
) -> tuple[SessionDescription, dict[int, NegotiatedAudio]]:
    """Answer a recording session's offer (RFC 7866 §8.1.1, RFC 3264 §6).

    Args:
        offer: the SRC's offer.
        local: our address, codecs and session id/version (its port, direction and
            telephone-event are set here, line by line).
        ports: ``m=`` line index -> our RTP port for it (:func:`recording_streams`'s lines).

    Returns:
        The answer (each line of ``ports`` that names one of our codecs ``a=recvonly``
        with its ``a=label``; every other line rejected, port 0) and what was agreed for
        each line answered, by index.

    Raises:
        SdpError: status_hint 488 when no line can be received.
    """
    answer: SessionDescription | None = None
    agreed: dict[int, NegotiatedAudio] = {}
    lines: list[MediaDescription] = []
    for index, media in enumerate(offer.media):
        port = ports.get(index)
        one = dataclasses.replace(offer, media=[media])
        line: MediaDescription | None = None
        if port is not None:
            mine = dataclasses.replace(local, port=port, direction="recvonly",
                                       telephone_event=False)  # fmt: skip
            try:
                choice = choose_answer(one, mine.codecs, mine.srtp)
            except SdpError:
                choice = None
            if choice is not None:
                sdp, negotiated = answer_with(one, choice, mine)
                (line,) = sdp.media
                label = media.attribute("label")
                if label:
                    line.attributes.append(("label", label))
                agreed[index] = dataclasses.replace(negotiated, media_index=index)
                answer = answer or sdp
        lines.append(line or _rejected(media))
    if answer is None:
        raise SdpError("no stream of the recording session can be received", status_hint=488)
    return dataclasses.replace(answer, media=lines), agreed


def _rejected(media: MediaDescription) -> MediaDescription:
    """A line we do not take (RFC 3264 §6: port 0, its type, proto and a format)."""
    return MediaDescription(
        media=media.media, port=0, proto=media.proto, formats=media.formats[:1] or ["0"]
    )
