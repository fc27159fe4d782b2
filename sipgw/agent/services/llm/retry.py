"""When a failed LLM request is tried again, inside the turn's latency budget (sans-IO).

Theory of operation
-------------------
A caller who has just finished speaking waits for the first word of the reply, so a
retry is only worth it when it can still answer in time. :class:`LlmRetryPolicy`
takes the failure (an :class:`sipgw.agent.services.llm.base.LlmError`), how many retries were
made and how long the turn's request has been running, and answers with a
:class:`RetryDecision`: retry after ``delay`` seconds, or give up (the caller then
hears the apology). It reads no clock; the client passes the time in.

The rules, in order (the official SDK retries the same statuses: 408, 409, 429 and
5xx, and honours ``Retry-After`` and ``x-should-retry``; ``openai/_base_client.py``,
``_should_retry``):

- the server said ``x-should-retry: false``: give up (``server_said_no``);
- the connection was reset, refused or dropped before any of the response was
  passed on: retry after the backoff (``connection``);
- HTTP 429 with the code ``insufficient_quota``: give up, no retry helps
  (``quota_exhausted``);
- HTTP 429, 5xx, 408 or 409 with a ``Retry-After`` longer than ``max_retry_after``:
  give up (``retry_after_too_long``); with a shorter one: retry after it; without
  one: retry after the backoff (``rate_limited`` for 429, else ``server_error``);
- another HTTP 4xx: give up (``client_error``);
- a timeout, or an error inside the stream: give up (``timeout``, ``stream_error``).

Then two bounds: no more than ``attempts`` retries (``attempts_spent``), and none that
would start later than ``budget`` seconds after the first request
(``budget_spent``). The backoff is ``first_delay`` doubling per retry. The client
also keeps its first-token timeout over all the attempts together, so retries never
make the caller wait longer than a failure without them would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipgw.agent.services.backoff import Backoff
from sipgw.agent.services.llm.base import LlmError

__all__ = [
    "FIRST_RETRY_DELAY",
    "TRANSIENT_STATUSES",
    "LlmRetryPolicy",
    "LlmRetrySettings",
    "RetryDecision",
]

TRANSIENT_STATUSES: Final = frozenset({408, 409, 429})
"""Statuses below 500 that the official SDK retries (request timeout, lock, rate limit)."""

FIRST_RETRY_DELAY: Final = 0.1
"""Seconds before the first retry of a reset or a 5xx without ``Retry-After`` (doubling with
each retry): short against the turn's budget of seconds, long enough not to hammer a server
that just failed; not a setting (the budget and the number of retries are)."""


@dataclass(frozen=True, slots=True)
class LlmRetrySettings:
    """How failed LLM requests are retried.

    Attributes:
        attempts: Retries after the first request; 0 = never retry.
        budget: Seconds after the turn's first request within which a retry may still
            start (its wait included).
        first_delay: Seconds before the first retry of a reset or a 5xx without
            ``Retry-After``; doubles with each retry.
        max_retry_after: A ``Retry-After`` longer than this (s) is not waited for.
    """

    attempts: int = 2
    budget: float = 2.0
    first_delay: float = FIRST_RETRY_DELAY
    max_retry_after: float = 1.0

    def __post_init__(self) -> None:
        """Reject values that make no sense.

        Raises:
            ValueError: A negative count or time.
        """
        if self.attempts < 0:
            raise ValueError(f"retry attempts must not be negative, not {self.attempts}")
        for name in ("budget", "first_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"retry {name} must not be negative, not {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try a failed request again.

    Attributes:
        retry: Try again.
        delay: Seconds to wait first (0 when giving up).
        name: The rule that decided (see the module docstring), for logs and metrics.
    """

    retry: bool
    delay: float
    name: str


class LlmRetryPolicy:
    """Decides, failure by failure, whether to retry (see the module docstring)."""

    def __init__(self, settings: LlmRetrySettings | None = None) -> None:
        """A policy with ``settings`` (the defaults when None)."""
        self.settings = settings or LlmRetrySettings()

    def decide(self, error: LlmError, retries_made: int, elapsed: float) -> RetryDecision:
        """The decision for ``error``.

        Args:
            error: The failure of the latest attempt (nothing of it was passed on).
            retries_made: Retries already made for this request.
            elapsed: Seconds since the request's first attempt began.
        """
        name, delay = self._rule(error, retries_made)
        if delay is None:
            return RetryDecision(False, 0.0, name)
        if retries_made >= self.settings.attempts:
            return RetryDecision(False, 0.0, "attempts_spent")
        if elapsed + delay > self.settings.budget:
            return RetryDecision(False, 0.0, "budget_spent")
        return RetryDecision(True, delay, name)

    def _rule(self, error: LlmError, retries_made: int) -> tuple[str, float | None]:
        """(name, delay) of the first rule that matches; delay None = give up."""
        backoff = Backoff(self.settings.first_delay).delay(retries_made)
        if error.should_retry is False:
            return "server_said_no", None
        if error.kind == "connection":
            return "connection", backoff
        if error.kind != "http" or error.status is None:
            return ("timeout" if error.kind == "timeout" else "stream_error"), None
        status = error.status
        if status == 429 and error.code == "insufficient_quota":
            return "quota_exhausted", None
        transient = status >= 500 or status in TRANSIENT_STATUSES or error.should_retry is True
        if not transient:
            return "client_error", None
        name = "rate_limited" if status == 429 else "server_error"
        if error.retry_after is None:
            return name, backoff
        if error.retry_after > self.settings.max_retry_after:
            return "retry_after_too_long", None
        return name, max(0.0, error.retry_after)
