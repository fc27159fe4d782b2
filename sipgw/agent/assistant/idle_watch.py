"""The assistant's idle policy at work: the thin adapter that feeds :class:`IdlePolicy` the call.

:class:`IdleWatch` feeds the policy what the call does, every :data:`LOOK_EVERY` of the
20 ms ticks (:meth:`IdleWatch.tick`: is the agent speaking or preparing a reply, is the
call held, is a transfer or the agent's own hang-up under way) and at each sound of the
caller (:meth:`IdleWatch.caller_active`), and carries out what it decides: a check-in
(the fixed ``check_line``, or a reply of the model to a note saying how long the caller
has been quiet) or the goodbye, then the hang-up once it was heard (bounded by
``action_line_timeout``). Each step is an ``idle`` record and counted
(``sipgw_idle_total``); the hang-up's record says ``reason: idle``, and so does the call
record's ``end`` (``hung_up_for``).
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from sipgw.agent.assistant.reply import Reply, SpeakingState
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.callscope import CallScope
from sipgw.agent.idle.policy import CheckIn, GiveUp, IdlePolicy, IdleSettings

__all__ = ["LOOK_EVERY", "IdleWatch"]

LOOK_EVERY: Final = 0.1
"""Seconds between two looks at the call's state (every 5th tick): a check-in comes up to
this late, and the ticks between cost nothing."""


class HangsUp(Protocol):
    """What the watch needs of the call's actions
    (:class:`sipgw.agent.assistant.call_actions.CallActions`)."""

    @property
    def acting(self) -> bool:
        """A transfer or hang-up is under way (or waits for its line)."""
        ...

    def hang_up(self, reason: str = "") -> None:
        """End the call now, recorded with ``reason``."""
        ...


class IdleWatch:
    """One call's idle policy, carried out; see the module docstring.

    Attributes:
        hung_up: it ended the call (the record's ``hung_up_for``: ``idle``).
    """

    __slots__ = (
        "_actions", "_line_timeout", "_next_look", "_policy", "_responder", "_scope", "_speaker",
        "_state", "hung_up", "settings",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        settings: IdleSettings,
        speaker: Speaker,
        responder: Responder,
        actions: HangsUp,
        line_timeout: float,
    ) -> None:
        self.settings = settings
        self._scope = scope
        self._speaker = speaker
        self._state: SpeakingState = speaker.state
        self._responder = responder
        self._actions = actions
        self._line_timeout = line_timeout
        self._policy: IdlePolicy | None = None  # from the answer on
        self._next_look = 0.0
        self.hung_up = False

    def start(self, now: float) -> None:
        """The call was answered: silence counts from now (the greeting is speaking)."""
        if self._policy is None and self.settings.after is not None:
            self._policy = IdlePolicy(self.settings, now)

    def caller_active(self, now: float) -> None:
        """The caller made a sound (a loud frame, a keypad digit)."""
        if self._policy is not None:
            self._policy.caller_active(now)

    def tick(self, now: float, *, held: bool, transferring: bool) -> None:
        """Every 20 ms: feed the policy the call's state, and do what it says."""
        policy = self._policy
        if policy is None or now < self._next_look or policy.finished:
            return
        self._next_look = now + LOOK_EVERY
        state = self._state
        speaking = state.playout.pending or state.active(state.reply)
        policy.busy("speaking", speaking, now)
        policy.busy("hold", held, now)
        policy.busy("transfer", transferring or self._actions.acting, now)
        step = policy.poll(now)
        if isinstance(step, CheckIn):
            self._check_in(step)
        elif isinstance(step, GiveUp):
            self._give_up(step)

    def _check_in(self, step: CheckIn) -> None:
        scope = self._scope
        line = self.settings.check_line
        scope.write({"type": "idle", "step": "check_in", "number": step.number,
                     "silent_ms": round(step.silent_s * 1000),
                     "by": "line" if line else "model"})  # fmt: skip
        scope.observer.idle("check_in")
        if line:
            self._speaker.say(line, "notice")
        else:
            self._responder.reply_to_note(
                f"[The caller has said nothing for {round(step.silent_s)} seconds. In a few "
                "words, ask whether they are still there.]"
            )

    def _give_up(self, step: GiveUp) -> None:
        scope = self._scope
        scope.write({"type": "idle", "step": "hang_up", "silent_ms": round(step.silent_s * 1000)})
        scope.observer.idle("hang_up")
        reply = self._speaker.say(self.settings.goodbye_line, "notice")
        scope.spawn(self._hang_up_after(reply))

    async def _hang_up_after(self, reply: Reply) -> None:
        """Hang up once the goodbye was heard (or cut off; at most ``line_timeout``)."""
        try:
            async with asyncio.timeout(self._line_timeout):
                if reply.task is not None:
                    await asyncio.wait({reply.task})
                await self._speaker.played(reply)
        except TimeoutError:
            pass
        self.hung_up = True
        self._actions.hang_up("idle")
