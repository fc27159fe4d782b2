"""The TwiML agent: sipgw plays Twilio's part toward an app built for Twilio.

Theory of operation
-------------------
*While the phone rings* (:meth:`TwimlAgent.prepare`) the first document is got: the
call's own (a placed call's ``twiml``, or its ``twiml_url``), else the operator's voice
webhook (``SIPGW_TWIML_URL``), POSTed and signed as Twilio does
(:mod:`sipgw.agent.twiml.webhook`); the ``stream`` agent skips the webhook and runs
``<Connect><Stream url=SIPGW_STREAM_URL>``. A document starting with ``<Reject>``
refuses the call unanswered; one starting with ``<Dial answerOnBridge="true">`` runs with
the call unanswered (``answer_deferred``: early media, :mod:`sipgw.agent.earlyanswer`)
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
:mod:`sipgw.agent.twiml.dialbridge`; or, with ``SIPGW_TWIML_DIAL=refer`` or on a call that
cannot place one, a REFER to the caller's phone; through the dial allow-list either way) and
posts how it ended to its ``action``, ``<Dial><Conference>`` puts the caller in a room of this
gateway (:mod:`sipgw.agent.twiml.conference`: the rooms are the gateway's,
``TwimlSettings.conferences``), ``<Enqueue>`` waits in one of the gateway's call
queues and ``<Dial><Queue>`` takes its first caller (:mod:`sipgw.agent.twiml.enqueue`,
:mod:`sipgw.agent.twiml.queuedial`), ``<Hangup>`` ends the call. After the last verb the
call ends, as on Twilio.

*Screening*: given a :class:`~sipgw.agent.twiml.screening.Screen`, the agent runs on a
``<Dial>``'s answered leg instead (:meth:`TwimlAgent.screen_leg`): the ``<Number url>``
document for the called party alone, with the verbs a screening may use; its end accepts
the bridge, its ``<Hangup>`` refuses it (:mod:`sipgw.agent.twiml.screening`).

*Failures* (the webhook late or failing, a document that does not parse, a stream that
cannot be opened or breaks mid-call, a ``<Redirect>`` that fails) never leave dead air:
the operator's fallback runs (``SIPGW_TWIML_FALLBACK``: a line said then the hang-up, a
transfer, or the hang-up), and the reason is logged and written to the call record.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

import aiohttp

from sipgw.agent.base import FRAME_BYTES, Agent, CallControl
from sipgw.agent.callqueues import CallQueues
from sipgw.agent.conferences import ConferenceRoom, ConferenceRooms, RoomRecording
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.earlyanswer import AnswersLater
from sipgw.agent.private_files import make_private_dir, write_private_atomic
from sipgw.agent.record import CallRecord
from sipgw.agent.stt.base import SpeechToText, SttConnectError
from sipgw.agent.tts.base import TextToSpeech, TtsError
from sipgw.agent.twiml.answeredby import AnsweredByDetector, MachineDetection, machine_detection
from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.conference import ConferenceDial
from sipgw.agent.twiml.dialbridge import BridgedDial, LegPlacingCall
from sipgw.agent.twiml.dialrefer import DialRefer, ReferFetchFailed, StagedDial
from sipgw.agent.twiml.dialringall import RingAllDial
from sipgw.agent.twiml.dialrules import DialResult, refer_status, usable_caller_id
from sipgw.agent.twiml.enqueue import EnqueueRun, QueueOutcome, WaitHooks
from sipgw.agent.twiml.gather import GatherResult, GatherRun
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
from sipgw.agent.twiml.queuedial import QueueDial
from sipgw.agent.twiml.recording import (
    BEEP,
    FRAME_SECONDS,
    BridgeRecorder,
    Recorder,
    ulaw_wav,
)
from sipgw.agent.twiml.recordtranscribe import RecordTranscription, start_transcription
from sipgw.agent.twiml.referverb import GATEWAY_HANGUP, ReferResult
from sipgw.agent.twiml.relay import RelaySession
from sipgw.agent.twiml.relayverb import RelayServices, action_params, relay_session
from sipgw.agent.twiml.say import SayVoice
from sipgw.agent.twiml.screening import DialLegs, Screen
from sipgw.agent.twiml.siprec import SiprecSessions
from sipgw.agent.twiml.statusposts import Callback, StatusPoster
from sipgw.agent.twiml.streams import MediaStream, StreamFailed
from sipgw.agent.twiml.transcriptions import LiveTranscription, ignored
from sipgw.agent.twiml.waitmusic import ConferenceWaitMusic, WaitDocument, fetch_wait_document
from sipgw.agent.twiml.webhook import (
    FetchFailed,
    TwilioIdentity,
    call_params,
    call_sid_of,
    fetch,
    new_sid,
)
from sipgw.twilio.conferencetwiml import Conference
from sipgw.twilio.document import (
    Connect,
    Dial,
    DialConference,
    Gather,
    Hangup,
    Pause,
    Play,
    PlayDigits,
    Record,
    Refer,
    Say,
    Start,
    StartSiprec,
    StopSiprec,
    StopStream,
    StreamNoun,
    TwimlError,
    Verb,
    parse_twiml,
)
from sipgw.twilio.queuetwiml import Enqueue, Leave
from sipgw.twilio.relaytwiml import ConnectRelay
from sipgw.twilio.streamside import StreamSide
from sipgw.twilio.streamstatus import StreamEvent, StreamStatus
from sipgw.twilio.transcriptiontwiml import (
    StartTranscription,
    StopTranscription,
    Transcription,
    TranscriptionEvents,
)

__all__ = ["REJECT_STATUS", "DialMode", "FallbackAction", "TwimlAgent", "TwimlSettings"]

log = logging.getLogger("sipgw.agent")

FallbackAction = Literal["say", "transfer", "hangup"]
DialMode = Literal["bridge", "refer"]
"""How ``<Dial>`` connects: the gateway's own second leg, bridged, or a REFER."""


def _time_ago(seconds: float) -> str:
    """The wall-clock time ``seconds`` ago in RFC 2822, GMT (a ``RecordingStartTime``)."""
    return email.utils.formatdate(time.time() - seconds, usegmt=True)


REJECT_STATUS: dict[str, int] = {"busy": 486, "rejected": 480}
_SILENT_FRAME: Final = b"\xff" * FRAME_BYTES
"""20 ms of μ-law silence: the outbound track's tick when nothing plays."""
"""``<Reject reason>`` as the SIP refusal of the unanswered call, as Twilio maps them:
486 Busy Here, 480 Temporarily Unavailable (RFC 3261 sections 21.4.18, 21.4.22)."""


@dataclass(frozen=True, slots=True)
class TwimlSettings:
    """What every call of a ``twiml`` (or ``stream``) agent shares.

    Attributes:
        identity: the account SID and auth token requests are signed with.
        url: the app's voice webhook ("" for ``stream``).
        method: ``POST`` or ``GET``.
        stream_url: ``stream``: the fixed WebSocket URL (no webhook).
        parameters: ``stream``: the ``customParameters`` its ``start`` carries.
        timeout: seconds a webhook or file may take.
        max_document_bytes: the longest TwiML read.
        max_audio_bytes: the longest ``<Play>`` file read.
        stream_open_timeout: seconds to open a stream's WebSocket.
        fallback: what a failure does: say ``fallback_frames`` then hang up, transfer to
            ``fallback_target`` (after the frames), or hang up.
        fallback_target: the transfer's target (through the dial allow-list).
        fallback_frames: the line said (20 ms μ-law frames).
        tts: makes the text-to-speech client ``<Say>`` uses (a :class:`SayVoice`: with its
            ``voice`` and ``language`` where it takes them); None: ``<Say>`` is refused.
        record_dir: where call records go (None: kept in memory only).
        stt: makes the speech-to-text session a ``<Gather input="speech">`` listens
            through; None: speech input is refused (keys still work).
        recording_dir: where ``<Record>`` writes its recordings (None: it is refused).
        recording_url: the base URL that directory is served at (``RecordingUrl`` is it
            with the RecordingSid added).
        stt: also what ``<Connect><ConversationRelay>`` transcribes with (None: that verb
            is refused; it speaks through ``tts``).
        stt_spoken: makes a speech-to-text session for callers speaking a language
            (its model chosen for it): a ConversationRelay's ``transcriptionLanguage``;
            None: ``stt``'s, whatever the language.
        dial: how ``<Dial>`` connects: ``bridge`` (the gateway places the second leg and
            relays the audio; a call that cannot place one gets ``refer``) or ``refer``.
        conferences: the gateway's conference rooms (``<Dial><Conference>``); None: that
            verb is refused.
        queues: the gateway's call queues (``<Enqueue>``, ``<Dial><Queue>``); None: both
            are refused.
        siprec_connectors: each ``<Siprec connectorName>``'s SRS URI
            (:mod:`sipgw.agent.twiml.siprec`); none: ``<Start><Siprec>`` is refused.
    """

    identity: TwilioIdentity
    url: str = ""
    method: str = "POST"
    stream_url: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0
    max_document_bytes: int = 64 * 1024
    max_audio_bytes: int = 4 * 1024 * 1024
    stream_open_timeout: float = 5.0
    fallback: FallbackAction = "say"
    fallback_target: str = ""
    fallback_frames: tuple[bytes, ...] = ()
    tts: SayVoice | Callable[[], TextToSpeech] | None = None
    record_dir: Path | None = None
    stt: Callable[[], SpeechToText] | None = None
    stt_spoken: Callable[[str], SpeechToText] | None = None
    recording_dir: Path | None = None
    recording_url: str = ""
    dial: DialMode = "bridge"
    conferences: ConferenceRooms | None = None
    queues: CallQueues | None = None
    siprec_connectors: tuple[tuple[str, str], ...] = ()


_SCREENING_VERBS: Final = (Say, Play, PlayDigits, Gather)
"""What a screening document runs (with ``<Pause>``, ``<Redirect>``, ``<Hangup>``): Twilio's
``<Number url>`` document plays, says, gathers and hangs up; it may not ``<Dial>``."""

DIGIT_SECONDS: Final = 0.16
"""How long one ``<Play digits>`` key takes on the wire (100 ms of event, 60 ms of gap:
the media sender's RFC 4733 defaults); ``w`` is :data:`DIGIT_PAUSE`."""
DIGIT_PAUSE: Final = 0.5
MAX_HINTS: Final = 100
"""Most ``<Gather hints>`` passed on as key terms (AssemblyAI's streaming limit)."""
MAX_HINT_CHARS: Final = 50
"""Longest hint passed on (AssemblyAI's limit per key term); longer ones are left out."""


@runtime_checkable
class _Configurable(Protocol):
    """A speech-to-text session that takes configuration mid-session (AssemblyAI's)."""

    async def update_configuration(self, **fields: object) -> None: ...


class _Fatal(Exception):
    """A failure that runs the fallback (the message is the reason logged and recorded)."""


class TwimlAgent(Agent):
    """One call driven by an app's TwiML (see the module docstring)."""

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
        self._session: aiohttp.ClientSession | None = None
        self._program: Program | None = None
        self._failure = ""
        self._out: deque[bytes] = deque()
        self._out_done = asyncio.Event()
        self._out_done.set()
        self._connected: MediaStream | None = None
        self._relayed: RelaySession | None = None
        self._action_params: dict[str, str] = {}
        self._forks: list[tuple[MediaStream, StreamNoun]] = []
        self._statuses: dict[MediaStream, StreamStatus] = {}
        self._transcriptions: list[LiveTranscription] = []
        self._poster: StatusPoster | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._siprec = SiprecSessions(call, settings.siprec_connectors, self._spawn, self._note)
        self._run_task: asyncio.Task[None] | None = None
        self._transfer_failed = asyncio.Event()
        self._refer_status: int | None = None
        self._refer_refusal: int | None = None
        self._referring: tuple[Refer, bool] | None = None
        """A ``<Refer>`` under way, and whether the phone accepted it."""
        self._dialing: tuple[BridgedDial | QueueDial, Dial] | None = None
        self._referred: tuple[Any, str] | StagedDial | str | None = None
        self._conferencing: ConferenceDial | None = None
        self._queued: EnqueueRun | None = None
        self._closed = False
        self._pending_first: Step | None = None
        self._gathering: GatherRun | None = None
        self._recording: tuple[Recorder, Record, asyncio.Event] | None = None
        self._md: MachineDetection | None = None
        try:
            self._md = machine_detection(call.details.machine_detection)
        except ValueError as exc:  # checked where the call was created: not expected here
            log.warning("[%s] MachineDetection ignored: %s", call.call_id, exc)
        self._amd: AnsweredByDetector | None = None
        self._answered_by: asyncio.Future[str] | None = None
        self.answer_deferred = False
        """The call stays unanswered while the first ``<Dial answerOnBridge>`` rings (early
        media: :mod:`sipgw.agent.earlyanswer`), read by the gateway after :meth:`prepare`."""
        self.steps: list[str] = []
        """What ran, in order (``connect``, ``say``, ``refused <Gather>``, ...), for tests."""

    # ------------------------------------------------------------------ set-up

    async def prepare(self) -> None:
        """Get the first document while the phone rings (see the module docstring)."""
        call = self.call
        self.record.write(
            {"type": "call", "call_id": call.call_id, "call_sid": self.call_sid,
             "caller": call.caller, "called": call.called, "direction": call.direction,
             "leg": call.leg, "started": self.record.started}
        )  # fmt: skip
        self._session = aiohttp.ClientSession()
        self._poster = StatusPoster(self._session, self.settings.identity, self.settings.timeout,
                                    call.call_id)  # fmt: skip
        if self._md is not None and not self._md.asynchronous:
            return  # Twilio's synchronous detection: the first document once it has decided
        try:
            self._program = await self._first_program()
        except _Fatal as exc:
            self._fail(str(exc))
            return
        first = self._program.next_step(time.monotonic())
        if isinstance(first, Finished) and first.reason == "reject":
            self._note("reject", reason=first.reject_reason)
            status = REJECT_STATUS.get(first.reject_reason, 480)
            log.info("[%s] TwiML <Reject reason=%s>: not answered (%d)", call.call_id,
                     first.reject_reason, status)  # fmt: skip
            call.hangup(status)
            return
        self._pending_first = first
        self.answer_deferred = self._answers_on_bridge(first)

    async def screen_leg(self) -> bool:
        """Screening: run :attr:`screen`'s document on this leg (the called party's); True
        when it ran out (the bridge is accepted), False after its ``<Hangup>`` or a failure
        (the leg is hung up)."""
        screen = self.screen
        assert screen is not None
        self._session = aiohttp.ClientSession()
        self._poster = StatusPoster(self._session, self.settings.identity, self.settings.timeout,
                                    self.call.call_id)  # fmt: skip
        self.record.write({"type": "call", "call_id": self.call.call_id, "call_sid": self.call_sid,
                           "screening": screen.url, **dict(screen.params[:4])})  # fmt: skip
        try:
            fetched = await self._fetch_twiml(screen.url, screen.method)
            self._program = Program(self._parse(fetched.body, fetched.url), fetched.url)
        except _Fatal as exc:
            self._fail(str(exc))
            await self._fallback()
            return False
        await self._run()
        return self._accepted

    async def _first_program(self, extra: tuple[tuple[str, str], ...] = ()) -> Program:
        details, settings = self.call.details, self.settings
        if details.twiml:
            return Program(self._parse(details.twiml.encode(), "the call's twiml"), "")
        if settings.stream_url and not details.twiml_url:
            stream = StreamNoun(settings.stream_url, parameters=settings.parameters)
            return Program((Connect(stream),), "")
        url = details.twiml_url or settings.url
        fetched = await self._fetch_twiml(url, settings.method, extra)
        return Program(self._parse(fetched.body, fetched.url), fetched.url)

    async def _fetch_twiml(
        self, url: str, method: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> Any:
        assert self._session is not None
        params = self._twiml_params(extra)
        if self.call.direction == "outbound" or extra:
            params["CallStatus"] = "in-progress"
        try:
            return await fetch(
                self._session, url, method=method, params=params,
                identity=self.settings.identity, timeout=self.settings.timeout,
                max_bytes=self.settings.max_document_bytes,
            )  # fmt: skip
        except FetchFailed as exc:
            raise _Fatal(f"the TwiML webhook failed: {exc}") from None

    def _twiml_params(self, extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """The fields a TwiML document is fetched with: the call's, a ``<ConversationRelay>``'s
        for its action (taken: sent once), then ``extra``."""
        params = call_params(self.call, self.call_sid, self.settings.identity.account_sid)
        if self.screen is not None:
            params.update(self.screen.params)  # the leg's own (Direction outbound-dial...)
        params.update(self._action_params)
        self._action_params = {}
        params.update(extra)
        return params

    @staticmethod
    def _parse(body: bytes, where: str) -> Any:
        try:
            return parse_twiml(body)
        except TwimlError as exc:
            raise _Fatal(f"bad TwiML from {where[:200]}: {exc}") from None

    def on_answered(self) -> None:
        """Run the TwiML (or the fallback) from now on; with ``MachineDetection``, detect
        (synchronous: the first document is got once decided)."""
        md = self._md
        if md is None:
            self._run_task = self._spawn(self._run())
            return
        self._amd = AnsweredByDetector(md, time.monotonic())
        self._answered_by = asyncio.get_running_loop().create_future()
        self._spawn(self._amd_timer(self._amd))
        self._run_task = self._spawn(self._run() if md.asynchronous else self._run_detected())

    async def _amd_timer(self, amd: AnsweredByDetector) -> None:
        """The detector's deadlines when no audio comes (every 100 ms)."""
        while amd.answered_by is None and not self._closed:
            await asyncio.sleep(0.1)
            answer = amd.handle_timer(time.monotonic())
            if answer is not None:
                self._detected(amd, answer)

    def _detected(self, amd: AnsweredByDetector, answer: str) -> None:
        """``AnsweredBy`` decided: to the synchronous fetch, or posted to
        ``AsyncAmdStatusCallback``."""
        self._note("answered_by", answered_by=answer, elapsed_ms=amd.elapsed_ms)
        log.info("[%s] AnsweredBy %s (%d ms)", self.call.call_id, answer, amd.elapsed_ms)
        if self._answered_by is not None and not self._answered_by.done():
            self._answered_by.set_result(answer)
        md = amd.request
        if md.asynchronous and md.callback and self._poster is not None:
            form = {
                "AccountSid": self.settings.identity.account_sid,
                "CallSid": self.call_sid,
                "AnsweredBy": answer,
                "MachineDetectionDuration": str(amd.elapsed_ms),
            }
            self._poster.post(Callback(md.callback, md.callback_method), form)

    async def _run_detected(self) -> None:
        """Synchronous detection: wait for ``AnsweredBy``, get the first document with it."""
        assert self._answered_by is not None and self._amd is not None
        answer = await self._answered_by
        extra = (("AnsweredBy", answer), ("MachineDetectionDuration", str(self._amd.elapsed_ms)))
        try:
            self._program = await self._first_program(extra)
        except _Fatal as exc:
            self._fail(str(exc))
            await self._fallback()
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
        if self._program is None or self._closed or self._program.finished is not None:
            return False
        self._program.update(url, verbs)
        self._pending_first = None
        self._out.clear()
        self._out_done.set()
        running, self._run_task = self._run_task, None
        if running is not None:
            running.cancel()
        self._note("update", url=url or "", twiml=twiml is not None)
        self._run_task = self._spawn(self._run_after(running))
        return True

    async def _run_after(self, running: asyncio.Task[None] | None) -> None:
        if running is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await self._run()

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ the verbs

    async def _run(self) -> None:
        if self._failure:  # logged and recorded as it happened, while the phone rang
            await self._fallback()
            return
        try:
            assert self._program is not None
            step = self._pending_first or self._program.next_step(time.monotonic())
            while not self._closed:
                if isinstance(step, Finished):
                    await self._finish(step)
                    return
                if self.answer_deferred and not self._answers_on_bridge(step):
                    self._answer_now()  # anything heard but a ringing <Dial> answers first
                await self._carry_out(step)
                step = self._program.next_step(time.monotonic())
        except _Fatal as exc:
            self._fail(str(exc))
            await self._fallback()

    async def _carry_out(self, step: Run | Fetch | Wait | Refused) -> None:
        assert self._program is not None
        if isinstance(step, Wait):
            self.steps.append("pause")
            await asyncio.sleep(max(0.0, step.until - time.monotonic()))
        elif isinstance(step, Refused):
            self.steps.append(f"refused <{step.name}>")
            log.warning("[%s] TwiML <%s> refused: %s", self.call.call_id, step.name, step.why)
            self._note("refused", verb=step.name, why=step.why)
        elif isinstance(step, Fetch):
            self.steps.append(f"fetch {step.why}")
            fetched = await self._fetch_twiml(step.url, step.method, step.params)
            self._program.load(self._parse(fetched.body, fetched.url), fetched.url)
        elif self.screen is not None and not isinstance(step.verb, _SCREENING_VERBS):
            name = type(step.verb).__name__
            self.steps.append(f"refused <{name}>")
            log.warning("[%s] TwiML <%s> refused: not in a screening document", self.call.call_id,
                        name)  # fmt: skip
            self._note("refused", verb=name, why="not in a <Number url> document")
        else:
            verb = step.verb
            if isinstance(verb, Connect):
                await self._connect(verb.stream)
            elif isinstance(verb, ConnectRelay):
                await self._relay(verb)
            elif isinstance(verb, Start):
                self._fork(verb.stream)
            elif isinstance(verb, StopStream):
                await self._stop_forks(verb)
            elif isinstance(verb, StartTranscription):
                await self._transcribe(verb.transcription)
            elif isinstance(verb, StopTranscription):
                await self._stop_transcriptions(verb.name)
            elif isinstance(verb, StartSiprec):
                self._siprec.start(verb.siprec)
            elif isinstance(verb, StopSiprec):
                self._siprec.stop(verb.name)
            elif isinstance(verb, Say):
                await self._say(verb)
            elif isinstance(verb, Play):
                await self._play(verb)
            elif isinstance(verb, PlayDigits):
                await self._play_digits(verb)
            elif isinstance(verb, Gather):
                await self._gather(verb)
            elif isinstance(verb, Record):
                await self._record(verb)
            elif isinstance(verb, DialConference):
                await self._conference(verb)
            elif isinstance(verb, Enqueue):
                await self._enqueue(verb)
            elif isinstance(verb, Refer):
                await self._refer(verb)
            elif isinstance(verb, Leave):
                self.steps.append("refused <Leave>")
                self._note("refused", verb="Leave", why="not in a queue (only in a waitUrl)")
            else:
                await self._dial(verb)

    def _stream_url(self, url: str) -> str:
        assert self._program is not None
        try:
            resolved = absolute_url(self._program.url, url)
        except ValueError as exc:
            raise _Fatal(f"<Stream url>: {exc}") from None
        return resolved

    def _new_stream(self, noun: StreamNoun, bidirectional: bool) -> MediaStream:
        tracks: tuple[Literal["inbound", "outbound"], ...] = ("inbound",)
        if not bidirectional:
            tracks = {"inbound_track": ("inbound",), "outbound_track": ("outbound",),
                      "both_tracks": ("inbound", "outbound")}[noun.track]  # type: ignore[assignment]  # fmt: skip
        side = StreamSide(
            new_sid("MZ"), self.call_sid, self.settings.identity.account_sid,
            noun.parameters, tracks, bidirectional,
        )  # fmt: skip
        stream = MediaStream(
            self._stream_url(noun.url), side, self.settings.identity,
            self.settings.stream_open_timeout, self.call.call_id,
            on_audio=self._app_audio if bidirectional else None,
            on_open=lambda: self._stream_event(stream, "stream-started"),
        )  # fmt: skip
        if noun.status_callback:
            try:
                url = absolute_url(self._program.url, noun.status_callback)  # type: ignore[union-attr]
            except ValueError as exc:
                log.warning("[%s] <Stream statusCallback>: %s", self.call.call_id, exc)
            else:
                self._statuses[stream] = StreamStatus(
                    url, noun.status_callback_method, self.settings.identity.account_sid,
                    self.call_sid, side.stream_sid, noun.name,
                )  # fmt: skip
        return stream

    def _stream_event(self, stream: MediaStream, event: StreamEvent, error: str = "") -> None:
        """Twilio's stream status callback for ``event``, if the stream asked for them."""
        status = self._statuses.get(stream)
        if status is not None and self._poster is not None:
            self._poster.post(status, status.event(event, time.time(), error))

    def _app_audio(self) -> None:
        """The app's audio came to an empty buffer: its frame goes now, ahead of its tick,
        within a talkspurt too (the app streams in real time: it waits no tick's phase)."""
        self.call.audio_ready(continuing=True)

    async def _connect(self, noun: StreamNoun) -> None:
        stream = self._new_stream(noun, bidirectional=True)
        self.steps.append("connect")
        self._note("stream", url=stream.url, stream_sid=stream.side.stream_sid)
        self._connected = stream
        try:
            await stream.run()
        except StreamFailed as exc:
            self._stream_event(stream, "stream-error", str(exc))
            raise _Fatal(str(exc)) from None
        finally:
            self._connected = None
            side = stream.side
            if side.clears or side.bad_messages or side.frames_shed:
                self._note("stream_closed", clears=side.clears, bad_messages=side.bad_messages,
                           frames_shed=side.frames_shed)  # fmt: skip
            await stream.stop()
            self._stream_event(stream, "stream-stopped")
        log.info("[%s] the app closed its stream: the TwiML goes on", self.call.call_id)

    async def _relay(self, verb: ConnectRelay) -> None:
        """``<Connect><ConversationRelay>`` (:mod:`sipgw.agent.twiml.relayverb`)."""
        assert self._session is not None
        self.steps.append("relay")
        url = self._stream_url(verb.relay.url)
        s = self.settings
        services = RelayServices(s.identity, s.stt, s.tts, s.timeout, s.max_audio_bytes,
                                 s.stream_open_timeout, s.stt_spoken)  # fmt: skip
        session, notes = relay_session(verb.relay, url, self.call, self.call_sid, services,
                                       self._session)  # fmt: skip
        if session is None:
            log.error("[%s] TwiML <ConversationRelay> refused: %s", self.call.call_id, notes[0])
            self._note("refused", verb="Connect><ConversationRelay", why=notes[0])
            return
        for what in notes:
            log.warning("[%s] TwiML <ConversationRelay> %s", self.call.call_id, what)
            self._note("relay_ignored", attribute=what)
        session.on_ignored = lambda what: self._note("relay_ignored", attribute=what)
        self._note("relay", url=url, session_id=session.who.session_id)
        self._relayed, started = session, time.monotonic()
        try:
            end = await session.run()
        except StreamFailed as exc:
            raise _Fatal(str(exc)) from None
        finally:
            self._relayed = None
            await session.stop()
        self._action_params = action_params(session, end, time.monotonic() - started)
        self._note("relay_ended", prompts=session.prompts, interrupts=session.interrupts,
                   errors=session.errors, handoff="HandoffData" in self._action_params)  # fmt: skip

    def _fork(self, noun: StreamNoun) -> None:
        stream = self._new_stream(noun, bidirectional=False)
        self.steps.append("start")
        self._note("fork", url=stream.url, track=noun.track)
        self._forks.append((stream, noun))

        async def serve() -> None:
            try:
                await stream.run()
            except StreamFailed as exc:  # a fork failing does not end the call (as on Twilio)
                log.warning("[%s] <Start><Stream>: %s", self.call.call_id, exc)
                self._note("fork_failed", reason=str(exc))
                self._stream_event(stream, "stream-error", str(exc))
            else:
                self._stream_event(stream, "stream-stopped")

        self._spawn(serve())

    async def _say(self, verb: Say) -> None:
        self.steps.append("say")
        if self.settings.tts is None:
            why = "no text-to-speech is configured (SIPGW_TWIML_TTS)"
            log.error("[%s] TwiML <Say> refused: %s", self.call.call_id, why)
            self._note("refused", verb="Say", why=why)
            return
        tts = self._voiced(verb)
        audio = bytearray()
        try:
            await tts.connect()
            for piece in verb.pieces():  # words through the TTS, SSML <break>s as silence
                if isinstance(piece, float):
                    audio += b"\xff" * round(piece * 8000)
                    continue
                reply = tts.start_reply()
                await reply.send_text(piece)
                await reply.finish()
                async for chunk in reply.audio():
                    audio += chunk.audio
        except TtsError as exc:
            log.error("[%s] TwiML <Say>: text-to-speech failed: %s", self.call.call_id, exc)
            self._note("say_failed", reason=str(exc))
            return
        finally:
            with contextlib.suppress(Exception):
                await tts.close()
        await self._play_audio(bytes(audio) * verb.loop)

    def _voiced(self, verb: Say) -> TextToSpeech:
        """The text-to-speech for ``verb``: its voice and language where it takes them; what
        it does not take is logged and written in the record, never dropped unsaid."""
        tts_of = self.settings.tts
        assert tts_of is not None
        if isinstance(tts_of, SayVoice):
            tts, ignored = tts_of.voiced(verb.voice, verb.language)
        else:  # a client with no voice or language to choose
            tts = tts_of()
            ignored = [f"{name}={value!r} (the text-to-speech takes none)"
                       for name, value in (("voice", verb.voice), ("language", verb.language))
                       if value]  # fmt: skip
        for what in ignored:
            log.warning("[%s] TwiML <Say> %s: ignored", self.call.call_id, what)
            self._note("say_ignored", attribute=what)
        return tts

    async def _play(self, verb: Play) -> None:
        self.steps.append("play")
        assert self._session is not None and self._program is not None
        try:
            url = absolute_url(self._program.url, verb.url)
            fetched = await fetch(
                self._session, url, method="GET", timeout=self.settings.timeout,
                max_bytes=self.settings.max_audio_bytes,
            )  # fmt: skip
            audio = decode_audio(fetched.body, fetched.content_type)
        except (FetchFailed, AudioFileError, ValueError) as exc:
            log.error("[%s] TwiML <Play> %s: %s", self.call.call_id, verb.url[:200], exc)
            self._note("play_failed", url=verb.url[:200], reason=str(exc))
            return
        await self._play_audio(audio * verb.loop)

    async def _play_audio(self, audio: bytes) -> None:
        audio += b"\xff" * (-len(audio) % FRAME_BYTES)
        await self._play_frames([audio[i : i + FRAME_BYTES] for i in range(0, len(audio), 160)])

    async def _play_frames(self, frames: Sequence[bytes]) -> None:
        if not frames:
            return
        self._out.extend(frames)
        self._out_done.clear()
        self.call.audio_ready()
        await self._out_done.wait()

    async def _play_digits(self, verb: PlayDigits) -> None:
        """``<Play digits>``: RFC 4733 keys through the call's DTMF path (judged by the
        dial allow-list, as every key the call sends), ``w`` half a second's pause."""
        self.steps.append("digits")
        self._note("digits", digits=verb.digits)
        for run in re.split(r"([wW])", verb.digits):
            if run in ("w", "W"):
                await asyncio.sleep(DIGIT_PAUSE)
            elif run:
                try:
                    self.call.send_dtmf(run)
                except DialRefused as exc:
                    log.warning("[%s] TwiML <Play digits> refused: %s", self.call.call_id, exc)
                    self._note("refused", verb="Play digits", why=str(exc))
                    return
                await asyncio.sleep(len(run) * DIGIT_SECONDS)  # sent before what follows

    async def _stop_forks(self, verb: StopStream) -> None:
        """``<Stop><Stream name>``: that fork gets ``stop`` and is closed; from now on not a
        frame of the call goes to it (none is queued after its ``stop``)."""
        self.steps.append("stop")
        chosen = [(s, n) for s, n in self._forks
                  if not verb.name or verb.name in (n.name, s.side.stream_sid)]  # fmt: skip
        if not chosen:
            log.warning("[%s] TwiML <Stop><Stream name=%r>: no such stream", self.call.call_id,
                        verb.name)  # fmt: skip
            self._note("refused", verb="Stop", why=f"no stream named {verb.name!r}")
            return
        for pair in chosen:
            self._forks.remove(pair)  # the ticker sends it nothing more, from this instant
        for stream, noun in chosen:
            self._note("fork_stopped", name=noun.name, stream_sid=stream.side.stream_sid)
            await stream.stop()
            self._stream_event(stream, "stream-stopped")

    async def _transcribe(self, noun: Transcription) -> None:
        """``<Start><Transcription>`` (:mod:`sipgw.agent.twiml.transcriptions`): its
        sessions opened, its events posted; the document goes on at once."""
        self.steps.append("transcription")
        assert self._program is not None
        poster, callback = self._poster, None
        if noun.status_callback_url:
            try:
                url = absolute_url(self._program.url, noun.status_callback_url)
            except ValueError as exc:
                log.warning("[%s] <Transcription statusCallbackUrl>: %s", self.call.call_id, exc)
            else:
                callback = Callback(url, noun.status_callback_method)

        def post(form: dict[str, str]) -> None:
            if poster is not None and callback is not None:
                poster.post(callback, form)

        events = TranscriptionEvents(noun, self.settings.identity.account_sid, self.call_sid,
                                     new_sid("GT"))  # fmt: skip
        live = LiveTranscription(noun, events, post, self.call.call_id)
        settings, language = self.settings, noun.language_code
        open_stt = settings.stt
        spoken = settings.stt_spoken is not None and language.lower() != "en-us"
        if spoken and settings.stt_spoken is not None:
            open_stt = partial(settings.stt_spoken, language)
        why = ""
        if open_stt is None:
            why = "no speech-to-text is configured (SIPGW_TWIML_STT)"
        elif noun.name and any(t.noun.name == noun.name for t in self._transcriptions):
            why = f"a transcription named {noun.name[:40]!r} is running"
        if why:
            log.warning("[%s] TwiML <Start><Transcription> refused: %s", self.call.call_id, why)
            self._note("refused", verb="Start><Transcription", why=why)
            post(events.error(why))
            return
        assert open_stt is not None
        for note in ignored(noun, spoken):
            log.info("[%s] TwiML <Transcription> %s: not followed", self.call.call_id, note)
            self._note("transcription_ignored", value=note)
        if await live.start(open_stt):
            self._transcriptions.append(live)
            self._note("transcription", sid=live.sid, name=noun.name, track=noun.track)
        else:
            self._note("refused", verb="Start><Transcription", why="the speech-to-text could "
                       "not be opened")  # fmt: skip
        for note in live.left_out_hints:
            self._note("transcription_ignored", value=note)

    async def _stop_transcriptions(self, name: str) -> None:
        """``<Stop><Transcription name>``: that one stopped (its last words, then
        ``transcription-stopped``)."""
        chosen = [t for t in self._transcriptions if t.named(name)]
        if not chosen:
            log.warning("[%s] TwiML <Stop><Transcription name=%r>: no such transcription",
                        self.call.call_id, name[:40])  # fmt: skip
            self._note("refused", verb="Stop><Transcription",
                       why=f"no transcription named {name[:40]!r}")  # fmt: skip
            return
        self.steps.append("transcription stopped")
        for live in chosen:
            self._transcriptions.remove(live)
            await live.stop()
            self._note("transcription_stopped", sid=live.sid, content=live.posted_content)

    async def _gather(self, verb: Gather) -> None:
        """``<Gather>`` (:mod:`sipgw.agent.twiml.gather`), then its action or the next verb."""
        self.steps.append("gather")
        assert self._program is not None
        result = await self._listen(verb)
        if result is None or (result.empty and not verb.action_on_empty_result):
            return  # no input (or speech only, refused): the next verb, as on Twilio
        if not self._program.gathered(verb, result.params()):
            log.warning("[%s] <Gather> without action in an inline document: nowhere to "
                        "post the input; the TwiML goes on", self.call.call_id)  # fmt: skip
            self._note("refused", verb="Gather action", why="no action and no document URL")

    async def _listen(self, verb: Gather) -> GatherResult | None:
        """A ``<Gather>``'s input, its nested verbs playing (None: speech only, refused)."""
        assert self._program is not None
        stt = await self._gather_stt(verb)
        if stt is None and verb.input == ("speech",):
            return None  # refused (logged, recorded)
        callback = None
        if verb.partial_result_callback:
            try:
                url = absolute_url(self._program.url, verb.partial_result_callback)
            except ValueError as exc:
                log.warning("[%s] <Gather partialResultCallback>: %s", self.call.call_id, exc)
            else:
                callback = Callback(url, verb.partial_result_callback_method)
        run = GatherRun(
            verb, lambda: self._prompts(verb), stt,
            on_partial=(lambda form: self._partial(callback, form)) if callback else None,
            log_id=self.call.call_id,
        )  # fmt: skip
        self._gathering = run
        try:
            result = await run.run()
        finally:
            self._gathering = None
            if stt is not None:
                with contextlib.suppress(Exception):
                    await stt.close()
        self._note_gathered(result)
        return result

    def _note_gathered(self, result: GatherResult) -> None:
        self._note("gather", digits=len(result.digits), finished_on_key=result.finished_on_key,
                   speech=bool(result.speech), confidence=round(result.confidence, 4),
                   partials=result.partials)  # fmt: skip

    async def _gather_stt(self, verb: Gather) -> SpeechToText | None:
        if "speech" not in verb.input:
            return None
        why = ""
        if self.settings.stt is None:
            why = "no speech-to-text is configured (SIPGW_TWIML_STT)"
        else:
            stt = self.settings.stt()
            try:
                await stt.connect()
            except SttConnectError as exc:
                why = f"the speech-to-text could not be opened: {exc}"
            else:
                await self._hint(stt, verb)
                if verb.language != "en-US":  # the session's own language setting holds
                    log.warning("[%s] TwiML <Gather> language=%r: ignored", self.call.call_id,
                                verb.language[:40])  # fmt: skip
                    self._note("gather_ignored", attribute="language", value=verb.language[:40])
                return stt
        log.warning("[%s] TwiML <Gather input=speech> refused: %s", self.call.call_id, why)
        self._note("refused", verb="Gather speech", why=why)
        return None

    async def _record(self, verb: Record) -> None:
        """``<Record>`` (:mod:`sipgw.agent.twiml.recording`): the beep, the caller until
        silence, a key or ``maxLength``; the WAV written (0600) where the operator serves
        it; its URL, length and SID posted to ``action``. Nothing heard: the next verb."""
        self.steps.append("record")
        settings = self.settings
        if settings.recording_dir is None or not settings.recording_url:
            why = "no recording directory and URL are configured (SIPGW_TWIML_RECORDING_DIR, _URL)"
            log.warning("[%s] TwiML <Record> refused: %s", self.call.call_id, why)
            self._note("refused", verb="Record", why=why)
            return
        if verb.play_beep:
            await self._play_audio(BEEP)
        recorder = Recorder(verb.timeout, verb.max_length, verb.finish_on_key, sid=new_sid("RE"))
        self._record_status(verb, recorder.sid, "in-progress", {})
        over = asyncio.Event()
        self._recording = (recorder, verb, over)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(over.wait(), verb.max_length + 1.0)
        finally:
            if not self._closed:
                self._recording = None
        if self._closed:  # the hang-up kept and posted it (close)
            return
        recorder.ended_by = recorder.ended_by or "max-length"
        params = self._save_recording(recorder, verb)
        if params is None:
            return  # silence only: the next verb, as on Twilio
        assert self._program is not None
        if not self._program.post(verb.action, verb.method, params, "<Record action>"):
            log.warning("[%s] <Record> without action in an inline document: kept, "
                        "nowhere to post it; the TwiML goes on", self.call.call_id)  # fmt: skip

    def _save_recording(
        self, recorder: Recorder, verb: Record
    ) -> tuple[tuple[str, str], ...] | None:
        """The recording written, its status callback queued; the action's form (None
        when nothing was heard)."""
        audio = recorder.audio(verb.trim)
        sid = recorder.sid or new_sid("RE")
        if not recorder.heard_anything or not audio:
            self._note("record", ended_by=recorder.ended_by, seconds=0)
            self._record_status(verb, sid, "absent", {})  # no file
            return None
        settings = self.settings
        assert settings.recording_dir is not None
        try:
            make_private_dir(settings.recording_dir)
            write_private_atomic(settings.recording_dir / f"{sid}.wav", ulaw_wav(audio))
        except OSError as exc:
            log.error("[%s] <Record>: the recording could not be written: %s",
                      self.call.call_id, exc)  # fmt: skip
            self._note("record_failed", reason=str(exc))
            return None
        url = settings.recording_url.rstrip("/") + "/" + sid
        seconds = len(audio) / 8000
        digits = recorder.key_pressed or ("hangup" if recorder.ended_by == "hangup" else "")
        self._note("record", recording_sid=sid, ended_by=recorder.ended_by,
                   seconds=round(seconds, 2))  # fmt: skip
        self._record_status(verb, sid, "completed", {
            "RecordingUrl": url, "RecordingDuration": str(round(seconds)),
            "RecordingStartTime": _time_ago(len(recorder.frames) * FRAME_SECONDS),
        })  # fmt: skip
        if verb.transcribe:
            self._transcribe_recording(verb, sid, url, audio)
        return (("RecordingUrl", url), ("RecordingDuration", str(round(seconds))),
                ("RecordingSid", sid), ("Digits", digits))  # fmt: skip

    def _transcribe_recording(self, verb: Record, sid: str, url: str, audio: bytes) -> None:
        """``transcribe`` (:mod:`sipgw.agent.twiml.recordtranscribe`): the text written as
        ``<TranscriptionSid>.txt`` beside the recording, ``transcribeCallback`` posted."""
        settings, program = self.settings, self._program
        assert settings.recording_dir is not None and program is not None
        transcription_sid = new_sid("TR")
        text_url = settings.recording_url.rstrip("/") + f"/{transcription_sid}.txt"
        target = None
        if verb.transcribe_callback:
            try:
                where = absolute_url(program.url, verb.transcribe_callback)
            except ValueError as exc:
                log.warning("[%s] <Record transcribeCallback>: %s", self.call.call_id, exc)
            else:
                status = "completed" if self._closed else "in-progress"
                form = call_params(self.call, self.call_sid, settings.identity.account_sid,
                                   status)  # fmt: skip
                form.update({"TranscriptionSid": transcription_sid, "TranscriptionUrl": text_url,
                             "RecordingSid": sid, "RecordingUrl": url})  # fmt: skip
                target = RecordTranscription(where, "POST", settings.identity, settings.timeout,
                                             form)  # fmt: skip
        if settings.stt is None:
            log.warning("[%s] <Record transcribe>: no speech-to-text is configured "
                        "(SIPGW_TWIML_STT): failed", self.call.call_id)  # fmt: skip
        directory, log_id = settings.recording_dir, self.call.call_id

        def keep(text: str | None) -> None:
            if text is not None:
                try:
                    write_private_atomic(directory / f"{transcription_sid}.txt", text.encode())
                except OSError as exc:
                    log.error("[%s] <Record transcribe>: the text could not be written: %s",
                              log_id, exc)  # fmt: skip
            if not self._closed:
                self._note("record_transcription", transcription_sid=transcription_sid,
                           recording_sid=sid, status="failed" if text is None else "completed",
                           words=len((text or "").split()))  # fmt: skip

        self._note("record_transcribing", transcription_sid=transcription_sid, recording_sid=sid)
        start_transcription(audio, settings.stt, target, keep)

    def _record_status(self, verb: Record, sid: str, status: str, extra: dict[str, str]) -> None:
        """``status`` of a ``<Record>``'s recording (:meth:`_recording_status`)."""
        self._recording_status("Record", verb, status, {
            "RecordingSid": sid, "RecordingChannels": "1", "RecordingSource": "RecordVerb",
            **extra,
        })  # fmt: skip

    def _recording_status(
        self, tag: str, verb: Record | Dial, status: str, form: dict[str, str]
    ) -> None:
        """``status`` (``in-progress``, ``completed``, ``absent``) of a ``<Record>``'s or a
        ``<Dial record>``'s recording to its ``recordingStatusCallback``, when its
        ``recordingStatusCallbackEvent`` lists it, with Twilio's fields and ``form``."""
        if (not verb.recording_status_callback or self._poster is None or self._program is None
                or status not in verb.recording_status_callback_events):  # fmt: skip
            return
        try:
            where = absolute_url(self._program.url, verb.recording_status_callback)
        except ValueError as exc:
            log.warning("[%s] <%s recordingStatusCallback>: %s", self.call.call_id, tag, exc)
            return
        self._poster.post(Callback(where, verb.recording_status_callback_method), {
            "AccountSid": self.settings.identity.account_sid, "CallSid": self.call_sid,
            "RecordingStatus": status, **form,
        })  # fmt: skip

    def _recording_at_hangup(self) -> None:
        """The caller hung up while recording: kept, and the action gets it with
        ``Digits=hangup`` (its answer is not followed: the call is over), as on Twilio."""
        recording, self._recording = self._recording, None
        if recording is None:
            return
        recorder, verb, over = recording
        recorder.hangup()
        over.set()
        params = self._save_recording(recorder, verb)
        if params is None or self._poster is None or self._program is None:
            return
        try:
            url = absolute_url(self._program.url, verb.action or self._program.url)
        except ValueError:
            return
        form = call_params(self.call, self.call_sid, self.settings.identity.account_sid,
                           "completed")  # fmt: skip
        self._poster.post(Callback(url, verb.method), {**form, **dict(params)})

    async def _hint(self, stt: SpeechToText, verb: Gather) -> None:
        """``hints`` as the session's key terms, where the service takes them mid-session
        (AssemblyAI's ``UpdateConfiguration`` ``keyterms_prompt``: at most
        :data:`MAX_HINTS` terms of :data:`MAX_HINT_CHARS` characters); else logged as ignored."""
        if not verb.hints:
            return
        terms = [h for h in verb.hints if len(h) <= MAX_HINT_CHARS][:MAX_HINTS]
        left = len(verb.hints) - len(terms)
        if isinstance(stt, _Configurable) and terms:
            await stt.update_configuration(keyterms_prompt=terms)
            self._note("gather_hints", terms=len(terms), left_out=left)
            if not left:
                return
            why = f"{left} of {len(verb.hints)} hints (too long or too many)"
        else:
            why = "hints (the speech-to-text takes no key terms)"
        log.warning("[%s] TwiML <Gather> %s: ignored", self.call.call_id, why)
        self._note("gather_ignored", attribute="hints", value=why)

    async def _prompts(self, verb: Gather) -> None:
        """The nested verbs; cancelled (barge-in), what they queued is dropped at once."""
        try:
            for prompt in verb.prompts:
                if isinstance(prompt, Say):
                    await self._say(prompt)
                elif isinstance(prompt, Play):
                    await self._play(prompt)
                elif isinstance(prompt, Pause):
                    await asyncio.sleep(prompt.length)
        except asyncio.CancelledError:
            self._out.clear()
            self._out_done.set()
            raise

    def _partial(self, callback: Callback, form: dict[str, str]) -> None:
        if self._poster is not None:
            base = {"AccountSid": self.settings.identity.account_sid, "CallSid": self.call_sid}
            self._poster.post(callback, {**base, **form})

    async def _dial(self, verb: Dial) -> None:
        """``<Dial>``: bridged (:mod:`sipgw.agent.twiml.dialbridge`) when the call can place a
        second leg and the operator did not choose REFER; then its ``action`` gets how it
        ended, or the next verb runs."""
        self.steps.append("dial")
        call = self.call
        if verb.answer_on_bridge and self.answer_deferred:
            self._note("dial_early", attribute="answerOnBridge")
        for what in verb.ignored:
            log.warning("[%s] TwiML <Dial> %s: ignored", call.call_id, what)
            self._note("dial_ignored", attribute=what)
        result: DialResult | None
        if verb.targets[0].kind == "queue":
            result = await self._dial_queue(verb)
        elif self.settings.dial == "bridge" and isinstance(call, LegPlacingCall):
            result = await self._dial_bridged(verb, call)
        else:
            result = await self._dial_refer(verb)
        if result is None or self._closed:
            return  # the caller went to the target (REFER), or hung up
        assert self._program is not None
        while True:  # the called party's REFER (dialrefer.py): referUrl's TwiML runs next
            referred, self._referred = self._referred, None
            if isinstance(referred, str):
                raise _Fatal(referred)  # referUrl failed: the caller is not kept (Twilio's)
            if isinstance(referred, StagedDial):  # answerOnBridge: its <Dial> went first
                verb, result = referred.verb, await self._run_staged(referred)
                if self._closed:
                    return
                self._program.load(referred.rest, referred.url)
                continue
            if referred is not None:
                self._program.load(*referred)
                return
            break
        self._program.dialled(verb, result.params())

    async def _dial_bridged(self, verb: Dial, placer: LegPlacingCall) -> DialResult:
        on_bridged = self._answer_now if self.answer_deferred else None
        dialing, refer = self._new_bridge(verb, placer, on_bridged)
        result = await self._run_bridge(dialing, verb)
        self._referred = await refer.settled()
        return result

    async def _run_staged(self, staged: StagedDial) -> DialResult:
        """referUrl's first ``<Dial>``, started while the caller still talked with the
        transferring party (``answerOnBridge``), as the call's ``<Dial>`` from now on."""
        self._dialing = (staged.dialing, staged.verb)
        try:
            result = await staged.task
        finally:
            if not self._closed:
                self._dialing = None
        self._referred = await staged.refer.settled()
        return self._with_recording(staged.dialing, result, staged.verb)

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
            self._note("refused", verb="Dial callerId", why="not the call's own number")
        recorder = self._bridge_recorder(verb, self._refuse_dial_record)
        at_once = len(verb.targets) > 1 and not verb.sequential  # dialringall.py
        how = RingAllDial if at_once else BridgedDial  # one, or each in turn
        dialing = how(call, placer, verb, caller_id, self._note, recorder, on_bridged,
                      self._dial_legs())  # fmt: skip
        refer = dialing.on_refer = self._dial_refer_handler(verb, dialing, placer)
        dialing.wideband = self._may_widen(recorder)
        return dialing, refer

    def _may_widen(self, recorder: Callable[[], BridgeRecorder] | None = None) -> bool:
        """Whether the caller's frames may leave 8 kHz μ-law once bridged or in a room
        (both codecs 16 kHz; :mod:`~sipgw.agent.twiml.dialformat`): not while they also go
        elsewhere in μ-law (a bridge recorder, a ``<Start><Stream>`` fork, an
        answering-machine detector)."""
        return recorder is None and not self._forks and self._amd is None

    def _dial_refer_handler(
        self, verb: Dial, dialing: BridgedDial, placer: LegPlacingCall
    ) -> DialRefer:
        """What takes the called party's REFER (``referUrl``:
        :mod:`~sipgw.agent.twiml.dialrefer`)."""
        url = ""
        if verb.refer_url:
            assert self._program is not None
            try:
                url = absolute_url(self._program.url, verb.refer_url)
            except ValueError as exc:
                log.warning("[%s] <Dial referUrl>: %s", self.call.call_id, exc)

        async def fetch(
            where: str, method: str, extra: tuple[tuple[str, str], ...]
        ) -> tuple[Any, str]:
            try:
                fetched = await self._fetch_twiml(where, method, extra)
                return self._parse(fetched.body, fetched.url), fetched.url
            except _Fatal as exc:
                raise ReferFetchFailed(str(exc)) from None

        def stage(
            first: Dial, connected: Callable[[], None]
        ) -> tuple[BridgedDial, DialRefer, asyncio.Task[Any]]:
            staged, refer = self._new_bridge(first, placer, connected)
            self.steps.append("dial")
            return staged, refer, self._spawn(staged.run())

        return DialRefer(verb, url, dialing, fetch, self._spawn, self._note, self.call.call_id,
                         stage)  # fmt: skip

    def _dial_legs(self) -> DialLegs:
        """The legs' status callbacks (through this call's poster) and screening (this
        agent's interpreter on the leg)."""
        assert self._program is not None
        settings = self.settings

        def post(callback: Callback, form: dict[str, str]) -> None:
            if self._poster is not None:
                self._poster.post(callback, form)

        return DialLegs(
            self.call_sid, settings.identity.account_sid, self._program.url, post,
            lambda leg, screen: TwimlAgent(leg, settings, screen), self.call.call_id,
        )  # fmt: skip

    async def _run_bridge(self, dialing: BridgedDial | QueueDial, verb: Dial) -> DialResult:
        """``dialing`` run as the call's ``<Dial>`` of the moment; its result, with the
        bridge's recording."""
        self._dialing = (dialing, verb)
        try:
            result = await dialing.run()
        finally:
            if not self._closed:
                self._dialing = None
        return self._with_recording(dialing, result, verb)

    def _bridge_recorder(
        self, verb: Dial, refuse: Callable[[str, str], None]
    ) -> Callable[[], BridgeRecorder] | None:
        """What makes a bridged ``<Dial record>``'s recorder; None: not recorded (not asked
        for, or refused with ``refuse``: no recording directory and URL)."""
        if verb.record == "do-not-record":
            return None
        if self.settings.recording_dir is None or not self.settings.recording_url:
            refuse("Dial record", "no recording directory and URL")
            return None

        def recorder() -> BridgeRecorder:
            made = BridgeRecorder(verb.record.endswith("-dual"), float(verb.time_limit),
                                  verb.recording_track, verb.trim, sid=new_sid("RE"))  # fmt: skip
            made.on_start = lambda: self._dial_recording_status(verb, made, "in-progress", {})
            return made

        return recorder

    def _dial_recording_status(
        self, verb: Dial, recorder: BridgeRecorder, status: str, extra: dict[str, str]
    ) -> None:
        """``status`` of a ``<Dial record>``'s recording (:meth:`_recording_status`)."""
        self._recording_status("Dial", verb, status, {
            "RecordingSid": recorder.sid, "RecordingChannels": str(recorder.channels),
            "RecordingSource": "DialVerb", **extra,
        })  # fmt: skip

    def _refuse_dial_record(self, name: str, why: str) -> None:
        log.warning("[%s] TwiML <Dial record>: refused (no SIPGW_TWIML_RECORDING_DIR and _URL)",
                    self.call.call_id)  # fmt: skip
        self._note("refused", verb=name, why=why)

    def _with_recording(
        self, dialing: BridgedDial | QueueDial, result: DialResult, verb: Dial
    ) -> DialResult:
        """``result`` with the bridge's recording written and its fields added (none when
        nothing was recorded), and ``completed`` posted to the verb's
        ``recordingStatusCallback``; the recording is taken: written once."""
        relay = dialing.relay
        recorder = relay.recorder if relay is not None else None
        bridged_at = relay.answered_at if relay is not None else None
        if relay is not None:
            relay.recorder = None
        settings = self.settings
        if recorder is None or settings.recording_dir is None:
            return result
        if not recorder.seconds:  # never bridged, or silent throughout (trimmed away)
            if recorder.started:
                self._dial_recording_status(verb, recorder, "absent", {})
            return result
        sid = recorder.sid = recorder.sid or new_sid("RE")
        try:
            make_private_dir(settings.recording_dir)
            write_private_atomic(settings.recording_dir / f"{sid}.wav",
                                 ulaw_wav(recorder.audio(), recorder.channels))  # fmt: skip
        except OSError as exc:
            log.error("[%s] <Dial record>: the recording could not be written: %s",
                      self.call.call_id, exc)  # fmt: skip
            self._note("record_failed", reason=str(exc))
            return result
        url = settings.recording_url.rstrip("/") + "/" + sid
        seconds = str(round(recorder.seconds))
        self._note("record", recording_sid=sid, verb="Dial", channels=recorder.channels,
                   seconds=round(recorder.seconds, 2))  # fmt: skip
        fields = (("RecordingUrl", url), ("RecordingSid", sid), ("RecordingDuration", seconds))
        loop_now = asyncio.get_running_loop().time()
        self._dial_recording_status(verb, recorder, "completed", {
            "RecordingUrl": url, "RecordingDuration": seconds,
            "RecordingStartTime": _time_ago(
                recorder.seconds if bridged_at is None else loop_now - bridged_at
            ),
        })  # fmt: skip
        return replace(result, recording=fields)

    async def _dial_refer(self, verb: Dial) -> DialResult | None:
        """Each target in turn by REFER; None once one answered (the call ends)."""
        status: DialResult = DialResult("failed")
        for target in verb.targets:
            address = target.address
            if target.kind == "number" and ":" not in address:  # a REFER needs a URI
                address = "tel:" + "".join(address.split())  # RFC 3966, judged as the number
            self._note("dial", target=address, how="refer")
            try:
                self._transfer_failed.clear()
                self._refer_status = None
                accepted = await self.call.transfer(address)
            except DialRefused as exc:
                log.warning("[%s] TwiML <Dial> %s refused: %s", self.call.call_id, address, exc)
                self._note("refused", verb="Dial", why=str(exc), target=address)
                continue
            if not accepted:
                continue
            await self._transfer_failed.wait()  # the call ends when the target answers
            if self._closed:
                return None
            if self._refer_status is not None:
                status = DialResult(refer_status(self._refer_status))
        # as on Twilio: a <Dial> that did not connect goes on (its action, or the next verb)
        return status

    async def _refer(self, verb: Refer) -> None:
        """``<Refer>`` (:mod:`sipgw.agent.twiml.referverb`): the caller's phone is asked to
        call the ``<Sip>`` target (a REFER through the dial allow-list); the gateway ends
        this call once the target answered, else ``action`` gets why (its TwiML runs next)
        or the next verb runs. The caller hanging up meanwhile posts it at the close."""
        self.steps.append("refer")
        self._note("refer", target=verb.target)
        self._transfer_failed.clear()
        self._refer_status = self._refer_refusal = None
        self._referring = (verb, False)
        try:
            accepted = await self.call.transfer(verb.target)
        except DialRefused as exc:
            log.warning("[%s] TwiML <Refer> %s refused: %s", self.call.call_id, verb.target, exc)
            self._note("refused", verb="Refer", why=str(exc), target=verb.target)
            accepted = False
        if self._closed:
            return  # close() posted it
        result = ReferResult.refused(self._refer_refusal)
        if accepted:
            self._referring = (verb, True)
            await self._transfer_failed.wait()  # the call ends when the target answers
            if self._closed:
                return
            if self._refer_status is not None:
                result = ReferResult.not_reached(self._refer_status)
        self._referring = None
        self._note("refer_ended", status=result.status, notify=result.notify)
        if verb.action:
            assert self._program is not None
            self._program.post(verb.action, verb.method, result.params(), "<Refer action>")

    def _refer_at_close(self, reason: str) -> None:
        """The call ended during a ``<Refer>``: the gateway's own hang-up once the target
        answered (``in-progress``), or the caller's (``canceled``); ``action`` gets it
        (its answer is not followed: the call is over)."""
        referring, self._referring = self._referring, None
        if referring is None:
            return
        verb, accepted = referring
        done = accepted and reason == GATEWAY_HANGUP
        result = ReferResult.answered() if done else ReferResult.canceled(accepted)
        self._note("refer_ended", status=result.status, notify=result.notify)
        if verb.action:
            self._post_callback(verb.action, verb.method, "completed", result.params())

    def on_transfer_refused(self, status: int, reason: str) -> None:
        """The phone refused the REFER: a ``<Refer>``'s ``ReferSipResponseCode``."""
        self._refer_refusal = status

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer: the TwiML goes on after the ``<Dial>``."""
        self._note("dial_failed", status=status, reason=reason)
        self._refer_status = status
        self._transfer_failed.set()

    def _dial_at_hangup(self) -> None:
        """The caller hung up during a bridged ``<Dial>``: the leg ends too, and its
        ``action`` gets how (``completed`` or ``canceled``; its answer is not followed: the
        call is over), as on Twilio."""
        dialing, self._dialing = self._dialing, None
        if dialing is None:
            return
        bridged, verb = dialing
        result = self._with_recording(bridged, bridged.at_hangup(), verb)
        self._post_callback(verb.action, verb.method, "completed", result.params())

    async def _conference(self, verb: DialConference) -> None:
        """``<Dial><Conference>`` (:mod:`sipgw.agent.twiml.conference`); then its ``action``
        gets how it ended, or the next verb runs."""
        self.steps.append("conference")
        conf, call = verb.conference, self.call
        rooms = self.settings.conferences
        if rooms is None:
            why = "no conference rooms on this gateway"
            log.warning("[%s] TwiML <Dial><Conference> refused: %s", call.call_id, why)
            self._note("refused", verb="Dial><Conference", why=why)
            return
        for name, why in conf.ignored:
            log.warning("[%s] TwiML <Conference %s>: not followed (%s)", call.call_id, name, why)
            self._note("conference_ignored", attribute=name, why=why)
        if conf.wait_url is None:
            self._note("conference_ignored", attribute="waitUrl",
                       why="absent: silence, not Twilio's own hold music")  # fmt: skip
        post = None
        if conf.status_callback and self._poster is not None and self._program is not None:
            try:
                url = absolute_url(self._program.url, conf.status_callback)
            except ValueError as exc:
                log.warning("[%s] <Conference statusCallback>: %s", call.call_id, exc)
            else:
                post = partial(self._poster.post, Callback(url, conf.status_callback_method))
        conferencing = ConferenceDial(
            call.call_id, verb, rooms, partial(self._wait_music, conf), post,
            self.settings.identity.account_sid, self._note, time.time,
            self._conference_recording(conf), self._conference_recorded,
            self._conference_recording_started, call, self._may_widen(),
        )  # fmt: skip
        self._conferencing = conferencing
        try:
            result = await conferencing.run()
        finally:
            if not self._closed:
                self._conferencing = None
        if self._closed:
            return
        assert self._program is not None
        self._program.dialled(verb.dial, result.params())

    def _conference_recording(self, conf: Conference) -> Callable[[], RoomRecording] | None:
        """What makes the recording ``record`` asks for; None: none asked, or refused (no
        recording directory and URL: logged and recorded)."""
        if not conf.record:
            return None
        settings = self.settings
        if settings.recording_dir is None or not settings.recording_url:
            log.warning("[%s] TwiML <Conference record>: refused (no SIPGW_TWIML_RECORDING_DIR "
                        "and _URL)", self.call.call_id)  # fmt: skip
            self._note("refused", verb="Conference record", why="no recording directory and URL")
            return None
        callback = ""
        if conf.recording_status_callback and self._program is not None:
            try:
                callback = absolute_url(self._program.url, conf.recording_status_callback)
            except ValueError as exc:
                log.warning("[%s] <Conference recordingStatusCallback>: %s", self.call.call_id,
                            exc)  # fmt: skip
        method, events, trim = (conf.recording_status_callback_method,
                                conf.recording_status_callback_events, conf.trim)  # fmt: skip
        return lambda: RoomRecording(new_sid("RE"), callback, method, events, trim)

    def _conference_recording_started(self, recording: RoomRecording, room: ConferenceRoom) -> None:
        """A room's recording starting: ``in-progress`` to its ``recordingStatusCallback``
        when its ``recordingStatusCallbackEvent`` asks for it."""
        if not recording.callback or "in-progress" not in recording.events:
            return
        if self._poster is not None:
            form = {
                "AccountSid": self.settings.identity.account_sid, "ConferenceSid": room.sid,
                "RecordingSid": recording.sid, "RecordingStatus": "in-progress",
                "RecordingChannels": "1", "RecordingSource": "Conference",
                "RecordingStartTime": email.utils.formatdate(
                    recording.started_at or time.time(), usegmt=True
                ),
            }  # fmt: skip
            self._poster.post(Callback(recording.callback, recording.method), form)

    def _conference_recorded(self, recording: RoomRecording, room: ConferenceRoom) -> None:
        """A room's recording, handed over at its end: written as ``<RecordingSid>.wav`` in
        the recording directory and its ``recordingStatusCallback`` posted (``completed``,
        or ``absent`` when nothing was heard)."""
        settings = self.settings
        if settings.recording_dir is None:
            return
        audio = recording.ulaw()
        form = {
            "AccountSid": settings.identity.account_sid,
            "ConferenceSid": room.sid,
            "RecordingSid": recording.sid,
            "RecordingChannels": "1",
            "RecordingSource": "Conference",
            "RecordingStartTime": email.utils.formatdate(
                recording.started_at or time.time(), usegmt=True
            ),  # fmt: skip
        }
        status = "absent"
        if audio:
            try:
                make_private_dir(settings.recording_dir)
                write_private_atomic(settings.recording_dir / f"{recording.sid}.wav",
                                     ulaw_wav(audio))  # fmt: skip
            except OSError as exc:
                log.error("[%s] <Conference record>: the recording could not be written: %s",
                          self.call.call_id, exc)  # fmt: skip
                self._note("record_failed", reason=str(exc))
                return
            status = "completed"
            form["RecordingUrl"] = settings.recording_url.rstrip("/") + "/" + recording.sid
            form["RecordingDuration"] = str(round(len(audio) / 8000))
        form["RecordingStatus"] = status
        self._note("record", recording_sid=recording.sid, verb="Conference", status=status,
                   seconds=round(len(audio) / 8000, 2), conference_sid=room.sid)  # fmt: skip
        if recording.callback and status in recording.events and self._poster is not None:
            self._poster.post(Callback(recording.callback, recording.method), form)

    async def _wait_music(self, conf: Conference) -> None:
        """The ``waitUrl`` while the room waits to start (:class:`~sipgw.agent.twiml.waitmusic.
        ConferenceWaitMusic`); none: silence. Cancelled: what it queued is dropped at once."""
        assert self._program is not None
        if not conf.wait_url:
            return
        music = ConferenceWaitMusic(self._conference_wait_document, self._wait_perform,
                                    self._play_audio, self._note, self.call.call_id)  # fmt: skip
        try:
            await music.play(absolute_url(self._program.url, conf.wait_url), conf.wait_method)
        except ValueError as exc:
            log.warning("[%s] <Conference waitUrl>: %s", self.call.call_id, exc)
        except asyncio.CancelledError:
            self._silence()
            raise

    async def _conference_wait_document(self, url: str, method: str) -> WaitDocument:
        """A conference's wait document (or audio file), with the call's fields."""
        assert self._session is not None
        params = call_params(self.call, self.call_sid, self.settings.identity.account_sid)
        return await fetch_wait_document(
            self._session, url, method, params, identity=self.settings.identity,
            timeout=self.settings.timeout, max_bytes=self.settings.max_audio_bytes, audio=True,
        )  # fmt: skip

    def _conference_at_hangup(self) -> None:
        """The caller hung up in a conference: its seat is given up, and the ``<Dial
        action>`` gets how (its answer is not followed: the call is over), as on Twilio."""
        conferencing, self._conferencing = self._conferencing, None
        if conferencing is None:
            return
        conferencing.stop("caller")
        conferencing.leave("caller")
        dial = conferencing.verb.dial
        result = DialResult("answered")  # as a conference's <Dial> ends on Twilio
        self._post_callback(dial.action, dial.method, "completed", result.params())

    # ------------------------------------------------------------------ queues

    async def _enqueue(self, verb: Enqueue) -> None:
        """``<Enqueue>`` (:mod:`sipgw.agent.twiml.enqueue`): waits in the queue; then its
        ``action`` gets ``QueueResult`` (its TwiML runs next), or the next verb runs."""
        self.steps.append("enqueue")
        assert self._program is not None
        queues = self.settings.queues
        if queues is None:
            self._refuse_queue("Enqueue", "this gateway gives its TwiML calls no queues")
            return
        try:
            wait_url = absolute_url(self._program.url, verb.wait_url) if verb.wait_url else ""
        except ValueError as exc:
            self._refuse_queue("Enqueue waitUrl", str(exc))
            wait_url = ""
        hooks = WaitHooks(self._queue_wait_document, self._wait_perform, self._silence, self._note,
                          self._wait_gather)  # fmt: skip
        run = EnqueueRun(replace(verb, wait_url=wait_url), queues, self.call_sid, hooks,
                         self.call.call_id)  # fmt: skip
        run.narrowband = not self._may_widen()
        self._queued = run
        try:
            outcome = await run.run(self.call)
        except asyncio.CancelledError:
            if not self._closed:  # a mid-call update took the caller out of the queue
                self._post_queue_result(verb, QueueOutcome("redirected", run.sid, run.waited()))
            raise
        finally:
            if not self._closed:
                self._queued = None
        self.steps.append(f"queue {outcome.result}")
        self._note("queue_result", result=outcome.result, queue=verb.name,
                   waited=None if outcome.waited is None else round(outcome.waited, 1))  # fmt: skip
        if self._closed:
            return
        if run.hung_up:  # <Hangup> in the wait document: the call ends
            self._program.update(None, (Hangup(),))
            return
        if verb.action:
            self._program.post(verb.action, verb.method, outcome.params(), "<Enqueue action>")

    async def _queue_wait_document(
        self, url: str, method: str, params: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[Verb, ...], str] | None:
        """A ``waitUrl`` (or ``<Queue url>``) document; None when it failed (logged)."""
        assert self._session is not None
        try:
            document = await fetch_wait_document(
                self._session, url, method, self._twiml_params(params),
                identity=self.settings.identity, timeout=self.settings.timeout,
                max_bytes=self.settings.max_document_bytes,
            )  # fmt: skip
        except (FetchFailed, TwimlError) as exc:
            reason = (f"the TwiML webhook failed: {exc}" if isinstance(exc, FetchFailed)
                      else f"bad TwiML from {url[:200]}: {exc}")  # fmt: skip
            log.warning("[%s] TwiML queue document: %s", self.call.call_id, reason)
            self._note("queue_document_failed", url=url[:200], reason=reason)
            return None
        return document.verbs, document.url

    async def _wait_perform(self, verb: Say | Play) -> None:
        await (self._say(verb) if isinstance(verb, Say) else self._play(verb))

    async def _wait_gather(self, verb: Gather) -> tuple[tuple[str, str], ...] | None:
        """A wait document's ``<Gather>``: the fields to post to its action (None: none)."""
        self.steps.append("gather")
        result = await self._listen(verb)
        if result is None or (result.empty and not verb.action_on_empty_result):
            return None
        return result.params()

    def _silence(self) -> None:
        self._out.clear()
        self._out_done.set()

    def _refuse_queue(self, name: str, why: str) -> None:
        self.steps.append(f"refused <{name}>")
        log.warning("[%s] TwiML <%s> refused: %s", self.call.call_id, name, why)
        self._note("refused", verb=name, why=why)

    async def _dial_queue(self, verb: Dial) -> DialResult:
        """``<Dial><Queue>`` (:mod:`sipgw.agent.twiml.queuedial`)."""
        queues = self.settings.queues
        assert self._program is not None
        if queues is None:
            self._refuse_queue("Dial><Queue", "this gateway gives its TwiML calls no queues")
            return DialResult("failed")
        target = verb.targets[0]
        if target.url:
            try:
                target = replace(target, url=absolute_url(self._program.url, target.url))
            except ValueError as exc:
                self._refuse_queue("Queue url", str(exc))
                target = replace(target, url="")
        recorder = self._bridge_recorder(verb, self._refuse_queue)
        dialled = replace(verb, targets=(target,))
        dialing = QueueDial(self.call, self.call_sid, queues, dialled, self._note, recorder)
        dialing.wideband = self._may_widen(recorder)  # as a placed <Dial>'s relay
        return await self._run_bridge(dialing, verb)

    def _enqueue_at_hangup(self) -> None:
        """The caller hung up in a queue (or bridged from one): out of it, and the
        ``action`` gets how (its answer is not followed: the call is over), as on Twilio."""
        run, self._queued = self._queued, None
        if run is None:
            return
        self._post_queue_result(run.verb, run.at_hangup(), "completed")

    def _post_callback(
        self, action: str, method: str, status: str, fields: tuple[tuple[str, str], ...]
    ) -> None:
        """``fields``, beside the call's with ``CallStatus`` ``status``, to ``action`` (relative
        to the document; none, or a bad URL: nothing) as a callback: its answer is not
        followed (the call is over, or goes on)."""
        if not action or self._poster is None or self._program is None:
            return
        try:
            url = absolute_url(self._program.url, action)
        except ValueError:
            return
        form = call_params(self.call, self.call_sid, self.settings.identity.account_sid, status)
        self._poster.post(Callback(url, method), {**form, **dict(fields)})

    def _post_queue_result(self, verb: Enqueue, outcome: QueueOutcome, status: str = "") -> None:
        """``QueueResult`` to ``action`` as a callback (its answer is not followed)."""
        self._post_callback(verb.action, verb.method, status or "in-progress", outcome.params())

    # ------------------------------------------------------------------ answerOnBridge

    def _answers_on_bridge(self, step: Step) -> bool:
        """``step`` may run with the call unanswered: a ``<Dial answerOnBridge>`` bridged by
        the gateway on an incoming call that can wait (:mod:`sipgw.agent.earlyanswer`), or a
        fetch, or a refusal (nothing heard)."""
        if isinstance(step, Fetch | Refused):
            return self.answer_deferred
        if not isinstance(step, Run) or not isinstance(step.verb, Dial):
            return False
        verb, call = step.verb, self.call
        return (
            verb.answer_on_bridge and verb.targets[0].kind != "queue"
            and self.settings.dial == "bridge" and call.direction == "inbound"
            and isinstance(call, LegPlacingCall) and isinstance(call, AnswersLater)
        )  # fmt: skip

    def _answer_now(self) -> None:
        """The call is answered now (200 OK) if it waited in early media."""
        if self.answer_deferred:
            self.answer_deferred = False
            self._note("answered", by="answerOnBridge")
            call = self.call
            if isinstance(call, AnswersLater) and call.answer_now is not None:
                call.answer_now()

    async def _finish(self, step: Finished) -> None:
        self.steps.append(f"end {step.reason}")
        self._note("end", reason=step.reason)
        await self._out_done.wait()
        if self.screen is not None and step.reason == "end":
            self._accepted = True  # a screening that ran out: the two are bridged
            return
        self.call.hangup()

    # ------------------------------------------------------------------ failures

    def _fail(self, reason: str) -> None:
        self._failure = reason
        log.error("[%s] TwiML: %s; fallback: %s", self.call.call_id, reason,
                  self.settings.fallback)  # fmt: skip
        self._note("failure", reason=reason, fallback=self.settings.fallback)

    async def _fallback(self) -> None:
        if self.screen is not None:  # a screening that failed refuses the bridge
            self.call.hangup()
            return
        self._answer_now()
        settings = self.settings
        self.steps.append(f"fallback {settings.fallback}")
        if settings.fallback != "hangup":
            await self._play_frames(settings.fallback_frames)
        if settings.fallback == "transfer" and settings.fallback_target:
            try:
                if await self.call.transfer(settings.fallback_target):
                    await self._transfer_failed.wait()
            except DialRefused as exc:
                log.error("[%s] fallback transfer refused: %s", self.call.call_id, exc)
        self.call.hangup()

    def _note(self, kind: str, **fields: object) -> None:
        self.record.write({"type": f"twiml_{kind}", **fields})

    # ------------------------------------------------------------------ the tick

    def on_caller_frame(self, frame: bytes | None) -> None:
        """The jitter buffer's playout: to a bridged ``<Dial>``'s called party (the streams
        get :meth:`on_caller_audio`)."""
        dialing = self._dialing
        if dialing is not None:
            dialing[0].caller_frame(frame)
        if self._conferencing is not None:
            self._conferencing.caller_frame(frame)
        if self._queued is not None:
            self._queued.caller_frame(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives, to the stream and to the forks that take the
        inbound track (no playout delay: one jitter buffer's depth less than the tick's), and
        to the answering-machine detector while it listens."""
        amd = self._amd
        if amd is not None and amd.answered_by is None:
            answer = amd.receive_audio(frame, time.monotonic())
            if answer is not None:
                self._detected(amd, answer)
        connected = self._connected
        if connected is not None and connected.ready:
            connected.send(connected.side.media("inbound", frame))
        if self._gathering is not None:
            self._gathering.audio(frame)
        if self._recording is not None:
            recorder, _, over = self._recording
            if recorder.frame(frame):
                over.set()
        if self._relayed is not None:
            self._relayed.on_caller_audio(frame)
        for fork, _ in self._forks:
            if fork.ready:
                fork.send(fork.side.media("inbound", frame))
        for transcription in self._transcriptions:
            transcription.audio("inbound_track", frame)

    def next_frame(self) -> bytes | None:
        """The app's audio (a stream's, or ``<Say>``/``<Play>``/the fallback's), paced."""
        frame: bytes | None = None
        connected = self._connected
        if connected is not None:
            frame, echoes = connected.side.next_frame()
            for echo in echoes:
                connected.send(echo)
        elif self._relayed is not None:
            frame = self._relayed.next_frame()
        elif self._dialing is not None:
            frame = self._dialing[0].frame_for_caller()
        elif self._conferencing is not None and self._conferencing.mixing:
            frame = self._conferencing.frame_for_caller()
        elif self._queued is not None and self._queued.talking:
            frame = self._queued.frame_for_caller()
        elif self._out:
            frame = self._out.popleft()
            if not self._out:
                self._out_done.set()
        for fork, _ in self._forks:
            if fork.ready:
                fork.send(fork.side.media("outbound", frame))
        for transcription in self._transcriptions:
            transcription.audio("outbound_track", frame or _SILENT_FRAME)
        return frame

    def on_dtmf(self, digit: str) -> None:
        """A key the caller pressed, to the bidirectional stream as ``dtmf`` (or to the
        ``<Gather>`` listening)."""
        connected = self._connected
        if connected is not None and connected.ready:
            connected.send(connected.side.dtmf(digit))
        if self._gathering is not None:
            self._gathering.key(digit)
        if self._recording is not None:
            recorder, _, over = self._recording
            if recorder.key(digit):
                over.set()
        if self._relayed is not None:
            self._relayed.on_dtmf(digit)
        if self._dialing is not None:
            self._dialing[0].caller_key(digit)
        if self._conferencing is not None:
            self._conferencing.caller_key(digit)
        if self._queued is not None:
            self._queued.caller_key(digit)

    def on_hold(self, held: bool) -> None:
        """The caller held (or resumed) the call: in a conference, not heard meanwhile
        (what arrives is its phone's hold music) and a ``participant-hold`` event."""
        if self._conferencing is not None:
            self._conferencing.hold(held)

    # ------------------------------------------------------------------ the end

    async def close(self, reason: str = "") -> None:
        """The call ended: ``stop`` to every stream, sockets and tasks closed."""
        self._closed = True
        self._out_done.set()
        self._transfer_failed.set()
        self._refer_at_close(reason)
        self._recording_at_hangup()
        self._dial_at_hangup()
        self._conference_at_hangup()
        self._enqueue_at_hangup()
        streams = [s for s, _ in self._forks]
        if self._connected is not None:
            streams.append(self._connected)
        try:  # the gateway bounds this (5 s): whatever is cut short, the session is closed
            if self._relayed is not None:
                await self._relayed.stop()
            await asyncio.gather(*(stream.stop() for stream in streams),  # each within 2 s
                                 *(t.stop() for t in self._transcriptions))  # fmt: skip
            for stream in streams:
                self._stream_event(stream, "stream-stopped")
            if self._poster is not None:
                await self._poster.close()  # the last callbacks, before the session closes
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task
            if self._session is not None:
                await self._session.close()
            self._note("closed", reason=reason)
            self.record.close()
