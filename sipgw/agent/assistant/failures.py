"""What the assistant does when an AI service fails: report it, and what the caller hears.

Every failure of the speech-to-text, LLM or text-to-speech service goes
through :class:`ServiceFailures`, which writes it to the call record and the
log and counts it for the gateway's metrics (by kind: :mod:`sipgw.agent.observer`),
and feeds the call's failure policy (:class:`sipgw.agent.resilience.watch.FailureWatch`
over :class:`sipgw.agent.resilience.policy.FailurePolicy`), whose decisions say what
the caller hears. Every line is played from memory (the fallback lines in the
agent's voice, else the shipped recordings): no vendor is needed to say it.

* *While the phone rings*, STT or TTS failing to connect rejects the call
  (503, so the trunk can try elsewhere); a TTS that is only late lets the call
  be answered, the greeting playing when it is ready.
* *STT drops* mid-call: the client reconnects and keeps the caller's audio
  (sent when it is back). Down for ``stt_notice_after`` (or while the caller
  waits), the caller hears the STT-down notice, reminded while it lasts; down
  for ``stt_give_up_after`` or given up by the client: the transfer notice and
  a transfer to the human target, else the goodbye and the hang-up.
* *TTS fails* during a reply: what arrived plays, then the apology from memory
  at the reply's end; ``tts_max_failures`` in a row: transfer or goodbye.
* *The LLM fails* (after its client's retries within the turn's budget): the
  apology from memory instead of the fallback phrase through TTS;
  ``llm_max_failures`` in a row: transfer or goodbye.
* *The caller waits* for a reply longer than ``hold_line_after`` after their last
  speech (not after the speech-to-text's end of turn, which may come 1 s later): "one moment",
  as the reply's filler line (dropped when its answer's audio comes), reminded
  while the wait lasts. The wait ends when the reply's first audio has arrived
  (:meth:`ServiceFailures.reply_ready`), even if the reply is paused over the caller's
  or the room's speech then: that reply waits on the turn-taking, not on a vendor; and
  when a barge-in cuts the reply off (:meth:`ServiceFailures.reply_cut`): nothing is
  coming, the caller's next turn waits anew. A turn the turn-taking machine does not
  answer (the room's, a backchannel, held words) starts no wait.

A decision about a failure inside a reply is carried out in that reply (its
line said at its end, a transfer or hang-up once it was heard:
:class:`ReplyActions`); the others (the deadlines, STT) by the call's actions.
"""

from __future__ import annotations

import logging
import weakref
from typing import Protocol

from sipgw.agent.assistant.conversation import ReplyDone
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.callscope import CallScope
from sipgw.agent.observer import llm_error_kind, status_error_kind
from sipgw.agent.resilience.policy import (
    Action,
    CallerHeld,
    CallerResumed,
    CallerStartedSpeaking,
    CallerStoppedSpeaking,
    CallerTurnEnded,
    Decision,
    LlmAnswered,
    LlmFailed,
    ReplyAudible,
    ReplyCut,
    ReplyReady,
    SttGaveUp,
    SttLost,
    SttRestored,
    TransferFailed,
    TtsFailed,
    TtsSpoke,
)
from sipgw.agent.resilience.watch import DecisionTaker, FailureWatch, Taken
from sipgw.agent.services.stt.base import (
    SttConnectError,
    SttDisconnected,
    SttFailed,
    SttReconnected,
)
from sipgw.agent.services.tts.base import TtsConnectError, TtsError

__all__ = ["ReplyActions", "ServiceFailures"]

log = logging.getLogger("sipgw.agent")


class ReplyActions(DecisionTaker, Protocol):
    """The call's actions as the failure policy needs them
    (:class:`sipgw.agent.assistant.call_actions.CallActions`)."""

    def move_on_after(self, reply: Reply, decision: Decision) -> None:
        """Transfer or hang up (``decision.action``) once ``reply`` has been heard."""
        ...


class ServiceFailures:
    """One call's AI service failures (see the module docstring)."""

    __slots__ = ("_actions", "_scope", "watch")

    def __init__(self, scope: CallScope, watch: FailureWatch) -> None:
        self._scope = scope
        self.watch = watch
        self._actions: weakref.ref[ReplyActions] | None = None

    def bind(self, actions: ReplyActions) -> None:
        """Carry the decisions out through ``actions`` (held weakly: they hold us)."""
        self._actions = weakref.ref(actions)
        self.watch.bind(actions)

    def close(self) -> None:
        """The call ended: no more deadlines."""
        self.watch.close()

    # -- while the phone rings

    def stt_connected(self) -> None:
        """The STT session opened."""
        self._scope.observer.service_ok("stt")

    def tts_connected(self) -> None:
        """TTS is connected."""
        self._scope.observer.service_ok("tts")

    def stt_connect_failed(self, exc: BaseException) -> None:
        """Opening the STT session failed (the call is rejected)."""
        if isinstance(exc, SttConnectError):
            kind = status_error_kind(exc.code, connecting=True)
            self._scope.observer.service_error("stt", kind, exc.code)

    def tts_connect_failed(self, exc: TtsError) -> None:
        """Connecting TTS failed (before the answer: the call is rejected)."""
        kind = status_error_kind(exc.status, connecting=True)
        self._scope.observer.service_error("tts", kind, exc.status)

    def greeting_lost(self, exc: TtsError) -> None:
        """TTS, late at the answer, failed to connect after it: no greeting (the apology
        from memory instead)."""
        self.tts_connect_failed(exc)
        scope = self._scope
        scope.write({"type": "error", "where": "tts", "error": str(exc)})
        log.error("[%s] TTS failed to connect (%s): no greeting", scope.log_id, exc)
        self.watch.report_and_carry_out(TtsFailed())

    # -- speech to text

    def stt_lost(self, event: SttDisconnected) -> None:
        """The STT session dropped; its client is reconnecting."""
        log.warning("[%s] STT dropped (%s): reconnecting", self._scope.log_id, event.reason)
        self.watch.report_and_carry_out(SttLost())

    def stt_reconnected(self, event: SttReconnected) -> None:
        """The STT session dropped and a new one took over."""
        scope = self._scope
        scope.write({"type": "stt_reconnected", "outage_s": event.outage_seconds,
                     "backlog_s": event.backlog_seconds,
                     "dropped_s": event.dropped_seconds})  # fmt: skip
        log.warning("[%s] STT reconnected after %.1f s", scope.log_id, event.outage_seconds)
        scope.observer.service_error("stt", "connect")
        scope.observer.service_ok("stt")
        self.watch.report_and_carry_out(SttRestored())

    def stt_failed(self, event: SttFailed) -> None:
        """STT gave up for good: the call moves on (transfer or goodbye)."""
        scope = self._scope
        scope.write({"type": "stt_failed", "reason": event.reason})
        log.error("[%s] STT failed: %s", scope.log_id, event.reason)
        kind = status_error_kind(event.code, connecting=False)
        scope.observer.service_error("stt", kind, event.code)
        self.watch.report_and_carry_out(SttGaveUp())

    # -- text to speech

    def tts_spoke(self) -> None:
        """TTS audio arrived for a reply."""
        self._scope.observer.service_ok("tts")
        self.watch.report(TtsSpoke())

    def tts_failed(self, exc: TtsError, reply: Reply) -> None:
        """TTS failed while ``reply`` was spoken: what arrived of it plays, then the
        policy's line (the apology, or a transfer notice or goodbye)."""
        scope = self._scope
        log.error("[%s] TTS failed: %s", scope.log_id, exc)
        scope.write({"type": "error", "where": "tts", "error": str(exc)})
        connecting = isinstance(exc, TtsConnectError)
        kind = status_error_kind(exc.status, connecting=connecting)
        scope.observer.service_error("tts", kind, exc.status)
        self._in_reply(reply, self.watch.report(TtsFailed()))

    # -- the LLM

    def llm_fallback(self, reply: Reply) -> None:
        """The LLM failed on ``reply`` (after its client's retries): the policy's line at
        its end instead of the fallback phrase through TTS."""
        self._in_reply(reply, self.watch.report(LlmFailed()))

    def llm_failed(self, done: ReplyDone) -> None:
        """The LLM failed or timed out on a reply (reported; its line was decided)."""
        kind = llm_error_kind(done.error_kind)
        self._scope.observer.service_error("llm", kind, done.error_status)
        log.warning("[%s] LLM failed (%s)", self._scope.log_id, done.error)

    def llm_answered(self) -> None:
        """The LLM answered a reply."""
        self._scope.observer.service_ok("llm")
        self.watch.report(LlmAnswered())

    # -- the caller and the agent's audio

    def caller_turn_ended(self, since: float | None) -> None:
        """The caller finished a turn: they wait for the reply, since their last loud
        frame ``since`` (the loop's clock; None: now)."""
        self.watch.report_and_carry_out(CallerTurnEnded(since))

    def caller_speaking(self, speaking: bool, since: float | None = None) -> None:
        """The caller started (True) or stopped speaking (the voice-activity detector;
        ``since``: their last loud frame)."""
        event = CallerStartedSpeaking() if speaking else CallerStoppedSpeaking(since)
        self.watch.report_and_carry_out(event)

    def caller_held(self, held: bool) -> None:
        """The caller put the call on hold (True) or resumed it: the policy's clock stops
        meanwhile (no "one moment" they could not hear)."""
        self.watch.report_and_carry_out(CallerHeld() if held else CallerResumed())

    def reply_ready(self) -> None:
        """A reply's first audio arrived from TTS: the caller waits on no vendor now, even
        while the reply is held back (paused over speech, queued behind other audio)."""
        self.watch.report_and_carry_out(ReplyReady())

    def reply_cut(self) -> None:
        """The caller's speech, a transcript or a turn (the room's too) cut the agent's reply
        off: nobody waits for it now (a keypad digit's cut is not reported: the reply to
        the digits follows, and the caller waits on)."""
        self.watch.report_and_carry_out(ReplyCut())

    def reply_audible(self) -> None:
        """A reply's first frame went out."""
        self.watch.report_and_carry_out(ReplyAudible())

    def transfer_failed(self) -> None:
        """The transfer the policy asked for did not happen."""
        self.watch.report_and_carry_out(TransferFailed())

    def _in_reply(self, reply: Reply, taken: list[Taken]) -> None:
        """Carry out decisions about a failure inside ``reply``: its line at its end, then
        the transfer or hang-up once it was heard."""
        actions = self._actions() if self._actions is not None else None
        for decision, audio in taken:
            if audio is not None and reply.fallback is None:
                reply.fallback = audio
            if actions is not None and decision.action in (Action.TRANSFER, Action.GOODBYE):
                actions.move_on_after(reply, decision)
