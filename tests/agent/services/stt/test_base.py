"""The speech-to-text contract (agent/services/stt/base.py): its errors, events, and who
implements it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from sipgw.agent.services.assemblyai.stt import AssemblyAISTTService
from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttConnectError,
    SttDisconnected,
    SttEvent,
    SttFailed,
    SttPartialTranscript,
    SttReconnected,
    SttSessionBegan,
    SttSpeechStarted,
    SttTurnEnded,
    SttWord,
)


def test_a_connect_error_names_its_code_close_code_first() -> None:
    assert SttConnectError("x", status=401, retryable=False).code == 401
    assert SttConnectError("x", status=101, close_code=1008).code == 1008
    assert SttConnectError("unreachable").code is None
    assert SttConnectError("unreachable").retryable is True  # worth trying later by default


def test_events_are_frozen_values() -> None:
    word = SttWord("order", 100, 400, 0.97)
    turn = SttTurnEnded("My order.", 0, (word,), 12.5, audio_end_ms=400)
    with pytest.raises(dataclasses.FrozenInstanceError):
        turn.text = "changed"  # type: ignore[misc]
    assert turn == SttTurnEnded("My order.", 0, (word,), 12.5, 400)
    assert SttReconnected(1.0, 0.5, 0.0).silence_skipped_seconds == 0.0


def test_the_event_union_names_every_event() -> None:
    assert set(SttEvent.__args__) == {
        SttSessionBegan, SttSpeechStarted, SttPartialTranscript, SttTurnEnded,
        SttDisconnected, SttReconnected, SttFailed,
    }  # fmt: skip


def protocol_members() -> list[str]:
    return [
        name
        for name, value in vars(SpeechToText).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    ]


@pytest.mark.parametrize("vendor", [AssemblyAISTTService])
def test_every_vendor_implements_the_whole_contract(vendor: type) -> None:
    members = protocol_members()
    assert set(members) >= {"connect", "send_audio", "set_chunk_ms", "mark_speech_end",
                            "events", "close", "stats"}  # fmt: skip
    for name in members:
        ours, theirs = getattr(SpeechToText, name), getattr(vendor, name, None)
        assert theirs is not None, f"{vendor.__name__} lacks {name}"
        if isinstance(ours, property):
            assert isinstance(theirs, property), name
            continue
        expected = list(inspect.signature(ours).parameters)
        assert list(inspect.signature(theirs).parameters) == expected, name
        assert inspect.iscoroutinefunction(theirs) == inspect.iscoroutinefunction(ours), name
