"""The LLM retry policy, rule by rule (agent/services/llm/retry.py), without sockets or clocks."""

from __future__ import annotations

import pytest

from sipgw.agent.services.llm.base import LlmError
from sipgw.agent.services.llm.retry import LlmRetryPolicy, LlmRetrySettings, RetryDecision


def http(status: int, **details: object) -> LlmError:
    return LlmError(f"LLM HTTP {status}", kind="http", status=status, **details)  # type: ignore[arg-type]


POLICY = LlmRetryPolicy(LlmRetrySettings(attempts=2, budget=2.0, first_delay=0.1,
                                         max_retry_after=1.0))  # fmt: skip

# (failure, retries made, elapsed s) -> decision
CASES = [
    (LlmError("reset", kind="connection"), 0, 0.0, RetryDecision(True, 0.1, "connection")),
    (LlmError("reset", kind="connection"), 1, 0.3, RetryDecision(True, 0.2, "connection")),
    (http(429), 0, 0.0, RetryDecision(True, 0.1, "rate_limited")),
    (http(429, retry_after=0.5), 0, 0.0, RetryDecision(True, 0.5, "rate_limited")),
    (http(429, retry_after=1.0), 0, 0.0, RetryDecision(True, 1.0, "rate_limited")),
    (http(429, retry_after=1.5), 0, 0.0, RetryDecision(False, 0.0, "retry_after_too_long")),
    (http(429, retry_after=20, code="rate_limit_exceeded"), 0, 0.0,
     RetryDecision(False, 0.0, "retry_after_too_long")),
    (http(429, code="insufficient_quota"), 0, 0.0, RetryDecision(False, 0.0, "quota_exhausted")),
    (http(500), 0, 0.0, RetryDecision(True, 0.1, "server_error")),
    (http(502), 1, 0.5, RetryDecision(True, 0.2, "server_error")),
    (http(503, retry_after=0.3), 0, 0.0, RetryDecision(True, 0.3, "server_error")),
    (http(408), 0, 0.0, RetryDecision(True, 0.1, "server_error")),
    (http(409), 0, 0.0, RetryDecision(True, 0.1, "server_error")),
    (http(400), 0, 0.0, RetryDecision(False, 0.0, "client_error")),
    (http(401), 0, 0.0, RetryDecision(False, 0.0, "client_error")),
    (http(404), 0, 0.0, RetryDecision(False, 0.0, "client_error")),
    (http(400, should_retry=True), 0, 0.0, RetryDecision(True, 0.1, "server_error")),
    (http(503, should_retry=False), 0, 0.0, RetryDecision(False, 0.0, "server_said_no")),
    (LlmError("slow", kind="timeout"), 0, 0.0, RetryDecision(False, 0.0, "timeout")),
    (LlmError("bad", kind="api"), 0, 0.0, RetryDecision(False, 0.0, "stream_error")),
    (LlmError("bad", kind="stream"), 0, 0.0, RetryDecision(False, 0.0, "stream_error")),
    # the bounds
    (http(500), 2, 0.0, RetryDecision(False, 0.0, "attempts_spent")),
    (http(500), 1, 1.85, RetryDecision(False, 0.0, "budget_spent")),  # 1.85 + 0.2 > 2
    (http(429, retry_after=0.9), 0, 1.2, RetryDecision(False, 0.0, "budget_spent")),
    (http(429, retry_after=0.8), 0, 1.2, RetryDecision(True, 0.8, "rate_limited")),
]  # fmt: skip


@pytest.mark.parametrize(("error", "made", "elapsed", "expected"), CASES)
def test_decisions(error: LlmError, made: int, elapsed: float, expected: RetryDecision) -> None:
    assert POLICY.decide(error, made, elapsed) == expected


def test_no_attempts_means_no_retry() -> None:
    policy = LlmRetryPolicy(LlmRetrySettings(attempts=0))
    assert policy.decide(LlmError("x", kind="connection"), 0, 0.0).name == "attempts_spent"


def test_a_lasting_failure_is_named_even_without_attempts_left() -> None:
    # The rule's name says why, not the bound: a 400 is a client error whatever the count.
    assert POLICY.decide(http(400), 5, 9.0).name == "client_error"


@pytest.mark.parametrize("field", ["attempts", "budget", "first_delay", "max_retry_after"])
def test_negative_settings_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"retry {field}"):
        LlmRetrySettings(**{field: -1})
