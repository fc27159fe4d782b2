"""What a TwiML call's failure does (the webhook late or failing, a document that does not
parse, a stream that breaks): logged and recorded, then the operator's fallback
(``SIPGW_TWIML_FALLBACK``: a line said then the hang-up, a transfer, or the hang-up); a
screening that fails refuses the bridge."""

from __future__ import annotations

import logging

from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler

log = logging.getLogger("sipgw.agent")


class Fallback(VerbHandler):
    """The call's failure (:attr:`failure`, "" while none) and its fallback (:meth:`run`)."""

    def __init__(self, ctx: VerbContext, screening: bool) -> None:
        super().__init__(ctx)
        self.screening = screening
        self.failure = ""

    def fail(self, reason: str) -> None:
        self.failure = reason
        log.error("[%s] TwiML: %s; fallback: %s", self.call.call_id, reason,
                  self.settings.fallback)  # fmt: skip
        self.ctx.note("failure", reason=reason, fallback=self.settings.fallback)

    async def run(self) -> None:
        if self.screening:  # a screening that failed refuses the bridge
            self.call.hangup()
            return
        self.ctx.answer_now()
        settings = self.settings
        self.steps.append(f"fallback {settings.fallback}")
        if settings.fallback != "hangup":
            await self.ctx.out.play_frames(settings.fallback_frames)
        if settings.fallback == "transfer" and settings.fallback_target:
            try:
                if await self.call.transfer(settings.fallback_target):
                    await self.ctx.transfer_failed.wait()
            except DialRefused as exc:
                log.error("[%s] fallback transfer refused: %s", self.call.call_id, exc)
        self.call.hangup()
