"""``<Start><Transcription>`` on one call: its audio transcribed as it goes, each utterance
posted to ``statusCallbackUrl`` (asyncio adapter).

Twilio forks the call's audio to its speech-to-text engine
(https://www.twilio.com/docs/voice/twiml/transcription); sipgw forks it to the operator's
streaming speech-to-text (``SIPGW_TWIML_STT``): one session per track transcribed (the
caller's, ``inbound_track``, as it arrives; what the call plays to the caller,
``outbound_track``, each tick, silence included so its clock runs). Each finished turn is a
``transcription-content`` with ``Final=true`` and the mean of its words' confidences; with
``partialResults="true"`` each partial transcript is one with ``Final=false``, and every
content carries ``Stability`` instead of a confidence, as Twilio's page has it: a final
result's is 1.0, a partial's the share of its words the previous partial of the turn
already had, in the same places (:func:`stability`: the speech-to-text gives no estimate of
its own). The forms (:class:`~sipgw.twilio.transcriptiontwiml.TranscriptionEvents`) go
through the call's status poster, signed, in order: ``transcription-started`` once every
session is open, ``transcription-stopped`` after ``<Stop><Transcription>`` or the call's end
(the last words first), ``transcription-error`` (``TranscriptionErrorCode`` 32655, Twilio's
"Provider Unavailable") when a session cannot be opened or gives up.

What Twilio's attributes name of its own engines is mapped, not followed
(:func:`ignored`): ``transcriptionEngine`` and ``speechModel`` (the operator's service and
the model its settings choose), ``enableAutomaticPunctuation="false"``,
``intelligenceService``, ``enableProviderData`` (no ``TranscriptionProviderData`` is
posted), ``conversationConfiguration``, ``conversationId`` and ``<Config>``/``<Parameter>``
are logged and recorded (``twiml_transcription_ignored``). ``hints`` become key terms where the
service takes them mid-session; ``languageCode`` picks the session for that language when
the operator set one up (``stt_spoken``), else it is ignored likewise;
``profanityFilter`` (true by default) masks as ``<Gather>``'s does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttConnectError,
    SttFailed,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.services.stt.streams import StreamSessions
from sipgw.agent.twiml.relay.providers import keyterms
from sipgw.twilio.profanity import mask_profanity
from sipgw.twilio.transcriptiontwiml import (
    PROVIDER_UNAVAILABLE,
    Transcription,
    TranscriptionEvents,
)

__all__ = ["STOP_WAIT", "LiveTranscription", "ignored", "stability"]

log = logging.getLogger("sipgw.agent")

STOP_WAIT: Final = 1.5
"""Seconds a stopping transcription waits for its sessions' last words."""


@runtime_checkable
class _Configurable(Protocol):
    async def update_configuration(self, **fields: object) -> None: ...


def ignored(noun: Transcription, language_followed: bool) -> list[str]:
    """What of ``noun`` is not followed, each a phrase for the log and the record."""
    notes = [f"transcriptionEngine={noun.transcription_engine[:40]!r} (SIPGW_TWIML_STT "
             "transcribes)"]  # fmt: skip
    if noun.speech_model:
        notes.append(f"speechModel={noun.speech_model[:40]!r} (the model the speech-to-text's "
                     "settings choose transcribes)")  # fmt: skip
    if not language_followed and noun.language_code.lower() != "en-us":
        notes.append(f"languageCode={noun.language_code!r} (no session set up for it: the "
                     "configured language holds)")  # fmt: skip
    if not noun.enable_automatic_punctuation:
        notes.append("enableAutomaticPunctuation=false (the speech-to-text punctuates)")
    if noun.intelligence_service:
        notes.append("intelligenceService (no Conversational Intelligence: nothing is stored)")
    if noun.enable_provider_data:
        notes.append("enableProviderData (no provider data is posted)")
    if noun.conversation_configuration or noun.conversation_id:
        notes.append("conversationConfiguration/conversationId (no Conversation Orchestrator: "
                     "nothing is routed)")  # fmt: skip
    notes.extend(f"<Config name={name[:40]!r}>" for name, _ in noun.config)
    notes.extend(f"<Parameter name={name[:40]!r}>" for name, _ in noun.parameters)
    return notes


def stability(words: list[str], before: list[str]) -> float:
    """A partial result's ``Stability``: the share of its ``words`` that the turn's previous
    partial (``before``) already had in the same places (0.0 for the turn's first)."""
    if not words:
        return 0.0
    kept = sum(1 for new, old in zip(words, before, strict=False) if new == old)
    return kept / len(words)


class LiveTranscription:
    """One ``<Start><Transcription>`` (see the module docstring).

    Args:
        noun: the ``<Transcription>``.
        events: its callbacks' forms.
        post: queues a form for ``statusCallbackUrl`` (a no-op without one).
        log_id: how log lines name the call.
    """

    def __init__(
        self,
        noun: Transcription,
        events: TranscriptionEvents,
        post: Callable[[dict[str, str]], None],
        log_id: str,
    ) -> None:
        self.noun = noun
        self.events = events
        self.post = post
        self.log_id = log_id
        self.streams = StreamSessions()
        self.sessions = self.streams.sessions
        self.stopped = False
        self.posted_content = 0
        self.left_out_hints: list[str] = []
        self._partials: dict[str, list[str]] = {}
        """Each track's last partial result of the turn under way, word by word."""

    @property
    def sid(self) -> str:
        """Its ``TranscriptionSid`` (``GT...``)."""
        return self.events.transcription_sid

    def named(self, name: str) -> bool:
        """Whether ``<Stop><Transcription name>`` names it ("": every one)."""
        return not name or name in (self.noun.name, self.sid)

    async def start(self, open_stt: Callable[[], SpeechToText]) -> bool:
        """A session per track opened, then ``transcription-started``; False (and
        ``transcription-error`` posted) when one cannot be opened."""
        for track in self.noun.tracks:
            stt = open_stt()
            try:
                await stt.connect()
            except SttConnectError as exc:
                with contextlib.suppress(Exception):
                    await stt.close()
                await self.streams.close_sessions()
                self.stopped = True
                self.post(self.events.error(f"the speech-to-text could not be opened: {exc}",
                                            PROVIDER_UNAVAILABLE))  # fmt: skip
                return False
            self.sessions[track] = stt
            await self._hint(stt)
        self.post(self.events.started())
        loop = asyncio.get_running_loop()
        self.streams.pumps = [loop.create_task(self._pump(track, stt))
                       for track, stt in self.sessions.items()]  # fmt: skip
        return True

    async def _hint(self, stt: SpeechToText) -> None:
        if not self.noun.hints:
            return
        terms, notes = keyterms(self.noun.hints)
        if isinstance(stt, _Configurable) and terms:
            await stt.update_configuration(keyterms_prompt=list(terms))
            self.left_out_hints = notes
        else:
            self.left_out_hints = ["hints (the speech-to-text takes no key terms)"]

    def audio(self, track: str, frame: bytes) -> None:
        """20 ms of ``track`` (``inbound_track``, ``outbound_track``), if it is transcribed."""
        stt = self.sessions.get(track)
        if stt is not None and not self.stopped:
            stt.send_audio(frame)

    def _text(self, text: str) -> str:
        return mask_profanity(text) if self.noun.profanity_filter else text

    async def _pump(self, track: str, stt: SpeechToText) -> None:
        async for event in stt.events():
            if isinstance(event, SttSpeechStarted):
                self.streams.turn(track, under_way=True)
            if isinstance(event, SttTurnEnded):
                self.streams.turn(track, under_way=False)
                self._partials.pop(track, None)
                text = event.text.strip()
                if not text:
                    continue
                words = event.words
                confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
                self.posted_content += 1
                self.post(self.events.content(track, self._text(text), confidence, final=True))
            elif isinstance(event, SttPartialTranscript):
                self.streams.turn(track, under_way=True)
                text = event.text.strip()
                if self.noun.partial_results and text:
                    heard = text.split()
                    steady = stability(heard, self._partials.get(track, []))
                    self._partials[track] = heard
                    self.post(self.events.content(track, self._text(text), None, final=False,
                                                  stability=steady))  # fmt: skip
            elif isinstance(event, SttFailed):
                log.warning("[%s] <Transcription> %s: the speech-to-text failed: %s",
                            self.log_id, track, event.reason)  # fmt: skip
                self.post(self.events.error(f"{track}: the speech-to-text failed: "
                                            f"{event.reason}", PROVIDER_UNAVAILABLE))  # fmt: skip

    async def stop(self) -> None:
        """The sessions closed (their last words posted, within :data:`STOP_WAIT`), then
        ``transcription-stopped``. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        await self.streams.stop(STOP_WAIT)  # the words heard so far end their turns, posted
        self.post(self.events.stopped())
