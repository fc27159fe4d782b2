"""A circuit breaker per vendor, across calls (sans-IO).

Theory of operation
-------------------
When a vendor is down for everyone, every new call would meet the same failure; a
gateway that knows it can answer new calls with 503 (a trunk then fails over to
another gateway) or a recorded message instead. :class:`CircuitBreaker` is that
knowledge for one vendor. The calls report each use's outcome
(:meth:`~CircuitBreaker.record_success`, :meth:`~CircuitBreaker.record_failure`),
the gateway asks before taking a call (:meth:`~CircuitBreaker.allow`), each with
the time ``now``; state changes come out as :class:`BreakerChanged` events
(:meth:`~CircuitBreaker.events`), each with a name for logs and metrics.

==============  =====================================================  ==============
state           what happens                                           event name
==============  =====================================================  ==============
``CLOSED``      calls go through; ``failures`` failures within         ``opened``
                ``window`` s, with no success after them, open it
``OPEN``        no new call uses the vendor; after ``open_for`` s it   ``half_opened``
                lets one call try (a success reported meanwhile, by
                a call that was already running, closes it at once)
``HALF_OPEN``   one call (the probe) goes through; its success         ``closed``,
                closes the breaker, its failure opens it again for     ``reopened``
                twice as long (up to ``max_open_for``); a probe with
                no outcome after ``probe_timeout`` s lets another try
==============  =====================================================  ==============

What counts as a failure is :func:`counts_against_vendor`'s: what says the vendor
cannot serve this gateway's calls, whichever call meets it. A connection refused,
dropped or timed out, a 5xx, a 429 (rate or quota), and a 401 or 403 (the key is
refused: every call would fail the same way until it is fixed; the half-open probe
finds out when it is) count; a request the vendor rightly refused does not (an HTTP
400 for a parameter, 404, 422 ...: a request of ours, not the vendor being down), nor
a WebSocket close for our own fault (an invalid message, audio too fast or too long,
a session at its maximum duration).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BreakerChanged",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "counts_against_vendor",
]

_VENDOR_DOWN_HTTP = frozenset({401, 403, 408, 429})
"""4xx statuses that say the vendor will not serve any call now (with every 5xx)."""
_OUR_FAULT_CLOSES = frozenset({1002, 1003, 1007, 1009, 3006, 3007, 3008})
"""WebSocket close codes for our own fault: a protocol error, data it cannot take, a
message too big (RFC 6455 section 7.4.1); AssemblyAI's invalid message, input
duration or rate violation, session expired (its maximum duration)."""


def counts_against_vendor(status: int | None) -> bool:
    """Whether a failure with ``status`` (an HTTP status, a WebSocket close code, or None
    for a connection refused, dropped or timed out) counts against the vendor's breaker
    (see the module docstring)."""
    if status is None:
        return True
    if 400 <= status <= 499:
        return status in _VENDOR_DOWN_HTTP
    if 100 <= status <= 599:
        return status >= 500
    return status not in _OUR_FAULT_CLOSES


class BreakerState(Enum):
    """Whether new calls may use the vendor."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open.

    Attributes:
        failures: Failures within ``window`` (none followed by a success) that open it.
        window: Seconds the failures must fall within.
        open_for: Seconds it first stays open.
        max_open_for: The longest it stays open (``open_for`` doubles after a failed probe).
        probe_timeout: Seconds a half-open probe may go without an outcome.
    """

    failures: int = 5
    window: float = 30.0
    open_for: float = 30.0
    max_open_for: float = 300.0
    probe_timeout: float = 20.0

    def __post_init__(self) -> None:
        """Refuse settings that make no sense.

        Raises:
            ValueError: naming the setting.
        """
        if self.failures < 1:
            raise ValueError(f"breaker failures must be at least 1, not {self.failures}")
        for name in ("window", "open_for", "probe_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"breaker {name} must be positive, not {getattr(self, name)}")
        if self.max_open_for < self.open_for:
            raise ValueError("breaker max_open_for must not be shorter than open_for")


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    """The breaker of ``vendor`` changed state.

    Attributes:
        vendor: The vendor's name, as the breaker was created with.
        state: The new state.
        name: ``opened``, ``half_opened``, ``closed`` or ``reopened``.
        at: When (the ``now`` of the call that changed it).
        open_until: While open: when it lets a call try again.
    """

    vendor: str
    state: BreakerState
    name: str
    at: float
    open_until: float | None = None


class CircuitBreaker:
    """One vendor's breaker (see the module docstring)."""

    def __init__(self, vendor: str, settings: BreakerSettings | None = None) -> None:
        """A closed breaker for ``vendor``."""
        self.vendor = vendor
        self.settings = settings or BreakerSettings()
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._open_for = self.settings.open_for
        self._open_until: float | None = None
        self._probe_until: float | None = None
        self._events: list[BreakerChanged] = []

    def state(self, now: float) -> BreakerState:
        """The state at ``now`` (an open breaker whose time is up is half-open)."""
        self._advance(now)
        return self._state

    def allows(self, now: float) -> bool:
        """Would :meth:`allow` let a call through now (without taking the probe)?"""
        self._advance(now)
        if self._state is BreakerState.HALF_OPEN:
            return self._probe_until is None
        return self._state is BreakerState.CLOSED

    def allow(self, now: float) -> bool:
        """May a new call use the vendor? Half-open, the first call asking is the probe."""
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN and self._probe_until is None:
            self._probe_until = now + self.settings.probe_timeout
            return True
        return False

    def record_success(self, now: float) -> None:
        """A use of the vendor worked: the breaker closes (or stays closed)."""
        self._advance(now)
        self._failures.clear()
        if self._state is not BreakerState.CLOSED:
            self._open_for = self.settings.open_for
            self._set(BreakerState.CLOSED, "closed", now)

    def record_failure(self, now: float) -> None:
        """A use of the vendor failed."""
        self._advance(now)
        if self._state is BreakerState.HALF_OPEN:
            self._open_for = min(self._open_for * 2, self.settings.max_open_for)
            self._open(now, "reopened")
            return
        if self._state is BreakerState.OPEN:
            return  # calls that were already running: it is open anyway
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.settings.window:
            self._failures.popleft()
        if len(self._failures) >= self.settings.failures:
            self._open(now, "opened")

    def get_timer(self) -> float | None:
        """When the state changes by itself next (open -> half-open, a probe timing out)."""
        if self._state is BreakerState.OPEN:
            return self._open_until
        return self._probe_until

    def handle_timer(self, now: float) -> None:
        """Apply the changes due by ``now`` (their events come out of :meth:`events`)."""
        self._advance(now)

    def events(self) -> list[BreakerChanged]:
        """The state changes since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and self._open_until is not None:
            if now >= self._open_until:
                self._open_until = None
                self._set(BreakerState.HALF_OPEN, "half_opened", now)
        if self._probe_until is not None and now >= self._probe_until:
            self._probe_until = None  # the probe said nothing: let another call try

    def _open(self, now: float, name: str) -> None:
        self._failures.clear()
        self._probe_until = None
        self._open_until = now + self._open_for
        self._set(BreakerState.OPEN, name, now)

    def _set(self, state: BreakerState, name: str, now: float) -> None:
        self._state = state
        if state is not BreakerState.HALF_OPEN:
            self._probe_until = None
        until = self._open_until if state is BreakerState.OPEN else None
        self._events.append(BreakerChanged(self.vendor, state, name, now, until))
