"""What each model family is sent (agent/services/openai/models.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.services.openai.models import (
    CHAT,
    COMPATIBLE,
    O_SERIES,
    REASONING,
    ModelCapabilities,
    capabilities_for,
)

OPENAI = None
OLLAMA = "http://127.0.0.1:11434/v1"

CASES = [
    ("o1", OPENAI, O_SERIES),
    ("o3", OPENAI, O_SERIES),
    ("o3-mini", OPENAI, O_SERIES),
    ("o3-pro-2025-06-10", OPENAI, O_SERIES),
    ("o4-mini", OPENAI, O_SERIES),
    ("O4-Mini", OPENAI, O_SERIES),
    ("openai/o4-mini", "https://openrouter.ai/api/v1", O_SERIES),
    ("gpt-5", OPENAI, REASONING),
    ("gpt-5-mini", OPENAI, REASONING),
    ("gpt-5.1", OPENAI, REASONING),
    ("gpt-5-chat-latest", OPENAI, CHAT),
    ("gpt-4.1-mini", OPENAI, CHAT),
    ("gpt-4o", OPENAI, CHAT),
    ("gpt-3.5-turbo", OPENAI, CHAT),
    ("chatgpt-4o-latest", OPENAI, CHAT),
    ("some-new-model", OPENAI, CHAT),
    ("some-new-model", "https://api.openai.com/v1", CHAT),
    ("llama3.1:8b", OLLAMA, COMPATIBLE),
    ("gpt-oss:20b", OLLAMA, COMPATIBLE),
    ("omni-moderation", OPENAI, CHAT),
]


@pytest.mark.parametrize(("model", "base_url", "expected"), CASES)
def test_families(model: str, base_url: str | None, expected: ModelCapabilities) -> None:
    assert capabilities_for(model, base_url) == expected


def test_o1_mini_takes_no_reasoning_effort() -> None:
    assert capabilities_for("o1-mini") == ModelCapabilities(
        parallel_tool_calls=False, temperature=False, reasoning_effort=False, reasoning=True
    )


def test_the_families_differ_where_openai_refuses() -> None:
    assert not O_SERIES.parallel_tool_calls and REASONING.parallel_tool_calls
    assert not REASONING.temperature and CHAT.temperature
    assert REASONING.reasoning_effort and not CHAT.reasoning_effort
    assert COMPATIBLE.token_limit == "max_tokens" and CHAT.token_limit == "max_completion_tokens"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ModelCapabilities(parallel_tool_calls=False, temperature=False)),
        ("max_tokens, temperature", ModelCapabilities("max_tokens", False, True, False, False)),
        ("no_token_limit,parallel_tool_calls", ModelCapabilities(None, True, False, False, False)),
        ("MAX_COMPLETION_TOKENS,reasoning_effort,reasoning",
         ModelCapabilities("max_completion_tokens", False, False, True, True)),
    ],
)  # fmt: skip
def test_parse(text: str, expected: ModelCapabilities) -> None:
    assert ModelCapabilities.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_tokens,reasoning-effort", "unknown model capability 'reasoning-effort'"),
        ("max_tokens,max_completion_tokens", "one token limit at most"),
    ],
)
def test_parse_names_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelCapabilities.parse(text)
