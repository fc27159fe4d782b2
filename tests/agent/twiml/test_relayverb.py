"""The session made from ``<ConversationRelay>`` and the operator's services: what is not
followed is named; the action's form is Twilio's."""

from __future__ import annotations

import aiohttp

from sipgw.agent.twiml.relay import RelayCall, RelaySession
from sipgw.agent.twiml.relayverb import RelayServices, action_params, relay_session
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
                              transcription_provider="Deepgram", ignored=("debug",))  # fmt: skip
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
    assert notes == ["debug= (not followed)", "ttsProvider='Google' (SIPGW_TWIML_TTS speaks)",
                     "transcriptionProvider='Deepgram' (SIPGW_TWIML_STT transcribes)"]  # fmt: skip
    assert session.who.session_id.startswith("VX") and session.who.call_sid == "CA" + "2" * 32


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
