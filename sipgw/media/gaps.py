"""What counts as a gap in a received stream: one definition for playout and listeners, sans-IO.

A packet is compared with the stream's *newest* packet (the highest timestamp so far): how far
its timestamp is ahead (``ts_ahead``, samples), how long after the newest it arrived
(``elapsed``, seconds), and how late the newest itself was (``newest_late``, seconds behind the
stream's baseline transit time, see :class:`TransitBaseline`). The packet's *earliness* is
``ts_ahead / clock - elapsed - newest_late``: how much sooner it arrived than its timestamp says
it could have. Then, with ``tolerance`` the jitter allowance (the jitter buffer's target):

* ``BACK``: the timestamp is more than ``tolerance`` behind the newest (a restart backwards);
* ``SKIP``: earlier than possible by more than ``tolerance``: the sender's timestamps jumped
  ahead while no time passed (a sender that leaves silence out);
* ``PAUSE``: arrivals stopped for at least :data:`MIN_PAUSE` and the timestamps followed
  (baresip's hold, silence suppression): the gap is in time *and* in timestamps;
* ``STALL``: arrivals stopped for at least :data:`MIN_PAUSE`, the timestamps did not follow
  (a sender that stops its clock while silent, or a network stall);
* ``NONE``: anything else (continuous audio, jitter, a lost or reordered packet).

Consumers: :mod:`sipgw.media.jitterbuffer` (playout) re-anchors on a SKIP and restores its
delay after a PAUSE; :mod:`sipgw.media.ingress` (the listeners' tap) releases a PAUSE as
silence, but neither a SKIP nor a STALL (no time passed in one, no timestamps in the other).
Sequence numbers and the marker bit play no part: senders set them inconsistently around gaps.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "BASELINE_RISE",
    "MIN_PAUSE",
    "SETTLE_PACKETS",
    "Gap",
    "TransitBaseline",
    "classify_gap",
]

MIN_PAUSE: Final = 0.1
"""Seconds without arrivals that make a pause (shorter: jitter or a lost packet)."""

BASELINE_RISE: Final = 1.0 / 256
"""Per packet: how fast a baseline follows transit times that rise (a slower sender clock)."""
SETTLE_PACKETS: Final = 50
"""Packets before a baseline is trusted (the first ones may all have been delayed)."""


class Gap(enum.Enum):
    """How a packet continues its stream (see the module docstring)."""

    NONE = "none"
    PAUSE = "pause"
    SKIP = "skip"
    STALL = "stall"
    BACK = "back"


def classify_gap(
    ts_ahead: int, elapsed: float, clock: int, tolerance: float, newest_late: float = 0.0
) -> Gap:
    """Classify a packet against the stream's newest packet (see the module docstring)."""
    ahead = ts_ahead / clock
    if ahead < -tolerance:
        return Gap.BACK
    early = ahead - elapsed - newest_late
    if early > tolerance:
        return Gap.SKIP
    if elapsed >= MIN_PAUSE:
        return Gap.STALL if early < -tolerance else Gap.PAUSE
    return Gap.NONE


class TransitBaseline:
    """The stream's baseline transit time (arrival minus timestamp, in samples).

    It follows a transit time that falls at once (no packet can arrive sooner than the
    network allows: a lower transit is the new baseline) and one that rises slowly (about
    256 packets: a sender clock slower than ours), so a packet's lateness behind it is the
    queueing it met, and a packet *ahead* of it jumped its timestamps.
    """

    __slots__ = ("count", "value")

    def __init__(self) -> None:
        self.value: float | None = None
        self.count = 0

    @property
    def settled(self) -> bool:
        """Enough packets seen (:data:`SETTLE_PACKETS`) for a SKIP to be told from jitter."""
        return self.count >= SETTLE_PACKETS

    def update(self, transit: float) -> float:
        """Take one packet's transit; returns its lateness behind the baseline (samples, >= 0)."""
        self.count += 1
        base = self.value
        if base is None or transit <= base:
            self.value = transit
            return 0.0
        self.value = base + (transit - base) * BASELINE_RISE
        return transit - base

    def restart(self) -> None:
        """Forget the baseline (the timestamps were re-anchored): the next packet sets it.

        It stays settled: the packets before the jump showed the network's jitter.
        """
        self.value = None
