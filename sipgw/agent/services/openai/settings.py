"""OpenAI's settings section (the chat model) and how its clients are made from it.

:class:`OpenAISection` is the ``[openai]`` table (``OPENAI_*``): any OpenAI-compatible server;
:func:`openai_clients` turns a loaded one into the chat client's own settings
(:class:`~sipgw.agent.services.openai.chat.OpenAISettings`, checked once, at start). Its key
is also the Realtime agent's. The registry (:mod:`sipgw.agent.services.registry`) lists it.
The client's module (and the ``openai`` SDK) is imported only when a client is made, never
when the section is read: the CLI stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sipgw.foundation.settings import build_checked, section, setting
from sipgw.foundation.settings.parsers import int_range, non_negative, or_empty, positive, text

if TYPE_CHECKING:
    from sipgw.agent.services.llm.base import ChatLLM

__all__ = ["OpenAISection", "openai_clients"]


_SPOKEN_TOKENS: int | None = 300
_REASONING_TOKENS: int | None = 4096


_optional_tokens = or_empty(
    int_range(1, 1_000_000), "must be a whole number of tokens from 1, or empty"
)


def _reasoning_effort(value: str) -> str:
    from sipgw.agent.services.openai.chat import REASONING_EFFORTS

    effort = value.strip().lower()
    if effort and effort not in REASONING_EFFORTS:
        raise ValueError(f"must be one of {', '.join(sorted(REASONING_EFFORTS))}, or empty")
    return effort


def _capabilities(value: str) -> str:
    from sipgw.agent.services.openai.models import ModelCapabilities

    if value.strip():
        ModelCapabilities.parse(value)  # its ValueError says what is allowed
    return value.strip()


@section(
    "openai",
    title="OpenAI (chat model)",
    intro="Read when `--agent assistant` and `SIPGW_LLM=openai`; any OpenAI-compatible server "
    "works. Its key also when `--agent realtime`.",
)
@dataclass(frozen=True)
class OpenAISection:
    """An OpenAI-compatible chat model."""

    api_key: str = setting(
        "", env="OPENAI_API_KEY", parse=text, required=True, secret=True,
        help="OpenAI API key (required; any value for a server that needs none).",
    )  # fmt: skip
    base_url: str = setting(
        "", env="OPENAI_BASE_URL", parse=text,
        help="An OpenAI-compatible server's URL, e.g. http://127.0.0.1:11434/v1; empty = "
        "OpenAI.",
    )  # fmt: skip
    model: str = setting("gpt-4.1-mini", env="OPENAI_MODEL", parse=text, help="Chat model.")
    first_token_timeout: float = setting(
        5.0, env="OPENAI_FIRST_TOKEN_TIMEOUT", parse=positive,
        help="Seconds to wait for the LLM's first token before the fallback phrase.",
    )  # fmt: skip
    total_timeout: float = setting(
        20.0, env="OPENAI_TOTAL_TIMEOUT", parse=positive,
        help="Seconds one LLM response may take in all.",
    )  # fmt: skip
    max_retries: int = setting(
        2, env="OPENAI_MAX_RETRIES", parse=int_range(0, 10),
        help="Retries of a failed request (a reset connection, a 429 with a short or no "
        "Retry-After, a 5xx) within the turn's budget; 0 = never.",
    )  # fmt: skip
    retry_budget: float = setting(
        2.0, env="OPENAI_RETRY_BUDGET", parse=non_negative,
        help="Seconds after a turn's first request within which a retry may still start; "
        "later, the caller hears the apology.",
    )  # fmt: skip
    max_retry_after: float = setting(
        1.0, env="OPENAI_MAX_RETRY_AFTER", parse=non_negative,
        help="A Retry-After longer than this (seconds) is not waited for: the apology instead.",
    )  # fmt: skip
    max_completion_tokens: int | None = setting(
        _SPOKEN_TOKENS, env="OPENAI_MAX_COMPLETION_TOKENS", parse=_optional_tokens,
        help="Tokens of one reply's spoken part at most; empty = the server's default.",
    )  # fmt: skip
    reasoning_token_allowance: int | None = setting(
        _REASONING_TOKENS, env="OPENAI_REASONING_TOKEN_ALLOWANCE", parse=_optional_tokens,
        help="Tokens a reasoning model (o-series, GPT-5) may spend thinking, added to the cap "
        "(its cap counts reasoning too); empty = no cap for reasoning models.",
    )  # fmt: skip
    reasoning_effort: str = setting(
        "low", env="OPENAI_REASONING_EFFORT", parse=_reasoning_effort,
        help="reasoning_effort sent to reasoning models (never to others): none, minimal, low, "
        "medium, high, xhigh or max; empty = the model's default.",
    )  # fmt: skip
    capabilities: str = setting(
        "", env="OPENAI_CAPABILITIES", parse=_capabilities,
        help="What the model accepts, for a server or deployment name the built-in table does "
        "not know: comma-separated max_completion_tokens, max_tokens or no_token_limit, and "
        "the flags parallel_tool_calls, temperature, reasoning_effort, reasoning (e.g. "
        "max_tokens,parallel_tool_calls,temperature); empty = by the model's family.",
    )  # fmt: skip


def openai_clients(settings: OpenAISection) -> Callable[[], ChatLLM]:
    """A maker of chat clients for ``settings`` (no network traffic).

    Raises:
        ConfigError: the client's settings refuse the values.
    """
    from sipgw.agent.services.llm.retry import LlmRetrySettings
    from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings
    from sipgw.agent.services.openai.models import ModelCapabilities

    client = build_checked(
        OpenAISection,
        lambda: OpenAISettings(
            api_key=settings.api_key,
            model=settings.model,
            base_url=settings.base_url or None,
            first_token_timeout=settings.first_token_timeout,
            total_timeout=settings.total_timeout,
            max_completion_tokens=settings.max_completion_tokens,
            reasoning_token_allowance=settings.reasoning_token_allowance,
            reasoning_effort=settings.reasoning_effort or None,
            retry=LlmRetrySettings(
                attempts=settings.max_retries,
                budget=settings.retry_budget,
                max_retry_after=settings.max_retry_after,
            ),
            capabilities=(
                ModelCapabilities.parse(settings.capabilities) if settings.capabilities else None
            ),
        ),
    )
    return partial(OpenAIChatLLM, client)
