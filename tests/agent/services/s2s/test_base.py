"""The speech-to-speech contract: what a vendor client must implement, and its values."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.agent.services.s2s.base import (
    ReplyAudio,
    S2sConnectError,
    S2sStats,
    SessionConfig,
    SpeechToSpeech,
    ToolSpec,
)


def test_a_client_missing_part_of_the_contract_cannot_be_made() -> None:
    class Partial(SpeechToSpeech):
        async def connect(self, config: SessionConfig) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_events_and_configs_are_immutable_values() -> None:
    audio = ReplyAudio("r1", b"\xff", 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        audio.reply_id = "r2"  # type: ignore[misc]
    assert audio == ReplyAudio("r1", b"\xff", 1.0)
    config = SessionConfig("prompt", tools=(ToolSpec("t", "d", {"type": "object"}),))
    assert config.greeting == "" and config.tools[0].name == "t"


def test_a_connect_error_keeps_the_status_and_the_services_code() -> None:
    error = S2sConnectError("refused", status=401, code="unauthorized")
    assert (str(error), error.status, error.code) == ("refused", 401, "unauthorized")
    assert S2sStats().errors == {} and S2sStats().errors is not S2sStats().errors
