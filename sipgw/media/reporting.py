"""One call's RTCP side, sans-IO: RTP and RTCP in, our reports and quality figures out.

Feeds :class:`sipgw.media.rtcp.ReceptionStats` with every RTP packet the session
accepts, parses the peer's compound packets (its SR for our LSR/DLSR, its
report block about our SSRC for loss, jitter and round-trip time), and says
when our next report is due: every 5 s randomized by 0.5-1.5 (RFC 3550
§6.2, §6.3.1). We send an SR when we sent RTP since the last report, an RR
otherwise (§6.4), each followed by SDES CNAME (§6.1).
"""

from __future__ import annotations

import random

from sipgw.media.quality import BPL_G711_PLC, CallQuality, mos_from_r, r_factor
from sipgw.media.rtcp import (
    ReceptionStats,
    ReportBlock,
    RtcpParseError,
    SenderInfo,
    SenderReport,
    build_compound,
    build_rr,
    build_sr,
    ntp_timestamp,
    parse_compound,
    report_interval,
    round_trip_time,
)

__all__ = ["RtcpReporter"]


class RtcpReporter:
    """See the module docstring.

    Args:
        cname: our SDES CNAME (RFC 3550 §6.5.1; a random one per call is fine, RFC 7022).
        now: the session clock, seconds.
        clock_rate: the payload's RTP clock.
        rng: randomizes the report interval.
    """

    __slots__ = (
        "_last_packets",
        "_rng",
        "cname",
        "invalid",
        "next_report",
        "peer_block",
        "reception",
        "reports_received",
        "reports_sent",
        "rtt",
        "wall_offset",
    )

    def __init__(
        self, cname: str, now: float, clock_rate: int = 8000, rng: random.Random | None = None
    ) -> None:
        self.cname = cname
        self._rng = rng or random.Random()
        self.reception = ReceptionStats(clock_rate)
        self.next_report = now + report_interval(self._rng.random())
        self.peer_block: ReportBlock | None = None
        """The peer's last report block about our stream."""
        self.rtt: float | None = None
        """The last round-trip time, seconds."""
        self.reports_sent = 0
        self.reports_received = 0
        self.invalid = 0
        self.wall_offset = 0.0
        """Wall clock minus session clock, for the NTP timestamps we send."""
        self._last_packets = 0

    def _ntp(self, now: float) -> int:
        return ntp_timestamp(now + self.wall_offset)

    def receive(self, data: bytes, our_ssrc: int, now: float) -> bool | None:
        """A (decrypted) compound RTCP packet from the peer.

        Returns whether it carried a report block about ``our_ssrc`` (the peer
        receives our stream, RFC 3550 §6.4.1); None when it did not parse.
        """
        try:
            reports = parse_compound(data)
        except RtcpParseError:
            self.invalid += 1
            return None
        about_us = False
        for report in reports:
            self.reports_received += 1
            if isinstance(report, SenderReport):
                self.reception.sender_report(report.sender.ntp, now)
            for block in report.blocks:
                if block.ssrc != our_ssrc:
                    continue
                about_us = True
                self.peer_block = block
                rtt = round_trip_time(block, self._ntp(now))
                if rtt is not None:
                    self.rtt = rtt
        return about_us

    def due(self, now: float) -> bool:
        """Whether our next report should go out now."""
        return now >= self.next_report

    def report(self, our_ssrc: int, sender: SenderInfo | None, now: float) -> bytes:
        """Our compound report; schedules the next one.

        Args:
            sender: our sender info when we sent RTP (its NTP field is filled in here);
                None for an RR.
        """
        self.next_report = now + report_interval(self._rng.random())
        block = self.reception.block(now)
        blocks = () if block is None else (block,)
        if sender is not None and sender.packets != self._last_packets:
            self._last_packets = sender.packets
            info = SenderInfo(self._ntp(now), sender.rtp_timestamp, sender.packets, sender.octets)
            first = build_sr(our_ssrc, info, blocks)
        else:
            first = build_rr(our_ssrc, blocks)
        self.reports_sent += 1
        return build_compound(first, our_ssrc, self.cname)

    def quality(self, playout_delay: float = 0.0, ptime: float = 0.020) -> CallQuality:
        """The call's figures so far.

        The MOS uses the worse loss of the two directions and a one-way delay of
        half the round-trip time plus packetization and our playout delay.
        """
        reception = self.reception
        expected = reception.expected
        lost = reception.lost
        loss = 100.0 * lost / expected if expected > 0 and lost > 0 else 0.0
        peer_loss = peer_jitter = None
        block = self.peer_block
        if block is not None:
            peer_loss = 100.0 * block.fraction_lost / 256
            peer_jitter = 1000.0 * block.jitter / reception.clock_rate
        rtt_ms = None if self.rtt is None else self.rtt * 1000.0
        one_way = (rtt_ms or 0.0) / 2 + 1000.0 * (playout_delay + ptime)
        worse = max(loss, peer_loss or 0.0)
        return CallQuality(
            packets_expected=expected,
            packets_lost=lost,
            loss_percent=loss,
            jitter_ms=1000.0 * reception.jitter_seconds,
            peer_loss_percent=peer_loss,
            peer_jitter_ms=peer_jitter,
            rtt_ms=rtt_ms,
            reports_sent=self.reports_sent,
            reports_received=self.reports_received,
            mos=mos_from_r(r_factor(one_way, worse, BPL_G711_PLC)),
        )
