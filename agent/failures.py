"""What the assistant does when an AI service fails: report it, and what to say.

Every failure of the speech-to-text, LLM or text-to-speech service goes
through :class:`ServiceFailures`, which writes it to the call record and the
log and counts it for the gateway's metrics (by kind: :mod:`agent.observer`),
and answers what the caller hears because of it:

* STT connect fails while the phone rings: the call is rejected (503), so the
  trunk can try elsewhere. TTS connect fails then: the same; if TTS is only
  late, the call is answered and the greeting plays when it is ready, or not
  at all if it fails later.
* STT gives up mid-call: the caller hears :data:`GOODBYE_ON_STT_FAILURE`,
  then the agent hangs up (nobody would hear them). A reconnection that
  succeeded is only reported.
* TTS fails mid-reply: what arrived of the reply plays; the rest is lost.
* The LLM fails or times out: the conversation says its fallback phrase
  (``AssistantSettings.fallback_phrase``, :mod:`agent.conversation`).
"""

from __future__ import annotations

import logging
from typing import Final

from agent.callscope import CallScope
from agent.conversation import ReplyDone
from agent.observer import llm_error_kind, status_error_kind
from agent.stt.base import SttConnectError, SttFailed, SttReconnected
from agent.tts.base import TtsConnectError, TtsError

__all__ = ["GOODBYE_ON_STT_FAILURE", "ServiceFailures"]

log = logging.getLogger("sipgw.agent")

GOODBYE_ON_STT_FAILURE: Final = "Sorry, I can't hear you right now. Please call again later."
"""Said before hanging up when speech-to-text gave up."""


class ServiceFailures:
    """One call's AI service failures (see the module docstring)."""

    __slots__ = ("_scope",)

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope

    # -- while the phone rings

    def stt_connect_failed(self, exc: BaseException) -> None:
        """Opening the STT session failed (the call is rejected)."""
        if isinstance(exc, SttConnectError):
            kind = status_error_kind(exc.code, connecting=True)
            self._scope.observer.service_error("stt", kind)

    def tts_connect_failed(self, exc: TtsError) -> None:
        """Connecting TTS failed (before the answer: the call is rejected)."""
        kind = status_error_kind(exc.status, connecting=True)
        self._scope.observer.service_error("tts", kind)

    def greeting_lost(self, exc: TtsError) -> None:
        """TTS, late at the answer, failed to connect after it: no greeting."""
        self.tts_connect_failed(exc)
        scope = self._scope
        scope.write({"type": "error", "where": "tts", "error": str(exc)})
        log.error("[%s] TTS failed to connect (%s): no greeting", scope.log_id, exc)

    # -- during the call

    def stt_reconnected(self, event: SttReconnected) -> None:
        """The STT session dropped and a new one took over."""
        scope = self._scope
        scope.write({"type": "stt_reconnected", "outage_s": event.outage_seconds,
                     "backlog_s": event.backlog_seconds,
                     "dropped_s": event.dropped_seconds})  # fmt: skip
        log.warning("[%s] STT reconnected after %.1f s", scope.log_id, event.outage_seconds)
        scope.observer.service_error("stt", "connect")

    def stt_failed(self, event: SttFailed) -> str:
        """STT gave up for good; returns the notice to say before hanging up."""
        scope = self._scope
        scope.write({"type": "stt_failed", "reason": event.reason})
        log.error("[%s] STT failed: %s", scope.log_id, event.reason)
        scope.observer.service_error("stt", status_error_kind(event.code, connecting=False))
        return GOODBYE_ON_STT_FAILURE

    def tts_failed(self, exc: TtsError) -> None:
        """TTS failed while a reply was spoken (what arrived of it plays)."""
        scope = self._scope
        log.error("[%s] TTS failed: %s", scope.log_id, exc)
        scope.write({"type": "error", "where": "tts", "error": str(exc)})
        connecting = isinstance(exc, TtsConnectError)
        scope.observer.service_error("tts", status_error_kind(exc.status, connecting=connecting))

    def llm_failed(self, done: ReplyDone) -> None:
        """The LLM failed or timed out on a reply (it said the fallback phrase)."""
        self._scope.observer.service_error("llm", llm_error_kind(done.error_kind))
        log.warning("[%s] LLM failed (%s): fallback phrase", self._scope.log_id, done.error)
