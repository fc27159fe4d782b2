"""The call record's lines of answering-machine detection, one shape for every agent.

The assistant (:mod:`sipgw.agent.assistant.answering`) and the speech-to-speech agents
(:mod:`sipgw.agent.s2s.answering`) write the same ``amd``, ``amd_ready`` and ``amd_result``
lines, so the records, webhooks and outcomes read from them do not care which agent ran.
"""

from __future__ import annotations

from typing import Any

from sipgw.agent.amd.events import AnswerClassified, ReadyForMessage
from sipgw.agent.amd.settings import AmdMode
from sipgw.agent.callscope import ms_between

__all__ = ["decision_line", "ready_line", "result_line"]


def decision_line(event: AnswerClassified, round_: int) -> dict[str, Any]:
    """A decision (or a revision of it) of detection round ``round_``."""
    return {"type": "amd", "kind": event.kind.value, "reason": event.reason,
            "evidence": event.evidence.name.lower(), "revision": event.revision,
            "elapsed_ms": round(event.elapsed * 1000), "round": round_}  # fmt: skip


def ready_line(event: ReadyForMessage, round_started: float) -> dict[str, Any]:
    """The agent may speak (a recording voicemail, a screener waiting)."""
    return {"type": "amd_ready", "kind": event.kind.value, "cause": event.cause,
            "beep_hz": round(event.beep.frequency_hz) if event.beep else None,
            "after_answer_ms": ms_between(event.at, round_started)}  # fmt: skip


def result_line(
    mode: AmdMode, decision: AnswerClassified | None, started: float, why: str, action: str,
    screener_answers: int,
) -> dict[str, Any]:  # fmt: skip
    """Detection is over: its last decision (``why`` it ended without one)."""
    return {"type": "amd_result", "mode": mode.value,
            "kind": decision.kind.value if decision is not None else "undecided",
            "reason": decision.reason if decision is not None else why,
            "elapsed_ms": ms_between(decision.at, started) if decision else None,
            "revisions": decision.revision if decision is not None else 0,
            "action": action or "none", "screener_answers": screener_answers}  # fmt: skip
