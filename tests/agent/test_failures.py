"""AI service failures (agent/failures.py): each one recorded, logged, counted by kind."""

from __future__ import annotations

import pytest

from agent.conversation import ReplyDone, ReplyTimings
from agent.failures import GOODBYE_ON_STT_FAILURE, ServiceFailures
from agent.stt.base import SttConnectError, SttFailed, SttReconnected
from agent.tts.base import TtsConnectError, TtsError
from tests.agent.parts import RecordingObserver, lines, make_scope


def setup() -> tuple[ServiceFailures, RecordingObserver]:
    observer = RecordingObserver()
    scope = make_scope(observer)
    return ServiceFailures(scope), observer


async def test_connect_failures_are_counted_by_kind() -> None:
    failures, observer = setup()
    failures.stt_connect_failed(SttConnectError("refused", status=401, retryable=False))
    failures.stt_connect_failed(SttConnectError("no answer"))
    failures.stt_connect_failed(OSError("not ours"))  # not a connect error: not counted
    failures.tts_connect_failed(TtsConnectError("refused", status=401))
    assert observer.events == [
        ("error", ("stt", "http_status")),
        ("error", ("stt", "connect")),
        ("error", ("tts", "http_status")),
    ]


async def test_a_greeting_lost_to_tts_is_recorded(caplog: pytest.LogCaptureFixture) -> None:
    failures, observer = setup()
    failures.greeting_lost(TtsConnectError("TTS timed out"))
    assert observer.events == [("error", ("tts", "connect"))]
    assert lines(failures._scope, "error") == [
        {**lines(failures._scope, "error")[0], "where": "tts", "error": "TTS timed out"}
    ]
    assert "no greeting" in caplog.text


async def test_stt_giving_up_asks_for_the_notice() -> None:
    failures, observer = setup()
    notice = failures.stt_failed(SttFailed("gave up after 5 reconnect attempts", code=1011))
    assert notice == GOODBYE_ON_STT_FAILURE
    (failed,) = lines(failures._scope, "stt_failed")
    assert failed["reason"] == "gave up after 5 reconnect attempts"
    assert observer.events == [("error", ("stt", "protocol"))]


async def test_a_reconnection_is_reported_with_its_outage() -> None:
    failures, observer = setup()
    failures.stt_reconnected(SttReconnected(1.5, 0.8, 0.0))
    (line,) = lines(failures._scope, "stt_reconnected")
    assert (line["outage_s"], line["backlog_s"], line["dropped_s"]) == (1.5, 0.8, 0.0)
    assert observer.events == [("error", ("stt", "connect"))]


async def test_tts_failing_mid_reply(caplog: pytest.LogCaptureFixture) -> None:
    failures, observer = setup()
    failures.tts_failed(TtsError("quota exceeded", status=429))
    failures.tts_failed(TtsConnectError("connection lost"))
    assert [line["error"] for line in lines(failures._scope, "error")] == [
        "quota exceeded", "connection lost",
    ]  # fmt: skip
    assert observer.events == [("error", ("tts", "http_status")), ("error", ("tts", "connect"))]
    assert "TTS failed: quota exceeded" in caplog.text


async def test_an_llm_failure_is_counted_by_its_kind(caplog: pytest.LogCaptureFixture) -> None:
    failures, observer = setup()
    done = ReplyDone("Sorry?", ReplyTimings(0.0, None, None, 1.0, 1, 0), True,
                     "timed out", "timeout")  # fmt: skip
    failures.llm_failed(done)
    assert observer.events == [("error", ("llm", "timeout"))]
    assert "LLM failed (timed out): fallback phrase" in caplog.text
