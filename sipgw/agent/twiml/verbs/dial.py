"""``<Dial>`` in the interpreter: the gateway's own second leg bridged
(:mod:`sipgw.agent.twiml.dial.bridge`, :mod:`sipgw.agent.twiml.dial.ringall`), or a REFER to
the caller's phone, or ``<Dial><Queue>`` (:mod:`sipgw.agent.twiml.queues.queuedial`); the called
party's REFER (``referUrl``: :mod:`sipgw.agent.twiml.dial.referurl`); how it ended to its
``action``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sipgw.agent.base import AnswersLater
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.twiml.dial.bridge import BridgedDial, LegPlacingCall
from sipgw.agent.twiml.dial.referurl import DialRefer, ReferFetchFailed, StagedDial
from sipgw.agent.twiml.dial.ringall import RingAllDial
from sipgw.agent.twiml.dial.rules import DialResult, refer_status, usable_caller_id
from sipgw.agent.twiml.dial.screening import DialLegs
from sipgw.agent.twiml.program import Fetch, Refused, Run, Step, absolute_url
from sipgw.agent.twiml.queues.queuedial import QueueDial
from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.agent.twiml.verbs.context import Fatal, VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.dialrecording import DialRecording
from sipgw.agent.twiml.verbs.enqueue import EnqueueVerb
from sipgw.twilio.document import Dial

log = logging.getLogger("sipgw.agent")


class DialVerb(VerbHandler):
    """``<Dial>``; :attr:`dialing` while a bridge (or a queue's caller) is the call's
    ``<Dial>`` of the moment."""

    def __init__(self, ctx: VerbContext, recording: DialRecording, queues: EnqueueVerb) -> None:
        super().__init__(ctx)
        self.recording = recording
        self.queues = queues
        self.dialing: tuple[BridgedDial | QueueDial, Dial] | None = None
        self._referred: tuple[Any, str] | StagedDial | str | None = None

    async def dial(self, verb: Dial) -> None:
        """``<Dial>``: bridged (:mod:`sipgw.agent.twiml.dial.bridge`) when the call can place a
        second leg and the operator did not choose REFER; then its ``action`` gets how it
        ended, or the next verb runs."""
        self.steps.append("dial")
        call = self.call
        if verb.answer_on_bridge and self.ctx.answer_deferred:
            self.ctx.note("dial_early", attribute="answerOnBridge")
        for what in verb.ignored:
            log.warning("[%s] TwiML <Dial> %s: ignored", call.call_id, what)
            self.ctx.note("dial_ignored", attribute=what)
        result: DialResult | None
        if verb.targets[0].kind == "queue":
            result = await self._dial_queue(verb)
        elif self.settings.dial == "bridge" and isinstance(call, LegPlacingCall):
            result = await self._dial_bridged(verb, call)
        else:
            result = await self._dial_refer(verb)
        if result is None or self.ctx.closed:
            return  # the caller went to the target (REFER), or hung up
        assert self.ctx.program is not None
        while True:  # the called party's REFER (dial/referurl.py): referUrl's TwiML runs next
            referred, self._referred = self._referred, None
            if isinstance(referred, str):
                raise Fatal(referred)  # referUrl failed: the caller is not kept (Twilio's)
            if isinstance(referred, StagedDial):  # answerOnBridge: its <Dial> went first
                verb, result = referred.verb, await self._run_staged(referred)
                if self.ctx.closed:
                    return
                self.ctx.program.load(referred.rest, referred.url)
                continue
            if referred is not None:
                self.ctx.program.load(*referred)
                return
            break
        self.ctx.program.dialled(verb, result.params())

    async def _dial_bridged(self, verb: Dial, placer: LegPlacingCall) -> DialResult:
        on_bridged = self.ctx.answer_now if self.ctx.answer_deferred else None
        dialing, refer = self._new_bridge(verb, placer, on_bridged)
        result = await self._run_bridge(dialing, verb)
        self._referred = await refer.settled()
        return result

    async def _run_staged(self, staged: StagedDial) -> DialResult:
        """referUrl's first ``<Dial>``, started while the caller still talked with the
        transferring party (``answerOnBridge``), as the call's ``<Dial>`` from now on."""
        self.dialing = (staged.dialing, staged.verb)
        try:
            result = await staged.task
        finally:
            if not self.ctx.closed:
                self.dialing = None
        self._referred = await staged.refer.settled()
        return self.recording.with_recording(staged.dialing, result, staged.verb)

    def _new_bridge(
        self, verb: Dial, placer: LegPlacingCall, on_bridged: Callable[[], None] | None
    ) -> tuple[BridgedDial, DialRefer]:
        """A bridged ``<Dial>`` (one target at a time, or all at once) and what takes its
        called party's REFER."""
        call = self.call
        caller_id = usable_caller_id(verb.caller_id, call.details)
        if verb.caller_id and not caller_id:
            log.warning("[%s] TwiML <Dial callerId=%r>: refused (neither the caller's number "
                        "nor the number called); the gateway's caller id goes out",
                        call.call_id, verb.caller_id)  # fmt: skip
            self.ctx.note("refused", verb="Dial callerId", why="not the call's own number")
        recorder = self.recording.bridge_recorder(verb, self.recording.refuse)
        at_once = len(verb.targets) > 1 and not verb.sequential  # dial/ringall.py
        how = RingAllDial if at_once else BridgedDial  # one, or each in turn
        dialing = how(call, placer, verb, caller_id, self.ctx.note, recorder, on_bridged,
                      self._dial_legs())  # fmt: skip
        refer = dialing.on_refer = self._dial_refer_handler(verb, dialing, placer)
        dialing.wideband = self.ctx.may_widen(recorder)
        return dialing, refer

    def _dial_refer_handler(
        self, verb: Dial, dialing: BridgedDial, placer: LegPlacingCall
    ) -> DialRefer:
        """What takes the called party's REFER (``referUrl``:
        :mod:`~sipgw.agent.twiml.dial.referurl`)."""
        url = ""
        if verb.refer_url:
            assert self.ctx.program is not None
            url = callback_url(self.ctx.program.url, verb.refer_url, self.call.call_id,
                               "<Dial referUrl>") or ""  # fmt: skip

        async def fetch(
            where: str, method: str, extra: tuple[tuple[str, str], ...]
        ) -> tuple[Any, str]:
            try:
                fetched = await self.ctx.fetch_twiml(where, method, extra)
                return self.ctx.parse(fetched.body, fetched.url), fetched.url
            except Fatal as exc:
                raise ReferFetchFailed(str(exc)) from None

        def stage(
            first: Dial, connected: Callable[[], None]
        ) -> tuple[BridgedDial, DialRefer, asyncio.Task[Any]]:
            staged, refer = self._new_bridge(first, placer, connected)
            self.steps.append("dial")
            return staged, refer, self.ctx.spawn(staged.run())

        return DialRefer(verb, url, dialing, fetch, self.ctx.spawn, self.ctx.note,
                         self.call.call_id, stage)  # fmt: skip

    def _dial_legs(self) -> DialLegs:
        """The legs' status callbacks (through this call's poster) and screening (this
        agent's interpreter on the leg)."""
        assert self.ctx.program is not None
        settings = self.settings

        def post(callback: Callback, form: dict[str, str]) -> None:
            if self.ctx.poster is not None:
                self.ctx.poster.post(callback, form)

        return DialLegs(
            self.call_sid, settings.identity.account_sid, self.ctx.program.url, post,
            self.ctx.screener, self.call.call_id,
        )  # fmt: skip

    async def _run_bridge(self, dialing: BridgedDial | QueueDial, verb: Dial) -> DialResult:
        """``dialing`` run as the call's ``<Dial>`` of the moment; its result, with the
        bridge's recording."""
        self.dialing = (dialing, verb)
        try:
            result = await dialing.run()
        finally:
            if not self.ctx.closed:
                self.dialing = None
        return self.recording.with_recording(dialing, result, verb)

    async def _dial_refer(self, verb: Dial) -> DialResult | None:
        """Each target in turn by REFER; None once one answered (the call ends)."""
        status: DialResult = DialResult("failed")
        for target in verb.targets:
            address = target.address
            if target.kind == "number" and ":" not in address:  # a REFER needs a URI
                address = "tel:" + "".join(address.split())  # RFC 3966, judged as the number
            self.ctx.note("dial", target=address, how="refer")
            try:
                self.ctx.transfer_failed.clear()
                self.ctx.refer_status = None
                accepted = await self.call.transfer(address)
            except DialRefused as exc:
                log.warning("[%s] TwiML <Dial> %s refused: %s", self.call.call_id, address, exc)
                self.ctx.note("refused", verb="Dial", why=str(exc), target=address)
                continue
            if not accepted:
                continue
            await self.ctx.transfer_failed.wait()  # the call ends when the target answers
            if self.ctx.closed:
                return None
            if self.ctx.refer_status is not None:
                status = DialResult(refer_status(self.ctx.refer_status))
        # as on Twilio: a <Dial> that did not connect goes on (its action, or the next verb)
        return status

    def at_hangup(self) -> None:
        """The caller hung up during a bridged ``<Dial>``: the leg ends too, and its
        ``action`` gets how (``completed`` or ``canceled``; its answer is not followed: the
        call is over), as on Twilio."""
        dialing, self.dialing = self.dialing, None
        if dialing is None:
            return
        bridged, verb = dialing
        result = self.recording.with_recording(bridged, bridged.at_hangup(), verb)
        self.ctx.post_callback(verb.action, verb.method, "completed", result.params())

    async def _dial_queue(self, verb: Dial) -> DialResult:
        """``<Dial><Queue>`` (:mod:`sipgw.agent.twiml.queues.queuedial`)."""
        queues = self.settings.queues
        assert self.ctx.program is not None
        if queues is None:
            self.queues.refuse("Dial><Queue", "this gateway gives its TwiML calls no queues")
            return DialResult("failed")
        target = verb.targets[0]
        if target.url:
            try:
                target = replace(target, url=absolute_url(self.ctx.program.url, target.url))
            except ValueError as exc:
                self.queues.refuse("Queue url", str(exc))
                target = replace(target, url="")
        recorder = self.recording.bridge_recorder(verb, self.queues.refuse)
        dialled = replace(verb, targets=(target,))
        dialing = QueueDial(self.call, self.call_sid, queues, dialled, self.ctx.note, recorder)
        dialing.wideband = self.ctx.may_widen(recorder)  # as a placed <Dial>'s relay
        return await self._run_bridge(dialing, verb)

    def answers_on_bridge(self, step: Step) -> bool:
        """``step`` may run with the call unanswered: a ``<Dial answerOnBridge>`` bridged by
        the gateway on an incoming call that can wait (:mod:`sipgw.agent.base`), or a
        fetch, or a refusal (nothing heard)."""
        if isinstance(step, Fetch | Refused):
            return self.ctx.answer_deferred
        if not isinstance(step, Run) or not isinstance(step.verb, Dial):
            return False
        verb, call = step.verb, self.call
        return (
            verb.answer_on_bridge and verb.targets[0].kind != "queue"
            and self.settings.dial == "bridge" and call.direction == "inbound"
            and isinstance(call, LegPlacingCall) and isinstance(call, AnswersLater)
        )  # fmt: skip
