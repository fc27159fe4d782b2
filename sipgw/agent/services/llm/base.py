"""What the agent needs from a streaming chat model with tools, whoever the vendor.

A vendor module (``agent/llm/<vendor>.py``) implements :class:`ChatLLM`; the
conversation (``agent/assistant/conversation.py``) only ever sees it and these events.

Contract
--------
* Messages and tool schemas are in the OpenAI Chat Completions shape (the
  de-facto standard; a vendor with another shape converts in its module).
* :meth:`ChatLLM.stream` yields :class:`LlmTextDelta` as text arrives (speech
  starts early), each :class:`LlmToolCall` once it is complete, and exactly
  one :class:`LlmFinished` last.
* Every failure is an :class:`LlmError`; closing the stream early (barge-in)
  stops the request at once.
* One instance may serve many calls at once.
* A client with work to do once before its first request (its vendor's SDK imported)
  is a :class:`PreparesAtStart`: the gateway's warm-up does that work
  (:func:`sipgw.agent.factory.with_llm_ready`), and the first request otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = [
    "ChatLLM", "LlmError", "LlmEvent", "LlmFinished", "LlmTextDelta", "LlmToolCall",
    "PreparesAtStart",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class LlmTextDelta:
    """A piece of the assistant's text, as it streams in."""

    text: str


@dataclass(frozen=True, slots=True)
class LlmToolCall:
    """One complete tool call requested by the model."""

    id: str
    """The call id that the tool message must echo as ``tool_call_id``."""
    name: str
    """The function name."""
    arguments: str
    """The JSON arguments exactly as streamed (not parsed, maybe not even valid)."""


@dataclass(frozen=True, slots=True)
class LlmFinished:
    """The response is complete; always the last event of a stream."""

    finish_reason: str | None
    """As the server reported it (``"stop"``, ``"tool_calls"``, ``"length"``...), or None."""
    usage: Mapping[str, int] | None
    """Token counts (``prompt_tokens``, ``completion_tokens``, ``total_tokens``), if sent."""
    retries: tuple[str, ...] = ()
    """The retries this response needed, by the name of the rule that decided each
    (``"connection"``, ``"rate_limited"``, ``"server_error"``: agent/services/llm/retry.py)."""


LlmEvent: TypeAlias = LlmTextDelta | LlmToolCall | LlmFinished
"""What :meth:`ChatLLM.stream` yields."""


class LlmError(Exception):
    """The model gave no usable response; the message says why.

    Attributes:
        kind: ``"timeout"``, ``"http"`` (an error status), ``"connection"``,
            ``"api"`` (an error inside the stream) or ``"stream"`` (a malformed
            chunk).
        status: the HTTP status for ``"http"`` errors, else None.
        code: the server's error code (OpenAI's ``error.code``, e.g.
            ``"insufficient_quota"``, ``"unsupported_parameter"``), if it gave one.
        retry_after: seconds the server asked to wait (``Retry-After``), if it did.
        should_retry: the server's own ``x-should-retry`` answer, if it gave one.
        retries: the retries made before this failure (see :attr:`LlmFinished.retries`).
        gave_up: the name of the rule that decided not to retry again, if one did.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """An error saying ``message``, of ``kind``, with ``status`` for HTTP errors."""
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.should_retry = should_retry
        self.retries: tuple[str, ...] = ()
        self.gave_up: str | None = None


class ChatLLM(Protocol):
    """A streaming chat model with tool calls (see the module docstring)."""

    def stream(
        self,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        *,
        tool_choice: str | None = None,
    ) -> AsyncGenerator[LlmEvent, None]:
        """Stream one response; use it with ``contextlib.aclosing``.

        Args:
            messages: the message history (not modified).
            tools: the tool schemas; empty for none.
            tool_choice: e.g. ``"none"`` to forbid tool calls this time; None
                leaves the server's default (``"auto"``).

        Yields:
            :class:`LlmTextDelta` events as they arrive, then each
            :class:`LlmToolCall`, then exactly one :class:`LlmFinished`.

        Raises:
            LlmError: timeout, HTTP or API error, or a broken stream.
        """
        ...

    async def close(self) -> None:
        """Release the client's connections."""
        ...


@runtime_checkable
class PreparesAtStart(Protocol):
    """A chat model client with work to do once before its first request."""

    async def prepare(self) -> None:
        """Do that work (at most once; never blocks the event loop). Never raises: what
        fails here fails the first request again, as an :class:`LlmError`."""
        ...
