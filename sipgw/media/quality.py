"""An estimated MOS from loss and delay: the E-model (ITU-T G.107), simplified.

R = 93.2 - Id - Ie,eff, with every other G.107 input at its default (93.2 is
Ro - Is with defaults; the advantage factor A is 0):

- Id, the delay impairment, in the usual simplification of G.107's formula
  (Cole and Rosenbluth, 2001): ``0.024 d + 0.11 (d - 177.3) H(d - 177.3)``
  for a one-way mouth-to-ear delay ``d`` in ms.
- Ie,eff, the equipment impairment with random loss (G.107 §3.6, BurstR 1):
  ``Ie + (95 - Ie) Ppl / (Ppl + Bpl)``; G.711 has Ie 0, and Bpl 4.3 without
  packet loss concealment, 25.1 with it (G.113 Appendix I).

MOS from R as G.107 Annex B: 1 below R 0, 4.5 above 100, else
``1 + 0.035 R + R (R - 60) (100 - R) 7e-6``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BPL_G711",
    "BPL_G711_PLC",
    "CallQuality",
    "delay_impairment",
    "loss_impairment",
    "mos_from_r",
    "r_factor",
]

BPL_G711: Final = 4.3
"""G.711 packet-loss robustness without concealment (G.113 Appendix I)."""
BPL_G711_PLC: Final = 25.1
"""G.711 packet-loss robustness with concealment (G.711 Appendix I PLC)."""
R_DEFAULT: Final = 93.2


def delay_impairment(one_way_ms: float) -> float:
    """Id for a one-way delay in ms."""
    d = max(0.0, one_way_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def loss_impairment(loss_percent: float, bpl: float = BPL_G711, ie: float = 0.0) -> float:
    """Ie,eff for random packet loss in percent (G.107 §3.6 with BurstR 1)."""
    ppl = min(100.0, max(0.0, loss_percent))
    return ie + (95.0 - ie) * ppl / (ppl + bpl)


def r_factor(one_way_ms: float, loss_percent: float, bpl: float = BPL_G711) -> float:
    """The transmission rating R."""
    return R_DEFAULT - delay_impairment(one_way_ms) - loss_impairment(loss_percent, bpl)


def mos_from_r(r: float) -> float:
    """The estimated conversational MOS (1.0-4.5) for a rating R (G.107 Annex B)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


@dataclass(frozen=True, slots=True)
class CallQuality:
    """One call's quality figures, for the log line, the call record and metrics.

    Attributes:
        packets_expected: RTP packets we expected from the peer.
        packets_lost: of those, lost (RFC 3550 A.3; negative with duplicates).
        loss_percent: lost / expected of what we receive, in percent.
        jitter_ms: interarrival jitter of what we receive (RFC 3550 A.8), ms.
        peer_loss_percent: loss of our stream, from the peer's last report; None without one.
        peer_jitter_ms: jitter of our stream, from the peer's last report; None without one.
        rtt_ms: round-trip time from the peer's last report (§6.4.1); None without one.
        reports_sent: RTCP compound packets we sent.
        reports_received: SR/RR the peer sent that we parsed.
        mos: the estimated MOS from the worse direction's loss and the one-way delay.
        codec: the audio codec of the call (``PCMU``, ``G722``); "" when not said.
    """

    packets_expected: int
    packets_lost: int
    loss_percent: float
    jitter_ms: float
    peer_loss_percent: float | None
    peer_jitter_ms: float | None
    rtt_ms: float | None
    reports_sent: int
    reports_received: int
    mos: float
    codec: str = ""

    def summary(self) -> str:
        """A short human-readable form for the end-of-call log line."""
        rtt = "-" if self.rtt_ms is None else f"{self.rtt_ms:.0f} ms"
        peer = (
            "-"
            if self.peer_loss_percent is None
            else f"{self.peer_loss_percent:.1f}% jitter {self.peer_jitter_ms or 0.0:.1f} ms"
        )
        return (
            f"loss {self.loss_percent:.1f}% ({self.packets_lost}/{self.packets_expected}), "
            f"jitter {self.jitter_ms:.1f} ms, peer loss {peer}, rtt {rtt}, "
            f"rtcp {self.reports_sent} out/{self.reports_received} in, MOS {self.mos:.2f}"
        )

    def record(self) -> dict[str, float | int | str | None]:
        """The figures as a JSON-ready dict (the call record's ``quality``)."""

        def rounded(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "packets_expected": self.packets_expected,
            "packets_lost": self.packets_lost,
            "loss_percent": round(self.loss_percent, 2),
            "jitter_ms": round(self.jitter_ms, 2),
            "peer_loss_percent": rounded(self.peer_loss_percent, 2),
            "peer_jitter_ms": rounded(self.peer_jitter_ms, 2),
            "rtt_ms": rounded(self.rtt_ms, 1),
            "reports_sent": self.reports_sent,
            "reports_received": self.reports_received,
            "mos": round(self.mos, 2),
            **({"codec": self.codec} if self.codec else {}),
        }
