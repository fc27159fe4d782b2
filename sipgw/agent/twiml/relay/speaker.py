"""The speaking side of a ConversationRelay session: the app's replies, heard by the caller.

:class:`RelaySpeaker` turns the app's ``text`` tokens into speech: cut into sentences as they
come (:class:`~sipgw.agent.services.llm.sentences.SentenceSplitter`, as the assistant cuts its LLM's
stream), each sentence sent to the reply's language's text-to-speech
(:class:`~sipgw.agent.twiml.relay.voices.RelayVoices`) at once, its audio queued on the
:class:`~sipgw.agent.playout.Playout` the call's tick reads one 20 ms frame at a time.
``last`` closes a reply; a token in another language than its reply's closes that reply and
begins one; ``play`` queues a fetched audio file as a reply of its own. A ``preemptible``
reply is cut, silently, by the app's next reply or play.

It is the turn-taking machine's view of the agent (:class:`~sipgw.agent.turns.machine.AgentState`):
the listening side pauses, resumes and cuts it (:meth:`RelaySpeaker.barge_in`: ``interrupt``
to the app with what the caller heard) as the machine says, and asks whether the agent is
:meth:`~RelaySpeaker.speaking`. With ``events`` it tells the app ``agentSpeaking`` and
``tokensPlayed`` (``info``) as the replies play out or are cut.

While the app is away (``applicationReconnect``) the reply it was streaming is closed where its
tokens stopped (:meth:`RelaySpeaker.end_reply`), and the session's line is spoken as no reply
of the app's (:meth:`RelaySpeaker.announce`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import Final

from sipgw.agent.base import CallControl
from sipgw.agent.playout import Playout
from sipgw.agent.services.llm.sentences import SentenceSplitter
from sipgw.agent.services.tts.base import TextToSpeech, TtsError, TtsReply
from sipgw.agent.turns.machine import Cause
from sipgw.agent.twiml.relay.voices import RelayVoices
from sipgw.twilio.relay import (
    ErrorMessage,
    InfoMessage,
    InterruptMessage,
    PlatformMessage,
    PlayMessage,
    TextMessage,
)
from sipgw.twilio.relaytwiml import ConversationRelay

__all__ = ["RelaySpeaker", "RelayTimings"]

log = logging.getLogger("sipgw.agent")

_SPEECH_CAUSES: Final = (Cause.SPEECH, Cause.TRANSCRIPT, Cause.TURN)


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


class RelaySpeaker:
    """The app's replies, spoken (see the module docstring).

    Args:
        relay: the TwiML noun (its ``interruptible``, ``preemptible``, ``events``, greeting).
        call: the call (``audio_ready`` for the talkspurt fast path; its id for the log).
        voices: each language's text-to-speech.
        fetch_audio: an audio URL to μ-law (``play``); raises ``ValueError`` on failure.
        timings: the session's, where the first audio of a reply is noted.
        send: a message to the app.
        spawn: runs a task the session cancels when it stops.
        tts_lang: the language of the next reply without a ``lang``.
    """

    def __init__(
        self,
        relay: ConversationRelay,
        call: CallControl,
        voices: RelayVoices,
        fetch_audio: Callable[[str], Awaitable[bytes]],
        timings: RelayTimings,
        send: Callable[[PlatformMessage], None],
        spawn: Callable[[Awaitable[None]], asyncio.Task[None]],
        tts_lang: str,
    ) -> None:
        self.relay = relay
        self.call = call
        self.voices = voices
        self.fetch_audio = fetch_audio
        self.timings = timings
        self.playout = Playout(on_ready=call.audio_ready)
        self.playout.held = False
        self.tts_lang = tts_lang
        """The language of the next reply without a ``lang`` (its voice)."""
        self.interrupts = 0
        """Replies the caller cut (each told to the app with ``interrupt``)."""
        self.on_said: Callable[[str], None] = lambda sentence: None
        """Told each sentence as it goes to the text-to-speech (``echoPromptFiltering``)."""
        self._send = send
        self._spawn = spawn
        self._reply: _Reply | None = None  # the reply still taking text
        self._playing: _Reply | None = None  # the latest reply with audio queued
        self._ids = count(1)
        self._agent_speaking = False  # ``agentSpeaking`` last said ``on``
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

    def speaking(self) -> bool:
        """A reply of the agent is still to be heard (taking text, or not played out)."""
        return any(
            reply is not None and not self.playout.finished(reply.id)
            for reply in (self._reply, self._playing)
        )

    # -- the app's replies

    async def greet(self) -> None:
        """Speak the verb's ``welcomeGreeting``."""
        reply = self._begin(self.relay.welcome_greeting_interruptible, self.voices.tts)
        await self._add_text(reply, self.relay.welcome_greeting, last=True)

    async def take_text(self, message: TextMessage) -> None:
        """A ``text`` token: to the reply taking text, or to a new one."""
        await self._text(message)
        reply = self._reply
        if reply is not None:
            await self._add_text(reply, message.token, message.last)

    async def switch_voice(self, tts_language: str) -> None:
        """``ttsLanguage``: the next replies' language, its voice connected before them."""
        self.tts_lang = tts_language
        await self.voices.tts_for(self.tts_lang.lower())  # connected before the next reply

    async def _text(self, message: TextMessage) -> None:
        lang = (message.lang or self.tts_lang).lower()
        open_reply = self._reply
        if open_reply is not None and not open_reply.closed and open_reply.lang != lang:
            await self._add_text(open_reply, "", last=True)  # another language: a new reply
        if self._reply is None or self._reply.closed:
            tts = await self.voices.tts_for(lang)
            self._preempt()
            self.timings.first_token_at = asyncio.get_running_loop().time()
            self.timings.first_audio_at = None
            self._begin(message.interruptible or self.relay.interruptible, tts,
                        message.preemptible or self.relay.preemptible, lang)  # fmt: skip

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
            self.on_said(sentence)
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

    async def end_reply(self) -> None:
        """The app went away mid-reply: the reply still taking text is closed, what came of
        it spoken (its ``last`` will not come; the app's next text begins a new one)."""
        reply = self._reply
        if reply is not None and not reply.closed:
            await self._add_text(reply, "", last=True)

    async def announce(self, text: str) -> None:
        """``text`` in the session's voice, the platform's own (the line while the app is
        away): no reply of the app's, so nothing cuts it, the app is told nothing of it, and
        the caller's input over it is reported as over silence."""
        speaker = await self.voices.tts_for(self.tts_lang.lower())
        try:
            tts = speaker.start_reply()
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech: %s", self.call.call_id, exc)
            return
        line = _Reply(f"relay-{next(self._ids)}", "none", tts)
        self.playout.begin(line.id)
        line.pump = self._spawn(self._pump(line, tts))
        self.playout.add_text(line.id, text)
        self.on_said(text)
        try:
            await tts.send_text(text)
            await tts.finish()
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech: %s", self.call.call_id, exc)

    async def play(self, message: PlayMessage) -> None:
        """``play``: the file fetched, then queued as a reply (``error`` if it cannot be)."""
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

    # -- what the caller hears

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
        elif self._agent_speaking and not self.speaking() and not self.playout.pending:
            self._agent_speaking = False
            self._send(InfoMessage("agentSpeaking", "off"))

    def _played(self, reply: _Reply, text: str) -> None:
        """``tokensPlayed`` (with ``tokens-played``) of a reply done: played out or cut."""
        if reply in self._unplayed:
            self._unplayed.remove(reply)
        if "tokens-played" in self.relay.events and text:
            self._send(InfoMessage("tokensPlayed", text))

    # -- barge-in

    def pause(self) -> None:
        """The caller may be speaking over the reply: hold it if speech may cut it."""
        playing = self._playing
        if playing is not None and playing.may_cut(Cause.SPEECH):
            self.playout.paused = True

    def resume(self) -> None:
        """No barge-in after all: the reply plays on."""
        self.playout.paused = False

    def barge_in(self, cause: Cause) -> None:
        """The caller cut in (``cause``): the replies still to be heard are cut when each may
        be by it (queued audio dropped, TTS cancelled), and ``interrupt`` goes to the app."""
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

    async def cancel(self) -> None:
        """The session stops: the replies' text-to-speech streams are cancelled."""
        for reply in (self._reply, self._playing):
            if reply is not None and reply.tts is not None:
                with contextlib.suppress(Exception):
                    await reply.tts.cancel()
