"""What an AssemblyAI transcription keeps across its sessions, sans-IO
(sipgw/agent/services/assemblyai/stt_session.py): turn numbers, timestamp offsets, errors."""

from __future__ import annotations

from sipgw.agent.services.assemblyai.stt_session import StreamState
from sipgw.agent.services.stt.base import (
    SttPartialTranscript,
    SttSessionBegan,
    SttSpeechStarted,
    SttTurnEnded,
    SttWord,
)

BYTES_PER_SECOND = 8000  # μ-law at 8 kHz


def turn(text: str, end: bool, words: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {"type": "Turn", "transcript": text, "end_of_turn": end, "words": words or []}


def test_turns_are_numbered_across_sessions_and_timestamps_shifted_by_the_audio_sent() -> None:
    state = StreamState(BYTES_PER_SECOND)
    began = state.begin({"type": "Begin", "id": "s1", "expires_at": 99}, 1.0)
    assert began == SttSessionBegan(session_id="s1", expires_at=99, received_at=1.0)
    partial = state.receive(turn("hel", False), 1.1)
    assert partial == SttPartialTranscript("hel", 0, 1.1, audio_end_ms=None)
    ended = state.receive(turn("Hello.", True), 1.2)
    assert isinstance(ended, SttTurnEnded) and (ended.text, ended.turn_order) == ("Hello.", 0)
    state.sent(b"\xff" * 16000)  # two seconds of audio in the first session
    assert (state.chunks_sent, state.bytes_sent, state.session_bytes_sent) == (1, 16000, 16000)
    state.begin({"type": "Begin", "id": "s2"}, 5.0)  # a reconnect
    assert (state.sessions, state.audio_offset_ms, state.session_bytes_sent) == (2, 2000.0, 0)
    word = {"text": "again", "start": 100, "end": 400, "confidence": 0.9}
    again = state.receive(turn("Again.", True, [word]), 5.5)
    assert isinstance(again, SttTurnEnded) and again.turn_order == 1  # the stream's own count
    assert again.words == (SttWord("again", 2100, 2400, 0.9),)
    assert again.audio_end_ms == 2400
    started = state.receive({"type": "SpeechStarted", "timestamp": 50}, 5.6)
    assert started == SttSpeechStarted(timestamp_ms=2050, received_at=5.6)


def test_an_error_frame_explains_only_the_close_right_after_it() -> None:
    state = StreamState(BYTES_PER_SECOND)
    assert state.receive({"type": "Error", "error": "Too many concurrent sessions"}, 1.0) is None
    assert state.last_error == "server error: Too many concurrent sessions"
    assert state.close_text("") == "Too many concurrent sessions"
    state.receive({"type": "Warning", "warning": "slow down"}, 1.1)
    assert state.close_text("") == ""  # a later message: the frame no longer explains it


def test_termination_reports_the_servers_audio_and_odd_messages_are_ignored() -> None:
    state = StreamState(BYTES_PER_SECOND)
    assert state.receive({"type": "Termination", "audio_duration_seconds": 12.5}, 1.0) is None
    assert state.server_audio_seconds == 12.5
    assert state.receive({"type": "Something new"}, 1.1) is None
    assert state.receive({"type": "Turn", "utterance": "from utterance"}, 1.2) == (
        SttPartialTranscript("from utterance", 0, 1.2, audio_end_ms=None)
    )
