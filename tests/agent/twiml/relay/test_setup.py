"""The session made from ``<ConversationRelay>`` and the operator's services: what is not
followed is named; the action's form is Twilio's."""

from __future__ import annotations

import aiohttp

from sipgw.agent.twiml.relay.session import RelayCall, RelaySession
from sipgw.agent.twiml.relay.setup import RelayServices, action_params, relay_session
from sipgw.agent.twiml.say import SayVoice
from sipgw.agent.twiml.webhook import TwilioIdentity
from sipgw.twilio.relay import EndMessage
from sipgw.twilio.relaytwiml import ConversationRelay
from tests.agent.parts import FakeCall, ScriptedStt, ScriptedTts

IDENTITY = TwilioIdentity("AC" + "1" * 32, "t" * 32)


def services(**kw: object) -> RelayServices:
    base: dict[str, object] = {"identity": IDENTITY, "stt": ScriptedStt, "tts": ScriptedTts,
                               "timeout": 1.0, "max_audio_bytes": 1000,
                               "open_timeout": 1.0}  # fmt: skip
    base.update(kw)
    return RelayServices(**base)  # type: ignore[arg-type]


async def test_what_is_not_followed_is_named() -> None:
    relay = ConversationRelay("wss://a/r", tts_provider="Google", voice="alice", language="sv-SE",
                              transcription_provider="Deepgram", ignored=("intelligenceService",),
                              events=frozenset({"debugging", "tokens-played"}))  # fmt: skip
    asked: list[tuple[str | None, str | None]] = []

    def make(voice: str | None, language: str | None) -> ScriptedTts:
        asked.append((voice, language))
        return ScriptedTts()

    say = SayVoice(make, {"alice": "VOICE1"}, "eleven_flash_v2_5")
    async with aiohttp.ClientSession() as http:
        session, notes = relay_session(relay, "wss://a/r", FakeCall(), "CA" + "2" * 32,
                                       services(tts=say), http)  # fmt: skip
    assert isinstance(session, RelaySession)
    assert asked == [("VOICE1", "sv")]  # the voice mapped, the language to the model
    assert notes == [  # Google's alice is mapped: no note for it
        "intelligenceService= (not followed: no Twilio Conversational Intelligence service "
        "stores the transcript; the app gets every prompt and says every reply)",
        "events=debugging (not followed: no debugging info messages are sent)",
        "transcriptionProvider='Deepgram' (SIPGW_TWIML_STT=assemblyai transcribes)",
    ]
    assert session.who.session_id.startswith("VX") and session.who.call_sid == "CA" + "2" * 32


async def test_eager_end_of_turn_is_named_with_what_happens_instead() -> None:
    relay = ConversationRelay("wss://a/r", ignored=("eagerEotThreshold",))
    async with aiohttp.ClientSession() as http:
        _, notes = relay_session(relay, "wss://a/r", FakeCall(), "CA1", services(), http)
    assert notes == [
        "eagerEotThreshold= (not followed: an eager end of turn would start the app's reply "
        "before the turn ends, and the message that tells the app so is not in Twilio's SDK; "
        "with turnDetection the turn model's own wait ends the turn)",
    ]


async def test_the_languages_own_setup_hints_and_the_spoken_language() -> None:
    """``<Language>`` nouns' voices for their languages, the verb's for its own; ``hints``
    as key terms; the session for the transcription language made for it."""
    from sipgw.twilio.relaytwiml import RelayLanguage

    relay = ConversationRelay(
        "wss://a/r", language="en-US", voice="alice", hints=("Acme", "x" * 60),
        transcription_language="ja-JP",
        languages=(RelayLanguage("fr-FR", "ElevenLabs", "FRVOICE0123456789AB-flash_v2_5",
                                 "Google", "telephony"),),
    )  # fmt: skip
    asked: list[tuple[str | None, str | None]] = []
    spoken: list[str] = []

    def make(voice: str | None, language: str | None) -> ScriptedTts:
        asked.append((voice, language))
        return ScriptedTts()

    def tuned(voice_id: str | None, language_code: str | None, *, model_id: str | None = None,
              voice_settings: object = None, text_normalization: object = None,
              ) -> ScriptedTts:  # fmt: skip
        asked.append((f"{voice_id}/{model_id}", language_code))
        return ScriptedTts()

    def stt_spoken(language: str) -> ScriptedStt:
        spoken.append(language)
        return ScriptedStt()

    say = SayVoice(make, {"alice": "VOICE1"}, "eleven_flash_v2_5", tuned)
    async with aiohttp.ClientSession() as http:
        session, notes = relay_session(relay, "wss://a/r", FakeCall(), "CA1",
                                       services(tts=say, stt_spoken=stt_spoken), http)  # fmt: skip
    assert session is not None and session.voices is not None
    assert asked == [("VOICE1", "en")] and spoken == ["ja-JP"]
    assert session.keyterms == ("Acme",)
    assert "hints: 1 of 2 left out (too long or too many)" in notes
    assert (
        "<Language code='fr-FR'> transcriptionProvider='Google' (SIPGW_TWIML_STT=assemblyai "
        "transcribes)" in notes
    )
    session.voices("fr-FR")
    session.voices("de-DE")  # no <Language>: the verb's voice, in German
    assert asked[1:] == [("FRVOICE0123456789AB/eleven_flash_v2_5", "fr"), ("VOICE1", "de")]


async def test_no_speech_service_no_session() -> None:
    async with aiohttp.ClientSession() as http:
        for missing, name in (("stt", "SIPGW_TWIML_STT"), ("tts", "SIPGW_TWIML_TTS")):
            session, notes = relay_session(ConversationRelay("wss://a"), "wss://a", FakeCall(),
                                           "CA1", services(**{missing: None}), http)  # fmt: skip
            assert session is None and notes == [f"no {name} is configured"]


def test_the_actions_form() -> None:
    who = RelayCall("VX1", "AC1", "CA1", "+1", "+2", "inbound", "t")
    session = RelaySession(ConversationRelay("wss://a"), "wss://a", FakeCall(), who,
                           ScriptedStt(), ScriptedTts(), _no_audio)  # fmt: skip
    assert action_params(session, EndMessage('{"a":1}'), 12.2) == {
        "CallStatus": "in-progress", "SessionId": "VX1", "SessionStatus": "ended",
        "SessionDuration": "13", "HandoffData": '{"a":1}',
    }  # fmt: skip
    assert action_params(session, None, 3.0) == {
        "CallStatus": "in-progress", "SessionId": "VX1", "SessionStatus": "completed",
        "SessionDuration": "3",
    }  # fmt: skip


async def _no_audio(url: str) -> bytes:
    raise ValueError("no audio here")
