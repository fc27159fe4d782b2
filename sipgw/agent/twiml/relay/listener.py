"""The listening side of a ConversationRelay session: the caller, heard for the app.

:class:`RelayListener` sends every 20 ms frame of the caller as it arrives to the configured
speech-to-text and to the assistant's turn-taking machine
(:class:`~sipgw.agent.turns.machine.TurnTaker`), and follows what the machine says:

- its :class:`~sipgw.agent.turns.machine.StartReply` (the STT's end of turn) is the ``prompt``
  (``voicePrompt`` = the final transcript, ``last: true``) sent at once; with
  ``partialPrompts`` each new partial transcript of the turn goes before it
  (``last: false``);
- its barge-in actions pause, resume and cut the agent's reply (the speaking side, seen
  through :class:`AgentSide`);
- its speech-to-text actions (speech end, forced turn end, chunk size) go to the session.

Keys are ``dtmf`` when ``dtmfDetection`` is on. While the agent speaks, prompts and keys go
to the app only as ``reportInputDuringAgentSpeech`` says. With ``speaker-events``,
``clientSpeaking`` ``on``/``off`` as the voice detector hears the caller start and stop.

With ``ignorebackchannel="false"`` a finished turn that is only a backchannel over a reply
(the machine's :class:`~sipgw.agent.turns.machine.IgnoreBackchannel`: "uh-huh", "yeah, okay",
words of :data:`~sipgw.agent.turns.words.BACKCHANNELS` only) cuts the reply as any turn and is
the ``prompt``; by default it cuts nothing and goes nowhere. With ``echoPromptFiltering``
transcripts that echo the agent's recent words (:mod:`sipgw.agent.turns.echoed_words`) reach neither
the machine nor the app: a final is logged and counted (:attr:`RelayListener.echoes`), and
cuts nothing. With ``partialPromptOnHangup`` the turn in progress when the call hangs up (its
latest partial transcript, no final after it) goes as the last ``prompt`` (``last: true``).
``speechtimeout`` goes to a speech-to-text that takes configuration as its
``max_turn_silence`` (the machine ends the turn at that silence:
:mod:`sipgw.agent.twiml.relay.turntaking`).

With the echo guard (:mod:`sipgw.media.voice.echo`, ``SIPGW_ECHO_GUARD``), fed each frame the
session sent the caller (:meth:`RelayListener.agent_sent`), a frame of the caller's that holds
only the agent's voice returned by the line reaches the turn-taking machine and the
speech-to-text as the line's noise: it pauses and cuts no reply and becomes no prompt, while
the caller talking over it passes (counted: :attr:`RelayListener.echo_frames`). An echo the
guard finds late tells the machine the speech it heard was the agent's.

``transcriptionLanguage`` is the next prompts' ``lang``; when the recognizer's model must
change with it (``providers.needs_new_session``) a new session is opened and connected, then
takes the caller's audio from the old one, which is closed. ``hints`` go to every session
as key terms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttConnectError,
    SttFailed,
    SttPartialTranscript,
    SttTurnEnded,
)
from sipgw.agent.turns.echoed_words import EchoFilter
from sipgw.agent.turns.machine import (
    Cause,
    CommitBargeIn,
    ForceTurnEnd,
    IgnoreBackchannel,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartReply,
    TurnAction,
    TurnTaker,
)
from sipgw.agent.twiml.relay.providers import needs_new_session
from sipgw.agent.twiml.relay.speaker import RelayTimings
from sipgw.twilio.relay import (
    DtmfMessage,
    ErrorMessage,
    InfoMessage,
    PlatformMessage,
    PromptMessage,
)
from sipgw.twilio.relaytwiml import ConversationRelay

if TYPE_CHECKING:
    from sipgw.media.voice.echo import EchoGuard  # numpy: made where the guard is on

__all__ = ["AgentSide", "RelayListener"]

log = logging.getLogger("sipgw.agent")


class AgentSide(Protocol):
    """What the listening side sees of the agent's replies (the speaking side)."""

    def speaking(self) -> bool:
        """A reply is still to be heard."""
        ...

    def pause(self) -> None:
        """Hold the reply (the caller may be barging in)."""
        ...

    def resume(self) -> None:
        """Play the held reply on."""
        ...

    def barge_in(self, cause: Cause) -> None:
        """The caller cut in: cut the reply if it may be cut by ``cause``."""
        ...


@runtime_checkable
class _Configurable(Protocol):
    """A speech-to-text session that takes configuration (AssemblyAI's)."""

    async def update_configuration(self, **fields: object) -> None: ...


class RelayListener:
    """The caller's side of the session (see the module docstring).

    Args:
        relay: the TwiML noun.
        stt: this call's speech-to-text (connected by :meth:`connect`, closed by
            :meth:`close`).
        turns: the turn-taking machine.
        agent: the speaking side.
        call_id: the call, for the log.
        timings: the session's, where the end of turn and its prompt are noted.
        send: a message to the app.
        spawn: runs a task the session cancels when it stops.
        ignored: told what the app asked that is not followed.
        stt_for: a new speech-to-text session for callers speaking a language (None: the
            session stays ``stt``'s whatever the language).
        keyterms: the ``hints``, given to every speech-to-text session that takes key terms.
        echo_guard: tells the agent's own voice returned by the line (None: off).
    """

    def __init__(
        self,
        relay: ConversationRelay,
        stt: SpeechToText,
        turns: TurnTaker,
        agent: AgentSide,
        call_id: str,
        timings: RelayTimings,
        send: Callable[[PlatformMessage], None],
        spawn: Callable[[Awaitable[None]], asyncio.Task[None]],
        ignored: Callable[[str], None],
        *,
        stt_for: Callable[[str], SpeechToText] | None = None,
        keyterms: tuple[str, ...] = (),
        echo_guard: EchoGuard | None = None,
    ) -> None:
        self.relay = relay
        self.stt = stt
        self.guard = echo_guard
        self.echo_frames = 0
        """The caller's frames that held only the agent's echo (heard as the line's noise)."""
        self.turns = turns
        self.agent = agent
        self.call_id = call_id
        self.timings = timings
        self.stt_for = stt_for
        self.keyterms = keyterms
        self.lang = relay.transcription_language or relay.language or "en-US"
        """The language of the next prompts (``lang``)."""
        self.suppressed = 0
        """Prompts and keys not sent: the agent was speaking (``reportInputDuringAgentSpeech``)."""
        self.prompts = 0
        self.echo = EchoFilter() if relay.echo_prompt_filtering else None
        """The agent's recent words (``echoPromptFiltering``; None: off)."""
        self.echoes = 0
        """Final transcripts dropped as echoes of the agent (``echoPromptFiltering``)."""
        self._send = send
        self._spawn = spawn
        self._ignored = ignored
        self._stt_lang = relay.transcription_language or relay.language
        self._listener: asyncio.Task[None] | None = None
        self._last_partial = ""
        self._unfinished = ""  # the latest partial of the turn in progress
        self._client_speaking = False  # ``clientSpeaking`` last said ``on``

    async def connect(self) -> None:
        """Configure and connect the speech-to-text.

        Raises:
            SttConnectError: it could not connect.
        """
        await self._configure(self.stt)
        await self.stt.connect()

    def start(self) -> None:
        """Listen to the speech-to-text's events."""
        self._listener = self._spawn(self._listen(self.stt))

    async def close(self) -> None:
        """Close the speech-to-text (the listening task is the session's to cancel)."""
        with contextlib.suppress(Exception):
            await self.stt.close()

    # -- the caller

    def agent_sent(self, frame: bytes | None) -> None:
        """The frame sent to the caller this tick (None: silence): the echo guard's reference."""
        if self.guard is not None:
            self.guard.sent(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives: to the STT and the turn-taking machine (the
        line's noise instead when it held only the agent's echo)."""
        guard = self.guard
        if guard is not None:
            if guard.heard(frame):
                frame = guard.comfort_noise()
                self.echo_frames += 1
            if guard.take_retraction():  # what the machine heard before was the agent's echo
                self.turns.echo_heard()
        now = asyncio.get_running_loop().time()
        if self.echo is not None and self.agent.speaking():
            self.echo.heard_agent(now)
        actions = self.turns.receive_audio(frame, now)
        if actions:  # before the frame goes: MarkSpeechEnd precedes the first quiet frame
            self._act(actions)
        self.stt.send_audio(frame)
        if "speaker-events" in self.relay.events:
            speaking = self.turns.vad.speaking
            if speaking != self._client_speaking:
                self._client_speaking = speaking
                self._send(InfoMessage("clientSpeaking", "on" if speaking else "off"))

    def on_dtmf(self, digit: str) -> None:
        """A key: ``dtmf`` to the app (with ``dtmfDetection``); it may cut the reply."""
        self._act(self.turns.receive_dtmf(asyncio.get_running_loop().time()))
        if self.relay.dtmf_detection and self._reports("dtmf"):
            self._send(DtmfMessage(digit))

    def at_hangup(self) -> None:
        """The call hangs up: with ``partialPromptOnHangup`` the turn in progress is the
        last ``prompt``."""
        words, self._unfinished = self._unfinished, ""
        if self.relay.partial_prompt_on_hangup and words:
            log.info("[%s] ConversationRelay: the caller's unfinished turn at the hang-up, "
                     "the last prompt (partialPromptOnHangup)", self.call_id)  # fmt: skip
            self._prompt(words)

    def _reports(self, kind: str) -> bool:
        """The caller's ``kind`` of input (``speech``, ``dtmf``) goes to the app: always
        while the agent is quiet, while it speaks as ``reportInputDuringAgentSpeech`` says."""
        report = self.relay.report_input_during_agent_speech
        if report in ("any", kind) or not self.agent.speaking():
            return True
        self.suppressed += 1
        log.info("[%s] ConversationRelay: %s while the agent speaks, not reported "
                 "(reportInputDuringAgentSpeech=%s)", self.call_id, kind, report)  # fmt: skip
        return False

    async def _listen(self, stt: SpeechToText) -> None:
        loop = asyncio.get_running_loop()
        async for event in stt.events():
            if self.echo is not None and isinstance(event, SttPartialTranscript | SttTurnEnded):
                event = self._unechoed(event, loop.time())
            if isinstance(event, SttPartialTranscript):
                self._unfinished = event.text.strip() or self._unfinished
                if self.relay.partial_prompts:
                    self._partial(event.text.strip())
            elif isinstance(event, SttTurnEnded):
                self._unfinished = ""
            if isinstance(event, SttFailed):
                log.error("[%s] ConversationRelay: speech-to-text failed: %s",
                          self.call_id, event.reason)  # fmt: skip
                self._send(ErrorMessage(f"speech-to-text failed: {event.reason}"))
                return
            actions = self.turns.receive_stt(event, loop.time())
            if actions:
                self._act(actions)

    def _unechoed(
        self, event: SttPartialTranscript | SttTurnEnded, now: float
    ) -> SttPartialTranscript | SttTurnEnded:
        """``event``, or when it echoes the agent (``echoPromptFiltering``) the same without
        words: to the machine nothing was said (a final ends the turn, cutting nothing)."""
        assert self.echo is not None
        if not event.text.strip() or not self.echo.echoes(event.text, now):
            return event
        if isinstance(event, SttTurnEnded):
            self.echoes += 1
            log.info("[%s] ConversationRelay: %r echoes the agent, dropped "
                     "(echoPromptFiltering)", self.call_id, event.text[:80])  # fmt: skip
            return replace(event, text="", words=())
        return replace(event, text="")

    def agent_said(self, text: str) -> None:
        """A sentence of the agent's, sent to the text-to-speech (``echoPromptFiltering``)."""
        if self.echo is not None:
            self.echo.said(text, asyncio.get_running_loop().time())

    def _act(self, actions: tuple[TurnAction, ...]) -> None:
        for action in actions:
            if isinstance(action, StartReply):
                self.timings.turn_ended_at = action.stt_final_at
                self._prompt(action.text)
            elif isinstance(action, IgnoreBackchannel) and not self.relay.ignore_backchannel:
                log.info("[%s] ConversationRelay: backchannel %r over the agent, a turn "
                         "(ignorebackchannel=false)", self.call_id, action.text[:40])  # fmt: skip
                self.agent.barge_in(Cause.TURN)
                self.timings.turn_ended_at = asyncio.get_running_loop().time()
                self._prompt(action.text)
            elif isinstance(action, PauseAgent):
                self.agent.pause()
            elif isinstance(action, ResumeAgent):
                self.agent.resume()
            elif isinstance(action, CommitBargeIn):
                self.agent.barge_in(action.cause)
            elif isinstance(action, MarkSpeechEnd):
                self.stt.mark_speech_end()
            elif isinstance(action, ForceTurnEnd):
                self.stt.end_turn_now()
            elif isinstance(action, SetSttChunk):
                self.stt.set_chunk_ms(action.chunk_ms)

    def _prompt(self, text: str) -> None:
        """The caller's finished turn: the ``prompt`` (unless held back)."""
        self._last_partial = ""
        if not self._reports("speech"):
            return
        self.prompts += 1
        self._send(PromptMessage(text, self.lang, True))
        self.timings.prompt_sent_at = asyncio.get_running_loop().time()

    def _partial(self, text: str) -> None:
        """A partial transcript: a ``prompt`` with ``last: false`` when its words are new."""
        if not text or text == self._last_partial or not self._reports("speech"):
            return
        self._last_partial = text
        self._send(PromptMessage(text, self.lang, False))

    # -- the caller's language

    def switch_language(self, language: str) -> None:
        """``transcriptionLanguage``: the next prompts' ``lang``, and a new recognizer
        session when the model must change with it."""
        self.lang = language
        if self.stt_for is not None and needs_new_session(self._stt_lang, language):
            self._stt_lang = language
            self._spawn(self._switch_stt(language))

    def _stt_fields(self) -> dict[str, object]:
        """What the recognizer is told of the session: the ``hints`` as key terms,
        ``speechtimeout`` as the silence that always ends a turn, ``eotThreshold`` as how
        sure it must be (AssemblyAI's ``keyterms_prompt``, ``max_turn_silence``,
        ``end_of_turn_confidence_threshold``)."""
        fields: dict[str, object] = {}
        if self.keyterms:
            fields["keyterms_prompt"] = list(self.keyterms)
        if self.relay.speech_timeout_ms is not None:
            fields["max_turn_silence"] = self.relay.speech_timeout_ms
        if self.relay.eot_threshold is not None:
            fields["end_of_turn_confidence_threshold"] = self.relay.eot_threshold
        return fields

    async def _configure(self, stt: SpeechToText) -> None:
        """:meth:`_stt_fields` before the session connects (sent as its connection's)."""
        fields = self._stt_fields()
        if not fields:
            return
        if isinstance(stt, _Configurable):
            await stt.update_configuration(**fields)
        elif stt is self.stt:
            if self.keyterms:
                self._ignored("hints (the speech-to-text takes no key terms)")
            if self.relay.speech_timeout_ms is not None:
                self._ignored("speechtimeout (the speech-to-text takes no end-of-turn silence: "
                              "its own end of turn may come sooner)")  # fmt: skip
            if self.relay.eot_threshold is not None:
                self._ignored("eotThreshold (the speech-to-text takes no end-of-turn threshold)")

    def reconfigure(self, relay: ConversationRelay, keyterms: tuple[str, ...]) -> None:
        """A ``config`` or ``hints`` changed the session: ``relay``'s settings from the next
        frame on, the recognizer told what of it changed (an ``UpdateConfiguration``)."""
        before = self._stt_fields()
        self.relay, self.keyterms = relay, keyterms
        if relay.echo_prompt_filtering and self.echo is None:
            self.echo = EchoFilter()
        elif not relay.echo_prompt_filtering:
            self.echo = None
        changed = {k: v for k, v in self._stt_fields().items() if before.get(k) != v}
        if not keyterms and before.get("keyterms_prompt"):
            changed["keyterms_prompt"] = []
        if changed and isinstance(self.stt, _Configurable):
            self._spawn(self._update_stt(self.stt, changed))
        elif changed:
            self._ignored(f"{', '.join(sorted(changed))} (the speech-to-text takes no "
                          "configuration)")  # fmt: skip

    async def _update_stt(self, stt: _Configurable, fields: dict[str, object]) -> None:
        try:
            await stt.update_configuration(**fields)
        except Exception as exc:  # a broken socket: the STT's own failure policy follows
            log.warning("[%s] ConversationRelay: speech-to-text not reconfigured: %s",
                        self.call_id, exc)  # fmt: skip

    async def _switch_stt(self, language: str) -> None:
        """A new recognizer session for ``language``; it takes the caller's audio once
        connected, and the old one is closed."""
        assert self.stt_for is not None
        try:
            new = self.stt_for(language)
            await self._configure(new)
            await new.connect()
        except (ValueError, SttConnectError) as exc:
            log.error("[%s] ConversationRelay: speech-to-text for %s: %s", self.call_id,
                      language, exc)  # fmt: skip
            self._ignored(f"transcriptionLanguage={language!r} (no session for it: {exc})")
            return
        old, self.stt = self.stt, new
        if self._listener is not None:
            self._listener.cancel()
        self._listener = self._spawn(self._listen(new))
        log.info("[%s] ConversationRelay: speech-to-text reopened for %s", self.call_id,
                 language)  # fmt: skip
        with contextlib.suppress(Exception):
            await old.close()
