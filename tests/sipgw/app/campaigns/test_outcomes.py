"""Outcome keys from placed calls, and the retry rule's decisions."""

from __future__ import annotations

import pytest

from sipgw.app.campaigns.model import ContactState, RetryRule
from sipgw.app.campaigns.outcomes import Attempt, attempt_of, decide


@pytest.mark.parametrize(
    ("kind", "answered", "amd", "outcome"),
    [
        ("answered", True, None, "person"),
        ("answered", True, {"kind": "human"}, "person"),
        ("answered", True, {"kind": "unknown"}, "person"),
        ("answered", True, {"kind": "voicemail"}, "machine"),
        ("answered", True, {"kind": "announcement"}, "machine"),
        ("answered", True, {"kind": "screener"}, "machine"),
        ("busy", False, None, "busy"),
        ("no-answer", False, None, "no_answer"),
        ("declined", False, None, "declined"),
        ("unreachable", False, None, "failed"),
        ("failed", False, None, "failed"),
    ],
)
def test_attempt_of(kind: str, answered: bool, amd: dict[str, str] | None, outcome: str) -> None:
    assert attempt_of(kind, answered, amd, "d", "id-1") == Attempt(outcome, "d", "id-1")


def test_decide_retries_while_attempts_are_left() -> None:
    rule = RetryRule({"busy": 10.0, "no_answer": None, "failed": 5.0, "voicemail": None}, 2)
    busy = Attempt("busy", "")
    assert decide(rule, busy, 1, 100.0) == decide(rule, busy, 1, 100.0)
    assert decide(rule, busy, 1, 100.0).next_at == 110.0
    assert decide(rule, busy, 2, 100.0).state is ContactState.FAILED  # the maximum
    assert decide(rule, Attempt("no_answer", ""), 1, 0).state is ContactState.FAILED  # None
    assert decide(rule, Attempt("interrupted", ""), 1, 0).next_at == 5.0  # the failed rule
    assert decide(rule, Attempt("machine", ""), 1, 0).state is ContactState.DONE
    assert decide(rule, Attempt("person", ""), 1, 0).state is ContactState.DONE
    assert decide(rule, Attempt("declined", ""), 1, 0).state is ContactState.FAILED
    assert decide(rule, Attempt("refused", ""), 1, 0).state is ContactState.FAILED
