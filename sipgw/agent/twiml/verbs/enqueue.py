"""``<Enqueue>`` in the interpreter: the caller waits in one of the gateway's call queues
(:mod:`sipgw.agent.twiml.queues.enqueue`), its wait documents played, until a ``<Dial><Queue>``
takes it; ``QueueResult`` to its ``action``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.queues.enqueue import EnqueueRun, QueueOutcome, WaitHooks
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.gather import GatherVerb
from sipgw.agent.twiml.verbs.playback import Playback
from sipgw.agent.twiml.waitmusic import fetch_wait_document
from sipgw.agent.twiml.webhook import FetchFailed
from sipgw.twilio.document import Gather, Hangup, TwimlError, Verb
from sipgw.twilio.queuetwiml import Enqueue

log = logging.getLogger("sipgw.agent")


class EnqueueVerb(VerbHandler):
    """``<Enqueue>``; :attr:`queued` while the caller is in a queue (or bridged from one)."""

    def __init__(self, ctx: VerbContext, playback: Playback, gather: GatherVerb) -> None:
        super().__init__(ctx)
        self.playback = playback
        self.gather = gather
        self.queued: EnqueueRun | None = None

    async def enqueue(self, verb: Enqueue) -> None:
        """``<Enqueue>`` (:mod:`sipgw.agent.twiml.queues.enqueue`): waits in the queue; then its
        ``action`` gets ``QueueResult`` (its TwiML runs next), or the next verb runs."""
        self.steps.append("enqueue")
        assert self.ctx.program is not None
        queues = self.settings.queues
        if queues is None:
            self.refuse("Enqueue", "this gateway gives its TwiML calls no queues")
            return
        try:
            wait_url = absolute_url(self.ctx.program.url, verb.wait_url) if verb.wait_url else ""
        except ValueError as exc:
            self.refuse("Enqueue waitUrl", str(exc))
            wait_url = ""
        hooks = WaitHooks(self._queue_wait_document, self.playback.perform, self.ctx.out.clear,
                          self.ctx.note, self._wait_gather)  # fmt: skip
        run = EnqueueRun(replace(verb, wait_url=wait_url), queues, self.call_sid, hooks,
                         self.call.call_id)  # fmt: skip
        run.narrowband = not self.ctx.may_widen()
        self.queued = run
        try:
            outcome = await run.run(self.call)
        except asyncio.CancelledError:
            if not self.ctx.closed:  # a mid-call update took the caller out of the queue
                self._post_queue_result(verb, QueueOutcome("redirected", run.sid, run.waited()))
            raise
        finally:
            if not self.ctx.closed:
                self.queued = None
        self.steps.append(f"queue {outcome.result}")
        waited = None if outcome.waited is None else round(outcome.waited, 1)
        self.ctx.note("queue_result", result=outcome.result, queue=verb.name, waited=waited)
        if self.ctx.closed:
            return
        if run.hung_up:  # <Hangup> in the wait document: the call ends
            self.ctx.program.update(None, (Hangup(),))
            return
        if verb.action:
            self.ctx.program.post(verb.action, verb.method, outcome.params(), "<Enqueue action>")

    async def _queue_wait_document(
        self, url: str, method: str, params: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[Verb, ...], str] | None:
        """A ``waitUrl`` (or ``<Queue url>``) document; None when it failed (logged)."""
        assert self.ctx.session is not None
        try:
            document = await fetch_wait_document(
                self.ctx.session, url, method, self.ctx.twiml_params(params),
                identity=self.settings.identity, timeout=self.settings.timeout,
                max_bytes=self.settings.max_document_bytes,
            )  # fmt: skip
        except (FetchFailed, TwimlError) as exc:
            reason = (f"the TwiML webhook failed: {exc}" if isinstance(exc, FetchFailed)
                      else f"bad TwiML from {url[:200]}: {exc}")  # fmt: skip
            log.warning("[%s] TwiML queue document: %s", self.call.call_id, reason)
            self.ctx.note("queue_document_failed", url=url[:200], reason=reason)
            return None
        return document.verbs, document.url

    async def _wait_gather(self, verb: Gather) -> tuple[tuple[str, str], ...] | None:
        """A wait document's ``<Gather>``: the fields to post to its action (None: none)."""
        self.steps.append("gather")
        result = await self.gather.listen(verb)
        if result is None or (result.empty and not verb.action_on_empty_result):
            return None
        return result.params()

    def refuse(self, name: str, why: str) -> None:
        self.steps.append(f"refused <{name}>")
        log.warning("[%s] TwiML <%s> refused: %s", self.call.call_id, name, why)
        self.ctx.note("refused", verb=name, why=why)

    def at_hangup(self) -> None:
        """The caller hung up in a queue (or bridged from one): out of it, and the
        ``action`` gets how (its answer is not followed: the call is over), as on Twilio."""
        run, self.queued = self.queued, None
        if run is None:
            return
        self._post_queue_result(run.verb, run.at_hangup(), "completed")

    def _post_queue_result(self, verb: Enqueue, outcome: QueueOutcome, status: str = "") -> None:
        """``QueueResult`` to ``action`` as a callback (its answer is not followed)."""
        self.ctx.post_callback(verb.action, verb.method, status or "in-progress", outcome.params())
