"""When to REGISTER, and what to do with the answer: one binding's timing, sans-IO.

Theory of operation
-------------------
A :class:`RegistrationMachine` decides *when* one binding (an address of
record at one registrar) sends a REGISTER and with which expiry; the
:mod:`sipgw.sip.usages.register` usage builds and sends the requests and feeds
each outcome back. Nothing here touches SIP messages, sockets or clocks:
``now`` comes in, decisions and deadlines come out.

* :meth:`~RegistrationMachine.start` asks for a REGISTER with the configured
  expiry (RFC 3261 §10.2.1).
* A 2xx: :meth:`~RegistrationMachine.granted` with the expiry the registrar
  granted (§10.2.4). The next refresh is due at a random point between 80 %
  and 90 % of it, so a refresh completes before the binding runs out, and many
  gateways restarted together do not refresh in lockstep.
* 401/407: :meth:`~RegistrationMachine.challenged` allows a few rounds of
  credentials per attempt (a stale nonce, RFC 8760 §3.3 / RFC 2617
  ``stale=true``, is one more round, not a failure); whether the credentials
  may be sent again at all is the digest client's decision.
* 423 Interval Too Brief: :meth:`~RegistrationMachine.too_brief` retries at
  once with the registrar's Min-Expires (§10.2.8), unless that would not
  change anything.
* Any other failure, or silence (the transaction timed out):
  :meth:`~RegistrationMachine.failed` waits before the next attempt, with the
  backoff of RFC 5626 §4.5: ``min(max, base * 2**failures)``, of which a random
  50-100 % is taken; a Retry-After from the registrar is honoured when longer.
* Keep-alives (RFC 5626 §3.5.1, §4.4.1): while registered, a CRLF CRLF ping
  toward the registrar every ``keepalive_interval`` seconds (each interval a
  random 80-100 % of it), so NAT bindings on the way stay open.
* :meth:`~RegistrationMachine.stop` asks for an unregister (expiry 0,
  §10.2.2) when a binding may exist, and :meth:`~RegistrationMachine.stopped`
  ends the binding once it is answered (or not).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum, auto

__all__ = [
    "MAX_AUTH_ROUNDS",
    "Phase",
    "RegistrationMachine",
    "RegistrationPolicy",
]

MAX_AUTH_ROUNDS = 4
"""Challenges answered within one attempt before it counts as a failure (stops stale loops)."""


class Phase(Enum):
    """Where one binding is."""

    IDLE = auto()
    """Not started."""
    REGISTERING = auto()
    """A REGISTER is in flight: the first, a refresh or a retry."""
    REGISTERED = auto()
    """The registrar accepted the binding; a refresh is scheduled."""
    WAITING = auto()
    """The last attempt failed; the next one is scheduled."""
    UNREGISTERING = auto()
    """Our REGISTER with expiry 0 is in flight."""
    STOPPED = auto()
    """Unregistered (or never registered) and stopped: nothing more is sent."""


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """How one binding registers and retries.

    Attributes:
        expires: the expiry we ask for, seconds (§10.2.1.1).
        retry_base: base of the failure backoff, seconds (RFC 5626 §4.5 base-time).
        retry_max: longest wait between failed attempts, seconds (RFC 5626 §4.5 max-time).
        keepalive_interval: seconds between CRLF keep-alives while registered; 0 = none.
    """

    expires: int = 600
    retry_base: float = 30.0
    retry_max: float = 1800.0
    keepalive_interval: float = 25.0


class RegistrationMachine:
    """The timing decisions of one binding; see the module docstring.

    Args:
        policy: expiry, backoff and keep-alive settings.
        rng: random source for the jitter (inject in tests).

    Attributes:
        phase: where the binding is.
        requested: the expiry the next (or current) REGISTER asks for.
        granted_expires: the expiry of the current binding; None while not registered.
        bound_until: when the last binding the registrar granted runs out
            (so an unregister is worth sending before then); None if none.
        failures: consecutive failed attempts (0 after a success).
        next_attempt: when the next REGISTER is due (refresh or retry), or None.
        next_keepalive: when the next keep-alive is due, or None.
        auth_rounds: challenges answered in the current attempt.
    """

    def __init__(self, policy: RegistrationPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.phase = Phase.IDLE
        self.requested = policy.expires
        self.granted_expires: int | None = None
        self.bound_until: float | None = None
        self.failures = 0
        self.next_attempt: float | None = None
        self.next_keepalive: float | None = None
        self.auth_rounds = 0

    # ------------------------------------------------------------------ sending

    def start(self, now: float) -> int:
        """Begin (or re-begin) an attempt now; returns the expiry to ask for."""
        self.phase = Phase.REGISTERING
        self.next_attempt = None
        self.auth_rounds = 0
        return self.requested

    def attempt_due(self, now: float) -> bool:
        """Whether the scheduled refresh or retry is due at ``now``."""
        return (
            self.phase in (Phase.REGISTERED, Phase.WAITING)
            and self.next_attempt is not None
            and now >= self.next_attempt
        )

    def keepalive_due(self, now: float) -> bool:
        """Whether a keep-alive is due; if so, the next one is scheduled."""
        if self.phase is not Phase.REGISTERED or self.next_keepalive is None:
            return False
        if now < self.next_keepalive:
            return False
        self._schedule_keepalive(now)
        return True

    # ------------------------------------------------------------------ outcomes

    def granted(self, expires: int, now: float) -> None:
        """A 2xx granted ``expires`` seconds: schedule the refresh (80-90 % of it)."""
        self.phase = Phase.REGISTERED
        self.bound_until = now + expires
        self.granted_expires = expires
        self.failures = 0
        self.next_attempt = now + max(1.0, expires * self.rng.uniform(0.8, 0.9))
        self._schedule_keepalive(now)

    def challenged(self) -> bool:
        """A 401/407 arrived: whether another round of credentials is allowed in this attempt."""
        self.auth_rounds += 1
        return self.auth_rounds <= MAX_AUTH_ROUNDS

    def too_brief(self, min_expires: int | None) -> bool:
        """423 Interval Too Brief (§10.2.8): whether to retry now with ``min_expires``.

        When Min-Expires is missing or asks for nothing longer than what we
        already asked for, retrying cannot help: the caller reports a failure.
        """
        if min_expires is None or min_expires <= self.requested:
            return False
        self.requested = min_expires
        return True

    def failed(self, now: float, retry_after: float | None = None) -> float:
        """The attempt failed or went unanswered; returns the wait before the next one.

        RFC 5626 §4.5: ``min(retry_max, retry_base * 2**failures)``, a random
        50-100 % of it; a longer Retry-After (RFC 3261 §20.33) wins.
        """
        self.failures += 1
        self.granted_expires = None
        self.next_keepalive = None
        ceiling = min(self.policy.retry_max, self.policy.retry_base * 2**self.failures)
        delay = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, self.policy.retry_max)
        self.phase = Phase.WAITING
        self.next_attempt = now + delay
        return delay

    # ------------------------------------------------------------------ stopping

    def stop(self, now: float) -> bool:
        """Stop the binding; returns whether an unregister (expiry 0) should be sent.

        One is sent when the registrar may hold a binding: one it granted has
        not run out yet (even if a refresh failed since), or an attempt is in
        flight (it may have been accepted).
        """
        bound = self.bound_until is not None and now < self.bound_until
        may_exist = bound or self.phase is Phase.REGISTERING
        self.next_attempt = None
        self.next_keepalive = None
        self.auth_rounds = 0
        if self.phase in (Phase.STOPPED, Phase.UNREGISTERING):
            return False
        if may_exist:
            self.phase = Phase.UNREGISTERING
            return True
        self.phase = Phase.STOPPED
        return False

    def stopped(self) -> None:
        """The unregister was answered (or failed): nothing more is sent."""
        self.phase = Phase.STOPPED
        self.bound_until = None
        self.granted_expires = None
        self.next_attempt = None
        self.next_keepalive = None

    # ------------------------------------------------------------------ helpers

    def _schedule_keepalive(self, now: float) -> None:
        interval = self.policy.keepalive_interval
        if interval <= 0 or self.phase is not Phase.REGISTERED:
            self.next_keepalive = None
            return
        # RFC 5626 §4.4.1: each interval a random 80-100 % of the configured one.
        self.next_keepalive = now + interval * self.rng.uniform(0.8, 1.0)
