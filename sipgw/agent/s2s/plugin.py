"""The ``voice-agent`` and ``realtime`` plug-ins: speech-to-speech agents on the gateway.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` as
``sipgw.agent.s2s.plugin:voice_agent_agent`` and ``:realtime_agent``, found as a third party's
``package.module:factory`` is, and imported only when chosen. Both read the assistant's
sections for what is not the vendor's (the prompt, greeting, records, barge-in, keypad,
tools, the HTTP tools and MCP servers declared for every line or for theirs, caller context,
callbacks, the idle policy: docs/speech-to-speech.md says which apply), what the
gateway lets them dial (:class:`~sipgw.agent.capabilities.GatewayServices`), the vendor's key from
its section (``ASSEMBLYAI_API_KEY`` of
:class:`~sipgw.agent.services.assemblyai.settings.AssemblyAISection`, ``OPENAI_API_KEY`` of
:class:`~sipgw.agent.services.openai.settings.OpenAISection`: the only required setting; no
STT or TTS key is needed), and their own section
(:mod:`sipgw.agent.s2s.settings`). Every value is checked where it is read, so a bad one
stops ``sipgw serve`` naming the variable.

They read the answering-machine detection section too (``SIPGW_AMD_*``: the voicemail
message, the screener line, the detector's thresholds; :mod:`sipgw.agent.s2s.answering`).
They read the transfers section too (``SIPGW_TRANSFER_MODE``, the hold music and the
consultation's lines: :mod:`sipgw.agent.s2s.ears` and :mod:`sipgw.agent.transfer.warm`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sipgw.agent.amd.settings import AmdSection, answering_settings
from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import GatewayServices, declare
from sipgw.agent.conversation.building import ASSISTANT_KEYS, agent_settings, tool_registry
from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
    caller_context,
    with_fallback,
)
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.idle.settings import IdleSection, idle_settings
from sipgw.agent.resilience.line_cache import FallbackLineCache, VoiceKey
from sipgw.agent.resilience.settings import FallbackSection
from sipgw.agent.s2s.factories import S2sFactory
from sipgw.agent.s2s.settings import RealtimeSection, S2sSection, VoiceAgentSection
from sipgw.agent.services.assemblyai.settings import AssemblyAISection
from sipgw.agent.services.openai.settings import OpenAISection
from sipgw.agent.tools.settings import DeclaredToolsSection
from sipgw.agent.transfer.settings import TransferSection, transfer_settings
from sipgw.foundation.settings import ConfigError, Sources

if TYPE_CHECKING:
    from sipgw.agent.conversation.caller_context import CallerContextSettings
    from sipgw.agent.tools.registry import ToolRegistry

__all__ = ["CAPABILITIES", "AgentSections", "realtime_agent", "voice_agent_agent"]

CAPABILITIES = dataclasses.replace(S2sFactory.capabilities, line_keys=ASSISTANT_KEYS)
"""What the speech-to-speech agents do: their factory's record (answering-machine
detection; blind and warm transfers), with the assistant's routes-file keys."""


@dataclass(frozen=True)
class AgentSections(
    AssistantSection,
    BuiltinToolsSection,
    CallerContextSection,
    CallbackSection,
    FallbackSection,
    S2sSection,
):
    """What a speech-to-speech agent reads of the assistant's sections and its own, in one
    object (its fields are theirs: each keeps its own help group and checks)."""


@declare(CAPABILITIES)
def voice_agent_agent(
    voice_agent: VoiceAgentSection,
    key: AssemblyAISection,
    shared: AgentSections,
    idle: IdleSection,
    amd: AmdSection,
    declared: DeclaredToolsSection,
    transfers: TransferSection,
    gateway: GatewayServices,
    sources: Sources,
) -> AgentFactory:
    """The ``voice-agent`` plug-in: agents on AssemblyAI's Voice Agent API.

    Raises:
        ConfigError: the key is missing, a value is bad, the prompt file cannot be read, or
            the tools module or caller-context hook does not load.
    """
    from sipgw.agent.s2s.factories import voice_agent_factory
    from sipgw.agent.services.assemblyai.voice_agent import VoiceAgentSettings

    settings, registry, hook = _shared(shared, idle, amd, declared, transfers, gateway, sources)
    vendor = VoiceAgentSettings(
        api_key=key.api_key,
        url=voice_agent.url,
        voice=voice_agent.voice,
        vad_threshold=voice_agent.vad_threshold,
        chunk_ms=voice_agent.chunk_ms,
    )
    lines = _lines(shared, settings, VoiceKey("assemblyai-voice-agent", vendor.voice, ""))
    return voice_agent_factory(
        settings,
        vendor,
        registry,
        hook,
        lines,
        reply_timeout=shared.s2s_reply_timeout_ms / 1000,
        keep_handed_format=shared.handover_format == "keep",
    )


# --------------------------------------------------------------------------- Realtime


@declare(CAPABILITIES)
def realtime_agent(
    realtime: RealtimeSection,
    key: OpenAISection,
    shared: AgentSections,
    idle: IdleSection,
    amd: AmdSection,
    declared: DeclaredToolsSection,
    transfers: TransferSection,
    gateway: GatewayServices,
    sources: Sources,
) -> AgentFactory:
    """The ``realtime`` plug-in: agents on OpenAI's Realtime API.

    Raises:
        ConfigError: as :func:`voice_agent_agent`.
    """
    from sipgw.agent.s2s.factories import realtime_factory
    from sipgw.agent.services.openai.realtime import NoiseReduction, RealtimeSettings, TurnDetection

    settings, registry, hook = _shared(shared, idle, amd, declared, transfers, gateway, sources)
    vendor = RealtimeSettings(
        api_key=key.api_key,
        base_url=realtime.base_url,
        model=realtime.model,
        voice=realtime.voice,
        turn_detection=cast(TurnDetection, realtime.turn_detection),
        silence_ms=realtime.silence_ms,
        vad_threshold=realtime.vad_threshold,
        eagerness=realtime.eagerness,
        transcription_model=realtime.transcription_model,
        max_output_tokens=realtime.max_output_tokens,
        chunk_ms=realtime.chunk_ms,
        preemptive_ms=_preemptive_ms(realtime, sources),
        noise_reduction=(
            None
            if realtime.noise_reduction == "off"
            else cast(NoiseReduction, realtime.noise_reduction)
        ),
    )
    lines = _lines(shared, settings, VoiceKey("openai-realtime", vendor.voice, vendor.model))
    return realtime_factory(
        settings,
        vendor,
        registry,
        hook,
        lines,
        reply_timeout=shared.s2s_reply_timeout_ms / 1000,
        keep_handed_format=shared.handover_format == "keep",
    )


# --------------------------------------------------------------------------- both


def _shared(
    shared: AgentSections,
    idle: IdleSection,
    amd: AmdSection,
    declared: DeclaredToolsSection,
    transfers: TransferSection,
    gateway: GatewayServices,
    sources: Sources,
) -> tuple[AssistantSettings, ToolRegistry, CallerContextSettings | None]:
    """What both agents take from the assistant's sections: the settings (with the idle
    policy, what answering-machine detection says, and how transfers go), the tools (the
    built-in ones, the tools module's, and the HTTP tools and MCP servers declared for every
    line, or for a routes-file line by its own tables), the caller-context hook."""
    settings = dataclasses.replace(
        with_fallback(agent_settings(shared, PreemptiveSection(), shared, shared, gateway), shared),
        idle=idle_settings(idle),
        answering=answering_settings(amd),
        transfer=transfer_settings(transfers),
    )
    return settings, tool_registry(settings, declared, sources), caller_context(shared)


def _preemptive_ms(realtime: RealtimeSection, sources: Sources) -> int:
    """``OPENAI_REALTIME_PREEMPTIVE_MS``, checked against the silence that ends a turn.

    Raises:
        ConfigError: not 0, and below 100 or not below ``OPENAI_REALTIME_SILENCE_MS``.
    """
    early, silence = realtime.preemptive_ms, realtime.silence_ms
    if early and not 100 <= early < silence:
        label = sources.label(RealtimeSection, "preemptive_ms")
        raise ConfigError(
            f"{label}={early}: must be 0 (off) or from 100 to below "
            f"{sources.label(RealtimeSection, 'silence_ms')} ({silence})"
        )
    return early


def _lines(
    fallback: FallbackSection, settings: AssistantSettings, voice: VoiceKey
) -> FallbackLineCache | None:
    """The fallback lines in the model's voice, made at start-up; None: the shipped ones."""
    if not fallback.fallback_synthesize:
        return None
    return FallbackLineCache(voice, settings.fallback_cache_dir)
