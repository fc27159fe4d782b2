"""The options of an AssemblyAI streaming session (sipgw/agent/services/assemblyai/stt_options.py):
what the API would refuse is refused before any connection is made."""

from __future__ import annotations

import pytest

from sipgw.agent.services.assemblyai.stt_options import (
    MAX_KEYTERM_CHARS,
    MAX_KEYTERMS,
    REGION_URLS,
    AssemblyAISettings,
    speech_model_for,
)
from tests.toolkit.canaries import ASSEMBLYAI_KEY

KEY = ASSEMBLYAI_KEY


def test_region_urls() -> None:
    assert REGION_URLS == {
        "default": "wss://streaming.assemblyai.com/v3/ws",
        "us": "wss://streaming.us.assemblyai.com/v3/ws",
        "eu": "wss://streaming.eu.assemblyai.com/v3/ws",
    }
    assert AssemblyAISettings(api_key="k").url == REGION_URLS["default"]


@pytest.mark.parametrize("chunk_ms", [20, 49, 1001])
def test_settings_reject_chunks_the_api_would_refuse(chunk_ms: int) -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        AssemblyAISettings(api_key="k", chunk_ms=chunk_ms)


def test_settings_repr_hides_the_key() -> None:
    assert "sekrit" not in repr(AssemblyAISettings(api_key="sekrit"))


def test_keyterm_limits() -> None:
    ok = tuple("k" * MAX_KEYTERM_CHARS for _ in range(MAX_KEYTERMS))
    assert AssemblyAISettings(api_key=KEY, keyterms_prompt=ok).keyterms_prompt == ok
    with pytest.raises(ValueError, match="at most 100"):
        AssemblyAISettings(api_key=KEY, keyterms_prompt=(*ok, "one more"))
    with pytest.raises(ValueError, match="at most 50"):
        AssemblyAISettings(api_key=KEY, keyterms_prompt=("k" * (MAX_KEYTERM_CHARS + 1),))


@pytest.mark.parametrize(
    ("language", "model"),
    [("", "u3-rt-pro"), ("en", "u3-rt-pro"), ("es-MX", "u3-rt-pro"), ("ja", "whisper-rt")],
)
def test_the_callers_language_selects_the_model(language: str, model: str) -> None:
    assert speech_model_for(language) == model
