"""The assistant's idle policy at work: the thin adapter that feeds :class:`IdlePolicy` the call.

:class:`IdleWatch` (on :class:`sipgw.agent.idle.watch.IdleWatchBase`, which the
speech-to-speech agents' watch shares) feeds the policy what the call does, every
:data:`LOOK_EVERY` of the 20 ms ticks (:meth:`IdleWatch.tick`: is the agent speaking or
preparing a reply, is the call held, is a transfer or the agent's own hang-up under way) and
at each sound of the caller (:meth:`IdleWatch.caller_active`), and carries out what it
decides: a check-in
(the fixed ``check_line``, or a reply of the model to a note saying how long the caller
has been quiet) or the goodbye, then the hang-up once it was heard (bounded by
``action_line_timeout``). Each step is an ``idle`` record and counted
(``sipgw_idle_total``); the hang-up's record says ``reason: idle``, and so does the call
record's ``end`` (``hung_up_for``).
"""

from __future__ import annotations

import asyncio

from sipgw.agent.assistant.reply import Reply, SpeakingState
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.callscope import CallScope
from sipgw.agent.idle.policy import CheckIn, IdleSettings
from sipgw.agent.idle.watch import LOOK_EVERY, HangsUp, IdleWatchBase

__all__ = ["LOOK_EVERY", "IdleWatch"]


class IdleWatch(IdleWatchBase):
    """One assistant call's idle policy, carried out; see the module docstring."""

    __slots__ = ("_responder", "_speaker", "_state")

    def __init__(
        self,
        scope: CallScope,
        settings: IdleSettings,
        speaker: Speaker,
        responder: Responder,
        actions: HangsUp,
        line_timeout: float,
    ) -> None:
        super().__init__(scope, settings, actions, line_timeout)
        self._speaker = speaker
        self._state: SpeakingState = speaker.state
        self._responder = responder

    def tick(self, now: float, *, held: bool, transferring: bool) -> None:
        """Every 20 ms: feed the policy the call's state, and do what it says."""
        self.look(now, held=held, transferring=transferring)

    def busy(self) -> bool:
        state = self._state
        return state.playout.pending or state.active(state.reply)

    def check_in(self, step: CheckIn) -> None:
        line = self.settings.check_line
        if line:
            self._speaker.say(line, "notice")
        else:
            self._responder.reply_to_note(
                f"[The caller has said nothing for {round(step.silent_s)} seconds. In a few "
                "words, ask whether they are still there.]"
            )

    def give_up(self) -> None:
        reply = self._speaker.say(self.settings.goodbye_line, "notice")
        self._scope.spawn(self.hang_up_after(self._heard(reply)))

    async def _heard(self, reply: Reply) -> None:
        """The goodbye was heard (or cut off)."""
        if reply.task is not None:
            await asyncio.wait({reply.task})
        await self._speaker.played(reply)
