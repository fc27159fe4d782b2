"""The detection lines of the call record (sipgw/agent/amd/records.py)."""

from __future__ import annotations

from sipgw.agent.amd.events import AnswerClassified, AnswerKind, Evidence, ReadyForMessage
from sipgw.agent.amd.records import decision_line, ready_line, result_line
from sipgw.agent.amd.settings import AmdMode

DECISION = AnswerClassified(AnswerKind.VOICEMAIL, 12.5, 2.5, "long greeting", Evidence.LENGTH, 1)


def test_a_decision_and_its_round() -> None:
    assert decision_line(DECISION, 0) == {
        "type": "amd", "kind": "voicemail", "reason": "long greeting", "evidence": "length",
        "revision": 1, "elapsed_ms": 2500, "round": 0,
    }  # fmt: skip


def test_ready_for_the_message_after_a_beep_less_greeting() -> None:
    ready = ReadyForMessage(AnswerKind.VOICEMAIL, 14.0, "silence", 12.0, None)
    assert ready_line(ready, 10.0) == {
        "type": "amd_ready", "kind": "voicemail", "cause": "silence", "beep_hz": None,
        "after_answer_ms": 4000,
    }  # fmt: skip


def test_the_result_with_and_without_a_decision() -> None:
    line = result_line(AmdMode.LEAVE_MESSAGE, DECISION, 10.0, "call ended", "message", 0)
    assert (line["kind"], line["reason"], line["elapsed_ms"], line["action"]) == (
        "voicemail", "long greeting", 2500, "message")  # fmt: skip
    none = result_line(AmdMode.DETECT, None, 10.0, "call ended", "", 0)
    assert (none["kind"], none["reason"], none["elapsed_ms"], none["action"]) == (
        "undecided", "call ended", None, "none")  # fmt: skip
