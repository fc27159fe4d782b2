"""What a verb's handler gets from the TwiML interpreter: the call's settings
(:class:`TwimlSettings`), the running document and the call's shared state
(:class:`VerbContext`), and :class:`Fatal`, the failure that runs the fallback.

The interpreter (:class:`~sipgw.agent.twiml.agent.TwimlAgent`) is the one
:class:`VerbContext`; each verb family's handler (:mod:`sipgw.agent.twiml.verbs`) holds it
and what it carries of the call (:class:`VerbHandler`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp

from sipgw.agent.base import CallControl
from sipgw.agent.multiparty.conferences import ConferenceRooms
from sipgw.agent.multiparty.queues import CallQueues
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.twiml.dial.screening import Screen, ScreeningLeg
from sipgw.agent.twiml.program import Program
from sipgw.agent.twiml.recording import BridgeRecorder
from sipgw.agent.twiml.say import SayVoice
from sipgw.agent.twiml.statusposts import StatusPoster
from sipgw.agent.twiml.verbs.outbox import Outbox
from sipgw.agent.twiml.webhook import TwilioIdentity
from sipgw.foundation.private_files import make_private_dir, write_private_atomic
from sipgw.twilio.document import Verb

log = logging.getLogger("sipgw.agent")

FallbackAction = Literal["say", "transfer", "hangup"]
DialMode = Literal["bridge", "refer"]
"""How ``<Dial>`` connects: the gateway's own second leg, bridged, or a REFER."""


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
        echo_guard: a ConversationRelay session tells the agent's own voice returned by
            the line from the caller (``SIPGW_ECHO_GUARD``, :mod:`sipgw.media.voice.echo`).
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
    echo_guard: bool = False


class Fatal(Exception):
    """A failure that runs the fallback (the message is the reason logged and recorded)."""


class VerbContext(Protocol):
    """What a verb's handler uses of the interpreter: the call, the document running, the
    call's web session and status poster, the audio queued for the caller, and the few
    acts every verb shares (a note in the call record, a task, a fetch, a callback)."""

    call: CallControl
    settings: TwimlSettings
    call_sid: str
    steps: list[str]
    """What ran, in order, for tests."""
    program: Program | None
    session: aiohttp.ClientSession | None
    poster: StatusPoster | None
    out: Outbox
    closed: bool
    answer_deferred: bool
    transfer_failed: asyncio.Event
    """Set when a REFER's target did not answer (or the call ended)."""
    refer_status: int | None
    """The status the REFER's target answered with, when it did not answer."""
    refer_refusal: int | None
    """The status the phone refused the REFER with, when it did."""
    action_params: dict[str, str]
    """Fields the next fetched document gets once (a ``<ConversationRelay>``'s end)."""

    def note(self, kind: str, **fields: object) -> None:
        """A ``twiml_<kind>`` line in the call record."""
        ...

    def spawn(self, work: Any) -> asyncio.Task[Any]:
        """A task of the call's, cancelled at its close."""
        ...

    async def fetch_twiml(
        self, url: str, method: str, extra: tuple[tuple[str, str], ...] = ()
    ) -> Any:
        """A TwiML document fetched with the call's fields (:class:`Fatal` when it fails)."""
        ...

    def parse(self, body: bytes, where: str) -> tuple[Verb, ...]:
        """``body`` as TwiML (:class:`Fatal` when it does not parse)."""
        ...

    def twiml_params(self, extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """The fields a TwiML document is fetched with."""
        ...

    def post_callback(
        self, action: str, method: str, status: str, fields: tuple[tuple[str, str], ...]
    ) -> None:
        """``fields`` and the call's to ``action`` as a callback (its answer not followed)."""
        ...

    def answer_now(self) -> None:
        """The call answered now, if it waited in early media."""
        ...

    def may_widen(self, recorder: Callable[[], BridgeRecorder] | None = None) -> bool:
        """Whether the caller's frames may leave 8 kHz μ-law once bridged or in a room."""
        ...

    def screener(self, leg: CallControl, screen: Screen) -> ScreeningLeg:
        """A TwiML interpreter running ``screen``'s document on a ``<Dial>``'s leg."""
        ...


class VerbHandler:
    """A verb family's handler: the interpreter (:attr:`ctx`) and what it carries of the call
    for the life of the call (its control, settings, ``CallSid`` and list of steps)."""

    def __init__(self, ctx: VerbContext) -> None:
        self.ctx = ctx
        self.call = ctx.call
        self.settings = ctx.settings
        self.call_sid = ctx.call_sid
        self.steps = ctx.steps

    def write_recording(self, sid: str, wav: bytes, verb: str) -> str | None:
        """The recording ``sid`` written (0600, :mod:`sipgw.foundation.private_files`) to the
        recording directory as ``<sid>.wav``; its URL where the operator serves it, or None
        when it could not be written (logged naming ``verb``, ``<Record>``; noted)."""
        directory = self.settings.recording_dir
        assert directory is not None
        try:
            make_private_dir(directory)
            write_private_atomic(directory / f"{sid}.wav", wav)
        except OSError as exc:
            log.error("[%s] %s: the recording could not be written: %s", self.call.call_id,
                      verb, exc)  # fmt: skip
            self.ctx.note("record_failed", reason=str(exc))
            return None
        return self.settings.recording_url.rstrip("/") + "/" + sid
