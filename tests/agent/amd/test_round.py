"""The detection round every agent drives (sipgw/agent/amd/round.py)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from sipgw.agent.amd.events import AnswerKind
from sipgw.agent.amd.policy import (
    AnswerScreener,
    BeginConversation,
    HangUp,
    LeaveMessage,
    StopSpeaking,
)
from sipgw.agent.amd.round import AnswerRound
from sipgw.agent.amd.settings import AmdConfig, AmdMode, AmdRequest, AnsweringSettings
from sipgw.agent.callscope import CallScope
from sipgw.agent.record import CallRecord
from tests.agent.amd.test_detector import GREETINGS, frames_of


class StepsRound(AnswerRound[CallScope]):
    """A round that notes each step an agent would take."""

    __slots__ = ("steps",)

    def __init__(self, scope: CallScope, mode: AmdMode, settings: AnsweringSettings) -> None:
        self.steps: list[str] = []
        super().__init__(scope, AmdRequest(mode), settings)

    def _round_begun(self) -> None:
        self.steps.append("round")

    def _at_answer(self) -> None:
        self.steps.append("answer")

    def _begun(self, action: BeginConversation) -> None:
        self.steps.append("begin")

    def _stopped(self, action: StopSpeaking, late: bool) -> None:
        self.steps.append("stop")

    def _message(self, text: str) -> None:
        self.steps.append(f"message:{text}")

    def _answer_screener(self) -> None:
        line = self._screener_line()
        if line is not None:
            self.steps.append(f"screener:{line}")
            self._next_round()

    def _cut(self) -> None:
        self.steps.append("cut")

    def _end_call(self) -> None:
        self.steps.append("hang_up")


def started(mode: AmdMode, settings: AnsweringSettings | None = None) -> StepsRound:
    scope = CallScope("round@test", CallRecord(None, "round@test"), asyncio.get_running_loop())
    return StepsRound(scope, mode, settings or AnsweringSettings())


def lines(r: StepsRound, kind: str) -> list[dict[str, object]]:
    return [line for line in r._scope.record.lines if line["type"] == kind]


async def test_actions_wait_for_the_answer_and_the_result_is_reported_once() -> None:
    r = started(AmdMode.HANG_UP)
    r._act((HangUp(AnswerKind.VOICEMAIL),))
    assert r.steps == ["round"] and r.action == ""  # queued: not answered yet
    r.answered()
    assert r.steps == ["round", "answer", "cut", "hang_up"]
    assert r.action == "hang_up" and r.detector is None and r.result()["final"]
    r.close()
    assert [line["action"] for line in lines(r, "amd_result")] == ["hang_up"]
    assert lines(r, "amd_action") == [
        {"t": lines(r, "amd_action")[0]["t"], "type": "amd_action", "action": "hang_up",
         "kind": "voicemail"}]  # fmt: skip


async def test_the_detect_mode_does_not_wait_and_begins_at_the_answer() -> None:
    r = started(AmdMode.DETECT)
    assert not r.waits
    r.answered()
    assert r.action == "conversation" and r.steps == ["round", "answer"]
    assert r.result()["answered_by"] == "undecided" and not r.result()["final"]


async def test_the_message_uses_the_calls_own_text_before_the_configured_one() -> None:
    r = started(AmdMode.LEAVE_MESSAGE, AnsweringSettings(message="configured"))
    r.request = AmdRequest(AmdMode.LEAVE_MESSAGE, message="own")
    r.answered()
    r._act((LeaveMessage("beep"),))
    assert r.steps[-1] == "message:own" and r.action == "message" and r.detector is None


async def test_a_screener_is_answered_until_the_limit_then_hung_up_on() -> None:
    settings = AnsweringSettings(screener_line="Ada for Bob", max_screener_answers=1,
                                 screener_wait=7.0)  # fmt: skip
    r = started(AmdMode.LEAVE_MESSAGE, settings)
    r.answered()
    r._act((AnswerScreener(),))
    assert r.steps[-2:] == ["screener:Ada for Bob", "round"]  # a new round listens
    assert r.detector is not None and r.detector.config.deadline == 7.0
    assert r._policy.after_screener
    r._act((AnswerScreener(),))
    assert r.steps[-2:] == ["cut", "hang_up"] and r.result()["final"]
    assert lines(r, "amd_result")[0]["screener_answers"] == 1


async def test_the_timer_brings_the_deadlines_decision() -> None:
    detector = dataclasses.replace(AmdConfig(), deadline=0.05)
    r = started(AmdMode.DETECT, AnsweringSettings(detector=detector))
    r.answered()
    for _ in range(100):
        if r.decision is not None:
            break
        await asyncio.sleep(0.01)
    assert r.decision is not None and lines(r, "amd")


async def test_the_conversation_begins_after_the_words_when_the_gateway_stalls() -> None:
    """ "Hi, | this is Ana Lopez.", the gateway stopped for 0.3 s in the 140 ms pause after
    "Hi," (the frames due meanwhile come together when it runs again), or over the end of
    the words: the conversation begins 240 ms after the words end on the callee's audio
    (at 2.1 s), as without a stall; never in the pause (it began at 0.82 s, over the rest
    of the words), nor a stall's length late (2.24 s)."""
    frames = frames_of(GREETINGS["a name"])  # the words end at 1.86 s
    for stall in (None, (0.81, 0.3), (1.71, 0.3)):
        r = started(AmdMode.LEAVE_MESSAGE)
        r.answered()
        begun: list[float] = []
        for n, frame in enumerate(frames):
            due = (n + 1) * 0.02
            if stall is not None and stall[0] < due <= stall[0] + stall[1]:
                arrival = stall[0] + stall[1]
            else:
                arrival = due
            r.on_audio(frame, r._started + arrival)
            begun += [due] * (r.steps.count("begin") - len(begun))
        assert begun == [pytest.approx(2.1)], stall
