"""How wrong digest answers slow down guessing of one user's password: a lane per network.

Sans-IO: every call takes the time (``now``, seconds) and a network name; nothing here reads
a clock or a socket. :class:`~sipgw.sip.auth.DigestServer` keeps one :class:`Guessing` per
configured user.

The rule (docs/security.md, "Guessing passwords"):

* Wrong answers are counted per *network* (:meth:`Backoff.network`: an IPv4 /24, an IPv6
  /64), each network in a *lane* of its own with its own backoff, and also user-wide, over
  every lane, on the schedule a single lane used to have (``free`` wrong answers, then a
  backoff of ``first`` seconds doubled each time up to ``ceiling``).
* A network with no wrong answer on record is never held: its answer is checked. A network
  with wrong answers on record is held during its own backoff, and, once it has as many
  wrong answers as it is allowed of its own (one; ``free`` for a network the user
  authenticated from before), during the user-wide backoff too. So every answer checked
  beyond the first one of each network waits for the user-wide schedule: a guesser from any
  number of networks gets that schedule plus one answer per network, and a user is never
  held out of a network from which no wrong answer came.
* A right answer clears its own network's lane, nobody else's, and never the user-wide count.
* Lanes are bounded per user (``lanes``; the networks the user authenticated from are
  remembered apart, ``known_sources`` of them). While the table is full, a network without
  a lane is held like one with wrong answers on record: forgetting a lane must not give its
  guesser a fresh answer. A lane is forgotten a quiet ``forget`` after its last wrong answer.

A user's state can be written out and read back (:meth:`Guessing.record`,
:meth:`Guessing.from_record`: plain JSON values, times moved by an ``offset`` onto another
clock), so that several gateways keep one state per user in a shared store
(:mod:`sipgw.app.security.trust`); the rule above does not change.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sipgw.sip.sourcekey import source_key

__all__ = ["Backoff", "Count", "Guessing", "GuessingRecord"]

GuessingRecord = dict[str, Any]
"""A :class:`Guessing` as JSON values (:meth:`Guessing.record`)."""

_NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How wrong answers slow down guessing of one user's password (the module docstring)."""

    free: int = 5
    """Wrong answers before a backoff starts, user-wide and in a lane (typing mistakes)."""
    first: float = 1.0
    """The first backoff, seconds; each further wrong answer doubles it."""
    ceiling: float = 900.0
    """The longest backoff, seconds: in the long run one checked answer per ceiling per user."""
    forget: float = 86_400.0
    """Wrong answers (a lane's, the user-wide count) are forgotten this long after the last one."""
    known_sources: int = 4
    """Networks the user authenticated from remembered (most recent first)."""
    known_for: float = 30 * 86_400.0
    """How long a network stays known after the user's last success from it."""
    lanes: int = 32
    """Networks with wrong answers on record kept per user."""
    ipv4_prefix: int = 24
    """An IPv4 source's network, for lanes: its /24."""
    ipv6_prefix: int = 64
    """An IPv6 source's network, for lanes: its /64."""

    def guesses_per_hour(self) -> float:
        """The most answers checked per hour per user in the long run, lanes' first ones aside."""
        return 3600.0 / self.ceiling

    def network(self, source: str) -> str:
        """The lane ``source`` (an IP literal) answers in."""
        return source_key(source, self.ipv4_prefix, self.ipv6_prefix)

    def wait(self, failures: int) -> float:
        """The backoff after the ``failures``-th wrong answer in a row (0 while free)."""
        over = failures - self.free
        if over <= 0:
            return 0.0
        return min(self.first * 2.0 ** min(over - 1, 60), self.ceiling)


@dataclass(slots=True)
class Count:
    """A run of wrong answers and the backoff it earned."""

    failures: int = 0
    last: float = _NEVER
    """When the last wrong answer came."""
    until: float = _NEVER
    """Answers are held until then."""

    def record(self, offset: float) -> list[float | None]:
        """``[failures, last, until]``, the times plus ``offset`` (never: ``None`` in JSON)."""
        return [self.failures, _moved(self.last, offset), _moved(self.until, offset)]

    @classmethod
    def from_record(cls, values: list[Any], offset: float) -> Count:
        """The count :meth:`record` wrote, its times plus ``offset``."""
        failures, last, until = values
        return cls(int(failures), _back(last, offset), _back(until, offset))

    def fail(self, now: float, backoff: Backoff) -> None:
        """One more wrong answer (the run starts again after a quiet ``forget``)."""
        if now - self.last > backoff.forget:
            self.failures = 0
        self.failures += 1
        self.last = now
        wait = backoff.wait(self.failures)
        if wait:
            self.until = now + wait


@dataclass(slots=True)
class Guessing:
    """One user's wrong answers: a lane per network, and the user-wide count."""

    backoff: Backoff
    user: Count = field(default_factory=Count)
    lanes: OrderedDict[str, Count] = field(default_factory=OrderedDict)
    """Network -> its wrong answers, the least recently wrong first."""
    known: OrderedDict[str, float] = field(default_factory=OrderedDict)
    """Network -> the user's last success from it, the least recent first."""

    def record(self, offset: float = 0.0) -> GuessingRecord:
        """This state as JSON values, each time plus ``offset`` (e.g. a monotonic clock's
        times made epoch seconds); :meth:`from_record` reads it back."""
        return {
            "user": self.user.record(offset),
            "lanes": [[net, *lane.record(offset)] for net, lane in self.lanes.items()],
            "known": [[net, seen + offset] for net, seen in self.known.items()],
        }

    @classmethod
    def from_record(cls, backoff: Backoff, record: GuessingRecord, offset: float = 0.0) -> Guessing:
        """The state :meth:`record` wrote, each time plus ``offset``; a record that cannot be
        read is refused (never taken as a clean slate).

        Raises:
            ValueError: ``record`` is not one :meth:`record` wrote.
        """
        try:
            state = cls(backoff, Count.from_record(record["user"], offset))
            for net, *lane in record["lanes"]:
                state.lanes[str(net)] = Count.from_record(lane, offset)
            for net, seen in record["known"]:
                state.known[str(net)] = float(seen) + offset
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a guessing record: {exc}") from None
        return state

    def held_until(self, network: str, now: float) -> float:
        """Until when answers from ``network`` are not checked (in the past: checked now)."""
        self._forget(now)
        lane = self.lanes.get(network)
        if lane is None:
            if self._has_room(network, now):
                return _NEVER  # no wrong answer came from there
            return self.user.until  # the table is full: held like a guessing network
        if lane.failures >= self._allowance(network, now):
            return max(lane.until, self.user.until)
        return lane.until

    def failed(self, network: str, now: float) -> None:
        """A wrong answer from ``network`` was checked."""
        self.user.fail(now, self.backoff)
        self._forget(now)
        lane = self.lanes.get(network)
        if lane is None:
            if not self._has_room(network, now):
                return  # counted user-wide only; the network stays held while the table is full
            if len(self.lanes) >= self.backoff.lanes:
                self._evict(now)
            lane = self.lanes[network] = Count()
        lane.fail(now, self.backoff)
        self.lanes.move_to_end(network)

    def succeeded(self, network: str, now: float) -> None:
        """The right answer came from ``network``: its lane is cleared, and it is known."""
        self.lanes.pop(network, None)
        self.known[network] = now
        self.known.move_to_end(network)
        while len(self.known) > self.backoff.known_sources:
            self.known.popitem(last=False)

    def is_known(self, network: str, now: float) -> bool:
        """Whether the user authenticated from ``network`` within ``known_for``."""
        seen = self.known.get(network)
        return seen is not None and now - seen <= self.backoff.known_for

    def _allowance(self, network: str, now: float) -> int:
        """Wrong answers a network has of its own before the user-wide backoff holds it too."""
        return max(self.backoff.free, 1) if self.is_known(network, now) else 1

    def _has_room(self, network: str, now: float) -> bool:
        """Whether a new lane may be opened for ``network`` (a known one may push one out)."""
        return len(self.lanes) < self.backoff.lanes or self.is_known(network, now)

    def _evict(self, now: float) -> None:
        """Make room for a known network's lane: the least recently wrong other one goes."""
        for network in self.lanes:
            if not self.is_known(network, now):
                del self.lanes[network]
                return
        self.lanes.popitem(last=False)

    def _forget(self, now: float) -> None:
        lanes = self.lanes
        while lanes:
            network, lane = next(iter(lanes.items()))
            if now - lane.last <= self.backoff.forget:
                break
            del lanes[network]


def _moved(time: float, offset: float) -> float | None:
    return None if time == _NEVER else time + offset


def _back(value: Any, offset: float) -> float:
    return _NEVER if value is None else float(value) + offset
