"""The failure policy on the event loop (agent/resilience/watch.py): events and deadlines
in, every decision noted (record, log, metrics) and its line's audio handed over."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sipgw.agent.resilience.line_cache import FallbackLineCache, LineAudio, VoiceKey
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.policy import (
    CallerTurnEnded,
    Decision,
    FailurePolicySettings,
    LlmFailed,
    ReplyAudible,
    SttLost,
)
from sipgw.agent.resilience.watch import FailureWatch
from tests.agent.parts import RecordingObserver, ScriptedTts, lines, make_scope, wait_for

QUICK = FailurePolicySettings(hold_line_after=0.05, stt_notice_after=0.05)


@dataclass
class Taker:
    taken: list[tuple[str, LineAudio | None]] = field(default_factory=list)

    def carry_out(self, decision: Decision, audio: LineAudio | None) -> None:
        self.taken.append((decision.name, audio))


def watch_with(cache: FallbackLineCache | None = None) -> tuple[FailureWatch, Taker]:
    scope = make_scope(RecordingObserver())
    watch, taker = FailureWatch(scope, QUICK, cache, transfer_available=False), Taker()
    watch.bind(taker)
    return watch, taker


async def test_reported_decisions_come_back_noted_with_their_audio() -> None:
    watch, taker = watch_with()
    ((decision, audio),) = watch.report(LlmFailed())
    assert decision.name == "llm_apology" and audio is not None
    assert audio.line is FallbackLine.APOLOGY and audio.source == "shipped"
    assert taker.taken == []  # the caller carries it out
    (line,) = lines(watch._scope, "failure")
    assert (line["decision"], line["action"], line["line"], line["source"]) == (
        "llm_apology", "say", "apology", "shipped",
    )  # fmt: skip
    assert watch._scope.observer.decisions == ["llm_apology"]  # type: ignore[attr-defined]


async def test_deadlines_are_carried_out_by_the_taker_and_cancelled_at_the_end() -> None:
    watch, taker = watch_with()
    watch.report_and_carry_out(CallerTurnEnded())
    await wait_for(lambda: taker.taken)
    assert [name for name, _ in taker.taken] == ["hold_line"]
    watch.report_and_carry_out(ReplyAudible())
    watch.report_and_carry_out(SttLost())  # a note now, the notice at its deadline
    assert [name for name, _ in taker.taken] == ["hold_line"]
    watch.close()
    await asyncio.sleep(0.1)
    assert [name for name, _ in taker.taken] == ["hold_line"]


async def test_the_cache_gives_the_agents_voice() -> None:
    cache = FallbackLineCache(VoiceKey("tts", "v", "m"), None)
    await cache.prepare({FallbackLine.APOLOGY: "So sorry."}, ScriptedTts())
    watch, _ = watch_with(cache)
    ((_, audio),) = watch.report(LlmFailed())
    assert audio is not None and (audio.source, audio.text) == ("cache", "So sorry.")


async def test_nothing_after_the_call_ended() -> None:
    watch, taker = watch_with()
    watch._scope.closed = True
    assert watch.report(LlmFailed()) == []
    watch.report_and_carry_out(CallerTurnEnded())
    await asyncio.sleep(0.1)
    assert taker.taken == []
