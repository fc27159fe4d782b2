"""``<Connect><ConversationRelay>`` for the TwiML agent: the session made from the verb and the
settings, and the ``<Connect action>`` form it leaves (docs/twilio-apps.md).

The speech services are the operator's (``SIPGW_TWIML_STT``, ``SIPGW_TWIML_TTS``): the
verb's and its ``<Language>`` nouns' providers, voices and models are mapped onto them by
:mod:`sipgw.agent.twiml.relay.providers` (an ElevenLabs voice and its model and settings, a
voice ``SIPGW_TWIML_SAY_VOICES`` maps, the language to the models that take one, the
``hints`` as key terms, a new recognizer session for a language its model does not
follow). What is not honoured is returned by :func:`relay_session` for the log and the
record.

The action's form is Twilio's: the call's parameters with ``CallStatus`` ``in-progress``,
``SessionId``, ``SessionStatus`` (``ended`` when the app sent ``end``, ``completed`` when
it closed the socket), ``SessionDuration`` (whole seconds) and ``HandoffData`` (``end``'s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp

from sipgw.agent.base import CallControl
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.relay.providers import (
    choose_voice,
    keyterms,
    language_setup,
    stt_notes,
)
from sipgw.agent.twiml.relay.session import RelayCall, RelaySession
from sipgw.agent.twiml.say import SayVoice
from sipgw.agent.twiml.webhook import FetchFailed, TwilioIdentity, call_params, fetch, new_sid
from sipgw.twilio.relay import EndMessage
from sipgw.twilio.relaytwiml import ConversationRelay

__all__ = ["RelayServices", "action_params", "relay_session"]


@dataclass(frozen=True, slots=True)
class RelayServices:
    """What the agent's settings give every session (``TwimlSettings``' fields)."""

    identity: TwilioIdentity
    stt: Callable[[], SpeechToText] | None
    tts: SayVoice | Callable[[], TextToSpeech] | None
    timeout: float
    max_audio_bytes: int
    open_timeout: float
    stt_spoken: Callable[[str], SpeechToText] | None = None
    """A session for callers speaking a language (None: ``stt``'s for every language)."""
    echo_guard: bool = False
    """The agent's own voice returned by the line is heard as its noise (``SIPGW_ECHO_GUARD``)."""


_SPEECH_TO_TEXT: Final = (
    ": the transcripts are the operator's speech-to-text's, as its settings say"
)
_CONVERSATIONS: Final = ": no Twilio Conversations service keeps the session; the app has it all"
_WHY: Final = {
    "intelligenceService": ": no Twilio Conversational Intelligence service stores the "
    "transcript; the app gets every prompt and says every reply",
    "eagerEotThreshold": ": an eager end of turn would start the app's reply before the turn "
    "ends, and the message that tells the app so is not in Twilio's SDK; with turnDetection "
    "the turn model's own wait ends the turn",
    "includeInPrompt": ": the fields it adds to prompt (turn-state, prompt-segments) are not in "
    "Twilio's SDK; a prompt has voicePrompt, lang and last",
    "asrSmartFormat": _SPEECH_TO_TEXT,
    "deepgramsmartformat": _SPEECH_TO_TEXT,
    "deepgramSmartFormat": _SPEECH_TO_TEXT,
    "profanityFilter": _SPEECH_TO_TEXT,
    "backgroundnoisereduction": ": the speech-to-text hears the caller's audio as it comes",
    "backgroundNoiseReduction": ": the speech-to-text hears the caller's audio as it comes",
    "ttsLanguageTextNormalization": ": ElevenLabs' language text normalization is not asked "
    "for (ttsTextNormalization is followed)",
    "elevenlabsLanguageTextNormalization": ": ElevenLabs' language text normalization is not "
    "asked for (ttsTextNormalization is followed)",
    "conversationConfiguration": _CONVERSATIONS,
    "conversationId": _CONVERSATIONS,
    "customerName": _CONVERSATIONS,
}
"""Why an attribute Twilio documents is not followed (the others: not read)."""


def relay_session(
    relay: ConversationRelay,
    url: str,
    call: CallControl,
    call_sid: str,
    settings: RelayServices,
    http: aiohttp.ClientSession,
) -> tuple[RelaySession | None, list[str]]:
    """The session for ``relay`` (None when a speech service is missing), and what of the
    verb is not followed (each a phrase for the log)."""
    notes = [f"{name}= (not followed{_WHY.get(name, '')})" for name in relay.ignored]
    if "debugging" in relay.events:  # Twilio's pages name it and document no message of it
        notes.append("events=debugging (not followed: no debugging info messages are sent)")
    if settings.stt is None or settings.tts is None:
        missing = "SIPGW_TWIML_STT" if settings.stt is None else "SIPGW_TWIML_TTS"
        return None, [f"no {missing} is configured"]
    setups = dict(language_setup(relay))  # a ``config`` may change a language's voice
    own = (relay.tts_language or relay.language or "en-US").lower()
    notes += stt_notes(relay.transcription_provider, relay.speech_model)
    for noun in relay.languages:
        where = f"<Language code={noun.code[:20]!r}> "
        notes += stt_notes(noun.transcription_provider, noun.speech_model, where)
    terms, left_out = keyterms(relay.hints)
    notes += left_out
    say = settings.tts
    voices: Callable[[str], tuple[TextToSpeech, list[str]]] | None = None
    if isinstance(say, SayVoice):
        chosen = say

        def voice_of(lang: str) -> tuple[TextToSpeech, list[str]]:
            setup = setups.get(lang.lower()) or setups[own]
            return choose_voice(setup.tts_provider, setup.voice, lang, chosen,
                                setup.text_normalization or relay.text_normalization)  # fmt: skip

        voices = voice_of
        tts, ignored = voice_of(relay.tts_language or relay.language)
        notes += ignored
    else:
        tts = say()
        notes += [f"{name}={value[:80]!r} (the text-to-speech takes none)"
                  for name, value in (("ttsProvider", relay.tts_provider), ("voice", relay.voice),
                                      ("language", relay.tts_language or relay.language))
                  if value]  # fmt: skip
    stt = None
    spoken = relay.transcription_language or relay.language
    if spoken and settings.stt_spoken is not None:
        try:
            stt = settings.stt_spoken(spoken)
        except ValueError as exc:
            notes.append(f"transcriptionLanguage={spoken[:40]!r} ({exc})")
    if stt is None:
        stt = settings.stt()
    identity: TwilioIdentity = settings.identity
    form = call_params(call, call_sid, identity.account_sid)  # From, To as the webhook's
    who = RelayCall(
        session_id=new_sid("VX"), account_sid=identity.account_sid, call_sid=call_sid,
        from_=form["From"], to=form["To"], direction=form["Direction"],
        auth_token=identity.auth_token,
    )  # fmt: skip

    async def fetch_audio(source: str) -> bytes:
        try:
            fetched = await fetch(http, source, method="GET", timeout=settings.timeout,
                                  max_bytes=settings.max_audio_bytes)  # fmt: skip
            return decode_audio(fetched.body, fetched.content_type)
        except (FetchFailed, AudioFileError) as exc:
            raise ValueError(str(exc)) from None

    session = RelaySession(relay, url, call, who, stt, tts, fetch_audio, settings.open_timeout,
                           voices=voices, stt_for=settings.stt_spoken, keyterms=terms,
                           languages=setups, echo_guard=settings.echo_guard)  # fmt: skip
    return session, notes


def action_params(session: RelaySession, end: EndMessage | None, seconds: float) -> dict[str, str]:
    """What the ``<Connect action>`` request adds to the call's parameters."""
    params = {
        "CallStatus": "in-progress",
        "SessionId": session.who.session_id,
        "SessionStatus": "ended" if end is not None else "completed",
        "SessionDuration": str(math.ceil(seconds)),
    }
    if end is not None and end.handoff_data:
        params["HandoffData"] = end.handoff_data
    return params
