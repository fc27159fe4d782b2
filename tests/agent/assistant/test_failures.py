"""AI service failures (agent/assistant/failures.py): each one recorded, logged, counted by kind,
and what the failure policy decides carried out: inside the reply that failed, or by the call's
actions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from sipgw.agent.assistant.conversation import ReplyDone, ReplyTimings
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.resilience.line_cache import LineAudio, fallback_audio
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.policy import Decision, FailurePolicySettings
from sipgw.agent.resilience.recorded import RecordedReply
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.services.stt.base import (
    GIVE_UP_GRACE,
    SttConnectError,
    SttDisconnected,
    SttFailed,
    SttReconnected,
)
from sipgw.agent.services.tts.base import TtsConnectError, TtsError
from tests.agent.parts import RecordingObserver, assistant, lines, make_scope, wait_for

QUICK = FailurePolicySettings(hold_line_after=0.05, stt_notice_after=0.05, stt_give_up_after=5)


@dataclass
class Taker:
    """The call's actions as the policy reaches them: what they were asked to do."""

    done: list[tuple[str, str | None]] = field(default_factory=list)

    def carry_out(self, decision: Decision, audio: LineAudio | None) -> None:
        self.done.append((decision.name, audio.line.value if audio else None))

    def move_on_after(self, reply: Reply, decision: Decision) -> None:
        self.done.append((f"after reply: {decision.name}", decision.action.value))


def setup(
    settings: FailurePolicySettings = QUICK, *, transfer: bool = False
) -> tuple[ServiceFailures, RecordingObserver, Taker]:
    observer = RecordingObserver()
    scope = make_scope(observer)
    watch = FailureWatch(scope, settings, None, transfer_available=transfer)
    failures, taker = ServiceFailures(scope, watch), Taker()
    failures.bind(taker)
    return failures, observer, taker


def a_reply() -> Reply:
    audio = fallback_audio(FallbackLine.ONE_MOMENT, None)
    return Reply("reply", RecordedReply(audio, audio.text), 1)


async def test_connect_failures_are_counted_by_kind() -> None:
    failures, observer, _ = setup()
    failures.stt_connect_failed(SttConnectError("refused", status=401, retryable=False))
    failures.stt_connect_failed(SttConnectError("no answer"))
    failures.stt_connect_failed(OSError("not ours"))  # not a connect error: not counted
    failures.tts_connect_failed(TtsConnectError("refused", status=401))
    failures.stt_connected()
    assert observer.events == [
        ("error", ("stt", "http_status")),
        ("error", ("stt", "connect")),
        ("error", ("tts", "http_status")),
    ]
    assert observer.oks == ["stt"]


async def test_a_greeting_lost_to_tts_is_recorded_and_apologized_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures, observer, taker = setup()
    failures.greeting_lost(TtsConnectError("TTS timed out"))
    assert observer.events == [("error", ("tts", "connect"))]
    (error,) = lines(failures._scope, "error")
    assert (error["where"], error["error"]) == ("tts", "TTS timed out")
    assert "no greeting" in caplog.text
    assert taker.done == [("tts_down_apology", "apology")]  # from memory, no TTS needed


async def test_stt_down_a_while_gets_the_notice_and_its_return_is_noted() -> None:
    failures, observer, taker = setup()
    failures.stt_lost(SttDisconnected("1011 server error", 0.0))
    await wait_for(lambda: taker.done)
    assert taker.done == [("stt_down_notice", "stt_down")]
    failures.stt_reconnected(SttReconnected(1.5, 0.8, 0.0))
    (line,) = lines(failures._scope, "stt_reconnected")
    assert (line["outage_s"], line["backlog_s"], line["dropped_s"]) == (1.5, 0.8, 0.0)
    assert ("error", ("stt", "connect")) in observer.events and observer.oks == ["stt"]
    decisions = [line["decision"] for line in lines(failures._scope, "failure")]
    assert decisions == ["stt_lost", "stt_down_notice", "stt_recovered"]
    assert observer.decisions == decisions


@pytest.mark.parametrize(("transfer", "expected"), [(True, "transfer"), (False, "goodbye")])
async def test_stt_giving_up_moves_the_call_on(transfer: bool, expected: str) -> None:
    failures, observer, taker = setup(transfer=transfer)
    failures.stt_failed(SttFailed("gave up after 5 reconnect attempts", code=1011))
    (failed,) = lines(failures._scope, "stt_failed")
    assert failed["reason"] == "gave up after 5 reconnect attempts"
    assert observer.events == [("error", ("stt", "protocol"))]
    assert taker.done == [(f"stt_failed_{expected}", expected)]


async def test_tts_failing_mid_reply_ends_the_reply_with_the_apology(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures, observer, taker = setup()
    first, second = a_reply(), a_reply()
    failures.tts_failed(TtsError("quota exceeded", status=429), first)
    assert first.fallback is not None and first.fallback.line is FallbackLine.APOLOGY
    failures.tts_failed(TtsConnectError("connection lost"), second)  # twice in a row
    assert second.fallback is not None and second.fallback.line is FallbackLine.GOODBYE
    assert taker.done == [("after reply: tts_down_goodbye", "goodbye")]
    assert [line["error"] for line in lines(failures._scope, "error")] == [
        "quota exceeded", "connection lost",
    ]  # fmt: skip
    assert observer.events == [("error", ("tts", "http_status")), ("error", ("tts", "connect"))]
    assert "TTS failed: quota exceeded" in caplog.text


async def test_audio_in_between_resets_the_tts_count() -> None:
    failures, _, taker = setup()
    failures.tts_failed(TtsError("boom"), a_reply())
    failures.tts_spoke()
    reply = a_reply()
    failures.tts_failed(TtsError("boom"), reply)
    assert reply.fallback is not None and reply.fallback.line is FallbackLine.APOLOGY
    assert taker.done == []


async def test_the_llm_failing_gets_the_apology_and_then_moves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures, observer, taker = setup(replace(QUICK, llm_max_failures=2), transfer=True)
    first = a_reply()
    failures.llm_fallback(first)
    assert first.fallback is not None and first.fallback.line is FallbackLine.APOLOGY
    done = ReplyDone("Sorry?", ReplyTimings(0.0, None, None, 1.0, 1, 0), True,
                     "timed out", "timeout")  # fmt: skip
    failures.llm_failed(done)
    assert ("error", ("llm", "timeout")) in observer.events
    assert "LLM failed (timed out)" in caplog.text
    failures.llm_answered()  # an answer in between: the count starts again
    failures.llm_fallback(a_reply())
    last = a_reply()
    failures.llm_fallback(last)
    assert last.fallback is not None and last.fallback.line is FallbackLine.TRANSFER
    assert taker.done == [("after reply: llm_down_transfer", "transfer")]


async def test_a_caller_left_waiting_hears_one_moment_until_a_reply_is_audible() -> None:
    failures, _, taker = setup()
    failures.caller_turn_ended(None)
    await wait_for(lambda: taker.done)
    assert taker.done == [("hold_line", "one_moment")]
    failures.reply_audible()
    failures.caller_turn_ended(None)
    failures.caller_speaking(True)  # the caller went on instead: no longer waiting
    await asyncio.sleep(0.1)
    assert taker.done == [("hold_line", "one_moment")]


async def test_the_wait_counts_from_the_callers_last_speech() -> None:
    """The speech-to-text's end of turn may come a second after the caller stopped
    (u3-rt-pro's max_turn_silence): that second is part of the wait, so "one moment" is
    decided at once when the turn is reported after the deadline."""
    failures, _, taker = setup()
    now = asyncio.get_running_loop().time()
    failures.caller_turn_ended(now - 5.0)  # far past the 1.5 s deadline: no timer needed
    assert taker.done == [("hold_line", "one_moment")]


async def test_a_failed_transfer_ends_with_the_goodbye() -> None:
    failures, _, taker = setup(transfer=True)
    failures.stt_failed(SttFailed("gone", code=None))
    failures.transfer_failed()
    assert taker.done == [("stt_failed_transfer", "transfer"),
                          ("transfer_failed_goodbye", "goodbye")]  # fmt: skip


async def test_nothing_is_decided_after_the_call_ended() -> None:
    failures, _, taker = setup()
    failures.caller_turn_ended(None)
    failures._scope.closed = True
    failures.close()
    await asyncio.sleep(0.1)
    failures.llm_fallback(a_reply())
    assert taker.done == []


async def test_no_one_moment_while_the_caller_holds() -> None:
    """The caller holds while waiting for a reply: "one moment" is not said into the hold
    (it would play stale on resume); the wait goes on after it."""
    failures, _, taker = setup(FailurePolicySettings(hold_line_after=0.1))
    failures.caller_turn_ended(None)
    failures.caller_held(True)
    await asyncio.sleep(0.3)
    assert taker.done == []
    failures.caller_held(False)
    await wait_for(lambda: taker.done)
    assert taker.done == [("hold_line", "one_moment")]
    failures.close()


async def test_the_stt_retries_an_outage_as_long_as_the_policy_keeps_the_caller() -> None:
    """The assistant gives its STT client the policy's give-up plus the grace as its
    reconnect window: the policy, not a count of attempts, decides when the call moves on."""
    policy = FailurePolicySettings(stt_notice_after=2.0, stt_give_up_after=12.0)
    built = assistant(failure_policy=policy)
    assert built.stt.reconnect_window == 12.0 + GIVE_UP_GRACE
