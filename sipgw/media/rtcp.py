"""RTCP sender and receiver reports (RFC 3550 §6.4), sans-IO.

Builds compound packets (SR or RR first, then SDES with a CNAME, RFC 3550
§6.1) and parses the peer's: every SR/RR and its report blocks; other packet
types (SDES, BYE, APP, XR, feedback) are skipped. :class:`ReceptionStats`
keeps what a receiver report says about the stream we receive (RFC 3550
A.1 sequence tracking, A.3 loss, A.8 jitter), and :func:`round_trip_time`
turns a report block's LSR/DLSR into a round-trip time (§6.4.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "NTP_EPOCH_OFFSET",
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SDES",
    "RTCP_SR",
    "ReceiverReport",
    "ReceptionStats",
    "ReportBlock",
    "RtcpParseError",
    "SenderInfo",
    "SenderReport",
    "CLOCK_RESOLUTION",
    "build_compound",
    "build_rr",
    "build_sdes",
    "build_sr",
    "middle_ntp",
    "ntp_timestamp",
    "parse_compound",
    "report_interval",
    "round_trip_time",
]

RTCP_SR: Final = 200
RTCP_RR: Final = 201
RTCP_SDES: Final = 202
RTCP_BYE: Final = 203
SDES_CNAME: Final = 1
NTP_EPOCH_OFFSET: Final = 2_208_988_800
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""
MIN_INTERVAL: Final = 5.0
"""RFC 3550 §6.2: the recommended minimum report interval, seconds."""
CLOCK_RESOLUTION: Final = 0.002
"""How far under zero (seconds) a round trip may come out and still be one shorter than the
clocks resolve: the gateway stamps its reports and their answers with the event loop's time,
in whole milliseconds (uvloop), and a peer may count its DLSR in them too (baresip does), so a
real round trip of a fraction of a millisecond (loopback, a LAN) comes out between about -2
and +2 ms; under zero it is 0. Further under, the report is bogus or the clocks disagree."""


class RtcpParseError(ValueError):
    """A datagram that is not a valid RTCP compound packet."""


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1) about the source ``ssrc``."""

    ssrc: int
    fraction_lost: int
    """Lost fraction since the last report, in 1/256."""
    cumulative_lost: int
    """Packets lost since the start (signed 24 bits: duplicates can make it negative)."""
    highest_seq: int
    """Extended highest sequence number received (cycles << 16 | seq)."""
    jitter: int
    """Interarrival jitter in RTP timestamp units."""
    lsr: int
    """Middle 32 bits of the NTP timestamp of the last SR received; 0 if none."""
    dlsr: int
    """Delay since that SR, in 1/65536 s; 0 if none."""


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """The sender part of an SR (RFC 3550 §6.4.1)."""

    ntp: int
    """64-bit NTP timestamp."""
    rtp_timestamp: int
    packets: int
    octets: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    """A parsed SR."""

    ssrc: int
    sender: SenderInfo
    blocks: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """A parsed RR."""

    ssrc: int
    blocks: tuple[ReportBlock, ...]


def ntp_timestamp(unix_time: float) -> int:
    """The 64-bit NTP timestamp of a Unix time."""
    return int((unix_time + NTP_EPOCH_OFFSET) * 65536 * 65536) & 0xFFFF_FFFF_FFFF_FFFF


def middle_ntp(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (the LSR field, §6.4.1)."""
    return (ntp >> 16) & 0xFFFF_FFFF


def _header(count: int, packet_type: int, words: int) -> bytes:
    # V=2, P=0, count; length in 32-bit words minus one (§6.4.1).
    return struct.pack("!BBH", 0x80 | count, packet_type, words)


def _block(block: ReportBlock) -> bytes:
    lost = block.cumulative_lost
    lost = max(-0x800000, min(0x7FFFFF, lost)) & 0xFFFFFF
    return struct.pack(
        "!IIIIII",
        block.ssrc & 0xFFFF_FFFF,
        (block.fraction_lost & 0xFF) << 24 | lost,
        block.highest_seq & 0xFFFF_FFFF,
        block.jitter & 0xFFFF_FFFF,
        block.lsr & 0xFFFF_FFFF,
        block.dlsr & 0xFFFF_FFFF,
    )


def build_sr(ssrc: int, sender: SenderInfo, blocks: tuple[ReportBlock, ...] = ()) -> bytes:
    """An SR packet with up to 31 report blocks."""
    blocks = blocks[:31]
    body = struct.pack(
        "!IIIII",
        ssrc & 0xFFFF_FFFF,
        (sender.ntp >> 32) & 0xFFFF_FFFF,
        sender.ntp & 0xFFFF_FFFF,
        sender.rtp_timestamp & 0xFFFF_FFFF,
        sender.packets & 0xFFFF_FFFF,
    ) + struct.pack("!I", sender.octets & 0xFFFF_FFFF)
    body += b"".join(_block(b) for b in blocks)
    return _header(len(blocks), RTCP_SR, len(body) // 4) + body


def build_rr(ssrc: int, blocks: tuple[ReportBlock, ...] = ()) -> bytes:
    """An RR packet with up to 31 report blocks."""
    blocks = blocks[:31]
    body = struct.pack("!I", ssrc & 0xFFFF_FFFF) + b"".join(_block(b) for b in blocks)
    return _header(len(blocks), RTCP_RR, len(body) // 4) + body


def build_sdes(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk carrying the CNAME (§6.5.1)."""
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc & 0xFFFF_FFFF, SDES_CNAME, len(text)) + text
    chunk += b"\x00" * (4 - len(chunk) % 4)  # the null item ends the list, then pad to 32 bits
    return _header(1, RTCP_SDES, len(chunk) // 4) + chunk


def build_compound(report: bytes, ssrc: int, cname: str) -> bytes:
    """A compound packet: the SR or RR, then SDES CNAME (§6.1)."""
    return report + build_sdes(ssrc, cname)


def _parse_blocks(data: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from(
            "!IIIIII", data, offset + 24 * i
        )
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def parse_compound(data: bytes) -> list[SenderReport | ReceiverReport]:
    """The SRs and RRs of a compound packet, in order.

    Raises:
        RtcpParseError: a header's version is not 2, or a length runs past the datagram
            or is too short for its report blocks.
    """
    reports: list[SenderReport | ReceiverReport] = []
    offset = 0
    if len(data) < 4:
        raise RtcpParseError("shorter than an RTCP header")
    while offset + 4 <= len(data):
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            raise RtcpParseError("RTCP version is not 2")
        end = offset + 4 * (words + 1)
        if end > len(data):
            raise RtcpParseError("RTCP length runs past the datagram")
        count = first & 0x1F
        if packet_type == RTCP_SR:
            if end - offset < 28 + 24 * count:
                raise RtcpParseError("SR too short for its report blocks")
            ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from(
                "!IIIIII", data, offset + 4
            )
            sender = SenderInfo(ntp_hi << 32 | ntp_lo, rtp_ts, packets, octets)
            blocks = _parse_blocks(data, offset + 28, count)
            reports.append(SenderReport(ssrc, sender, blocks))
        elif packet_type == RTCP_RR:
            if end - offset < 8 + 24 * count:
                raise RtcpParseError("RR too short for its report blocks")
            (ssrc,) = struct.unpack_from("!I", data, offset + 4)
            reports.append(ReceiverReport(ssrc, _parse_blocks(data, offset + 8, count)))
        offset = end
    return reports


def round_trip_time(block: ReportBlock, arrival_ntp: int) -> float | None:
    """Round-trip time in seconds from a report block (RFC 3550 §6.4.1), or None.

    ``arrival_ntp`` is the 64-bit NTP time the report arrived. RTT = A - LSR -
    DLSR in 1/65536 s, where A is the middle 32 bits of the arrival time. 0 when
    it comes out no more than :data:`CLOCK_RESOLUTION` under zero; None when the
    peer has not received an SR from us yet (LSR 0) or it is further under
    (clock mismatch, bogus report).
    """
    if block.lsr == 0:
        return None
    rtt = (middle_ntp(arrival_ntp) - block.lsr - block.dlsr) & 0xFFFF_FFFF
    if rtt >= 0x8000_0000:
        under = (1 << 32) - rtt
        return 0.0 if under <= CLOCK_RESOLUTION * 65536 else None
    return rtt / 65536.0


def report_interval(rand: float) -> float:
    """Seconds to the next report: the §6.2 minimum, randomized by 0.5-1.5 (§6.3.1).

    Args:
        rand: a uniform random number in [0, 1).
    """
    return MIN_INTERVAL * (0.5 + rand)


class ReceptionStats:
    """What we know about the stream we receive, for our report blocks.

    Sequence tracking as RFC 3550 A.1 (without probation: the session latches
    its source first), loss as A.3, interarrival jitter as A.8.

    Args:
        clock_rate: the payload's RTP clock, Hz.
    """

    __slots__ = (
        "_base_seq",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_max_seq",
        "_received",
        "_received_prior",
        "_transit",
        "clock_rate",
        "last_sr",
        "last_sr_arrival",
        "ssrc",
    )

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0
        self.last_sr = 0
        """Middle 32 bits of the NTP time in the peer's last SR (our LSR)."""
        self.last_sr_arrival = 0.0
        """When that SR arrived (our clock, seconds)."""

    def packet(self, ssrc: int, seq: int, timestamp: int, now: float, jitter: bool = True) -> None:
        """One RTP packet from the peer arriving at ``now``.

        ``jitter`` False leaves the jitter estimate alone (RFC 4733 events reuse
        their start timestamp, which is not transit jitter).
        """
        if ssrc != self.ssrc:
            self.ssrc = ssrc  # a new source starts a new count (A.1 init_seq)
            self._base_seq = self._max_seq = seq
            self._cycles = 0
            self._received = self._expected_prior = self._received_prior = 0
            self._transit = None
            self._jitter = 0.0
        else:
            delta = (seq - self._max_seq) & 0xFFFF
            if 0 < delta < 3000:
                if seq < self._max_seq:
                    self._cycles += 1 << 16
                self._max_seq = seq
        self._received += 1
        # A.8: transit = arrival (in RTP units) - timestamp; J += (|D| - J) / 16.
        if not jitter:
            return
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate * 10:  # a timestamp jump is not jitter
                self._jitter += (d - self._jitter) / 16
        self._transit = transit

    def sender_report(self, ntp: int, now: float) -> None:
        """The peer's SR arrived at ``now``: remember it for LSR/DLSR."""
        self.last_sr = middle_ntp(ntp)
        self.last_sr_arrival = now

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received."""
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the first (A.3)."""
        return 0 if self.ssrc is None else self.extended_max - self._base_seq + 1

    @property
    def lost(self) -> int:
        """Packets lost since the first (A.3; negative with duplicates)."""
        return self.expected - self._received

    @property
    def jitter_seconds(self) -> float:
        """The interarrival jitter estimate, in seconds."""
        return self._jitter / self.clock_rate

    def block(self, now: float) -> ReportBlock | None:
        """A report block for the interval since the last one; None before any packet."""
        if self.ssrc is None:
            return None
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior, self._received_prior = expected, self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr:
            dlsr = int((now - self.last_sr_arrival) * 65536) & 0xFFFF_FFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=self.lost,
            highest_seq=self.extended_max & 0xFFFF_FFFF,
            jitter=int(self._jitter),
            lsr=self.last_sr,
            dlsr=dlsr,
        )
