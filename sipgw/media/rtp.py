"""RTP packets (RFC 3550 §5.1) and RTP/RTCP demultiplexing (RFC 5761 §4).

The fixed header::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |

followed by an optional header extension (§5.3.1), the payload and optional
padding whose last octet counts the padding octets, itself included.

:meth:`RtpPacket.parse` raises only :class:`RtpParseError`, with a fixed
message per failure, so that a receive loop can count and drop bad datagrams
with a single ``except``.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["RTP_HEADER_SIZE", "RtpPacket", "RtpParseError", "is_rtcp"]

RTP_HEADER_SIZE: Final = 12
"""Size of the fixed RTP header in octets."""

_HEADER: Final = struct.Struct("!BBHII")
_EXTENSION_HEADER: Final = struct.Struct("!HH")
_CSRC_FORMATS: Final = tuple(struct.Struct(f"!{n}I") for n in range(16))


class RtpParseError(ValueError):
    """A datagram that is not a valid RTP packet."""


class RtpPacket:
    """One RTP packet.

    A plain class rather than a dataclass: compiled (the native path), its ``__init__`` is
    native code, where a dataclass's generated ``__init__`` stays interpreted (one
    interpreted call per packet received). Equality and ``repr`` are a dataclass's.

    Attributes:
        payload_type: the 7-bit payload type (RFC 3551 §6: 0 is PCMU, 8 is PCMA).
        sequence_number: 16-bit sequence number, +1 per packet (wraps).
        timestamp: 32-bit sampling instant of the first payload octet (wraps).
        ssrc: 32-bit synchronization source identifier.
        marker: the M bit; for audio, the first packet of a talkspurt
            (RFC 3551 §4.1).
        payload: the payload octets, without padding.
        csrc: contributing sources, at most 15.
        extension_profile: the 16-bit "defined by profile" field of the header
            extension (RFC 3550 §5.3.1), or ``None`` when there is none.
        extension: the header extension data; a multiple of 4 octets.
        padding_size: number of padding octets after the payload, including
            the final count octet; 0 for no padding. Serialized padding is
            zeros followed by the count.
    """

    __slots__ = (
        "payload_type",
        "sequence_number",
        "timestamp",
        "ssrc",
        "marker",
        "payload",
        "csrc",
        "extension_profile",
        "extension",
        "padding_size",
    )

    def __init__(
        self,
        payload_type: int = 0,
        sequence_number: int = 0,
        timestamp: int = 0,
        ssrc: int = 0,
        marker: bool = False,
        payload: bytes = b"",
        csrc: tuple[int, ...] = (),
        extension_profile: int | None = None,
        extension: bytes = b"",
        padding_size: int = 0,
    ) -> None:
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.marker = marker
        self.payload = payload
        self.csrc = csrc
        self.extension_profile = extension_profile
        self.extension = extension
        self.padding_size = padding_size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return (
            self.payload_type == other.payload_type
            and self.sequence_number == other.sequence_number
            and self.timestamp == other.timestamp
            and self.ssrc == other.ssrc
            and self.marker == other.marker
            and self.payload == other.payload
            and self.csrc == other.csrc
            and self.extension_profile == other.extension_profile
            and self.extension == other.extension
            and self.padding_size == other.padding_size
        )

    def __repr__(self) -> str:
        return (
            f"RtpPacket(payload_type={self.payload_type!r}, "
            f"sequence_number={self.sequence_number!r}, timestamp={self.timestamp!r}, "
            f"ssrc={self.ssrc!r}, marker={self.marker!r}, payload={self.payload!r}, "
            f"csrc={self.csrc!r}, extension_profile={self.extension_profile!r}, "
            f"extension={self.extension!r}, padding_size={self.padding_size!r})"
        )

    @staticmethod
    def parse(data: bytes) -> RtpPacket:
        """Parse one RTP packet.

        Args:
            data: the UDP payload.

        Returns:
            The packet.

        Raises:
            RtpParseError: the data is not a valid RTP version 2 packet.
        """
        if len(data) < 12:
            raise RtpParseError("RTP packet length is less than 12 bytes")
        # Octet by octet rather than struct: compiled, these are C operations on the
        # bytes with no tuple or boxed integers made (the fixed header, RFC 3550 §5.1).
        first = data[0]
        second = data[1]
        seq = data[2] << 8 | data[3]
        ts = data[4] << 24 | data[5] << 16 | data[6] << 8 | data[7]
        ssrc = data[8] << 24 | data[9] << 16 | data[10] << 8 | data[11]
        if first >> 6 != 2:
            raise RtpParseError("RTP packet has invalid version")
        end = len(data)
        if first & 0x20:
            # RFC 3550 §5.1: the last octet of the padding counts the padding
            # octets, itself included, so it can be neither 0 nor reach into
            # the header.
            if end == 12:
                raise RtpParseError("RTP packet padding length is invalid")
            padding_size = data[-1]
            end -= padding_size
            if padding_size == 0 or end < 12:
                raise RtpParseError("RTP packet padding length is invalid")
        else:
            padding_size = 0
        if first & 0x1F == 0:
            # Fast path: no CSRC, no extension.
            return RtpPacket(
                second & 0x7F,
                seq,
                ts,
                ssrc,
                second > 0x7F,
                data[12:end],
                (),
                None,
                b"",
                padding_size,
            )
        pos = 12
        cc = first & 0x0F
        if cc:
            if pos + 4 * cc > end:
                raise RtpParseError("RTP packet has truncated CSRC")
            csrc: tuple[int, ...] = _CSRC_FORMATS[cc].unpack_from(data, pos)
            pos += 4 * cc
        else:
            csrc = ()
        extension_profile: int | None = None
        extension = b""
        if first & 0x10:
            # RFC 3550 §5.3.1: a 16-bit profile field, then the length in
            # 32-bit words, not counting this 4-octet extension header.
            if pos + 4 > end:
                raise RtpParseError("RTP packet has truncated extension profile / length")
            extension_profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            pos += 4
            if pos + 4 * words > end:
                raise RtpParseError("RTP packet has truncated extension value")
            extension = data[pos : pos + 4 * words]
            pos += 4 * words
        return RtpPacket(
            second & 0x7F,
            seq,
            ts,
            ssrc,
            second > 0x7F,
            data[pos:end],
            csrc,
            extension_profile,
            extension,
            padding_size,
        )

    def serialize(self) -> bytes:
        """Return the packet's wire format.

        Raises:
            ValueError: a field is out of range (more than 15 CSRCs, an
                extension that is not a multiple of 4 octets, padding outside
                0..255, a 7-bit payload type overflow, ...).
        """
        csrc = self.csrc
        first = 0x80 | len(csrc)
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        if len(csrc) > 15:
            raise ValueError("RTP packet cannot carry more than 15 CSRC")
        if not 0 <= self.payload_type <= 0x7F:
            raise ValueError("RTP payload type must be in 0..127")
        try:
            header = _HEADER.pack(
                first,
                self.payload_type | 0x80 if self.marker else self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        except struct.error as exc:
            raise ValueError(f"RTP header field out of range: {exc}") from None
        if not csrc and self.extension_profile is None and not self.padding_size:
            return header + self.payload
        parts = [header]
        try:
            if csrc:
                parts.append(_CSRC_FORMATS[len(csrc)].pack(*csrc))
            if self.extension_profile is not None:
                if len(self.extension) % 4:
                    raise ValueError("RTP header extension length must be a multiple of 4")
                words = len(self.extension) // 4
                parts.append(_EXTENSION_HEADER.pack(self.extension_profile, words))
                parts.append(self.extension)
        except struct.error as exc:
            raise ValueError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if self.padding_size:
            if not 0 < self.padding_size <= 255:
                raise ValueError("RTP padding size must be in 0..255")
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.serialize()


def is_rtcp(data: bytes) -> bool:
    """Tell RTCP from RTP on a multiplexed port (RFC 5761 §4).

    RTCP packet types 192..223 occupy the whole second octet, where RTP has
    the marker bit and the payload type; RFC 5761 §4 therefore keeps RTP
    payload types 64..95 unused when RTP and RTCP share a port, and the second
    octet alone tells the two apart.

    Args:
        data: a datagram received on the RTP port.

    Returns:
        ``True`` when the datagram is RTCP (including SR 200, RR 201, SDES 202,
        BYE 203, APP 204 and the feedback types 205/206).
    """
    return len(data) >= 2 and 192 <= data[1] <= 223
