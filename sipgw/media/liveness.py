"""When a call may send media, and how long its peer has given no sign of life; sans-IO.

An SDP offer names where our RTP goes, and anyone can write any address there.
So that one INVITE cannot aim a stream at someone who never asked for it, we
send only

1. once the signalling says so: after the dialog is confirmed (the ACK of our
   2xx), unless early media was asked for (:meth:`PeerLiveness.confirm`); and
2. while the peer shows it is there: a sign (:meth:`PeerLiveness.sign`) is
   RTP from the source we latched (comfort noise too), or RTCP from the host we send to that
   reports on our own stream (RFC 3550 §6.4.1: a report block names the SSRC it
   received, which only someone who gets our packets knows). Sending pauses
   until the next sign comes after

   * :attr:`LivenessConfig.first_sign` seconds from the confirmation while a peer
     that is to send RTP itself (a ``sendrecv`` or ``sendonly`` stream) has shown
     nothing at all: a phone sends its RTP from the answer on, so an INVITE from
     someone who never sends aims little at whoever its SDP names; and
   * :attr:`LivenessConfig.pause_after` seconds after the last sign, or from the
     confirmation for a listen-only peer (``a=recvonly``), whose first sign can
     only be an RTCP report: it reports on ours every 5 s or so (at most 7.5 s
     after the last, RFC 3550 §6.3.1 and A.7), and the default leaves room for that.

A new address (a re-INVITE moving the media) must show itself anew, within the
first-sign time. The application ends a call whose peer has been silent for its
RTP timeout (:meth:`PeerLiveness.silent_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LivenessConfig", "PeerLiveness"]


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    """How long a peer may stay silent before we stop sending to it.

    Attributes:
        pause_after: seconds without a sign of the peer (RTP from it, or RTCP
            reporting on our stream) after which sending pauses until one comes;
            counted from the confirmation at the start. 0 = never pause (nor for
            ``first_sign``).
        first_sign: the same, shorter, for the first sign of a peer that is to send
            RTP itself, counted from the confirmation (or a new address); 0 (or a
            value not below ``pause_after``) = ``pause_after`` for every peer.
    """

    pause_after: float = 8.0
    first_sign: float = 2.0


class PeerLiveness:
    """Whether we may send now; see the module docstring.

    Args:
        config: the pause rule.
        now: the current time (seconds, any monotonic clock).
        confirmed: whether sending may start at once (the dialog is confirmed,
            or early media was asked for); else it waits for :meth:`confirm`.
    """

    __slots__ = ("config", "confirmed", "heard", "last_sign", "paused", "pauses", "withheld")

    def __init__(self, config: LivenessConfig, now: float, confirmed: bool) -> None:
        self.config = config
        self.confirmed = confirmed
        self.heard = False
        """Whether the peer (at its current address) has shown itself at all."""
        self.last_sign = now
        """When the peer last showed it is there (or the grace period started)."""
        self.paused = False
        """Whether sending is paused for the peer's silence now."""
        self.pauses = 0
        """How many times sending paused."""
        self.withheld = 0
        """Frames not sent: before the confirmation, or while paused."""

    def confirm(self, now: float) -> None:
        """Sending may start; the peer's grace period starts now."""
        if not self.confirmed:
            self.confirmed = True
            self.last_sign = max(self.last_sign, now)

    def sign(self, now: float) -> None:
        """The peer showed it is there (RTP from it, or RTCP about our stream)."""
        self.heard = True
        self.last_sign = max(self.last_sign, now)

    def restart(self, now: float, *, new_address: bool = False) -> None:
        """The grace period starts again at ``now`` (media resumes after hold, or moves);
        a ``new_address`` has to show itself as a new peer does."""
        if new_address:
            self.heard = False
        self.last_sign = max(self.last_sign, now)

    def silent_for(self, now: float) -> float:
        """Seconds since the last sign (or the start of the grace period)."""
        return max(0.0, now - self.last_sign)

    def limit(self, expect_rtp: bool) -> float:
        """Seconds of silence after which sending pauses now (0: never); ``expect_rtp``:
        the peer is to send RTP itself (it is not listen-only)."""
        config = self.config
        if expect_rtp and not self.heard and 0 < config.first_sign < config.pause_after:
            return config.first_sign
        return config.pause_after

    def may_send(self, now: float, expect_rtp: bool = False) -> bool:
        """Whether a packet may go out now; counts the pauses."""
        if not self.confirmed:
            return False
        limit = self.limit(expect_rtp)
        paused = limit > 0 and now - self.last_sign >= limit
        if paused and not self.paused:
            self.pauses += 1
        self.paused = paused
        return not paused
