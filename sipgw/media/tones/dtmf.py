"""DTMF as RTP telephone-events (RFC 4733).

Payload format (RFC 4733 §2.3)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     event     |E|R| volume    |          duration             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Theory of operation of the receiver. A sender reports one event (one key
press) in a series of packets that all carry the RTP timestamp of the event's
start (§2.5.1), with a growing duration, the marker bit on the first, and the
final packet (E bit set) sent three times (§2.5.1.4). The
timestamp is therefore the event's identity: :class:`DtmfReceiver` reports a
digit on the first packet it sees with a timestamp newer than the last event's,
whatever that packet is (the start packets may all be lost, so it may be an
end packet), and ignores every other packet of the same event. Packets with an
older timestamp are stale retransmissions and are ignored too. Sequence
numbers play no part, so their wrap does not matter.

An event longer than the 16-bit duration field is split into segments with
new timestamps (§2.5.1.3); a segment that continues the unfinished previous
event (same code, no marker, previous segment close to the 65535 maximum and
the new timestamp no earlier than where it ended) is not a new digit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from sipgw.media.rtp import RtpPacket
from sipgw.media.seqnum import uint32_gt

__all__ = [
    "EVENT_CODES",
    "EVENT_FLASH",
    "DtmfParseError",
    "DtmfReceiver",
    "TelephoneEvent",
    "digit_to_event",
    "event_to_digit",
]

EVENT_CODES: Final = "0123456789*#ABCD"
"""DTMF digits by event code: events 0..15 (RFC 4733 §3.2)."""

EVENT_FLASH: Final = 16
"""Event code of a hook flash (RFC 4733 §3.2)."""

_PAYLOAD: Final = struct.Struct("!BBH")


class DtmfParseError(ValueError):
    """A telephone-event payload that cannot be parsed."""


def event_to_digit(event: int) -> str | None:
    """Return the DTMF digit of event code ``event``, or ``None`` for non-DTMF events."""
    return EVENT_CODES[event] if 0 <= event < 16 else None


def digit_to_event(digit: str) -> int:
    """Return the event code of a DTMF digit (``0-9 * # A-D``, case-insensitive).

    Raises:
        ValueError: ``digit`` is not a DTMF digit.
    """
    code = EVENT_CODES.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 §2.3).

    Attributes:
        event: the event code, 0..255 (0..15 are DTMF digits, 16 is flash).
        end: the E bit: this packet reports the end of the event.
        volume: power level of the tone in -dBm0, 0..63 (§2.3.4).
        duration: duration so far in RTP timestamp units, 0..65535 (§2.3.5).
    """

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError("telephone-event code must be in 0..255")
        if not 0 <= self.volume <= 63:
            raise ValueError("telephone-event volume must be in 0..63")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError("telephone-event duration must be in 0..65535")

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event of a telephone-event payload.

        The R bit is ignored (§2.3.3: "the receiver MUST ignore it").

        Raises:
            DtmfParseError: the payload is shorter than 4 octets.
        """
        if len(payload) < 4:
            raise DtmfParseError("telephone-event payload is truncated")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """Return the 4-octet payload."""
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    def __bytes__(self) -> bytes:
        return self.serialize()


class DtmfReceiver:
    """Turn received telephone-event packets into digits, each exactly once.

    Args:
        payload_type: the negotiated telephone-event payload type; packets of
            other payload types are ignored. ``None`` (default) means the
            caller only pushes telephone-event packets.
        clock_rate: RTP clock rate of the events (8000 for G.711 calls).
        stale_window: seconds; a packet whose timestamp is older than the
            last event's by less than this is a stale retransmission. One
            that is older by more is a new event from a sender whose
            timestamps jumped back.
    """

    __slots__ = (
        "_ended",
        "_event",
        "_max_duration",
        "_payload_type",
        "_segment_floor",
        "_ssrc",
        "_stale",
        "_timestamp",
    )

    def __init__(
        self,
        payload_type: int | None = None,
        *,
        clock_rate: int = 8000,
        stale_window: float = 5.0,
    ) -> None:
        self._payload_type = payload_type
        self._stale = int(stale_window * clock_rate)
        self._segment_floor = 0xFFFF - clock_rate
        self._ssrc: int | None = None
        self._timestamp = 0
        self._event = -1
        self._ended = True
        self._max_duration = 0

    def push(self, packet: RtpPacket) -> str | None:
        """Process one packet.

        Returns:
            The DTMF digit when this packet is the first seen of a new DTMF
            event, else ``None`` (repeats, retransmitted end packets, stale
            packets, non-DTMF events such as flash, malformed payloads and
            packets of another payload type).
        """
        if self._payload_type is not None and packet.payload_type != self._payload_type:
            return None
        try:
            event = TelephoneEvent.parse(packet.payload)
        except DtmfParseError:
            return None
        ts = packet.timestamp
        if self._ssrc == packet.ssrc and self._event >= 0:
            if ts == self._timestamp:
                # Another packet of the current event.
                if event.end:
                    self._ended = True
                if event.duration > self._max_duration:
                    self._max_duration = event.duration
                return None
            behind = (self._timestamp - ts) & 0xFFFFFFFF
            if uint32_gt(self._timestamp, ts) and behind <= self._stale:
                return None  # a late packet of an earlier event
            if (
                not self._ended
                and not packet.marker
                and event.event == self._event
                and self._max_duration >= self._segment_floor
                and self._max_duration <= (ts - self._timestamp) & 0xFFFFFFFF <= 0xFFFF
            ):
                # RFC 4733 §2.5.1.3: the next segment of a long event.
                self._timestamp = ts
                self._ended = event.end
                self._max_duration = event.duration
                return None
        self._ssrc = packet.ssrc
        self._timestamp = ts
        self._event = event.event
        self._ended = event.end
        self._max_duration = event.duration
        return event_to_digit(event.event)

    def reset(self) -> None:
        """Forget the last event (for example after a re-INVITE changed the stream)."""
        self._ssrc = None
        self._event = -1
        self._ended = True
        self._max_duration = 0
