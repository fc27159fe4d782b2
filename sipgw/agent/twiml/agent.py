"""The TwiML agent: sipgw plays Twilio's part toward an app built for Twilio.

Theory of operation
-------------------
*While the phone rings* (:meth:`TwimlAgent.prepare`) the first document is got: the
call's own (a placed call's ``twiml``, or its ``twiml_url``), else the operator's voice
webhook (``SIPGW_TWIML_URL``), POSTed and signed as Twilio does
(:mod:`sipgw.agent.twiml.webhook`); the ``stream`` agent skips the webhook and runs
``<Connect><Stream url=SIPGW_STREAM_URL>``. A document starting with ``<Reject>``
refuses the call unanswered; one starting with ``<Dial answerOnBridge="true">`` runs with
the call unanswered (``answer_deferred``: early media, :mod:`sipgw.agent.base`)
until the called party answers, or until a verb the caller hears answers it. A webhook
that fails or TwiML that does not parse does not refuse the call: it is answered and the
operator's fallback runs (below).

*Answered*, the verbs run in order (:class:`~sipgw.agent.twiml.program.Program`):
``<Connect><Stream>`` opens the app's WebSocket (:mod:`sipgw.agent.twiml.streams`) and waits
until the app closes it; meanwhile the caller's audio goes to it one ``media`` per 20 ms
as it arrives (the arrival audio, not the jitter buffer's playout: the app does its own
buffering, as on Twilio), their keys as ``dtmf``, and the app's audio plays paced by the
gateway's ticker (its first frame after a silence at once, ahead of the tick), its marks
echoed once their audio was played, its ``clear`` honoured on the tick.
``<Start><Stream>`` forks the caller's (``inbound_track``), the app's side
(``outbound_track``) or both to a WebSocket and goes on at once. ``<Say>`` goes through
the configured text-to-speech (refused, logged, when none is), ``<Play>`` fetches a file
(size- and time-limited), ``<Play digits>`` sends keys, ``<Pause>`` sends silence,
``<Gather>`` listens for keys or speech (:mod:`sipgw.agent.twiml.gather`) and posts them to
its action, ``<Record>`` records the caller (:mod:`sipgw.agent.twiml.recording`) and posts
the recording's URL, ``<Stop><Stream>`` ends a fork, ``<Dial>`` connects the caller with
another party (the gateway places the second leg and relays the two itself:
:mod:`sipgw.agent.twiml.dial.bridge`; or, with ``SIPGW_TWIML_DIAL=refer`` or on a call that
cannot place one, a REFER to the caller's phone; through the dial allow-list either way) and
posts how it ended to its ``action``, ``<Dial><Conference>`` puts the caller in a room of this
gateway (:mod:`sipgw.agent.twiml.conference`: the rooms are the gateway's,
``TwimlSettings.conferences``), ``<Enqueue>`` waits in one of the gateway's call
queues and ``<Dial><Queue>`` takes its first caller (:mod:`sipgw.agent.twiml.queues.enqueue`,
:mod:`sipgw.agent.twiml.queues.queuedial`), ``<Hangup>`` ends the call. After the last verb the
call ends, as on Twilio.

*Screening*: given a :class:`~sipgw.agent.twiml.dial.screening.Screen`, the agent runs on a
``<Dial>``'s answered leg instead (:meth:`TwimlAgent.screen_leg`): the ``<Number url>``
document for the called party alone, with the verbs a screening may use; its end accepts
the bridge, its ``<Hangup>`` refuses it (:mod:`sipgw.agent.twiml.dial.screening`).

*Failures* (the webhook late or failing, a document that does not parse, a stream that
cannot be opened or breaks mid-call, a ``<Redirect>`` that fails) never leave dead air:
the operator's fallback runs (``SIPGW_TWIML_FALLBACK``: a line said then the hang-up, a
transfer, or the hang-up), and the reason is logged and written to the call record
(:mod:`sipgw.agent.twiml.fallback`).

*Shape*: :class:`TwimlAgent` is the interpreter: the call's state, fetching and following
TwiML, the verb loop. Each verb family's handling is a handler of
:mod:`sipgw.agent.twiml.verbs` given the interpreter as a
:class:`~sipgw.agent.twiml.verbs.context.VerbContext`;
:class:`~sipgw.agent.twiml.verbs.dispatch.Verbs` carries a verb out and routes the tick to
the verb running. ``MachineDetection`` is :mod:`sipgw.agent.twiml.machinedetection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp

from sipgw.agent.base import Agent, AnswersLater, CallControl
from sipgw.agent.record import CallRecord
from sipgw.agent.twiml.dial.screening import Screen, ScreeningLeg
from sipgw.agent.twiml.fallback import Fallback
from sipgw.agent.twiml.program import (
    Fetch,
    Finished,
    Program,
    Refused,
    Run,
    Step,
    Wait,
    absolute_url,
)
from sipgw.agent.twiml.recording import BridgeRecorder
from sipgw.agent.twiml.statusposts import Callback, StatusPoster
from sipgw.agent.twiml.verbs.context import (
    DialMode,
    FallbackAction,
    Fatal,
    TwimlSettings,
)
from sipgw.agent.twiml.verbs.dispatch import Verbs
from sipgw.agent.twiml.verbs.outbox import Outbox
from sipgw.agent.twiml.webhook import FetchFailed, call_params, call_sid_of, fetch
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.twilio.document import (
    Connect,
    Gather,
    Play,
    PlayDigits,
    Say,
    StreamNoun,
    TwimlError,
    parse_twiml,
)

__all__ = ["REJECT_STATUS", "DialMode", "FallbackAction", "TwimlAgent", "TwimlSettings"]

log = logging.getLogger("sipgw.agent")

REJECT_STATUS: dict[str, int] = {"busy": 486, "rejected": 480}
"""``<Reject reason>`` as the SIP refusal of the unanswered call, as Twilio maps them:
486 Busy Here, 480 Temporarily Unavailable (RFC 3261 sections 21.4.18, 21.4.22)."""

_SCREENING_VERBS: Final = (Say, Play, PlayDigits, Gather)
"""What a screening document runs (with ``<Pause>``, ``<Redirect>``, ``<Hangup>``): Twilio's
``<Number url>`` document plays, says, gathers and hangs up; it may not ``<Dial>``."""


class TwimlAgent(Agent):
    """One call driven by an app's TwiML (see the module docstring): the interpreter, the
    :class:`~sipgw.agent.twiml.verbs.context.VerbContext` of the verbs' handlers
    (:class:`~sipgw.agent.twiml.verbs.dispatch.Verbs`)."""

    record: CallRecord

    def __init__(
        self, call: CallControl, settings: TwimlSettings, screen: Screen | None = None
    ) -> None:
        self.call = call
        self.settings = settings
        self.screen = screen
        """Set on a ``<Dial>`` leg's screening agent (:meth:`screen_leg`)."""
        self._accepted = False
        self.call_sid = screen.sid if screen is not None else call_sid_of(call.call_id)
        self.record = CallRecord(settings.record_dir, call.call_id)
        self.session: aiohttp.ClientSession | None = None
        self.program: Program | None = None
        self.out = Outbox(call)
        self.action_params: dict[str, str] = {}
        self.poster: StatusPoster | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._run_task: asyncio.Task[None] | None = None
        self.transfer_failed = asyncio.Event()
        self.refer_status: int | None = None
        self.refer_refusal: int | None = None
        self.closed = False
        self._pending_first: Step | None = None
        self.answer_deferred = False
        """The call stays unanswered while the first ``<Dial answerOnBridge>`` rings (early
        media: :mod:`sipgw.agent.base`), read by the gateway after :meth:`prepare`."""
        self.steps: list[str] = []
        """What ran, in order (``connect``, ``say``, ``refused <Gather>``, ...), for tests."""
        self.verbs = Verbs(self)
        self.fallback = Fallback(self, screening=screen is not None)

    # ------------------------------------------------------------------ set-up

    async def prepare(self) -> None:
        """Get the first document while the phone rings (see the module docstring)."""
        call = self.call
        self.record.write(
            {"type": "call", "call_id": call.call_id, "call_sid": self.call_sid,
             "caller": call.caller, "called": call.called, "direction": call.direction,
             "leg": call.leg, "started": self.record.started}
        )  # fmt: skip
        self.session = aiohttp.ClientSession()
        self.poster = StatusPoster(self.session, self.settings.identity, self.settings.timeout,
                                   call.call_id)  # fmt: skip
        md = self.verbs.detection.request
        if md is not None and not md.asynchronous:
            return  # Twilio's synchronous detection: the first document once it has decided
        try:
            self.program = await self._first_program()
        except Fatal as exc:
            self.fallback.fail(str(exc))
            return
        first = self.program.next_step(time.monotonic())
        if isinstance(first, Finished) and first.reason == "reject":
            self.note("reject", reason=first.reject_reason)
            status = REJECT_STATUS.get(first.reject_reason, 480)
            log.info("[%s] TwiML <Reject reason=%s>: not answered (%d)", call.call_id,
                     first.reject_reason, status)  # fmt: skip
            call.hangup(status)
            return
        self._pending_first = first
        self.answer_deferred = self.verbs.dial.answers_on_bridge(first)

    async def screen_leg(self) -> bool:
        """Screening: run :attr:`screen`'s document on this leg (the called party's); True
        when it ran out (the bridge is accepted), False after its ``<Hangup>`` or a failure
        (the leg is hung up)."""
        screen = self.screen
        assert screen is not None
        self.session = aiohttp.ClientSession()
        self.poster = StatusPoster(self.session, self.settings.identity, self.settings.timeout,
                                   self.call.call_id)  # fmt: skip
        self.record.write({"type": "call", "call_id": self.call.call_id, "call_sid": self.call_sid,
                           "screening": screen.url, **dict(screen.params[:4])})  # fmt: skip
        try:
            fetched = await self.fetch_twiml(screen.url, screen.method)
            self.program = Program(self.parse(fetched.body, fetched.url), fetched.url)
        except Fatal as exc:
            self.fallback.fail(str(exc))
            await self.fallback.run()
            return False
        await self._run()
        return self._accepted

    async def _first_program(self, extra: tuple[tuple[str, str], ...] = ()) -> Program:
        details, settings = self.call.details, self.settings
        if details.twiml:
            return Program(self.parse(details.twiml.encode(), "the call's twiml"), "")
        if settings.stream_url and not details.twiml_url:
            stream = StreamNoun(settings.stream_url, parameters=settings.parameters)
            return Program((Connect(stream),), "")
        url = details.twiml_url or settings.url
        fetched = await self.fetch_twiml(url, settings.method, extra)
        return Program(self.parse(fetched.body, fetched.url), fetched.url)

    async def fetch_twiml(
        self, url: str, method: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> Any:
        assert self.session is not None
        params = self.twiml_params(extra)
        if self.call.direction == "outbound" or extra:
            params["CallStatus"] = "in-progress"
        try:
            return await fetch(
                self.session, url, method=method, params=params,
                identity=self.settings.identity, timeout=self.settings.timeout,
                max_bytes=self.settings.max_document_bytes,
            )  # fmt: skip
        except FetchFailed as exc:
            raise Fatal(f"the TwiML webhook failed: {exc}") from None

    def twiml_params(self, extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """The fields a TwiML document is fetched with: the call's, a ``<ConversationRelay>``'s
        for its action (taken: sent once), then ``extra``."""
        params = call_params(self.call, self.call_sid, self.settings.identity.account_sid)
        if self.screen is not None:
            params.update(self.screen.params)  # the leg's own (Direction outbound-dial...)
        params.update(self.action_params)
        self.action_params = {}
        params.update(extra)
        return params

    @staticmethod
    def parse(body: bytes, where: str) -> Any:
        try:
            return parse_twiml(body)
        except TwimlError as exc:
            raise Fatal(f"bad TwiML from {where[:200]}: {exc}") from None

    def on_answered(self) -> None:
        """Run the TwiML (or the fallback) from now on; with ``MachineDetection``, detect
        (synchronous: the first document is got once decided)."""
        md = self.verbs.detection.request
        if md is None:
            self._run_task = self.spawn(self._run())
            return
        self.verbs.detection.start(md)
        self._run_task = self.spawn(self._run() if md.asynchronous else self._run_detected())

    async def _run_detected(self) -> None:
        """Synchronous detection: wait for ``AnsweredBy``, get the first document with it."""
        extra = await self.verbs.detection.answered()
        try:
            self.program = await self._first_program(extra)
        except Fatal as exc:
            self.fallback.fail(str(exc))
            await self.fallback.run()
            return
        await self._run()

    def follow_twiml(self, url: str | None, twiml: str | None) -> bool:
        """A mid-call update: the verb running stops (its stream is stopped, audio queued is
        dropped) and the new TwiML runs next, as Twilio's call update does.

        Raises:
            ValueError: ``twiml`` is not a TwiML document (the parser's reason).
        """
        try:
            verbs = parse_twiml(twiml) if twiml is not None else None
        except TwimlError as exc:
            raise ValueError(f"bad TwiML: {exc}") from None
        if self.program is None or self.closed or self.program.finished is not None:
            return False
        self.program.update(url, verbs)
        self._pending_first = None
        self.out.clear()
        running, self._run_task = self._run_task, None
        if running is not None:
            running.cancel()
        self.note("update", url=url or "", twiml=twiml is not None)
        self._run_task = self.spawn(self._run_after(running))
        return True

    async def _run_after(self, running: asyncio.Task[None] | None) -> None:
        if running is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await self._run()

    def spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ the verbs

    async def _run(self) -> None:
        if self.fallback.failure:  # logged and recorded as it happened, while the phone rang
            await self.fallback.run()
            return
        try:
            assert self.program is not None
            step = self._pending_first or self.program.next_step(time.monotonic())
            while not self.closed:
                if isinstance(step, Finished):
                    await self._finish(step)
                    return
                if self.answer_deferred and not self.verbs.dial.answers_on_bridge(step):
                    self.answer_now()  # anything heard but a ringing <Dial> answers first
                await self._carry_out(step)
                step = self.program.next_step(time.monotonic())
        except Fatal as exc:
            self.fallback.fail(str(exc))
            await self.fallback.run()

    async def _carry_out(self, step: Run | Fetch | Wait | Refused) -> None:
        assert self.program is not None
        if isinstance(step, Wait):
            self.steps.append("pause")
            await asyncio.sleep(max(0.0, step.until - time.monotonic()))
        elif isinstance(step, Refused):
            self.steps.append(f"refused <{step.name}>")
            log.warning("[%s] TwiML <%s> refused: %s", self.call.call_id, step.name, step.why)
            self.note("refused", verb=step.name, why=step.why)
        elif isinstance(step, Fetch):
            self.steps.append(f"fetch {step.why}")
            fetched = await self.fetch_twiml(step.url, step.method, step.params)
            self.program.load(self.parse(fetched.body, fetched.url), fetched.url)
        elif self.screen is not None and not isinstance(step.verb, _SCREENING_VERBS):
            name = type(step.verb).__name__
            self.steps.append(f"refused <{name}>")
            log.warning("[%s] TwiML <%s> refused: not in a screening document", self.call.call_id,
                        name)  # fmt: skip
            self.note("refused", verb=name, why="not in a <Number url> document")
        else:
            await self.verbs.run(step)

    async def _finish(self, step: Finished) -> None:
        self.steps.append(f"end {step.reason}")
        self.note("end", reason=step.reason)
        await self.out.done.wait()
        if self.screen is not None and step.reason == "end":
            self._accepted = True  # a screening that ran out: the two are bridged
            return
        self.call.hangup()

    # ------------------------------------------------------------------ shared acts

    def may_widen(self, recorder: Callable[[], BridgeRecorder] | None = None) -> bool:
        """Whether the caller's frames may leave 8 kHz μ-law once bridged or in a room
        (both codecs 16 kHz; :mod:`~sipgw.agent.twiml.dial.audioformat`): not while they also go
        elsewhere in μ-law (a bridge recorder, a ``<Start><Stream>`` fork, an
        answering-machine detector)."""
        verbs = self.verbs
        return (recorder is None and not verbs.streams.forks
                and verbs.detection.detector is None)  # fmt: skip

    def post_callback(
        self, action: str, method: str, status: str, fields: tuple[tuple[str, str], ...]
    ) -> None:
        """``fields``, beside the call's with ``CallStatus`` ``status``, to ``action`` (relative
        to the document; none, or a bad URL: nothing) as a callback: its answer is not
        followed (the call is over, or goes on)."""
        if not action or self.poster is None or self.program is None:
            return
        try:
            url = absolute_url(self.program.url, action)
        except ValueError:
            return
        form = call_params(self.call, self.call_sid, self.settings.identity.account_sid, status)
        self.poster.post(Callback(url, method), {**form, **dict(fields)})

    def answer_now(self) -> None:
        """The call is answered now (200 OK) if it waited in early media."""
        if self.answer_deferred:
            self.answer_deferred = False
            self.note("answered", by="answerOnBridge")
            call = self.call
            if isinstance(call, AnswersLater) and call.answer_now is not None:
                call.answer_now()

    def note(self, kind: str, **fields: object) -> None:
        self.record.write({"type": f"twiml_{kind}", **fields})

    def on_transfer_refused(self, status: int, reason: str) -> None:
        """The phone refused the REFER: a ``<Refer>``'s ``ReferSipResponseCode``."""
        self.refer_refusal = status

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer: the TwiML goes on after the ``<Dial>``."""
        self.note("dial_failed", status=status, reason=reason)
        self.refer_status = status
        self.transfer_failed.set()

    # ------------------------------------------------------------------ the tick

    def on_caller_frame(self, frame: bytes | None) -> None:
        """The jitter buffer's playout (:meth:`Verbs.on_caller_frame`)."""
        self.verbs.on_caller_frame(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives (:meth:`Verbs.on_caller_audio`)."""
        self.verbs.on_caller_audio(frame)

    def next_frame(self) -> bytes | None:
        """The app's audio (:meth:`Verbs.next_frame`)."""
        return self.verbs.next_frame()

    def on_dtmf(self, digit: str) -> None:
        """A key the caller pressed (:meth:`Verbs.on_dtmf`)."""
        self.verbs.on_dtmf(digit)

    def on_hold(self, held: bool) -> None:
        """The caller held (or resumed) the call (:meth:`Verbs.on_hold`)."""
        self.verbs.on_hold(held)

    def screener(self, leg: CallControl, screen: Screen) -> ScreeningLeg:
        """This interpreter's settings running ``screen``'s document on a ``<Dial>``'s leg."""
        return TwimlAgent(leg, self.settings, screen)

    # ------------------------------------------------------------------ the end

    async def close(self, reason: str = "") -> None:
        """The call ended: ``stop`` to every stream, sockets and tasks closed."""
        self.closed = True
        self.out.done.set()
        self.transfer_failed.set()
        self.verbs.at_close(reason)
        try:  # the gateway bounds this (5 s): whatever is cut short, the session is closed
            await self.verbs.stop()
            if self.poster is not None:
                await self.poster.close()  # the last callbacks, before the session closes
        finally:
            with contextlib.suppress(Exception):  # each task's own failure was its to log
                await cancel_and_wait(*self._tasks)
            if self.session is not None:
                await self.session.close()
            self.note("closed", reason=reason)
            self.record.close()
