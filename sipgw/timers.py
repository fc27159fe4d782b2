"""SIP timer values (RFC 3261 §17 and Table 4, RFC 6026 §8.4)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["T1", "T2", "T4", "TimerValues"]

T1 = 0.5
"""RTT estimate, seconds."""
T2 = 4.0
"""Maximum retransmit interval for non-INVITE requests and INVITE responses."""
T4 = 5.0
"""Maximum duration a message remains in the network."""


@dataclass(frozen=True, slots=True)
class TimerValues:
    """The base timers; every other timer derives from them (RFC 3261 Table 4).

    Attributes:
        t1: RTT estimate (default 500 ms).
        t2: retransmission interval cap (default 4 s).
        t4: message lifetime in the network (default 5 s).
    """

    t1: float = T1
    t2: float = T2
    t4: float = T4

    @property
    def b(self) -> float:
        """Timer B: INVITE client transaction timeout (64·T1)."""
        return 64 * self.t1

    @property
    def f(self) -> float:
        """Timer F: non-INVITE client transaction timeout (64·T1)."""
        return 64 * self.t1

    @property
    def h(self) -> float:
        """Timer H: wait for the ACK of a non-2xx final response (64·T1)."""
        return 64 * self.t1

    @property
    def j(self) -> float:
        """Timer J: absorb non-INVITE request retransmissions, unreliable (64·T1)."""
        return 64 * self.t1

    @property
    def l(self) -> float:  # noqa: E743 - the RFC's name
        """Timer L: INVITE server 'Accepted' state lifetime (RFC 6026, 64·T1)."""
        return 64 * self.t1

    @property
    def m(self) -> float:
        """Timer M: INVITE client 'Accepted' state lifetime (RFC 6026, 64·T1)."""
        return 64 * self.t1

    @property
    def d(self) -> float:
        """Timer D: absorb final-response retransmissions over UDP (at least 32 s)."""
        return max(32.0, 64 * self.t1)
