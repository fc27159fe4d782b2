"""The fallback lines in the model's own voice (agent/s2s/lines.py): one greeting-only session
per line, against each service's fake over a real WebSocket, kept by the line cache."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.line_cache import FallbackLineCache, VoiceKey, prepare_lines
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.s2s.lines import LINE_INSTRUCTIONS, SessionVoice
from sipgw.agent.services.assemblyai.voice_agent import AssemblyAIVoiceAgent, VoiceAgentSettings
from sipgw.agent.services.openai.realtime import OpenAIRealtime, RealtimeSettings
from sipgw.agent.services.s2s.base import SpeechToSpeech
from sipgw.agent.services.tts.base import TtsConnectError
from sipgw.app.evaluation.audio import tone_share
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent

pytestmark = pytest.mark.timeout(30)

KEY = "s2s-lines-key"
TEXTS = AssistantSettings().fallback_texts()
SORRY_HZ = 1500


async def test_each_line_is_one_greeting_session_in_the_voice_agents_voice() -> None:
    async with FakeVoiceAgent(KEY, speed=None) as fake:
        fake.map_text("having trouble", SORRY_HZ)
        settings = VoiceAgentSettings(api_key=KEY, url=fake.url, voice="dawn")
        new_session: Callable[[], SpeechToSpeech] = partial(AssemblyAIVoiceAgent, settings)
        cache = FallbackLineCache(VoiceKey("assemblyai-voice-agent", "dawn", ""), None)
        outcomes = await prepare_lines(cache, TEXTS, partial(SessionVoice, new_session))
        assert set(outcomes.values()) == {"synthesized"}
        assert len(fake.sessions) == len(TEXTS)  # one short session per line
        greetings = [session.config["greeting"] for session in fake.sessions]
        assert sorted(greetings) == sorted(TEXTS.values())  # each line once, in any order
        (asked,) = [s for s in fake.sessions if s.config["greeting"] == TEXTS[FallbackLine.APOLOGY]]
        assert asked.config["system_prompt"] == LINE_INSTRUCTIONS
        assert asked.config["output"]["voice"] == "dawn"
    apology = cache.frames(FallbackLine.APOLOGY)
    assert apology is not None and tone_share(b"".join(apology), SORRY_HZ) > 0.9


async def test_the_realtime_model_says_each_line_too() -> None:
    async with FakeRealtime(KEY, speed=None) as fake:
        settings = RealtimeSettings(api_key=KEY, base_url=fake.base_url, voice="cedar")
        voice = SessionVoice(partial(OpenAIRealtime, settings))
        cache = FallbackLineCache(VoiceKey("openai-realtime", "cedar", settings.model), None)
        outcomes = await cache.prepare({FallbackLine.GOODBYE: "Goodbye now."}, voice)
        await voice.close()
        assert outcomes == {FallbackLine.GOODBYE: "synthesized"}
        (session,) = fake.sessions
        assert session.session["audio"]["output"]["voice"] == "cedar"
        assert session.replies[0].text == "Goodbye now."


async def test_a_service_that_refuses_leaves_the_shipped_lines() -> None:
    settings = VoiceAgentSettings(api_key=KEY, url=f"ws://127.0.0.1:{free_port()}/v1/ws")
    voice = SessionVoice(partial(AssemblyAIVoiceAgent, settings))
    reply = voice.start_reply()
    await reply.send_text("Sorry.")
    await reply.finish()
    with pytest.raises(TtsConnectError):
        _ = [piece async for piece in reply.audio()]
    cache = FallbackLineCache(VoiceKey("assemblyai-voice-agent", "ivy", ""), None)
    outcomes = await cache.prepare(TEXTS, voice)  # one refusal: no line waits for it again
    assert set(outcomes.values()) == {"failed"}
    await voice.close()
