"""SIPREC recording metadata as a Session Recording Server reads it (RFC 7865), sans-IO.

A Session Recording Client (an SBC, a PBX, another sipgw: :mod:`sipgw.sip.siprec`) says who
is on the call it records in an ``application/rs-metadata+xml`` document (RFC 7865 §6,
namespace ``urn:ietf:params:xml:ns:recording:1``): its ``<participant>`` elements (each a
``participant_id`` and one or more ``<nameID aor="...">`` with an optional ``<name>``),
its ``<stream>`` elements (a ``stream_id`` and the SDP ``<label>`` of the ``m=`` line that
carries it, RFC 4574) and its ``<participantstreamassoc>`` elements (which streams a
participant ``<send>``\\ s and ``<recv>``\\ s). :func:`parse_metadata` reads what the server
needs of it into :class:`RsMetadata`; :meth:`RsMetadata.sender_of` names the participant
who speaks on a labelled stream.

``<datamode>`` ``partial`` (RFC 7865 §6.1: an update that carries only what changed, in a
re-INVITE or UPDATE, RFC 7866 §8) is read the same way and laid over what was known with
:meth:`RsMetadata.updated`: elements are matched by their identifiers. Some SRCs still write
the drafts' form (``id`` rather than ``participant_id``/``stream_id``, ``<aor>`` and
``<send>`` inside ``<participant>``): it is read too.

The document comes from the network: one with a DOCTYPE (entity declarations, the "billion
laughs"), not in UTF-8 (where such a declaration could hide) or longer than
:data:`MAX_METADATA_BYTES` is refused before it is parsed, and any other failure is a
:class:`~sipgw.sip.errors.RemoteProtocolError` with status hint 400.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

from sipgw.sip.errors import RemoteProtocolError

__all__ = [
    "MAX_METADATA_BYTES",
    "MetadataParticipant",
    "MetadataStream",
    "RsMetadata",
    "parse_metadata",
]

MAX_METADATA_BYTES = 65536
"""The longest metadata document read (a SIP message over UDP is far shorter)."""
_NS = "{urn:ietf:params:xml:ns:recording:1}"


@dataclass(frozen=True, slots=True)
class MetadataParticipant:
    """One participant of the recorded call (RFC 7865 §6.5).

    Attributes:
        participant_id: its identifier in the metadata.
        aor: its address of record (the first ``nameID``'s ``aor``), "" when none given.
        name: its display name ("" when none given).
        sends: the ``stream_id`` of each stream it sends (its voice).
        receives: the ``stream_id`` of each stream it receives.
    """

    participant_id: str
    aor: str = ""
    name: str = ""
    sends: tuple[str, ...] = ()
    receives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetadataStream:
    """One recorded stream (RFC 7865 §6.6).

    Attributes:
        stream_id: its identifier in the metadata.
        label: the ``a=label`` of the SDP ``m=`` line that carries it ("" when none given).
    """

    stream_id: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class RsMetadata:
    """What a recording session's metadata says of its participants and streams.

    Attributes:
        complete: ``<datamode>`` is ``complete`` (absent counts as complete); False for a
            ``partial`` update.
        participants: the participants, in document order.
        streams: the streams, in document order.
    """

    complete: bool = True
    participants: tuple[MetadataParticipant, ...] = ()
    streams: tuple[MetadataStream, ...] = ()

    def stream_labelled(self, label: str) -> MetadataStream | None:
        """The stream the SDP line labelled ``label`` carries, None when none is."""
        return next((stream for stream in self.streams if stream.label == label), None)

    def sender_of(self, label: str) -> MetadataParticipant | None:
        """Who speaks on the stream labelled ``label``: the participant that sends it
        (RFC 7865 §6.7 ``participantstreamassoc``), None when the metadata does not say."""
        stream = self.stream_labelled(label)
        if stream is None:
            return None
        return next((p for p in self.participants if stream.stream_id in p.sends), None)

    def updated(self, update: RsMetadata) -> RsMetadata:
        """This metadata with ``update`` applied: a complete document replaces it; a partial
        one (RFC 7865 §6.1) replaces the participants and streams it names, by identifier,
        and adds the new ones."""
        if update.complete:
            return update
        participants = {p.participant_id: p for p in self.participants}
        for party in update.participants:
            known = participants.get(party.participant_id)
            if known is not None:
                party = replace(
                    party,
                    aor=party.aor or known.aor,
                    name=party.name or known.name,
                    sends=party.sends or known.sends,
                    receives=party.receives or known.receives,
                )
            participants[party.participant_id] = party
        streams = {s.stream_id: s for s in self.streams}
        for stream in update.streams:
            streams[stream.stream_id] = stream
        return RsMetadata(True, tuple(participants.values()), tuple(streams.values()))


def parse_metadata(data: bytes) -> RsMetadata:
    """Read an ``application/rs-metadata+xml`` document (see the module docstring).

    Raises:
        RemoteProtocolError: status_hint 400 for a document that is too long, not UTF-8,
            declares a DOCTYPE, is not well-formed XML, or whose root is not ``<recording>`` of the
            RFC 7865 namespace.
    """
    if len(data) > MAX_METADATA_BYTES:
        raise RemoteProtocolError(f"recording metadata over {MAX_METADATA_BYTES} bytes", 400)
    try:
        text = data.decode("utf-8")  # RFC 7865 §10: UTF-8; another could hide a DOCTYPE
    except UnicodeDecodeError:
        raise RemoteProtocolError("recording metadata is not UTF-8", 400) from None
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise RemoteProtocolError("recording metadata with a DOCTYPE", 400)
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError) as exc:  # an unknown encoding declared
        raise RemoteProtocolError(f"recording metadata is not XML: {exc}", 400) from None
    if root.tag != f"{_NS}recording":
        raise RemoteProtocolError(f"recording metadata's root is {root.tag[:80]!r}", 400)
    mode = (_text(root.find(f"{_NS}datamode")) or "complete").lower()
    sends: dict[str, list[str]] = {}
    receives: dict[str, list[str]] = {}
    for assoc in root.iter(f"{_NS}participantstreamassoc"):
        who = assoc.get("participant_id") or assoc.get("id") or ""
        sends.setdefault(who, []).extend(_texts(assoc, "send"))
        receives.setdefault(who, []).extend(_texts(assoc, "recv"))
    participants = []
    for element in root.iter(f"{_NS}participant"):
        who = element.get("participant_id") or element.get("id") or ""
        if not who:
            continue
        aor, name = _name_id(element)
        participants.append(
            MetadataParticipant(
                who,
                aor,
                name,
                tuple(_texts(element, "send") + sends.get(who, [])),
                tuple(_texts(element, "recv") + receives.get(who, [])),
            )
        )
    streams = [
        MetadataStream(stream_id, _text(element.find(f"{_NS}label")))
        for element in root.iter(f"{_NS}stream")
        if (stream_id := element.get("stream_id") or element.get("id") or "")
    ]
    return RsMetadata(mode != "partial", tuple(participants), tuple(streams))


def _name_id(element: ET.Element) -> tuple[str, str]:
    """A participant's address of record and name: its first ``<nameID>``'s (RFC 7865
    §6.5), else the drafts' ``<aor>`` and ``<name>`` children."""
    name_id = element.find(f"{_NS}nameID")
    if name_id is not None:
        return name_id.get("aor", "").strip(), _text(name_id.find(f"{_NS}name"))
    return _text(element.find(f"{_NS}aor")), _text(element.find(f"{_NS}name"))


def _texts(element: ET.Element, tag: str) -> list[str]:
    return [text for child in element.findall(f"{_NS}{tag}") if (text := _text(child))]


def _text(element: ET.Element | None) -> str:
    return "" if element is None or element.text is None else element.text.strip()
