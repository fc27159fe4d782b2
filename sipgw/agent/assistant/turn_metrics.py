"""What a reply's latencies were, measured on the event loop's clock, and where they go.

Per turn (``turn_metrics`` in the call record, the observer's stages, one log
line): the caller's end of speech (VAD) to the STT's end of turn, the LLM's
first token, TTS's first audio byte, and the reply's first RTP frame (the
playout reports it: :meth:`sipgw.agent.playout.Playout.when_first_played`); whether
a preemptive request was used and how many were wasted. Per call, the
greeting's first frame after the 200 OK (``greeting_metrics``).

The arithmetic is :func:`turn_metrics`, a pure function of the reply's times;
:class:`TurnMetrics` waits for the first frame and writes the results.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.turn_spans import close_turn_span
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.playout import Playout

__all__ = [
    "FIRST_FRAME_LIMIT",
    "GREETING_TIMING_LIMIT",
    "TurnMetrics",
    "stage_seconds",
    "turn_metrics",
]

log = logging.getLogger("sipgw.agent")

GREETING_TIMING_LIMIT: Final = 10.0
"""Seconds after the answer that the greeting's first frame is waited for (its metric)."""
FIRST_FRAME_LIMIT: Final = 2.0
"""Seconds after a reply's task ends that its first frame is waited for (its metrics)."""

_STAGE_FIELDS: Final = {
    "stt_end_of_turn": "stt_end_of_turn_ms",
    "llm_first_token": "llm_first_token_ms",
    "tools": "tools_ms",
    "tts_first_byte": "tts_first_byte_ms",
    "gateway_reply_path": "first_rtp_after_tts_ms",
}
"""The observer's turn stages (:data:`sipgw.agent.observer.TURN_STAGES`) and their
turn_metrics fields."""


def turn_metrics(reply: Reply, first_rtp: float | None) -> dict[str, Any]:
    """The ``turn_metrics`` record of an LLM reply whose first frame went out at ``first_rtp``."""
    return {
        "type": "turn_metrics",
        "turn": reply.turn,
        "stt_end_of_turn_ms": ms_between(reply.stt_final_at, reply.speech_end_at),
        "llm_first_token_ms": ms_between(reply.first_token_at, reply.started_at),
        "tools_ms": None if reply.tools_seconds is None else round(reply.tools_seconds * 1000, 1),
        "tts_first_byte_ms": ms_between(reply.tts.first_audio_at, reply.first_sentence_at),
        "first_rtp_after_tts_ms": ms_between(first_rtp, reply.tts.first_audio_at),
        "first_rtp_after_turn_ms": ms_between(first_rtp, reply.stt_final_at),
        "end_of_speech_to_first_rtp_ms": ms_between(first_rtp, reply.speech_end_at),
        "preemptive": "used" if reply.preemptive is not None else None,
        "preemptive_wasted": reply.wasted,
        "held_chars": None if reply.held is None else len(reply.held.text),
        "wasted_tts_chars": reply.wasted_chars,
    }


def stage_seconds(metrics: dict[str, Any]) -> dict[str, float]:
    """The measured stages of a turn_metrics record, in seconds."""
    return {
        stage: metrics[name] / 1000
        for stage, name in _STAGE_FIELDS.items()
        if isinstance(metrics.get(name), int | float)
    }


class TurnMetrics:
    """Measures one call's replies and greeting (see the module docstring)."""

    __slots__ = ("_playout", "_scope")

    def __init__(self, scope: CallScope, playout: Playout) -> None:
        self._scope = scope
        self._playout = playout

    def reply_done(self, reply: Reply) -> None:
        """A reply's task ended: write its metrics once its first frame has gone out.

        Only LLM replies that played to the end are measured (a barge-in's
        record says what happened to the others).
        """
        if reply.kind == "reply" and reply.heard is None:
            self._scope.spawn(self._write(reply))
        else:
            close_turn_span(reply, None, self._scope.now())

    def time_greeting(self, reply: Reply, answered_at: float) -> None:
        """Record how long after the 200 OK the greeting's first frame went out."""
        self._scope.spawn(self._write_greeting(reply, answered_at))

    async def first_frame(self, reply: Reply, limit: float) -> float | None:
        """When the reply's first frame went out; None if it never did within ``limit`` s."""
        future: asyncio.Future[float | None] = self._scope.loop.create_future()

        def resolve(when: float | None) -> None:
            if not future.done():
                future.set_result(when)

        self._playout.when_first_played(reply.tts.id, resolve)
        try:
            async with asyncio.timeout(limit):
                return await future
        except TimeoutError:
            return None

    async def _write(self, reply: Reply) -> None:
        try:
            first_rtp = await self.first_frame(reply, FIRST_FRAME_LIMIT)
        except asyncio.CancelledError:  # the call ended first: its span still goes out
            close_turn_span(reply, None, self._scope.now())
            raise
        metrics = turn_metrics(reply, first_rtp)
        scope = self._scope
        scope.write(metrics)
        scope.observer.turn_measured(stage_seconds(metrics))
        close_turn_span(reply, first_rtp, scope.now())
        log.info(
            "[%s] turn %d: end of speech→STT %s ms, LLM first token %s ms, TTS first byte %s ms, "
            "first RTP %s ms after end of speech",
            scope.log_id, reply.turn, metrics["stt_end_of_turn_ms"],
            metrics["llm_first_token_ms"], metrics["tts_first_byte_ms"],
            metrics["end_of_speech_to_first_rtp_ms"],
        )  # fmt: skip
        self._playout.forget(reply.tts.id)

    async def _write_greeting(self, reply: Reply, answered_at: float) -> None:
        played = await self.first_frame(reply, GREETING_TIMING_LIMIT)
        if played is None:
            return  # cut off (or silent) before it played
        self._scope.write(
            {
                "type": "greeting_metrics",
                "first_rtp_after_answer_ms": ms_between(played, answered_at),
                "tts_first_byte_ms": ms_between(reply.tts.first_audio_at, reply.started_at),
            }
        )
