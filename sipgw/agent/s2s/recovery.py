"""When the speech-to-speech service fails: a failed reply, a dropped or lost session.

What the caller hears is the failure policy's (agent/resilience/policy.py, on
the call's :class:`~sipgw.agent.resilience.watch.FailureWatch`), played from memory
by the call's actions (:mod:`sipgw.agent.s2s.actions`): the model is never asked to
apologize, since the model may be what failed.

*A reply fails* (the service ends it ``failed``, or reports an error where the
caller waits for it: :attr:`~sipgw.agent.services.s2s.base.ServiceError.reply_lost`), or *never
comes* (no reply audible within the reply timeout: :mod:`sipgw.agent.s2s.waiting`; the
stalled reply is cut, so nothing of it plays late): the apology (an LLM failure to
the policy); ``llm_max_failures`` in a row and the call moves on (a transfer to
the human target, else the goodbye).

*The connection drops* and the session is being resumed
(:class:`~sipgw.agent.services.s2s.base.SessionInterrupted`, then
:class:`~sipgw.agent.services.s2s.base.SessionReconnected`): the caller is not heard
meanwhile (a speech-recognition outage to the policy: the notice after
``stt_notice_after``).

*The session fails* for good (:class:`~sipgw.agent.services.s2s.base.SessionFailed`, after the
session's own resume attempts): the reply in progress is lost (the apology at
once) and a new session is opened with the conversation so far in its
instructions (:attr:`SessionRecovery.history`: the caller's transcripts and what
the agent said, cut to what was heard); it waits for the caller, who was asked
to say it again. When no session can be had (:data:`RECOVERY_ATTEMPTS`), the
call moves on.

Every failure is written to the call record and counted for the gateway's
metrics (service ``s2s``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

from sipgw.agent.observer import ErrorKind
from sipgw.agent.resilience.policy import LlmAnswered, LlmFailed, SttGaveUp, SttLost, SttRestored
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.declared_tools import DeclaredTools
from sipgw.agent.s2s.replies import Reply
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.voice import ModelVoice
from sipgw.agent.s2s.waiting import ReplyWait
from sipgw.agent.services.backoff import Backoff
from sipgw.agent.services.s2s.base import (
    ReplyDone,
    S2sConnectError,
    ServiceError,
    SessionConfig,
    SessionFailed,
    SessionInterrupted,
    SessionReconnected,
    SpeechToSpeech,
)
from sipgw.agent.turns.machine import Cause

__all__ = ["HISTORY_CHARS", "RECOVERY_ATTEMPTS", "SessionRecovery"]

log = logging.getLogger("sipgw.agent")

RECOVERY_ATTEMPTS: Final = 2
"""New sessions tried after one failed for good, before the call moves on."""
RECOVERY_BACKOFF: Final = Backoff.listed(*(0.2 * (n + 1) for n in range(RECOVERY_ATTEMPTS)))
"""The wait after each new session that failed to connect: 0.2 s, 0.4 s."""
HISTORY_CHARS: Final = 4000
"""The conversation so far a new session gets after a failure, at most (its end)."""

Listen = Callable[[SpeechToSpeech], Coroutine[Any, Any, None]]
"""Reads a session's events (the agent's loop)."""


class SessionRecovery:
    """One call's service failures (see the module docstring).

    Args:
        scope: the call's record, observer, tasks and session (replaced here).
        new_session: makes a session (not connected yet).
        voice: the model's replies (cut when the session fails).
        watch: the call's failure policy.
        wait: the caller's wait for a reply (over once a failure is answered).
        tools: the tools declared now (a new session declares them).
        instructions: the session's instructions.

    Attributes:
        instructions: the session's instructions now (the caller context may add to them).
        history: the conversation so far, one line per turn.
    """

    __slots__ = (
        "__weakref__", "_new_session", "_scope", "_tools", "_voice", "_wait", "_watch",
        "history", "instructions",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        new_session: Callable[[], SpeechToSpeech],
        voice: ModelVoice,
        watch: FailureWatch,
        wait: ReplyWait,
        tools: DeclaredTools,
        instructions: str,
    ) -> None:
        self._scope = scope
        self._new_session = new_session
        self._voice = voice
        self._watch = watch
        self._wait = wait
        self._tools = tools
        self.instructions = instructions
        self.history: list[str] = []

    # -- the conversation so far

    def caller_said(self, text: str) -> None:
        """A finished turn of the caller, as the service transcribed it."""
        self._scope.write({"type": "user", "text": text})
        self.history.append(f"Caller: {text}")

    def reply_ended(self, reply: Reply, event: ReplyDone) -> None:
        """A reply ended: into the history; a failed one goes to the failure policy."""
        text = ModelVoice.said(reply)
        if text:
            self.history.append(f"You: {text}{'…' if ModelVoice.interrupted(reply) else ''}")
        scope = self._scope
        if event.status in ("failed", "incomplete"):
            scope.write({"type": "error", "where": "s2s", "error": event.error or event.status})
            self.service_error("protocol")
            if event.status == "failed":
                self._reply_failed()
        elif event.status == "completed" and reply.received_ms:
            scope.observer.service_ok("s2s")
            self._watch.report(LlmAnswered())

    # -- the session

    def service_reported(self, event: ServiceError) -> None:
        """The service reported an error; the session goes on (the reply the caller waits
        for may be lost: the apology)."""
        self._scope.write({"type": "error", "where": "s2s", "code": event.code,
                           "error": event.message})  # fmt: skip
        self.service_error("protocol", event.status)
        if event.reply_lost:
            self._reply_failed()

    def no_reply(self) -> None:
        """No reply became audible within the reply timeout: the stalled reply is cut
        (nothing of it plays late) and the caller hears the apology."""
        scope = self._scope
        scope.write({"type": "error", "where": "s2s",
                     "error": f"no reply within {self._wait.timeout:g} s"})  # fmt: skip
        self.service_error("timeout")
        self._voice.cut(Cause.NOTICE)
        self._reply_failed()

    def _reply_failed(self) -> None:
        """The caller's reply will not come: the policy's line (the apology) answers."""
        self._wait.stop()
        self._watch.report_and_carry_out(LlmFailed())

    def interrupted(self, event: SessionInterrupted) -> None:
        """The connection dropped; the session is being resumed."""
        self._scope.write({"type": "s2s_interrupted", "reason": event.reason})
        self._watch.report_and_carry_out(SttLost())

    def resumed(self, event: SessionReconnected) -> None:
        """The connection dropped and the session was resumed."""
        scope = self._scope
        scope.write({"type": "s2s_reconnected", "outage_s": event.outage_seconds})
        log.warning("[%s] %s resumed after %.1f s", scope.log_id, scope.session.name,
                    event.outage_seconds)  # fmt: skip
        self.service_error("connect")
        scope.observer.service_ok("s2s")
        self._watch.report_and_carry_out(SttRestored())

    async def failed(self, event: SessionFailed, listen: Listen) -> None:
        """The session is gone for good: the apology, and a new session with the
        conversation so far (``listen`` reads its events); none: the call moves on."""
        scope = self._scope
        scope.write({"type": "s2s_failed", "reason": event.reason, "code": event.code})
        self.service_error("connect")
        if scope.closed:
            return
        self._voice.cut(Cause.NOTICE)
        self._reply_failed()  # the reply in progress is lost
        self._watch.report_and_carry_out(SttLost())
        history = "\n".join(self.history)[-HISTORY_CHARS:]
        instructions = self.instructions
        if history:
            instructions += f"\n\nThe conversation so far:\n{history}"
        config = SessionConfig(instructions, "", self._tools.refreshed())
        for attempt in range(RECOVERY_ATTEMPTS):
            session = self._new_session()
            try:
                await session.connect(config)
            except S2sConnectError as exc:
                scope.write({"type": "error", "where": "s2s", "error": str(exc)})
                await asyncio.sleep(RECOVERY_BACKOFF.steps[attempt])
                continue
            old, scope.session = scope.session, session
            scope.spawn(old.close())
            scope.write({"type": "s2s_recovered", "attempt": attempt + 1})
            scope.observer.service_ok("s2s")
            scope.spawn(listen(session))
            self._watch.report_and_carry_out(SttRestored())
            return
        log.error("[%s] %s unavailable: the call moves on", scope.log_id, scope.session.name)
        scope.write({"type": "s2s_unavailable"})
        self._watch.report_and_carry_out(SttGaveUp())

    def service_error(self, kind: ErrorKind, status: int | None = None) -> None:
        """Count a failure of the service for the gateway's metrics (``status``: 400 for an
        error about our own request, which the breakers do not count)."""
        self._scope.observer.service_error("s2s", kind, status)
