"""SDP (RFC 8866, formerly RFC 4566): parse and serialize session descriptions.

Sans-IO: bytes in, :class:`SessionDescription` out, and back again. Offer/answer
negotiation lives in :mod:`sipgw.sip.offeranswer`; this module only models the text.

Theory of operation
-------------------
An SDP body is a list of ``<type>=<value>`` lines. The lines before the first
``m=`` form the session section; every ``m=`` starts a media section that runs
to the next ``m=`` (RFC 8866 §5). :meth:`SessionDescription.parse` is liberal in
what it accepts, because real phones are sloppy:

- CRLF, bare LF and bare CR all end a line; blank lines, a UTF-8 BOM and
  whitespace around a line are ignored. Bytes that are not UTF-8 are read as
  Latin-1 rather than rejected (some phones put Latin-1 in ``s=``).
- Session-section lines may come in any order; ``s=`` defaults to ``-`` and
  ``t=`` to ``0 0`` when missing.
- Line types this module does not know (``y=``, ``f=``, ...) are kept verbatim
  so that a re-serialized body still carries them.

It still rejects what cannot be a session description: input that does not
start with ``v=``, lines without ``=``, a missing or malformed ``o=``, ``c=`` or
``m=`` line, or a field that may appear only once appearing twice. Every
rejection is an :class:`~sipgw.sip.errors.SdpError` with ``status_hint`` 400; no
other exception escapes ``parse``.

:meth:`SessionDescription.serialize` writes CRLF line endings in the order of
RFC 8866 §5 (``v o s i u e p c b t r z k a``, then per media ``m i c b k a``),
so ``SessionDescription.parse(sd.serialize()) == sd`` for every parsed ``sd``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from sipgw.sip.errors import SdpError

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Connection",
    "CryptoAttribute",
    "InlineKey",
    "MediaDescription",
    "Origin",
    "SessionDescription",
]

#: The media direction attributes of RFC 8866 §6.7.
DIRECTIONS: tuple[str, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")

#: Static RTP payload types, RFC 3551 §6 tables 4 and 5: pt -> (name, clock, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None),
    3: ("GSM", 8000, None),
    4: ("G723", 8000, None),
    5: ("DVI4", 8000, None),
    6: ("DVI4", 16000, None),
    7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None),
    9: ("G722", 8000, None),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, None),
    12: ("QCELP", 8000, None),
    13: ("CN", 8000, None),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, None),
    16: ("DVI4", 11025, None),
    17: ("DVI4", 22050, None),
    18: ("G729", 8000, None),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}

_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_TYPE = re.compile(r"[a-zA-Z]")
_SESSION_ONLY_ONCE = "vosiuczk"
_MEDIA_ONLY_ONCE = "ick"
_KNOWN_TYPES = "vosiuepcbtrzkam"

Attribute = tuple[str, str | None]


def _to_int(text: str, max_digits: int = 10) -> int | None:
    """Return ``text`` as a non-negative int, or ``None`` if it is not ASCII digits.

    ``int()`` alone would accept ``" 1_0 "`` and non-ASCII digits, and raise on
    more than 4300 digits; SDP numbers are plain ASCII.
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def _attribute_line(value: str) -> Attribute:
    # RFC 8866 §5.13: "a=<attribute-name>" (a flag) or "a=<name>:<value>".
    name, colon, rest = value.partition(":")
    return (name.strip(), rest.strip() if colon else None)


def _first(attributes: list[Attribute], name: str) -> str | None:
    for attr_name, value in attributes:
        if attr_name == name:
            return value if value is not None else ""
    return None


def _all(attributes: list[Attribute], name: str) -> list[str]:
    return [value if value is not None else "" for n, value in attributes if n == name]


@dataclass(slots=True)
class Origin:
    """The ``o=`` line (RFC 8866 §5.2).

    Attributes:
        username: the user's login on the originating host, ``-`` if none.
        session_id: a numeric string that, with the other fields, identifies the session.
        session_version: incremented by the sender each time the description changes.
        nettype: network type, ``IN``.
        addrtype: ``IP4`` or ``IP6``.
        address: the originating host.
    """

    username: str
    session_id: str
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    @classmethod
    def parse(cls, value: str) -> Origin:
        """Parse the value of an ``o=`` line.

        Args:
            value: the text after ``o=``.

        Returns:
            The origin.

        Raises:
            SdpError: the line does not have the six fields, or the version is
                not a number (status_hint 400).
        """
        tokens = value.split()
        if len(tokens) < 6:
            raise SdpError(f"SDP o= line needs 6 fields: {value!r}", status_hint=400)
        # A username with spaces is not allowed, but some UAs send one anyway:
        # the last five fields are unambiguous, so the rest is the username.
        username = " ".join(tokens[:-5])
        session_id, version_text, nettype, addrtype, address = tokens[-5:]
        version = _to_int(version_text, max_digits=64)
        if version is None:
            raise SdpError(f"SDP o= session version is not a number: {value!r}", status_hint=400)
        return cls(username, session_id, version, nettype, addrtype, address)

    def __str__(self) -> str:
        """Return the value of the ``o=`` line."""
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(slots=True)
class Connection:
    """A ``c=`` line (RFC 8866 §5.7).

    Attributes:
        address: the unicast address or host name; any multicast ``/ttl`` or
            ``/count`` suffix is dropped.
        nettype: network type, ``IN``.
        addrtype: ``IP4`` or ``IP6``.
    """

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @classmethod
    def parse(cls, value: str) -> Connection:
        """Parse the value of a ``c=`` line.

        Args:
            value: the text after ``c=``.

        Returns:
            The connection.

        Raises:
            SdpError: the line does not have three fields (status_hint 400).
        """
        tokens = value.split()
        if len(tokens) != 3 or not tokens[2].split("/")[0]:
            raise SdpError(f"SDP c= line needs 3 fields: {value!r}", status_hint=400)
        return cls(address=tokens[2].split("/")[0], nettype=tokens[0], addrtype=tokens[1])

    def __str__(self) -> str:
        """Return the value of the ``c=`` line."""
        return f"{self.nettype} {self.addrtype} {self.address}"


_CRYPTO_TAG = re.compile(r"[0-9]{1,9}")
_CRYPTO_SUITE = re.compile(r"[A-Za-z0-9_]{1,64}")
_LIFETIME = re.compile(r"(2\^)?([0-9]{1,20})")
_MKI = re.compile(r"([0-9]{1,20}):([0-9]{1,3})")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True, slots=True)
class InlineKey:
    """One ``inline:`` key parameter of an ``a=crypto`` line (RFC 4568 §6.1, §9.2).

    Attributes:
        key_salt: the master key and salt, decoded; never shown in ``repr``.
        lifetime: the most packets the key may protect (``2^n`` written as
            the number), or None when not given.
        mki: ``(value, length in bytes)`` of the Master Key Identifier, or None.
    """

    key_salt: bytes = field(repr=False)
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    lifetime_text: str | None = field(default=None, repr=False, compare=False)
    """The lifetime as written (``2^31`` or ``2147483648``), kept for round trips."""

    @classmethod
    def parse(cls, value: str) -> InlineKey:
        """Parse ``inline:<key||salt>[|lifetime][|MKI:length]``.

        Raises:
            SdpError: another key method, bad base64, a bad lifetime or MKI
                (status_hint 488: the line is unusable, not the SDP).
        """
        method, colon, info = value.partition(":")
        if not colon or method.lower() != "inline":
            raise SdpError("SDES key method is not inline", 488)
        fields = info.split("|")
        if len(fields) > 3:
            raise SdpError("SDES inline key has too many '|' fields", 488)
        encoded = fields[0]
        if not _BASE64.fullmatch(encoded):
            raise SdpError("SDES key is not base64", 488)
        try:
            key_salt = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SdpError("SDES key is not base64", 488) from None
        lifetime: int | None = None
        lifetime_text: str | None = None
        mki: tuple[int, int] | None = None
        for extra in fields[1:]:
            mki_match = _MKI.fullmatch(extra)
            life_match = _LIFETIME.fullmatch(extra)
            if mki_match and mki is None:
                # RFC 4568 §9.2: mki-length is 1 to 128 bytes; the value must fit in it.
                mki_value, mki_length = int(mki_match.group(1)), int(mki_match.group(2))
                if not 1 <= mki_length <= 128 or mki_value >= 256**mki_length:
                    raise SdpError(f"SDES MKI {extra!r} does not fit its length", 488)
                mki = (mki_value, mki_length)
            elif life_match and lifetime is None and mki is None:
                power, number = life_match.group(1), int(life_match.group(2))
                if power and number > 64:
                    raise SdpError(f"SDES lifetime {extra!r} is out of range", 488)
                lifetime = 2**number if power else number
                lifetime_text = extra
            else:
                raise SdpError("SDES inline key has a bad lifetime or MKI field", 488)
        return cls(key_salt, lifetime, mki, lifetime_text)

    def __str__(self) -> str:
        """Return ``inline:...`` as it goes on the ``a=crypto`` line."""
        text = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            text += "|" + (self.lifetime_text or str(self.lifetime))
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return text


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """An SDES ``a=crypto`` attribute (RFC 4568 §9.1).

    ``a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]``, where
    the key parameters are ``;``-separated ``inline:`` keys.

    Attributes:
        tag: the decimal tag that pairs an answer's line with the offer's.
        suite: the crypto suite name, e.g. ``AES_CM_128_HMAC_SHA1_80``.
        keys: the key parameters, at least one.
        session_params: the session parameters (``KDR=``, ``WSH=``,
            ``UNENCRYPTED_SRTP``, ...), as written.
    """

    tag: int
    suite: str
    keys: tuple[InlineKey, ...]
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Parse the value of an ``a=crypto`` line (the text after ``crypto:``).

        Raises:
            SdpError: the line does not follow RFC 4568 §9.1 (status_hint 488:
                an offer may carry other, usable crypto lines).
        """
        tokens = value.split()
        if len(tokens) < 3:
            raise SdpError("SDES crypto line needs tag, suite and key params", 488)
        tag_text, suite, key_params, *params = tokens
        if not _CRYPTO_TAG.fullmatch(tag_text) or not _CRYPTO_SUITE.fullmatch(suite):
            raise SdpError("SDES crypto line has a bad tag or suite", 488)
        keys = tuple(InlineKey.parse(p) for p in key_params.split(";"))
        return cls(int(tag_text), suite, keys, tuple(params))

    def __str__(self) -> str:
        """Return the attribute value (what follows ``a=crypto:``)."""
        keys = ";".join(str(key) for key in self.keys)
        return " ".join([str(self.tag), self.suite, keys, *self.session_params])


@dataclass(slots=True)
class MediaDescription:
    """One media section: an ``m=`` line and the lines that follow it (RFC 8866 §5.14).

    Attributes:
        media: the media type, e.g. ``audio`` or ``video``.
        port: the transport port; 0 means the stream is rejected or disabled.
        proto: the transport, e.g. ``RTP/AVP`` or ``UDP/TLS/RTP/SAVPF``.
        formats: the format list exactly as on the ``m=`` line (RTP payload
            types, as strings, for the RTP profiles).
        port_count: the ``/<number of ports>`` suffix, if given.
        connection: the media-level ``c=`` line, if any.
        bandwidths: the ``b=`` values, in order.
        attributes: the ``a=`` lines as ``(name, value)``, in order; the value is
            ``None`` for a flag such as ``a=sendrecv``.
        info: the ``i=`` media title.
        key: the obsolete ``k=`` line, kept for round trips.
        other_lines: lines of unknown type as ``(type, value)``, kept verbatim.
    """

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    info: str | None = None
    key: str | None = None
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        """Parse the value of an ``m=`` line into an otherwise empty section.

        Args:
            value: the text after ``m=``.

        Returns:
            A media description with no connection or attributes yet.

        Raises:
            SdpError: fewer than three fields, or a port that is not a number
                in 0..65535 (status_hint 400).
        """
        tokens = value.split()
        if len(tokens) < 3:
            raise SdpError(f"SDP m= line needs media, port and proto: {value!r}", status_hint=400)
        port_text, slash, count_text = tokens[1].partition("/")
        port = _to_int(port_text, max_digits=5)
        count = _to_int(count_text, max_digits=5) if slash else None
        if port is None or port > 65535 or (slash and count is None):
            raise SdpError(f"SDP m= line has a bad port: {value!r}", status_hint=400)
        return cls(
            media=tokens[0], port=port, proto=tokens[2], formats=tokens[3:], port_count=count
        )

    def m_line(self) -> str:
        """Return the value of the ``m=`` line, without the ``m=``."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join([self.media, port, self.proto, *self.formats])

    def attribute(self, name: str) -> str | None:
        """Return the value of the first ``a=<name>`` line.

        Args:
            name: the attribute name, case-sensitive (RFC 8866 §5.13).

        Returns:
            The value, ``""`` for a flag attribute, or ``None`` if absent.
        """
        return _first(self.attributes, name)

    def attributes_named(self, name: str) -> list[str]:
        """Return the values of every ``a=<name>`` line, in order (``""`` for flags)."""
        return _all(self.attributes, name)

    def crypto(self) -> list[CryptoAttribute | SdpError]:
        """Return each ``a=crypto`` line (RFC 4568) parsed, or the error that
        makes it unusable, in order; one bad line does not spoil the others."""
        out: list[CryptoAttribute | SdpError] = []
        for value in self.attributes_named("crypto"):
            try:
                out.append(CryptoAttribute.parse(value))
            except SdpError as exc:
                out.append(exc)
        return out

    def payload_types(self) -> list[int]:
        """Return the formats that are valid RTP payload types (0..127), in order."""
        pts = []
        for fmt in self.formats:
            pt = _to_int(fmt, max_digits=3)
            if pt is not None and pt <= 127:
                pts.append(pt)
        return pts

    def rtpmap(self) -> dict[int, tuple[str, int, int | None]]:
        """Map each payload type on the ``m=`` line to its encoding.

        ``a=rtpmap:<pt> <name>/<clock>[/<channels>]`` (RFC 8866 §6.6) wins; a
        static payload type without one falls back to the RFC 3551 §6 table.
        Payload types with neither, and malformed ``a=rtpmap`` lines, are left
        out; so are ``a=rtpmap`` lines for types not on the ``m=`` line.

        Returns:
            ``pt -> (encoding name as written, clock rate, channels or None)``,
            in ``m=`` line order.
        """
        written: dict[int, tuple[str, int, int | None]] = {}
        for value in self.attributes_named("rtpmap"):
            pt_text, _, encoding = value.partition(" ")
            pt = _to_int(pt_text.strip(), max_digits=3)
            parts = encoding.strip().split("/")
            if pt is None or pt in written or len(parts) not in (2, 3) or not parts[0]:
                continue
            clock = _to_int(parts[1].strip())
            channels = _to_int(parts[2].strip(), max_digits=3) if len(parts) == 3 else None
            if clock is None or (len(parts) == 3 and channels is None):
                continue
            written[pt] = (parts[0].strip(), clock, channels)
        mapping: dict[int, tuple[str, int, int | None]] = {}
        for pt in self.payload_types():
            if pt in written:
                mapping[pt] = written[pt]
            elif pt in STATIC_PAYLOAD_TYPES:
                mapping[pt] = STATIC_PAYLOAD_TYPES[pt]
        return mapping

    def fmtp(self, pt: int) -> str | None:
        """Return the format parameters of ``a=fmtp:<pt> <params>`` (RFC 8866 §6.15).

        Args:
            pt: the payload type.

        Returns:
            The parameter text (``""`` if the line has none), or ``None`` if
            there is no ``a=fmtp`` line for ``pt``.
        """
        for value in self.attributes_named("fmtp"):
            fmt, _, params = value.partition(" ")
            if _to_int(fmt.strip(), max_digits=3) == pt:
                return params.strip()
        return None

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute (RFC 8866 §6.7), or ``None`` if unset."""
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return None

    def lines(self) -> list[str]:
        """Return this section's lines in RFC 8866 §5 order, without line endings."""
        out = [f"m={self.m_line()}"]
        if self.info is not None:
            out.append(f"i={self.info}")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes)
        out.extend(f"{t}={v}" for t, v in self.other_lines)
        return out


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP body (RFC 8866 §5).

    Attributes:
        origin: the ``o=`` line.
        session_name: the ``s=`` line (``-`` when there is nothing to say).
        connection: the session-level ``c=`` line, used by media sections
            without their own.
        media: the media sections, in order.
        attributes: the session-level ``a=`` lines as ``(name, value)``.
        bandwidths: the session-level ``b=`` values.
        times: the ``t=`` values; SIP always uses ``0 0``.
        version: the ``v=`` value, always 0.
        info: the session-level ``i=`` line.
        uri: the ``u=`` line.
        emails: the ``e=`` lines.
        phones: the ``p=`` lines.
        repeats: the ``r=`` lines as ``(index into times, value)``.
        time_zones: the ``z=`` line.
        key: the obsolete session-level ``k=`` line.
        other_lines: session-level lines of unknown type as ``(type, value)``.
    """

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    bandwidths: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=lambda: ["0 0"])
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    repeats: list[tuple[int, str]] = field(default_factory=list)
    time_zones: str | None = None
    key: str | None = None
    other_lines: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview | str) -> SessionDescription:
        """Parse an SDP body.

        Args:
            data: the body, as bytes (UTF-8, else Latin-1) or text.

        Returns:
            The session description.

        Raises:
            SdpError: the body is not a session description (status_hint 400).
                No other exception is raised.
        """
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
        elif isinstance(data, str):
            text = data
        else:
            raise SdpError(f"SDP must be bytes or str, not {type(data).__name__}", 400)
        lines = [line.strip() for line in _LINE_BREAK.split(text.lstrip("\ufeff"))]
        return _Parser().run([line for line in lines if line])

    def serialize(self) -> bytes:
        """Return the body as UTF-8 bytes with CRLF line endings, in RFC 8866 §5 order."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.info is not None:
            out.append(f"i={self.info}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        for index, time in enumerate(self.times):
            out.append(f"t={time}")
            out.extend(f"r={r}" for i, r in self.repeats if i == index)
        if self.time_zones is not None:
            out.append(f"z={self.time_zones}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes)
        out.extend(f"{t}={v}" for t, v in self.other_lines)
        for media in self.media:
            out.extend(media.lines())
        return ("\r\n".join(out) + "\r\n").encode("utf-8", "replace")

    def __bytes__(self) -> bytes:
        """Same as :meth:`serialize`."""
        return self.serialize()

    def attribute(self, name: str) -> str | None:
        """Return the value of the first session-level ``a=<name>`` (``""`` for a flag)."""
        return _first(self.attributes, name)

    def attributes_named(self, name: str) -> list[str]:
        """Return the values of every session-level ``a=<name>`` line, in order."""
        return _all(self.attributes, name)

    def direction(self, media: MediaDescription) -> str:
        """Return the direction in force for ``media``.

        RFC 8866 §6.7: a media-level direction attribute overrides the
        session-level one, and ``sendrecv`` is the default. The RFC 2543
        ``c=0.0.0.0`` hold convention is not applied here; see
        :mod:`sipgw.sip.offeranswer`.

        Args:
            media: one of this description's media sections.

        Returns:
            ``sendrecv``, ``sendonly``, ``recvonly`` or ``inactive``.
        """
        if media.direction is not None:
            return media.direction
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return "sendrecv"

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """Return the ``c=`` for ``media``: its own, else the session's (RFC 8866 §5.7)."""
        return media.connection if media.connection is not None else self.connection


class _Parser:
    """One pass over the lines of a body; keeps the section being filled."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.times: list[str] = []
        self.sd = SessionDescription(origin=Origin("-", "0", 0), times=[])

    def run(self, lines: list[str]) -> SessionDescription:
        if not lines or not lines[0].startswith("v="):
            raise SdpError("SDP must start with a v= line", status_hint=400)
        version = _to_int(lines[0][2:].strip(), max_digits=3)
        if version is None:
            raise SdpError(f"SDP has a bad version line: {lines[0]!r}", status_hint=400)
        self.sd.version = version
        self.seen.add("v")
        current: MediaDescription | None = None
        for line in lines[1:]:
            kind, eq, value = line.partition("=")
            kind = kind.strip()
            if not eq or not _TYPE.fullmatch(kind):
                raise SdpError(f"SDP line is not <type>=<value>: {line[:80]!r}", status_hint=400)
            if kind == "m":
                current = MediaDescription.parse_m_line(value)
                self.sd.media.append(current)
            elif current is not None and kind in "icbka":
                self._media_line(current, kind, value)
            elif current is not None and kind not in _KNOWN_TYPES:
                current.other_lines.append((kind, value))
            else:
                self._session_line(kind, value)
        if self.origin is None:
            raise SdpError("SDP has no o= line", status_hint=400)
        self.sd.origin = self.origin
        self.sd.session_name = "-" if self.session_name is None else self.session_name
        self.sd.times = self.times or ["0 0"]
        return self.sd

    def _session_line(self, kind: str, value: str) -> None:
        # RFC 8866 §5 fixes the order, but phones get it wrong; accept any order
        # in the session section and refuse only repeats of single-use fields.
        if kind in _SESSION_ONLY_ONCE:
            if kind in self.seen:
                raise SdpError(f"SDP has more than one session-level {kind}= line", 400)
            self.seen.add(kind)
        sd = self.sd
        if kind == "o":
            self.origin = Origin.parse(value)
        elif kind == "s":
            self.session_name = value
        elif kind == "i":
            sd.info = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = Connection.parse(value)
        elif kind == "b":
            sd.bandwidths.append(value.strip())
        elif kind == "t":
            self.times.append(value.strip())
        elif kind == "r":
            # RFC 8866 §5.10: r= qualifies the t= line just before it.
            if not self.times:
                raise SdpError("SDP r= line before any t= line", status_hint=400)
            sd.repeats.append((len(self.times) - 1, value))
        elif kind == "z":
            sd.time_zones = value
        elif kind == "k":
            sd.key = value
        elif kind == "a":
            sd.attributes.append(_attribute_line(value))
        else:
            sd.other_lines.append((kind, value))

    @staticmethod
    def _media_line(media: MediaDescription, kind: str, value: str) -> None:
        if kind in _MEDIA_ONLY_ONCE:
            already = {"i": media.info, "c": media.connection, "k": media.key}[kind]
            if already is not None:
                raise SdpError(f"SDP media section has more than one {kind}= line", 400)
        if kind == "i":
            media.info = value
        elif kind == "c":
            media.connection = Connection.parse(value)
        elif kind == "b":
            media.bandwidths.append(value.strip())
        elif kind == "k":
            media.key = value
        else:
            media.attributes.append(_attribute_line(value))
