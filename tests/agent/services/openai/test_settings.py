"""OpenAI's section (``OPENAI_*``) and the chat client's settings made from it."""

from __future__ import annotations

import pytest

from sipgw.agent.services.llm.retry import LlmRetrySettings
from sipgw.agent.services.openai.chat import OpenAISettings
from sipgw.agent.services.openai.models import ModelCapabilities
from sipgw.agent.services.openai.settings import OpenAISection, openai_clients
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.toolkit.canaries import API_KEY_VARIABLES, OPENAI_KEY

KEYS = API_KEY_VARIABLES


def _client_settings(values: dict[str, str]) -> OpenAISettings:
    made = openai_clients(load(OpenAISection, Sources({**KEYS, **values})))
    settings = made.args[0]  # type: ignore[attr-defined]
    assert isinstance(settings, OpenAISettings)
    return settings


def test_the_base_url_and_model_and_the_key_kept_out_of_the_repr() -> None:
    settings = _client_settings({"OPENAI_BASE_URL": "http://127.0.0.1:2/v1"})
    assert settings.base_url == "http://127.0.0.1:2/v1" and settings.model == "gpt-4.1-mini"
    assert _client_settings({}).base_url is None
    assert OPENAI_KEY not in repr(load(OpenAISection, Sources(KEYS)))


def test_the_llms_retries_reasoning_and_capabilities_are_settings() -> None:
    defaults = _client_settings({})
    assert defaults.retry == LlmRetrySettings() and defaults.capabilities is None
    assert (defaults.max_completion_tokens, defaults.reasoning_token_allowance) == (300, 4096)
    assert defaults.reasoning_effort == "low"
    llm = _client_settings({
        "OPENAI_MAX_RETRIES": "0", "OPENAI_RETRY_BUDGET": "1.5",
        "OPENAI_MAX_RETRY_AFTER": "0.5",
        "OPENAI_MAX_COMPLETION_TOKENS": "", "OPENAI_REASONING_TOKEN_ALLOWANCE": "",
        "OPENAI_REASONING_EFFORT": "", "OPENAI_CAPABILITIES": "max_tokens,temperature",
    })  # fmt: skip
    assert llm.retry == LlmRetrySettings(attempts=0, budget=1.5, max_retry_after=0.5)
    assert llm.max_completion_tokens is None and llm.reasoning_token_allowance is None
    assert llm.reasoning_effort is None
    assert llm.capabilities == ModelCapabilities("max_tokens", temperature=True,
                                                 parallel_tool_calls=False)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPENAI_TOTAL_TIMEOUT", "0", "must be a number > 0"),
        ("OPENAI_MAX_RETRIES", "-1", "must be a whole number from 0 to 10"),
        ("OPENAI_RETRY_BUDGET", "-2", "must be a number >= 0"),
        ("OPENAI_REASONING_EFFORT", "extreme", "must be one of"),
        ("OPENAI_MAX_COMPLETION_TOKENS", "0", "tokens from 1, or empty"),
        ("OPENAI_CAPABILITIES", "max_tokens,telepathy", "unknown model capability"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.*: .*{message}"):
        load(OpenAISection, Sources({**KEYS, name: value}))
