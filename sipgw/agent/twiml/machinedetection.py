"""A TwiML call's answering-machine detection (``MachineDetection``): the detector
(:mod:`sipgw.agent.twiml.answeredby`) fed the caller's audio and its deadlines, its
``AnsweredBy`` given to the first document's fetch (synchronous) or posted to
``AsyncAmdStatusCallback``."""

from __future__ import annotations

import asyncio
import logging
import time

from sipgw.agent.twiml.answeredby import AnsweredByDetector, MachineDetection, machine_detection
from sipgw.agent.twiml.statusposts import Callback
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler

log = logging.getLogger("sipgw.agent")


class MachineDetectionRun(VerbHandler):
    """The call's detection: :attr:`request` (None: not asked for), :attr:`detector` once
    the call is answered (:meth:`start`)."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self.request: MachineDetection | None = None
        try:
            self.request = machine_detection(self.call.details.machine_detection)
        except ValueError as exc:  # checked where the call was created: not expected here
            log.warning("[%s] MachineDetection ignored: %s", self.call.call_id, exc)
        self.detector: AnsweredByDetector | None = None
        self._answered_by: asyncio.Future[str] | None = None

    def start(self, request: MachineDetection) -> None:
        """The call answered: the detector listens from now on."""
        self.detector = AnsweredByDetector(request, time.monotonic())
        self._answered_by = asyncio.get_running_loop().create_future()
        self.ctx.spawn(self._amd_timer(self.detector))

    def audio(self, frame: bytes) -> None:
        """The caller's 20 ms, while the detector listens."""
        amd = self.detector
        if amd is not None and amd.answered_by is None:
            answer = amd.receive_audio(frame, time.monotonic())
            if answer is not None:
                self._detected(amd, answer)

    async def answered(self) -> tuple[tuple[str, str], ...]:
        """Once decided: ``AnsweredBy`` and ``MachineDetectionDuration``, the fields the
        first document is fetched with (synchronous detection)."""
        assert self._answered_by is not None and self.detector is not None
        answer = await self._answered_by
        return (("AnsweredBy", answer), ("MachineDetectionDuration",
                                         str(self.detector.elapsed_ms)))  # fmt: skip

    async def _amd_timer(self, amd: AnsweredByDetector) -> None:
        """The detector's deadlines when no audio comes (every 100 ms)."""
        while amd.answered_by is None and not self.ctx.closed:
            await asyncio.sleep(0.1)
            answer = amd.handle_timer(time.monotonic())
            if answer is not None:
                self._detected(amd, answer)

    def _detected(self, amd: AnsweredByDetector, answer: str) -> None:
        """``AnsweredBy`` decided: to the synchronous fetch, or posted to
        ``AsyncAmdStatusCallback``."""
        self.ctx.note("answered_by", answered_by=answer, elapsed_ms=amd.elapsed_ms)
        log.info("[%s] AnsweredBy %s (%d ms)", self.call.call_id, answer, amd.elapsed_ms)
        if self._answered_by is not None and not self._answered_by.done():
            self._answered_by.set_result(answer)
        md = amd.request
        if md.asynchronous and md.callback and self.ctx.poster is not None:
            form = {
                "AccountSid": self.settings.identity.account_sid,
                "CallSid": self.call_sid,
                "AnsweredBy": answer,
                "MachineDetectionDuration": str(amd.elapsed_ms),
            }
            self.ctx.poster.post(Callback(md.callback, md.callback_method), form)
