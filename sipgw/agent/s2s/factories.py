"""The speech-to-speech agents as agent factories (``--agent voice-agent`` and ``realtime``).

Each factory takes the assistant's typed settings (the prompt, greeting, call
records, barge-in, lines and built-in tool settings the pipeline assistant uses,
so both kinds of agent are configured the same way), the vendor's settings and
the tool registry, and returns the factory the gateway calls once per call
(:class:`S2sFactory`); the gateway's breaker for its vendor (the session's name,
``assemblyai-voice-agent`` or ``openai-realtime``) guards it
(:class:`sipgw.agent.factory.UsesServices`), and a call placed without the variables its
prompt or greeting use is refused before it is dialled
(:class:`sipgw.agent.variables.VariablesCheck`)::

    factory = realtime_factory(assistant_settings, RealtimeSettings(api_key=...), tools)

With a line cache (``lines``), the gateway's start has the fallback lines spoken
in the model's own voice, once per voice (:mod:`sipgw.agent.s2s.lines`); without one
the shipped recordings are played. ``sipgw serve`` builds them from its settings
(:mod:`sipgw.agent.s2s.plugin`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

from sipgw.agent.base import CallControl
from sipgw.agent.capabilities import AgentCapabilities
from sipgw.agent.conversation.caller_audio import with_voice_model
from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.conversation.handoff import HandOffSettings
from sipgw.agent.conversation.prompted import PromptedFactory
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.factory import WarmUp
from sipgw.agent.observer import Service
from sipgw.agent.resilience.line_cache import FallbackLineCache, prepare_lines
from sipgw.agent.s2s.agent import S2sResources, SpeechToSpeechAgent
from sipgw.agent.s2s.lines import SessionVoice
from sipgw.agent.services.assemblyai.voice_agent import AssemblyAIVoiceAgent, VoiceAgentSettings
from sipgw.agent.services.openai.realtime import OpenAIRealtime, RealtimeSettings
from sipgw.agent.services.s2s.base import SpeechToSpeech
from sipgw.agent.tools.registry import ToolRegistry, with_tools
from sipgw.media.codecs import PCM16_24K, ULAW_8K

__all__ = ["S2sFactory", "realtime_factory", "voice_agent_factory"]


class S2sFactory(PromptedFactory):
    """Speech-to-speech agents sharing ``resources``: what the gateway calls once per call,
    with the services they use and their warm-up (the fallback lines in the model's voice,
    when ``resources.lines`` is given; the model voice detector's model, when it is the
    detector)."""

    resources: S2sResources
    services: frozenset[Service] = frozenset({"s2s"})
    capabilities: AgentCapabilities = AgentCapabilities(
        callbacks=True,
        transfers=frozenset({"blind", "warm"}),
        keypad=True,
        arrival_audio=True,
        audio=frozenset({ULAW_8K, PCM16_24K}),
    )
    """What its agents do (:class:`sipgw.agent.capabilities.DeclaresCapabilities`):
    answering-machine detection (:mod:`sipgw.agent.s2s.answering`), blind and warm transfers,
    callbacks, the keypad, the caller's audio as it arrives, 8 kHz μ-law or (an HD-voice
    call) 24 kHz linear audio."""

    def __init__(self, resources: S2sResources, vendor: str = "s2s") -> None:
        self.resources = resources
        self.vendors: dict[Service, str] = {"s2s": vendor}
        """The service's vendor (its session's name): each has its own breaker."""
        lines = resources.lines
        self.warm_up: WarmUp | None = None
        if lines is not None:
            voice = partial(SessionVoice, resources.new_session)
            self.warm_up = partial(prepare_lines, lines, resources.settings.fallback_texts(), voice)
        self.warm_up = with_tools(self.warm_up, resources.tools)
        self.warm_up = with_voice_model(self.warm_up, resources.settings.barge_in.noise)

    def __call__(self, call: CallControl) -> SpeechToSpeechAgent:
        return SpeechToSpeechAgent(call, self.resources)

    def with_hand_off(self, hand_off: HandOffSettings) -> S2sFactory:
        """The same agents, whose calls may be handed to other lines (agent/s2s/handoff.py)."""
        made = S2sFactory(dataclasses.replace(self.resources, hand_off=hand_off))
        made.vendors = self.vendors
        return made


def voice_agent_factory(
    settings: AssistantSettings,
    voice_agent: VoiceAgentSettings,
    tools: ToolRegistry,
    caller_context: CallerContextSettings | None = None,
    lines: FallbackLineCache | None = None,
    *,
    reply_timeout: float = 5.0,
    keep_handed_format: bool = False,
) -> S2sFactory:
    """Agents on AssemblyAI's Voice Agent API (``--agent voice-agent``)."""
    session: Callable[[], SpeechToSpeech] = partial(AssemblyAIVoiceAgent, voice_agent)
    return S2sFactory(
        S2sResources(
            settings,
            tools,
            session,
            caller_context=caller_context,
            lines=lines,
            reply_timeout=reply_timeout,
            keep_handed_format=keep_handed_format,
        )  # fmt: skip
    )


def realtime_factory(
    settings: AssistantSettings,
    realtime: RealtimeSettings,
    tools: ToolRegistry,
    caller_context: CallerContextSettings | None = None,
    lines: FallbackLineCache | None = None,
    *,
    reply_timeout: float = 5.0,
    keep_handed_format: bool = False,
) -> S2sFactory:
    """Agents on OpenAI's Realtime API (``--agent realtime``)."""
    session: Callable[[], SpeechToSpeech] = partial(OpenAIRealtime, realtime)
    early = realtime.preemptive_ms if realtime.turn_detection == "local" else 0
    return S2sFactory(
        S2sResources(
            settings,
            tools,
            session,
            realtime.silence_ms,
            caller_context,
            lines,
            reply_timeout,
            preemptive_ms=early,
            keep_handed_format=keep_handed_format,
        )  # fmt: skip
    )
