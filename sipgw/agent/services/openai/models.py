"""Which Chat Completions parameters a model accepts, by model family.

OpenAI's reasoning models refuse parameters the chat models take, with HTTP 400, on
every request that carries them; other OpenAI-compatible servers take older spellings.
:func:`capabilities_for` looks the model up in :data:`FAMILIES` (first match wins);
``OpenAISettings.capabilities`` overrides it for a server or a deployment name the
table cannot know (an Azure deployment, a local model).

What each family refuses, as OpenAI answers (HTTP 400, ``invalid_request_error``):

* ``max_tokens`` on o-series and GPT-5 models: "Unsupported parameter: 'max_tokens' is
  not supported with this model. Use 'max_completion_tokens' instead." The SDK's own
  docs say it "is now deprecated in favor of ``max_completion_tokens``, and is not
  compatible with o-series models" (``openai/types/chat/completion_create_params.py``).
* ``parallel_tool_calls`` on o-series models: "Unsupported parameter:
  'parallel_tool_calls' is not supported with this model." (o1, o3-mini, o4-mini:
  langchain-ai/langchain#29416, langchain-ai/langgraph-supervisor-py#52,
  evalstate/fast-agent#279). It defaults to true, so it is only ever sent to turn
  parallel calls off.
* ``temperature`` on reasoning models: "Unsupported parameter: 'temperature' is not
  supported with this model." (o3-mini: openai/openai-python#2104; GPT-5 accepts only
  the default 1).
* ``reasoning_effort`` on chat models: "Unrecognized request argument supplied:
  reasoning_effort" (gpt-4o, gpt-4o-mini). It "constrains effort on reasoning for
  reasoning models" (the SDK's docs).

And what reasoning models count: ``max_completion_tokens`` is "an upper bound for the
number of tokens that can be generated for a completion, including visible output
tokens and reasoning tokens" (the SDK's docs), so a cap sized for a spoken reply
(300) can be spent on reasoning before a word is said (``finish_reason`` "length", no
text). For reasoning families the client adds ``reasoning_token_allowance`` to the cap.

Servers other than OpenAI (``base_url`` set) and model names the table does not know
get :data:`COMPATIBLE`: ``max_tokens``, the spelling every OpenAI-compatible server
takes; an unknown name on OpenAI itself gets :data:`CHAT`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final, Literal

__all__ = [
    "CHAT",
    "COMPATIBLE",
    "FAMILIES",
    "O_SERIES",
    "REASONING",
    "ModelCapabilities",
    "capabilities_for",
]

TokenLimit = Literal["max_completion_tokens", "max_tokens"]


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What one model accepts in a streamed Chat Completions request.

    Attributes:
        token_limit: The name the response cap goes by (``max_completion_tokens`` or
            ``max_tokens``), or None to send no cap.
        parallel_tool_calls: Accepts ``parallel_tool_calls``.
        temperature: Accepts a ``temperature`` other than its default.
        reasoning_effort: Accepts ``reasoning_effort``.
        reasoning: Spends hidden reasoning tokens out of the completion cap.
    """

    token_limit: TokenLimit | None = "max_completion_tokens"
    parallel_tool_calls: bool = True
    temperature: bool = True
    reasoning_effort: bool = False
    reasoning: bool = False

    @classmethod
    def parse(cls, text: str) -> ModelCapabilities:
        """Capabilities from a setting such as ``"max_tokens,parallel_tool_calls,temperature"``.

        Items, separated by commas: ``max_completion_tokens``, ``max_tokens`` or
        ``no_token_limit`` (the cap's name; default ``max_completion_tokens``), and the
        flags ``parallel_tool_calls``, ``temperature``, ``reasoning_effort`` and
        ``reasoning``; a flag that is not named is off.

        Raises:
            ValueError: An item that is none of these, or two cap names.
        """
        limits: dict[str, TokenLimit | None] = {
            "max_completion_tokens": "max_completion_tokens",
            "max_tokens": "max_tokens",
            "no_token_limit": None,
        }
        flags = ("parallel_tool_calls", "temperature", "reasoning_effort", "reasoning")
        items = [item.strip().lower() for item in text.split(",") if item.strip()]
        limit_items = [item for item in items if item in limits]
        unknown = [item for item in items if item not in limits and item not in flags]
        if unknown:
            known = ", ".join([*limits, *flags])
            raise ValueError(f"unknown model capability {unknown[0]!r} (known: {known})")
        if len(limit_items) > 1:
            raise ValueError(f"one token limit at most, not {', '.join(limit_items)}")
        limit = limits[limit_items[0]] if limit_items else "max_completion_tokens"
        return cls(limit, *(flag in items for flag in flags))


CHAT: Final = ModelCapabilities()
"""OpenAI's chat models (gpt-4.1, gpt-4o ...): everything but ``reasoning_effort``."""
REASONING: Final = ModelCapabilities(temperature=False, reasoning_effort=True, reasoning=True)
"""GPT-5 and later: reasoning, ``reasoning_effort``, no ``temperature``."""
O_SERIES: Final = replace(REASONING, parallel_tool_calls=False)
"""o1, o3, o4-mini and later o-series: as :data:`REASONING`, without ``parallel_tool_calls``."""
COMPATIBLE: Final = ModelCapabilities(token_limit="max_tokens")
"""Models on other OpenAI-compatible servers: the long-standing ``max_tokens``."""

FAMILIES: Final[tuple[tuple[re.Pattern[str], ModelCapabilities], ...]] = (
    (re.compile(r"o1-(mini|preview)\b"), replace(O_SERIES, reasoning_effort=False)),
    (re.compile(r"o\d+\b"), O_SERIES),
    (re.compile(r"gpt-([5-9]|\d{2,})[.\w-]*-chat\b"), CHAT),
    (re.compile(r"gpt-([5-9]|\d{2,})\b"), REASONING),
    (re.compile(r"(gpt-(?!oss)|chatgpt-)"), CHAT),
)
"""(model name pattern, capabilities), matched at the start of the name, first match wins."""


def capabilities_for(model: str, base_url: str | None = None) -> ModelCapabilities:
    """The capabilities of ``model`` (see the module docstring).

    Args:
        model: The model name; a provider prefix (``openai/o4-mini``) is ignored.
        base_url: The server; None (or an ``api.openai.com`` URL) is OpenAI itself.
    """
    name = model.rsplit("/", 1)[-1].strip().lower()
    for pattern, capabilities in FAMILIES:
        if pattern.match(name):
            return capabilities
    on_openai = base_url is None or "api.openai.com" in base_url
    return CHAT if on_openai else COMPATIBLE
