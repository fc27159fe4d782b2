"""The factories the app registers as ``--agent voice-agent`` and ``--agent realtime``."""

from __future__ import annotations

import asyncio

from sipgw.agent.conversation.caller_audio import LoadsVoiceModel
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.s2s.agent import SpeechToSpeechAgent
from sipgw.agent.s2s.factories import realtime_factory, voice_agent_factory
from sipgw.agent.services.assemblyai.voice_agent import AssemblyAIVoiceAgent, VoiceAgentSettings
from sipgw.agent.services.openai.realtime import OpenAIRealtime, RealtimeSettings
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.agent.variables import VariablesCheck
from tests.agent.parts import FakeCall


async def test_each_factory_builds_agents_on_its_service() -> None:
    settings = AssistantSettings(record_dir=None)
    tools = ToolRegistry()
    voice = voice_agent_factory(settings, VoiceAgentSettings(voice="dawn"), tools)
    agent = voice(FakeCall())
    assert isinstance(agent, SpeechToSpeechAgent) and agent.settings is settings
    assert isinstance(agent.session, AssemblyAIVoiceAgent)
    assert agent.session.settings.voice == "dawn" and agent.endpointer is None
    local = RealtimeSettings(turn_detection="local", silence_ms=700)
    realtime = realtime_factory(settings, local, tools)
    first, second = realtime(FakeCall()), realtime(FakeCall())
    assert isinstance(first, SpeechToSpeechAgent) and isinstance(second, SpeechToSpeechAgent)
    assert isinstance(first.session, OpenAIRealtime)
    assert first.session is not second.session  # one session per call
    assert first.endpointer is not None and first.endpointer.silence_ms == 700
    await asyncio.gather(first.close(), second.close(), agent.close())
    assert voice.services == realtime.services == {"s2s"}  # one breaker for the service
    # no line cache (the shipped recordings): the warm-up loads the voice model only
    assert isinstance(voice.warm_up, LoadsVoiceModel) and voice.warm_up.then is None


def test_a_placed_call_without_the_variables_its_greeting_uses_is_refused_first() -> None:
    settings = AssistantSettings(
        record_dir=None,
        system_prompt="You remind {first_name} of appointments.",
        outbound_greeting="Hi {first_name}, about {appointment}.",
    )
    factory = realtime_factory(settings, RealtimeSettings(), ToolRegistry())
    assert isinstance(factory, VariablesCheck)
    assert factory.missing_variables({"first_name": "Ada"}, "outbound") == ("appointment",)
    assert factory.missing_variables({}, "inbound") == ("first_name",)
