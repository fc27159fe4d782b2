"""``<Refer>`` in the interpreter: the caller's phone asked to call the target
(:mod:`sipgw.agent.twiml.referverb`), and how it went to the verb's ``action``."""

from __future__ import annotations

import logging

from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.twiml.referverb import GATEWAY_HANGUP, ReferResult
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.twilio.document import Refer

log = logging.getLogger("sipgw.agent")


class ReferVerb(VerbHandler):
    """``<Refer>``; the one under way, and whether the phone accepted it."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self._referring: tuple[Refer, bool] | None = None

    async def refer(self, verb: Refer) -> None:
        """``<Refer>`` (:mod:`sipgw.agent.twiml.referverb`): the caller's phone is asked to
        call the ``<Sip>`` target (a REFER through the dial allow-list); the gateway ends
        this call once the target answered, else ``action`` gets why (its TwiML runs next)
        or the next verb runs. The caller hanging up meanwhile posts it at the close."""
        self.steps.append("refer")
        self.ctx.note("refer", target=verb.target)
        self.ctx.transfer_failed.clear()
        self.ctx.refer_status = self.ctx.refer_refusal = None
        self._referring = (verb, False)
        try:
            accepted = await self.call.transfer(verb.target)
        except DialRefused as exc:
            log.warning("[%s] TwiML <Refer> %s refused: %s", self.call.call_id, verb.target, exc)
            self.ctx.note("refused", verb="Refer", why=str(exc), target=verb.target)
            accepted = False
        if self.ctx.closed:
            return  # close() posted it
        result = ReferResult.refused(self.ctx.refer_refusal)
        if accepted:
            self._referring = (verb, True)
            await self.ctx.transfer_failed.wait()  # the call ends when the target answers
            if self.ctx.closed:
                return
            if self.ctx.refer_status is not None:
                result = ReferResult.not_reached(self.ctx.refer_status)
        self._referring = None
        self.ctx.note("refer_ended", status=result.status, notify=result.notify)
        if verb.action:
            assert self.ctx.program is not None
            self.ctx.program.post(verb.action, verb.method, result.params(), "<Refer action>")

    def at_close(self, reason: str) -> None:
        """The call ended during a ``<Refer>``: the gateway's own hang-up once the target
        answered (``in-progress``), or the caller's (``canceled``); ``action`` gets it
        (its answer is not followed: the call is over)."""
        referring, self._referring = self._referring, None
        if referring is None:
            return
        verb, accepted = referring
        done = accepted and reason == GATEWAY_HANGUP
        result = ReferResult.answered() if done else ReferResult.canceled(accepted)
        self.ctx.note("refer_ended", status=result.status, notify=result.notify)
        if verb.action:
            self.ctx.post_callback(verb.action, verb.method, "completed", result.params())
