"""Every call accounted for: the load generator's calls against the gateway's webhook events.

Each call the load generators placed ends with an outcome of theirs (``--calls-log``: its
Call-ID, answered or not, how it ended); the gateway tells the webhook receiver about the
same call by its SIP Call-ID (``data.call.call_id``), each event numbered in its call
(``data.sequence``: 1, 2, ...). :func:`account` matches the two:

- a call answered must have its ``call.ended``, one not answered its ``call.failed`` (or a
  ``call.ended``: the gateway may have answered just after the caller gave up): a call
  without its last event is a **lost** event;
- every call's events must be numbered 1..n without a gap: a gap is a lost event too;
- an event posted again (the receiver says ``repeat``: the same ``webhook-id``) is counted,
  not lost: the outbox retries until the receiver took it, and a receiver that died after
  taking one may see it again;
- an outcome of the load generator's own that is no outcome (``unfinished``: still up when
  it stopped; a BYE never answered; an INVITE given up at the teardown) leaves the call
  **unaccounted**;
- an event about a Call-ID nobody placed is a **stranger**.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Accounting", "account", "UNKNOWN_OUTCOMES"]

UNKNOWN_OUTCOMES = ("unfinished", "bye:timeout", "failed:teardown")
"""Load generator outcomes that say nothing of how the call ended."""


@dataclass
class Accounting:
    """What :func:`account` found."""

    calls: int = 0
    answered: int = 0
    by_line: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    events: int = 0
    """Events received, each once."""
    events_by_type: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    """Events received again (the same webhook-id)."""
    lost: list[str] = field(default_factory=list)
    """``CALL-ID: what is missing``."""
    unaccounted: list[str] = field(default_factory=list)
    """``CALL-ID: outcome`` of the calls whose outcome is unknown."""
    strangers: list[str] = field(default_factory=list)
    """Call-IDs of events about no call we placed."""

    @property
    def ok(self) -> bool:
        """Every call has a known outcome and all its events, and no event is a stranger."""
        return not (self.lost or self.unaccounted or self.strangers) and self.calls > 0

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report (the lists cut to their first 20)."""
        return {
            "calls": self.calls,
            "answered": self.answered,
            "by_line": self.by_line,
            "outcomes": self.outcomes,
            "events": self.events,
            "events_by_type": self.events_by_type,
            "repeats": self.repeats,
            "lost": len(self.lost),
            "lost_first": self.lost[:20],
            "unaccounted": len(self.unaccounted),
            "unaccounted_first": self.unaccounted[:20],
            "strangers": len(self.strangers),
            "strangers_first": self.strangers[:20],
            "ok": self.ok,
        }


def account(
    calls: Iterable[Mapping[str, Any]], deliveries: Iterable[Mapping[str, Any]]
) -> Accounting:
    """Match the load generators' call lines with the receiver's delivery lines
    (``{"id", "repeat", "event"}``); see the module docstring."""
    out = Accounting()
    seen: set[str] = set()
    by_call: dict[str, dict[int, str]] = defaultdict(dict)
    types: Counter[str] = Counter()
    for delivery in deliveries:
        if delivery.get("repeat") or delivery.get("id") in seen:
            out.repeats += 1
            continue
        seen.add(str(delivery.get("id")))
        event = delivery.get("event") or {}
        data = event.get("data") or {}
        call_id = str((data.get("call") or {}).get("call_id"))
        kind = str(event.get("type"))
        types[kind] += 1
        by_call[call_id][int(data.get("sequence") or 0)] = kind
    out.events = len(seen)
    out.events_by_type = dict(types)
    placed: set[str] = set()
    lines: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for call in calls:
        call_id = str(call["call_id"])
        placed.add(call_id)
        lines[str(call.get("user", ""))] += 1
        outcome = str(call.get("outcome", "unfinished"))
        outcomes[outcome] += 1
        answered = bool(call.get("answered"))
        out.answered += answered
        if outcome in UNKNOWN_OUTCOMES:
            out.unaccounted.append(f"{call_id}: {outcome}")
        got = by_call.get(call_id, {})
        # one not answered for the caller may have been answered just after it gave up
        last = ("call.ended",) if answered else ("call.failed", "call.ended")
        if not set(last) & set(got.values()):
            out.lost.append(f"{call_id}: no {' or '.join(last)} (got {sorted(got.values())})")
        elif got and sorted(got) != list(range(1, max(got) + 1)):
            out.lost.append(f"{call_id}: sequence {sorted(got)}")
    out.calls = len(placed)
    out.by_line = dict(lines)
    out.outcomes = dict(outcomes)
    out.strangers = sorted(set(by_call) - placed)
    return out
