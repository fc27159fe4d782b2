"""``<Connect><ConversationRelay>``: sipgw plays the platform's part of ConversationRelay.

Theory of operation
-------------------
The app gets words, not audio (:mod:`sipgw.twilio.relay`). :class:`RelaySession` opens its
WebSocket signed as Twilio signs it (``X-Twilio-Signature`` over the URL), sends ``setup``,
speaks ``welcomeGreeting``, then, until the app sends ``end`` or closes the socket:

- *The caller's side*: every 20 ms frame as it arrives goes to the configured speech-to-text
  and to the assistant's turn-taking machine (:class:`~sipgw.agent.turns.TurnTaker`). Its
  :class:`~sipgw.agent.turns.StartReply` (the STT's end of turn) is the ``prompt``
  (``voicePrompt`` = the final transcript, ``last: true``) sent at once: no later than the
  assistant starts its own reply; with ``partialPrompts`` each new partial transcript of
  the turn goes before it (``last: false``). Keys are ``dtmf`` when ``dtmfDetection`` is
  on. While the agent speaks (a reply not yet played out), prompts and keys go to the app
  only as ``reportInputDuringAgentSpeech`` says (``speech``, ``dtmf``, ``any``; ``none``,
  the default: neither).
- *The app's side*: ``text`` tokens are cut into sentences as they come
  (:class:`~sipgw.agent.llm.sentences.SentenceSplitter`, as the assistant cuts its LLM's
  stream) and each sentence goes to the text-to-speech at once; its audio goes to the
  assistant's :class:`~sipgw.agent.playout.Playout`, one 20 ms frame per tick. ``last``
  closes the reply (its rest is spoken); the next token begins a new one. A reply speaks
  with the voice of its language (``text``'s ``lang``, else the session's, which a
  ``language`` message's ``ttsLanguage`` switches; the voices: :mod:`sipgw.agent.twiml.
  relay.providers`), each language's client made and connected at its first use; a token in
  another language than its reply's closes that reply and begins one. ``play`` fetches and
  plays an audio file (:mod:`sipgw.agent.twiml.audiofile`), ``sendDigits`` sends RFC 4733
  events. A reply that is ``preemptible`` (its message's, else the verb's) is cut, silently,
  by the app's next ``text`` reply or ``play``.
- *Languages of the caller*: ``transcriptionLanguage`` is the next prompts' ``lang``; when
  the recognizer's model must change with it (``providers.needs_new_session``) a new
  session is opened and connected, then takes the caller's audio from the old one, which
  is closed. ``hints`` go to every session as key terms.
- *Barge-in*: the machine's :class:`~sipgw.agent.turns.PauseAgent` holds the reply,
  :class:`~sipgw.agent.turns.CommitBargeIn` cuts it (queued audio dropped, TTS cancelled)
  when the reply is ``interruptible`` by that cause (``speech`` for speech and transcripts,
  ``dtmf`` for keys, ``any`` both); ``interrupt`` goes to the app with
  ``utteranceUntilInterrupt`` = the text the caller heard (TTS alignment, else estimated
  from the time played, :meth:`~sipgw.agent.playout.Playout.heard_text`) and
  ``durationUntilInterruptMs`` = what was played. A reply that may not be cut plays on.
- *Info*: with ``events`` (``debug``) ``speaker-events``, ``info`` ``agentSpeaking`` ``on``
  when a reply's first frame goes out and ``off`` once nothing of the agent is left to hear
  (played out or cut), ``clientSpeaking`` ``on``/``off`` as the voice detector hears the
  caller start and stop; with ``tokens-played``, ``info`` ``tokensPlayed`` with a reply's
  text once it is played out, or the part heard when it is cut (after the ``interrupt``).
- *What the app sent wrong* comes back as ``error`` (the parser's description); the
  session goes on, as Twilio's does.

:meth:`RelaySession.run` returns the ``end`` message (its ``handoffData`` is posted to the
``<Connect action>``), or None when the app closed the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import Final, Protocol, runtime_checkable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, WebSocketException

from sipgw.agent.base import CallControl
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.llm.sentences import SentenceSplitter
from sipgw.agent.playout import Playout
from sipgw.agent.stt.base import SpeechToText, SttConnectError, SttFailed, SttPartialTranscript
from sipgw.agent.tts.base import TextToSpeech, TtsError, TtsReply
from sipgw.agent.turns import (
    Cause,
    CommitBargeIn,
    ForceTurnEnd,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartReply,
    TurnAction,
    TurnTaker,
)
from sipgw.agent.twiml.relay.providers import needs_new_session
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.twilio.relay import (
    DtmfMessage,
    EndMessage,
    ErrorMessage,
    InfoMessage,
    InterruptMessage,
    LanguageMessage,
    MalformedRelayMessage,
    PlatformMessage,
    PlayMessage,
    PromptMessage,
    SendDigitsMessage,
    SetupMessage,
    TextMessage,
    parse_app_message,
    serialize,
)
from sipgw.twilio.relaytwiml import ConversationRelay
from sipgw.twilio.signature import signature_for

__all__ = ["RelayCall", "RelaySession", "RelayTimings"]

log = logging.getLogger("sipgw.agent")

MAX_MESSAGE: Final = 65_536
_SPEECH_CAUSES: Final = (Cause.SPEECH, Cause.TRANSCRIPT, Cause.TURN)


@dataclass(frozen=True, slots=True)
class RelayCall:
    """Who the session is for: what ``setup`` says and how the socket is signed."""

    session_id: str
    account_sid: str
    call_sid: str
    from_: str
    to: str
    direction: str
    auth_token: str


@dataclass(slots=True)
class RelayTimings:
    """What the bench reads (``loop.time()`` values; None until it happened)."""

    turn_ended_at: float | None = None
    """The STT's end of turn arrived."""
    prompt_sent_at: float | None = None
    """The ``prompt`` it made was handed to the socket."""
    first_token_at: float | None = None
    """The first ``text`` token of the latest reply arrived."""
    first_audio_at: float | None = None
    """That reply's first audio came from the TTS."""


@runtime_checkable
class _Configurable(Protocol):
    """A speech-to-text session that takes configuration (AssemblyAI's)."""

    async def update_configuration(self, **fields: object) -> None: ...


class _Reply:
    """One reply of the app: its TTS stream, its pump, what may cut it."""

    def __init__(
        self, reply_id: str, interruptible: str, tts: TtsReply | None, preemptible: bool = False,
        lang: str = "",
    ) -> None:  # fmt: skip
        self.id = reply_id
        self.interruptible = interruptible
        self.preemptible = preemptible
        self.lang = lang
        self.tts = tts
        self.splitter = SentenceSplitter(eager_end=True)
        self.started_at = asyncio.get_running_loop().time()
        self.pump: asyncio.Task[None] | None = None
        self.closed = False  # no more text (``last``), or a play
        self.text = ""  # every sentence sent to the TTS (``tokensPlayed``)

    def may_cut(self, cause: Cause) -> bool:
        if self.interruptible == "any":
            return True
        if cause is Cause.DTMF:
            return self.interruptible == "dtmf"
        return self.interruptible == "speech" and cause in _SPEECH_CAUSES


class RelaySession:
    """One ``<ConversationRelay>`` session (see the module docstring).

    Args:
        relay: the TwiML noun.
        url: its ``url``, absolute.
        call: the call (for ``sendDigits``; ``audio_ready`` for the talkspurt fast path).
        who: what ``setup`` says and the token the handshake is signed with.
        stt: this call's speech-to-text (connected here, closed by :meth:`stop`).
        tts: this call's text-to-speech (connected here, closed by :meth:`stop`).
        fetch_audio: an audio URL to μ-law (``play``); raises ``ValueError`` on failure.
        open_timeout: seconds to open the socket.
        turns: the turn-taking machine's factory (the assistant's settings); None: defaults.
        voices: a language's text-to-speech and what of its voice it does not follow (None:
            ``tts`` speaks every language).
        stt_for: a new speech-to-text session for callers speaking a language (None: the
            session stays ``stt``'s whatever the language).
        keyterms: the ``hints``, given to every speech-to-text session that takes key terms.
    """

    def __init__(
        self,
        relay: ConversationRelay,
        url: str,
        call: CallControl,
        who: RelayCall,
        stt: SpeechToText,
        tts: TextToSpeech,
        fetch_audio: Callable[[str], Awaitable[bytes]],
        open_timeout: float = 5.0,
        turns: Callable[[Playout], TurnTaker] | None = None,
        *,
        voices: Callable[[str], tuple[TextToSpeech, list[str]]] | None = None,
        stt_for: Callable[[str], SpeechToText] | None = None,
        keyterms: tuple[str, ...] = (),
    ) -> None:
        self.relay = relay
        self.url = url
        self.call = call
        self.who = who
        self.stt = stt
        self.tts = tts
        self.fetch_audio = fetch_audio
        self.open_timeout = open_timeout
        self.playout = Playout(on_ready=call.audio_ready)
        self.playout.held = False
        self.turns = turns(self.playout) if turns is not None else TurnTaker(self)
        self.lang = relay.transcription_language or relay.language or "en-US"
        self.tts_lang = relay.tts_language or relay.language or "en-US"
        """The language of the next reply without a ``lang`` (its voice)."""
        self.voices = voices
        self.stt_for = stt_for
        self.keyterms = keyterms
        self.on_ignored: Callable[[str], None] = lambda what: None
        """Told what the app asked mid-session that is not followed (also logged)."""
        self._voices: dict[str, TextToSpeech] = {self.tts_lang.lower(): tts}
        self._stt_lang = relay.transcription_language or relay.language
        self._listener: asyncio.Task[None] | None = None
        self._last_partial = ""
        self.suppressed = 0
        """Prompts and keys not sent: the agent was speaking (``reportInputDuringAgentSpeech``)."""
        self.timings = RelayTimings()
        self.sent: list[PlatformMessage] = []
        """Every message sent to the app, in order (tests and the call record)."""
        self.errors = 0
        """Bad messages the app sent (each answered with ``error``)."""
        self.prompts = 0
        self.interrupts = 0
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._reply: _Reply | None = None  # the reply still taking text
        self._playing: _Reply | None = None  # the latest reply with audio queued
        self._ids = count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._agent_speaking = False  # ``agentSpeaking`` last said ``on``
        self._client_speaking = False  # ``clientSpeaking`` last said ``on``
        self._unplayed: list[_Reply] = []  # replies whose ``tokensPlayed`` is still to go

    # -- the turn-taking machine's view of the agent (turns.AgentState)

    @property
    def audible(self) -> bool:
        """Agent audio is queued and playing."""
        return self.playout.audible

    @property
    def pending(self) -> bool:
        """Agent audio is queued, playing or paused."""
        return self.playout.pending

    def active_reply_started_at(self) -> float | None:
        """When the reply still taking text or playing started."""
        for reply in (self._reply, self._playing):
            if reply is not None and not self.playout.finished(reply.id):
                return reply.started_at
        return None

    # -- the session

    async def run(self) -> EndMessage | None:
        """Serve the session until ``end`` (returned) or the app closes the socket (None).

        Raises:
            StreamFailed: the socket could not be opened or broke.
        """
        headers = {"X-Twilio-Signature": signature_for(self.who.auth_token, self.url)}
        try:
            await self._configure(self.stt)
            await self.stt.connect()
            await self.tts.connect()
        except (SttConnectError, TtsError) as exc:
            raise StreamFailed(f"ConversationRelay's speech services: {exc}") from None
        try:
            ws = await ws_connect(
                self.url, additional_headers=headers, open_timeout=self.open_timeout,
                max_size=MAX_MESSAGE, user_agent_header="Twilio.TmeWs/1.0",
                logger=log.getChild("relay"),
            )  # fmt: skip
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            raise StreamFailed(
                f"ConversationRelay {self.url[:200]} could not be opened: {exc}"
            ) from None
        self._ws = ws
        writer = asyncio.get_running_loop().create_task(self._write(ws))
        self._send(self._setup())
        self._listener = self._spawn(self._listen(self.stt))
        if self.relay.welcome_greeting:
            reply = self._begin(self.relay.welcome_greeting_interruptible, self.tts)
            await self._add_text(reply, self.relay.welcome_greeting, last=True)
        try:
            async for frame in ws:
                end = await self._receive(frame)
                if end is not None:
                    return end
        except ConnectionClosedError as exc:
            raise StreamFailed(f"the ConversationRelay socket broke ({exc})") from None
        except ConnectionClosedOK:
            pass
        finally:
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
        return None

    def _setup(self) -> SetupMessage:
        who = self.who
        return SetupMessage(
            session_id=who.session_id, account_sid=who.account_sid, call_sid=who.call_sid,
            from_=who.from_, to=who.to, direction=who.direction,
            custom_parameters=self.relay.parameters,
        )  # fmt: skip

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosedOK, ConnectionClosedError):
            while (text := await self._outbox.get()) is not None:
                await ws.send(text)

    def _send(self, message: PlatformMessage) -> None:
        self.sent.append(message)
        self._outbox.put_nowait(serialize(message))

    async def _receive(self, frame: str | bytes) -> EndMessage | None:
        try:
            message = parse_app_message(frame)
        except MalformedRelayMessage as exc:
            self.errors += 1
            self._send(ErrorMessage(f"Invalid message received: {exc}"))
            return None
        if isinstance(message, TextMessage):
            await self._text(message)
            reply = self._reply
            if reply is not None:
                await self._add_text(reply, message.token, message.last)
        elif isinstance(message, PlayMessage):
            self._spawn(self._play(message))
        elif isinstance(message, SendDigitsMessage):
            self._send_digits(message.digits)
        elif isinstance(message, LanguageMessage):
            await self._language(message)
        else:
            return message
        return None

    # -- the app's replies

    async def _text(self, message: TextMessage) -> None:
        lang = (message.lang or self.tts_lang).lower()
        open_reply = self._reply
        if open_reply is not None and not open_reply.closed and open_reply.lang != lang:
            await self._add_text(open_reply, "", last=True)  # another language: a new reply
        if self._reply is None or self._reply.closed:
            tts = await self._tts_for(lang)
            self._preempt()
            self.timings.first_token_at = asyncio.get_running_loop().time()
            self.timings.first_audio_at = None
            self._begin(message.interruptible or self.relay.interruptible, tts,
                        message.preemptible or self.relay.preemptible, lang)  # fmt: skip

    async def _tts_for(self, lang: str) -> TextToSpeech:
        """The text-to-speech of ``lang`` (lower case): made and connected at its first use;
        the session's first when no other can be made."""
        known = self._voices.get(lang)
        if known is not None:
            return known
        if self.voices is None:
            self._ignored(f"lang={lang!r} (the text-to-speech takes no language)")
            self._voices[lang] = self.tts
            return self.tts
        tts, notes = self.voices(lang)
        for what in notes:
            self._ignored(f"{lang}: {what}")
        try:
            await tts.connect()
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech for %s: %s", self.call.call_id,
                      lang, exc)  # fmt: skip
            self._ignored(f"lang={lang!r} (its text-to-speech could not connect)")
            with contextlib.suppress(Exception):
                await tts.close()
            tts = self.tts
        self._voices[lang] = tts
        return tts

    async def _language(self, message: LanguageMessage) -> None:
        if message.tts_language:
            self.tts_lang = message.tts_language
            await self._tts_for(self.tts_lang.lower())  # connected before the next reply
        new = message.transcription_language
        if new:
            self.lang = new
            if self.stt_for is not None and needs_new_session(self._stt_lang, new):
                self._stt_lang = new
                self._spawn(self._switch_stt(new))

    async def _configure(self, stt: SpeechToText) -> None:
        """The ``hints`` as key terms, before the session connects (AssemblyAI sends them as
        its connection's ``keyterms_prompt``)."""
        if not self.keyterms:
            return
        if isinstance(stt, _Configurable):
            await stt.update_configuration(keyterms_prompt=list(self.keyterms))
        elif stt is self.stt:
            self._ignored("hints (the speech-to-text takes no key terms)")

    async def _switch_stt(self, language: str) -> None:
        """A new recognizer session for ``language``; it takes the caller's audio once
        connected, and the old one is closed."""
        assert self.stt_for is not None
        try:
            new = self.stt_for(language)
            await self._configure(new)
            await new.connect()
        except (ValueError, SttConnectError) as exc:
            log.error("[%s] ConversationRelay: speech-to-text for %s: %s", self.call.call_id,
                      language, exc)  # fmt: skip
            self._ignored(f"transcriptionLanguage={language!r} (no session for it: {exc})")
            return
        old, self.stt = self.stt, new
        if self._listener is not None:
            self._listener.cancel()
        self._listener = self._spawn(self._listen(new))
        log.info("[%s] ConversationRelay: speech-to-text reopened for %s", self.call.call_id,
                 language)  # fmt: skip
        with contextlib.suppress(Exception):
            await old.close()

    def _ignored(self, what: str) -> None:
        log.warning("[%s] TwiML <ConversationRelay> %s", self.call.call_id, what)
        self.on_ignored(what)

    def _preempt(self) -> None:
        """The app's next reply or play: a preemptible one still speaking is cut, silently."""
        for reply in (self._playing, self._reply):
            if reply is None or not reply.preemptible or self.playout.finished(reply.id):
                continue
            self._played(reply, self.playout.cancel(reply.id))
            if reply.tts is not None:
                self._spawn(reply.tts.cancel())
            reply.closed = True
            if self._reply is reply:
                self._reply = None
            if self._playing is reply:
                self._playing = None

    def _begin(
        self, interruptible: str, speaker: TextToSpeech, preemptible: bool = False, lang: str = ""
    ) -> _Reply:
        reply_id = f"relay-{next(self._ids)}"
        try:
            tts: TtsReply | None = speaker.start_reply()
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech: %s", self.call.call_id, exc)
            tts = None
        reply = _Reply(reply_id, interruptible, tts, preemptible, lang or self.tts_lang.lower())
        self.playout.begin(reply_id)
        self._reply = self._playing = reply
        if "tokens-played" in self.relay.events:
            self._unplayed.append(reply)
        if tts is not None:
            reply.pump = self._spawn(self._pump(reply, tts))
        return reply

    async def _add_text(self, reply: _Reply, token: str, last: bool) -> None:
        sentences = reply.splitter.push(token)
        if last:
            rest = reply.splitter.flush()
            if rest:
                sentences.append(rest)
        for sentence in sentences:
            self.playout.add_text(reply.id, sentence)
            reply.text = f"{reply.text} {sentence}".strip()
            if reply.tts is not None:
                try:
                    await reply.tts.send_text(sentence)
                except TtsError as exc:
                    log.error("[%s] ConversationRelay: text-to-speech: %s", self.call.call_id, exc)
        if last:
            reply.closed = True
            if self._reply is reply:
                self._reply = None
            if reply.tts is not None:
                with contextlib.suppress(TtsError):
                    await reply.tts.finish()
            else:
                self.playout.finish(reply.id)

    async def _pump(self, reply: _Reply, tts: TtsReply) -> None:
        try:
            async for chunk in tts.audio():
                if self.timings.first_audio_at is None:
                    self.timings.first_audio_at = chunk.received_at
                self.playout.push_audio(reply.id, chunk.audio, chunk.text)
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech: %s", self.call.call_id, exc)
        self.playout.finish(reply.id)

    async def _play(self, message: PlayMessage) -> None:
        try:
            audio = await self.fetch_audio(message.source)
        except ValueError as exc:
            self._send(ErrorMessage(f"play {message.source[:200]}: {exc}"))
            return
        self._preempt()
        reply_id = f"relay-{next(self._ids)}"
        reply = _Reply(reply_id, message.interruptible or self.relay.interruptible, None,
                       message.preemptible or self.relay.preemptible)  # fmt: skip
        reply.closed = True
        self.playout.begin(reply_id)
        self._playing = reply
        self.playout.push_audio(reply_id, audio * max(1, message.loop))
        self.playout.finish(reply_id)

    def _send_digits(self, digits: str) -> None:
        keys = digits.replace("w", "")  # Twilio's half-second pauses: the events are paced
        try:
            if keys:
                self.call.send_dtmf(keys)
        except DialRefused as exc:
            self._send(ErrorMessage(f"sendDigits refused: {exc}"))

    # -- the caller's side

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives: to the STT and the turn-taking machine."""
        if self._stopped:
            return
        actions = self.turns.receive_audio(frame, asyncio.get_running_loop().time())
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
        if self._stopped:
            return
        self._act(self.turns.receive_dtmf(asyncio.get_running_loop().time()))
        if self.relay.dtmf_detection and self._reports("dtmf"):
            self._send(DtmfMessage(digit))

    def _speaking(self) -> bool:
        """A reply of the agent is still to be heard (taking text, or not played out)."""
        return any(
            reply is not None and not self.playout.finished(reply.id)
            for reply in (self._reply, self._playing)
        )

    def _reports(self, kind: str) -> bool:
        """The caller's ``kind`` of input (``speech``, ``dtmf``) goes to the app: always
        while the agent is quiet, while it speaks as ``reportInputDuringAgentSpeech`` says."""
        report = self.relay.report_input_during_agent_speech
        if report in ("any", kind) or not self._speaking():
            return True
        self.suppressed += 1
        log.info("[%s] ConversationRelay: %s while the agent speaks, not reported "
                 "(reportInputDuringAgentSpeech=%s)", self.call.call_id, kind, report)  # fmt: skip
        return False

    def next_frame(self) -> bytes | None:
        """The reply's next 20 ms (None: silence)."""
        frame = self.playout.next_frame(time.monotonic())
        if self.relay.events:
            self._tell_played(frame is not None)
        return frame

    def _tell_played(self, sounding: bool) -> None:
        """``info`` of the agent's side after a tick: ``agentSpeaking`` as it starts and
        ends, ``tokensPlayed`` for each reply played out."""
        while self._unplayed and self.playout.finished(self._unplayed[0].id):
            reply = self._unplayed.pop(0)
            self._played(reply, reply.text if reply.tts is not None else "")  # none: unheard
        if "speaker-events" not in self.relay.events:
            return
        if sounding and not self._agent_speaking:
            self._agent_speaking = True
            self._send(InfoMessage("agentSpeaking", "on"))
        elif self._agent_speaking and not self._speaking() and not self.playout.pending:
            self._agent_speaking = False
            self._send(InfoMessage("agentSpeaking", "off"))

    def _played(self, reply: _Reply, text: str) -> None:
        """``tokensPlayed`` (with ``tokens-played``) of a reply done: played out or cut."""
        if reply in self._unplayed:
            self._unplayed.remove(reply)
        if "tokens-played" in self.relay.events and text:
            self._send(InfoMessage("tokensPlayed", text))

    async def _listen(self, stt: SpeechToText) -> None:
        loop = asyncio.get_running_loop()
        async for event in stt.events():
            if isinstance(event, SttPartialTranscript) and self.relay.partial_prompts:
                self._partial(event.text.strip())
            if isinstance(event, SttFailed):
                log.error("[%s] ConversationRelay: speech-to-text failed: %s",
                          self.call.call_id, event.reason)  # fmt: skip
                self._send(ErrorMessage(f"speech-to-text failed: {event.reason}"))
                return
            actions = self.turns.receive_stt(event, loop.time())
            if actions:
                self._act(actions)

    def _act(self, actions: tuple[TurnAction, ...]) -> None:
        for action in actions:
            if isinstance(action, StartReply):
                self.timings.turn_ended_at = action.stt_final_at
                self._last_partial = ""
                if not self._reports("speech"):
                    continue
                self.prompts += 1
                self._send(PromptMessage(action.text, self.lang, True))
                self.timings.prompt_sent_at = asyncio.get_running_loop().time()
            elif isinstance(action, PauseAgent):
                playing = self._playing
                if playing is not None and playing.may_cut(Cause.SPEECH):
                    self.playout.paused = True
            elif isinstance(action, ResumeAgent):
                self.playout.paused = False
            elif isinstance(action, CommitBargeIn):
                self._barge_in(action.cause)
            elif isinstance(action, MarkSpeechEnd):
                self.stt.mark_speech_end()
            elif isinstance(action, ForceTurnEnd):
                self.stt.end_turn_now()
            elif isinstance(action, SetSttChunk):
                self.stt.set_chunk_ms(action.chunk_ms)

    def _partial(self, text: str) -> None:
        """A partial transcript: a ``prompt`` with ``last: false`` when its words are new."""
        if not text or text == self._last_partial or not self._reports("speech"):
            return
        self._last_partial = text
        self._send(PromptMessage(text, self.lang, False))

    def _barge_in(self, cause: Cause) -> None:
        self.playout.paused = False
        cut: list[_Reply] = []
        for reply in (self._playing, self._reply):
            if reply is not None and reply not in cut and not self.playout.finished(reply.id):
                cut.append(reply)
        if not cut or not all(reply.may_cut(cause) for reply in cut):
            return  # nothing playing, or a reply the app said may not be cut: it plays on
        heard: list[str] = []
        played_ms = 0
        for reply in cut:
            played_ms += self.playout.played_ms(reply.id)
            heard.append(self.playout.cancel(reply.id))
            if reply in self._unplayed:
                self._unplayed.remove(reply)
            if reply.tts is not None:
                self._spawn(reply.tts.cancel())
            reply.closed = True
        self._reply = self._playing = None
        utterance = " ".join(text for text in heard if text)
        log.info("[%s] ConversationRelay: barge-in (%s) after %d ms: %r", self.call.call_id,
                 cause.value, played_ms, utterance[:80])  # fmt: skip
        self.interrupts += 1
        self._send(InterruptMessage(utterance, played_ms))
        for reply, text in zip(cut, heard, strict=True):
            self._played(reply, text)

    # -- the end

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        """The session is over (``end``, the socket closed, the call ended): close it all."""
        if self._stopped:
            return
        self._stopped = True
        for reply in (self._reply, self._playing):
            if reply is not None and reply.tts is not None:
                with contextlib.suppress(Exception):
                    await reply.tts.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._outbox.put_nowait(None)
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        with contextlib.suppress(Exception):
            await self.stt.close()
        for tts in {id(t): t for t in (self.tts, *self._voices.values())}.values():
            with contextlib.suppress(Exception):
                await tts.close()
