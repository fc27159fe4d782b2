"""What one attempt's outcome means for its contact: done, retried later, or failed.

An attempt ends as one of these outcome keys (the results' ``outcome`` column):

``person``
    answered, and detection said a person, or did not run, or could not tell: done;
``machine``
    answered by voicemail, an announcement or a call screener: done, unless ``retry``
    gives ``voicemail`` a delay (then retried while attempts are left);
``busy``, ``no_answer``
    486/600, and our ring timeout/480/408: retried after their delay;
``failed``
    unreachable, refused by the far end or the trunk, a local error, or ``interrupted``
    (the gateway stopped or died mid-call): retried after ``failed``'s delay;
``declined``
    the callee refused the call (603): never retried;
``refused``
    the gateway would not place it (the dial allow-list, variables its agent lacks, an
    unknown line or agent): never retried, the same request would be refused again.

A retry waits its outcome's delay (None: no retry), and only while the contact has had
fewer than ``max_attempts`` attempts. Pure functions, time passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sipgw.app.campaigns.model import ContactState, RetryRule

__all__ = ["MACHINES", "Attempt", "Decision", "attempt_of", "decide"]

MACHINES = frozenset({"voicemail", "announcement", "screener"})
"""What answering-machine detection calls a machine (docs/amd.md)."""

_RULE_OF = {"busy": "busy", "no_answer": "no_answer", "failed": "failed",
            "interrupted": "failed", "machine": "voicemail"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt ended, in the campaign's words."""

    outcome: str
    """An outcome key (module docstring)."""
    detail: str
    """For people: ``busy (SIP 486 Busy Here)``, ``answered by voicemail ...``."""
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What becomes of the contact."""

    state: ContactState
    next_at: float | None
    """When it is dialled again (``pending``), else None."""


def attempt_of(
    kind: str, answered: bool, amd: Mapping[str, Any] | None, detail: str, call_id: str = ""
) -> Attempt:
    """An attempt from a placed call's outcome (``CallOutcome.kind``, ``answered``, ``amd``)."""
    if answered:
        who = str((amd or {}).get("kind") or "")
        return Attempt("machine" if who in MACHINES else "person", detail, call_id)
    outcome = {"busy": "busy", "no-answer": "no_answer", "declined": "declined"}.get(kind, "failed")
    return Attempt(outcome, detail, call_id)


def decide(rule: RetryRule, attempt: Attempt, attempts: int, now: float) -> Decision:
    """The contact's next state after its ``attempts``-th attempt ended as ``attempt``."""
    key = _RULE_OF.get(attempt.outcome)
    delay = rule.delays.get(key) if key is not None else None
    if delay is not None and attempts < rule.max_attempts:
        return Decision(ContactState.PENDING, now + delay)
    if attempt.outcome in ("person", "machine"):
        return Decision(ContactState.DONE, None)
    return Decision(ContactState.FAILED, None)
