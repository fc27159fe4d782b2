"""A plug-in agent that talks in early media and answers later (``--agent
tests.interop.apps.early_answer_agent:make``).

It asks to start with its call unanswered (:class:`sipgw.agent.base.DefersAnswer`), so the
gateway sends 183 Session Progress with its SDP and plays the agent's tone to the caller as
early media (a greeting before the answer), and answers the call :data:`ANSWER_AFTER`
seconds later (:class:`sipgw.agent.base.AnswersLater`). Used by
``tests/interop/test_early_update_peers.py``.
"""

from __future__ import annotations

import asyncio

from sipgw.agent.base import AnswersLater
from sipgw.app.evaluation.audio import tone_frame
from sipgw.app.plugin import Agent, AgentFactory, CallControl

ANSWER_AFTER = 2.5
"""Seconds of early media before the 200 OK."""
TONE_HZ = 1000


class EarlyAnswerAgent(Agent):
    """Plays a tone from the 183 on; answers :data:`ANSWER_AFTER` s after it."""

    answer_deferred = True

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.frame = tone_frame(TONE_HZ, -12.0)
        self.timer: asyncio.TimerHandle | None = None

    def on_answered(self) -> None:  # started unanswered: early media
        call = self.call
        if self.timer is None and isinstance(call, AnswersLater) and call.answer_now is not None:
            self.timer = asyncio.get_running_loop().call_later(ANSWER_AFTER, call.answer_now)

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return self.frame

    async def close(self, reason: str = "") -> None:
        if self.timer is not None:
            self.timer.cancel()


def make() -> AgentFactory:
    """Early-answering agents (no settings)."""
    return EarlyAnswerAgent
