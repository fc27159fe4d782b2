"""The caller waiting for the model: the failure policy's watchdog, and the reply timeout.

A speech-to-speech model that is slow or stalled leaves the caller in silence as a
slow LLM does in the pipeline, so the same failure policy watches the wait
(agent/resilience/policy.py): :class:`ReplyWait` reports the end of the caller's turn
(:class:`~sipgw.agent.resilience.policy.CallerTurnEnded`, counted from their last loud
frame) and its end, so "one moment" is said from memory ``hold_line_after`` after the
caller stopped, and reminded while the wait goes on. The wait is the model's part only:
it ends when a reply's first audio arrives from the service
(:class:`~sipgw.agent.resilience.policy.ReplyReady`: even if the playout holds it, paused
over the caller's or the room's speech), at the latest when its first frame goes out
(:class:`~sipgw.agent.resilience.policy.ReplyAudible`), and when a barge-in cuts the reply
off (:class:`~sipgw.agent.resilience.policy.ReplyCut`: the caller's speech, or the room's
that the service hears, cut it before its audio came; nothing is coming for that turn).
The turn that follows a cut waits anew, counted from its last loud frame but not from
before the cut (speech that ends a turn after a cut ended after it: the room's, which
the call's detector does not take for the caller's, leaves their last loud frame where
their own turn ended).

The end of the turn is the service's when it detects turns (Voice Agent's
``input.speech.stopped``, Realtime's ``input_audio_buffer.committed``:
:class:`~sipgw.agent.services.s2s.base.CallerTurnOver`), else the agent's own endpointer's
(:mod:`sipgw.agent.turns.endpointing`). The pipeline's LLM has its own timeouts; a model that
never answers has none, so the wait also has a *reply timeout*: no reply audible
``reply_timeout`` seconds after the caller stopped (the time a tool runs not
counted: the wait starts again when its result goes back) and the agent gives the
reply up (:meth:`sipgw.agent.s2s.recovery.SessionRecovery.no_reply`: the stalled reply is
cut, the apology said, an LLM failure to the policy, which moves the call on after
``llm_max_failures`` of them).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from sipgw.agent.resilience.policy import CallerTurnEnded, ReplyAudible, ReplyCut, ReplyReady
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.scope import SessionScope

__all__ = ["ReplyWait"]

log = logging.getLogger("sipgw.agent")


class ReplyWait:
    """One call's wait for the model's replies (see the module docstring).

    Args:
        scope: the call's clock and state.
        watch: the call's failure policy.
        timeout: seconds from the caller's last speech to an audible reply before the
            reply is given up.
    """

    __slots__ = ("_cut_at", "_expired", "_left", "_scope", "_timer", "_watch", "timeout")

    def __init__(self, scope: SessionScope, watch: FailureWatch, timeout: float) -> None:
        self._scope = scope
        self._watch = watch
        self.timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self._left: float | None = None
        """While the caller holds the call: what was left of the reply timeout."""
        self._expired: weakref.WeakMethod[Callable[[], None]] | None = None
        self._cut_at: float | None = None
        """When a barge-in last cut a reply off: no turn reported after it ended before."""

    def bind(self, expired: Callable[[], None]) -> None:
        """Call the bound method ``expired`` when the reply timeout passes (held weakly:
        its owner holds us)."""
        self._expired = weakref.WeakMethod(expired)

    @property
    def waiting(self) -> bool:
        """The reply timeout runs (the caller waits for a reply)."""
        return self._timer is not None

    def turn_ended(self, since: float | None) -> None:
        """The caller's turn is over (their last loud frame ``since``): they wait."""
        now = self._scope.now()
        start = now if since is None else min(since, now)
        if self._cut_at is not None:
            start = max(start, self._cut_at)  # the speech that cut the reply ended after it
        self._watch.report_and_carry_out(CallerTurnEnded(start))
        if self._timer is None:
            self._arm(start + self.timeout)

    def reply_ready(self) -> None:
        """A reply's first audio arrived from the service: the caller waits on the model no
        more, even while the reply is held back (paused over the caller's or the room's
        speech)."""
        self._cancel()
        self._watch.report_and_carry_out(ReplyReady())

    def reply_audible(self) -> None:
        """A reply's first frame went out: the wait is over."""
        self._cancel()
        self._watch.report_and_carry_out(ReplyAudible())

    def reply_cut(self) -> None:
        """A barge-in (the caller's speech, or the room's the service heard) cut the reply
        off: nothing is coming for the turn it answered, nobody waits for it; the next
        turn waits anew, counted from no earlier than now."""
        self._cancel()
        self._cut_at = self._scope.now()
        self._watch.report_and_carry_out(ReplyCut())

    def stop(self) -> None:
        """The wait ended without a reply: the caller speaks again (no reply is due until
        their turn ends), or a failure was answered (the apology)."""
        self._cancel()

    def tool_running(self) -> None:
        """The model called a tool: its run does not count against the model."""
        self._cancel()

    def tool_answered(self) -> None:
        """A tool's result went back: the model's reply to it is due ``timeout`` from now."""
        if not self._scope.closed:
            self._cancel()
            self._arm(self._scope.now() + self.timeout)

    def hold(self, held: bool) -> None:
        """The caller held the call (nothing of a reply can be heard meanwhile: the reply
        timeout stops) or resumed it (the timeout goes on from where it was)."""
        loop = self._scope.loop
        if held and self._timer is not None:
            left = max(0.0, self._timer.when() - loop.time())
            self._cancel()
            self._left = left
        elif not held and self._left is not None:
            left, self._left = self._left, None
            if self._timer is None and not self._scope.closed:
                self._arm(loop.time() + left)

    def close(self) -> None:
        """The call ended."""
        self._left = None
        self._cancel()

    def _arm(self, due: float) -> None:
        self._timer = self._scope.loop.call_at(due, self._expire)

    def _cancel(self) -> None:
        self._left = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._scope.closed:
            return
        log.warning("[%s] no reply within %.1f s", self._scope.log_id, self.timeout)
        expired = self._expired() if self._expired is not None else None
        if expired is not None:
            expired()
