"""``<Connect><ConversationRelay>`` for the TwiML agent: the session made from the verb and the
settings, and the ``<Connect action>`` form it leaves (docs/twilio-apps.md).

The speech services are the operator's (``SIPGW_TWIML_STT``, ``SIPGW_TWIML_TTS``): the
verb's ``ttsProvider``/``transcriptionProvider`` name Twilio's vendors, so they are not
followed; its ``voice`` speaks when ``SIPGW_TWIML_SAY_VOICES`` maps it, its ``language``
(or ``ttsLanguage``) goes to the models that take one, as for ``<Say>``. What is not
honoured is returned by :func:`relay_session` for the log and the record.

The action's form is Twilio's: the call's parameters with ``CallStatus`` ``in-progress``,
``SessionId``, ``SessionStatus`` (``ended`` when the app sent ``end``, ``completed`` when
it closed the socket), ``SessionDuration`` (whole seconds) and ``HandoffData`` (``end``'s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from sipgw.agent.base import CallControl
from sipgw.agent.stt.base import SpeechToText
from sipgw.agent.tts.base import TextToSpeech
from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.relay import RelayCall, RelaySession
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
    notes = [f"{name}= (not followed)" for name in relay.ignored]
    if relay.tts_provider:
        notes.append(f"ttsProvider={relay.tts_provider!r} (SIPGW_TWIML_TTS speaks)")
    if relay.transcription_provider:
        notes.append(f"transcriptionProvider={relay.transcription_provider!r} "
                     "(SIPGW_TWIML_STT transcribes)")  # fmt: skip
    if relay.speech_model:
        notes.append(f"speechModel={relay.speech_model!r} (SIPGW_TWIML_STT's model transcribes)")
    if relay.hints:
        notes.append(f"hints={','.join(relay.hints)[:80]!r} (not passed to the speech-to-text)")
    if relay.languages:
        codes = ",".join(language.code for language in relay.languages)
        notes.append(f"<Language code={codes[:80]!r}> (one voice and recognizer per session)")
    if relay.preemptible:
        notes.append("preemptible=true (a reply plays until it ends or is interrupted)")
    if relay.report_input_during_agent_speech not in ("none", "false"):
        notes.append(f"reportInputDuringAgentSpeech={relay.report_input_during_agent_speech!r} "
                     "(prompts are sent at the end of turns only)")  # fmt: skip
    if settings.stt is None or settings.tts is None:
        missing = "SIPGW_TWIML_STT" if settings.stt is None else "SIPGW_TWIML_TTS"
        return None, [f"no {missing} is configured"]
    if isinstance(settings.tts, SayVoice):
        tts, ignored = settings.tts.voiced(relay.voice, relay.tts_language or relay.language)
        notes += ignored
    else:
        tts = settings.tts()
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

    session = RelaySession(relay, url, call, who, settings.stt(), tts, fetch_audio,
                           settings.open_timeout)  # fmt: skip
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
