"""``<Connect><ConversationRelay>``: sipgw plays the platform's part of ConversationRelay.

Theory of operation
-------------------
The app gets words, not audio (:mod:`sipgw.twilio.relay`). :class:`RelaySession` opens its
WebSocket signed as Twilio signs it (``X-Twilio-Signature`` over the URL), sends ``setup``,
speaks ``welcomeGreeting``, then, until the app sends ``end`` or closes the socket, serves
the three sides below. Each is a collaborator of its own, the session wiring them together,
carrying out the app's messages and stopping them all: the caller's side is
:class:`~sipgw.agent.twiml.relay.listener.RelayListener`, the app's replies
:class:`~sipgw.agent.twiml.relay.speaker.RelaySpeaker` (its voices
:class:`~sipgw.agent.twiml.relay.voices.RelayVoices`), the socket
:class:`~sipgw.agent.twiml.relay.channel.AppChannel`.

- *The caller's side*: every 20 ms frame as it arrives goes to the configured speech-to-text
  and to the assistant's turn-taking machine (:class:`~sipgw.agent.turns.machine.TurnTaker`). Its
  :class:`~sipgw.agent.turns.machine.StartReply` (the STT's end of turn) is the ``prompt``
  (``voicePrompt`` = the final transcript, ``last: true``) sent at once: no later than the
  assistant starts its own reply; with ``partialPrompts`` each new partial transcript of
  the turn goes before it (``last: false``). Keys are ``dtmf`` when ``dtmfDetection`` is
  on. While the agent speaks (a reply not yet played out), prompts and keys go to the app
  only as ``reportInputDuringAgentSpeech`` says (``speech``, ``dtmf``, ``any``; ``none``,
  the default: neither).
- *The app's side*: ``text`` tokens are cut into sentences as they come
  (:class:`~sipgw.agent.services.llm.sentences.SentenceSplitter`, as the assistant cuts its LLM's
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
- *The verb's turn-taking* (:mod:`sipgw.agent.twiml.relay.turntaking`):
  ``interruptSensitivity`` sets how much speech pauses and cuts a reply, ``turnDetection``
  has the turn model end the caller's turn, ``speechtimeout`` the silence that ends it;
  ``ignorebackchannel="false"`` makes a backchannel over a reply a turn, and
  ``echoPromptFiltering`` drops transcripts that echo the agent (the listener's).
- *Barge-in*: the machine's :class:`~sipgw.agent.turns.machine.PauseAgent` holds the reply,
  :class:`~sipgw.agent.turns.machine.CommitBargeIn` cuts it (queued audio dropped, TTS cancelled)
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
- *Updates mid-call* (:mod:`sipgw.agent.twiml.relay.updates`): a ``config`` changes the
  session's settings (the next reply's ``interruptible`` and ``preemptible``, what is
  reported, the turn-taking machine retuned, the recognizer told its new silence, threshold
  and key terms), a language's voice (its next reply speaks with it) or adds a language,
  and may switch the active languages as ``language`` does; ``hints`` replace the key
  terms. Each applied is answered ``configUpdated`` (a ``language`` too).
- *What the app sent wrong* comes back as ``error`` (the parser's description); the
  session goes on, as Twilio's does.
- *The app away* (``applicationReconnect``): a socket that drops is reconnected by the
  channel (:mod:`sipgw.agent.twiml.relay.reconnect`), ``setup`` sent again, then what the
  session sent meanwhile. The caller's side runs on (its prompts kept for the app), the
  reply that was playing plays on (what came of one still streaming is spoken), and once
  nothing has been heard for a second the session says a line of its own, once per absence
  (:func:`~sipgw.agent.twiml.relay.reconnect.hold_line`).

:meth:`RelaySession.run` returns the ``end`` message (its ``handoffData`` is posted to the
``<Connect action>``), or None when the app closed the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipgw.agent.base import CallControl
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.playout import Playout
from sipgw.agent.services.stt.base import SpeechToText, SttConnectError
from sipgw.agent.services.tts.base import TextToSpeech, TtsError
from sipgw.agent.turns.machine import TurnTaker
from sipgw.agent.twiml.relay.channel import AppChannel
from sipgw.agent.twiml.relay.listener import RelayListener
from sipgw.agent.twiml.relay.providers import LanguageSetup
from sipgw.agent.twiml.relay.providers import keyterms as hint_terms
from sipgw.agent.twiml.relay.reconnect import ReconnectPolicy, hold_line
from sipgw.agent.twiml.relay.speaker import RelaySpeaker, RelayTimings
from sipgw.agent.twiml.relay.turntaking import relay_turns, retune
from sipgw.agent.twiml.relay.updates import updated_languages, updated_relay
from sipgw.agent.twiml.relay.voices import RelayVoices
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.twilio.relay import (
    AppMessage,
    ConfigMessage,
    ConfigUpdatedMessage,
    EndMessage,
    ErrorMessage,
    HintsMessage,
    LanguageMessage,
    PlatformMessage,
    PlayMessage,
    SendDigitsMessage,
    SetupMessage,
    TextMessage,
)
from sipgw.twilio.relaytwiml import ConversationRelay

if TYPE_CHECKING:
    from sipgw.media.voice.echo import EchoGuard

__all__ = ["RelayCall", "RelaySession", "RelayTimings"]

log = logging.getLogger("sipgw.agent")


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
        turns: the turn-taking machine's factory; None: the verb's
            (:func:`~sipgw.agent.twiml.relay.turntaking.relay_turns`).
        voices: a language's text-to-speech and what of its voice it does not follow (None:
            ``tts`` speaks every language).
        stt_for: a new speech-to-text session for callers speaking a language (None: the
            session stays ``stt``'s whatever the language).
        keyterms: the ``hints``, given to every speech-to-text session that takes key terms.
        languages: each language's voice and recognizer (lower-case code), the table
            ``voices`` reads: a ``config`` changes it in place.
        echo_guard: the caller's frames that hold only the agent's voice returned by the
            line are heard as its noise (:mod:`sipgw.media.voice.echo`).
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
        languages: dict[str, LanguageSetup] | None = None,
        echo_guard: bool = False,
    ) -> None:
        self.relay = relay
        self.url = url
        self.call = call
        self.who = who
        self.voices = voices
        self.keyterms = keyterms
        self.languages = languages if languages is not None else {}
        self.updates = 0
        """``config``, ``hints`` and ``language`` messages applied (each ``configUpdated``)."""
        self._language_hints: dict[str, tuple[str, ...]] = {}  # a config's key terms, by language
        self._verb_turns = turns is None  # the machine follows the verb's settings
        self.on_ignored: Callable[[str], None] = lambda what: None
        """Told what the app asked mid-session that is not followed (also logged)."""
        self.timings = RelayTimings()
        reconnect = ReconnectPolicy() if relay.application_reconnect else None
        self.channel = AppChannel(url, who.auth_token, open_timeout, reconnect, call.call_id)
        self.channel.on_away = self._app_away
        tts_lang = relay.tts_language or relay.language or "en-US"
        speech = RelayVoices(tts, tts_lang.lower(), voices, call.call_id, self._ignored)
        self.speaker = RelaySpeaker(relay, call, speech, fetch_audio, self.timings,
                                    self.channel.send, self._spawn, tts_lang)  # fmt: skip
        self.playout = self.speaker.playout
        self.turns = (
            turns(self.playout) if turns is not None
            else relay_turns(relay, self.speaker, stt.turn_check_silence)
        )  # fmt: skip
        self.listener = RelayListener(
            relay, stt, self.turns, self.speaker, call.call_id, self.timings,
            self.channel.send, self._spawn, self._ignored, stt_for=stt_for, keyterms=keyterms,
            echo_guard=_echo_guard() if echo_guard else None,
        )  # fmt: skip
        self.speaker.on_said = self.listener.agent_said
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    # -- what the call and the record read

    @property
    def sent(self) -> list[PlatformMessage]:
        """Every message sent to the app, in order (tests and the call record)."""
        return self.channel.sent

    @property
    def errors(self) -> int:
        """Bad messages the app sent (each answered with ``error``)."""
        return self.channel.errors

    @property
    def prompts(self) -> int:
        """``prompt`` messages with the caller's finished turn."""
        return self.listener.prompts

    @property
    def suppressed(self) -> int:
        """Prompts and keys not sent: the agent was speaking (``reportInputDuringAgentSpeech``)."""
        return self.listener.suppressed

    @property
    def echoes(self) -> int:
        """Final transcripts dropped as echoes of the agent (``echoPromptFiltering``)."""
        return self.listener.echoes

    @property
    def echo_frames(self) -> int:
        """The caller's frames that held only the agent's echo (the echo guard's)."""
        return self.listener.echo_frames

    @property
    def interrupts(self) -> int:
        """Replies the caller cut."""
        return self.speaker.interrupts

    @property
    def reconnects(self) -> int:
        """Times the app's socket dropped and came back (``applicationReconnect``)."""
        return self.channel.reconnects

    @property
    def events_dropped(self) -> int:
        """Messages not kept for the app while it was away: over the cap."""
        return self.channel.events_dropped

    # -- the session

    async def run(self) -> EndMessage | None:
        """Serve the session until ``end`` (returned) or the app closes the socket (None).

        Raises:
            StreamFailed: the socket could not be opened or broke.
        """
        try:
            await self.listener.connect()
            await self.speaker.voices.tts.connect()
        except (SttConnectError, TtsError) as exc:
            raise StreamFailed(f"ConversationRelay's speech services: {exc}") from None
        await self.channel.open()
        self.channel.send(self._setup())
        self.listener.start()
        if self.relay.welcome_greeting:
            await self.speaker.greet()
        async with aclosing(self.channel.messages()) as messages:
            async for message in messages:
                end = await self._receive(message)
                if end is not None:
                    return end
        return None

    def _setup(self) -> SetupMessage:
        who = self.who
        return SetupMessage(
            session_id=who.session_id, account_sid=who.account_sid, call_sid=who.call_sid,
            from_=who.from_, to=who.to, direction=who.direction,
            custom_parameters=self.relay.parameters,
        )  # fmt: skip

    async def _receive(self, message: AppMessage) -> EndMessage | None:
        if isinstance(message, TextMessage):
            await self.speaker.take_text(message)
        elif isinstance(message, PlayMessage):
            self._spawn(self.speaker.play(message))
        elif isinstance(message, SendDigitsMessage):
            self._send_digits(message.digits)
        elif isinstance(message, LanguageMessage):
            await self._language(message.tts_language, message.transcription_language)
            self._updated()
        elif isinstance(message, ConfigMessage):
            await self._config(message)
            self._updated()
        elif isinstance(message, HintsMessage):
            self.keyterms, left_out = hint_terms(message.hints)
            for what in left_out:
                self._ignored(what)
            self.listener.reconfigure(self.relay, self._keyterms_for(self.listener.lang))
            self._updated()
        else:
            return message
        return None

    async def _language(self, tts_language: str, transcription_language: str) -> None:
        if tts_language:
            await self.speaker.switch_voice(tts_language)
        if transcription_language:
            keyterms = self._keyterms_for(transcription_language)
            if keyterms != self.listener.keyterms:  # before a new recognizer connects
                self.listener.reconfigure(self.relay, keyterms)
            self.listener.switch_language(transcription_language)

    async def _config(self, message: ConfigMessage) -> None:
        relay, notes = updated_relay(self.relay, message)
        voices, hints, more = updated_languages(self.languages, message.languages)
        for what in (*notes, *more):
            self._ignored(what)
        self.relay = self.speaker.relay = relay
        self._language_hints.update(hints)
        for code in voices:
            self.speaker.voices.forget(code)
        if self._verb_turns:
            retune(self.turns, relay, self.listener.stt.turn_check_silence)
        self.listener.reconfigure(relay, self._keyterms_for(self.listener.lang))
        if message.tts_language or message.transcription_language:
            await self._language(message.tts_language, message.transcription_language)
        if self.speaker.tts_lang.lower() in voices and not message.tts_language:
            await self.speaker.switch_voice(self.speaker.tts_lang)  # its new voice, connected

    def _keyterms_for(self, language: str) -> tuple[str, ...]:
        """The key terms while callers speak ``language``: its own ``hints`` from a
        ``config``, else the session's."""
        return self._language_hints.get(language.lower(), self.keyterms)

    def _updated(self) -> None:
        self.updates += 1
        self.channel.send(ConfigUpdatedMessage())

    def _ignored(self, what: str) -> None:
        log.warning("[%s] TwiML <ConversationRelay> %s", self.call.call_id, what)
        self.on_ignored(what)

    def _send_digits(self, digits: str) -> None:
        keys = digits.replace("w", "")  # Twilio's half-second pauses: the events are paced
        try:
            if keys:
                self.call.send_dtmf(keys)
        except DialRefused as exc:
            self.channel.send(ErrorMessage(f"sendDigits refused: {exc}"))

    # -- the tick

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives: to the STT and the turn-taking machine."""
        if not self._stopped:
            self.listener.on_caller_audio(frame)

    def on_dtmf(self, digit: str) -> None:
        """A key: ``dtmf`` to the app (with ``dtmfDetection``); it may cut the reply."""
        if not self._stopped:
            self.listener.on_dtmf(digit)

    def next_frame(self) -> bytes | None:
        """The reply's next 20 ms (None: silence); the line, when the app is away and
        nothing is heard."""
        frame = self.speaker.next_frame()
        self.listener.agent_sent(frame)  # what the caller's line may return
        absence = self.channel.absence
        if absence is not None:
            quiet = not self.speaker.speaking() and not self.playout.pending
            if absence.line_due(asyncio.get_running_loop().time(), quiet):
                self._spawn(self.speaker.announce(hold_line(self.speaker.tts_lang)))
        return frame

    def _app_away(self) -> None:
        """The app's socket dropped (``applicationReconnect``): the reply it was streaming
        is spoken as far as it came; the caller's side goes on, its messages kept."""
        self._spawn(self.speaker.end_reply())

    # -- the end

    def at_hangup(self) -> None:
        """The call hangs up (before :meth:`stop`): ``partialPromptOnHangup``'s prompt."""
        if not self._stopped:
            self.listener.at_hangup()

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
        await self.speaker.cancel()
        with contextlib.suppress(Exception):  # each task's own failure was its to log
            await cancel_and_wait(*self._tasks)
        await self.channel.close()
        await self.listener.close()
        await self.speaker.voices.close()


def _echo_guard() -> EchoGuard:
    from sipgw.media.voice.echo import EchoGuard  # numpy: only where the guard is on

    return EchoGuard()
