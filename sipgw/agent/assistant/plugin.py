"""The ``assistant`` plug-in: the AI agent, built from its sections and its vendors'.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` as
``sipgw.agent.assistant.plugin:assistant_agent``, found exactly as a third party's
``package.module:factory`` is, and imported only when chosen. :func:`assistant_agent` is a
plug-in factory like any other: its parameters name the sections it reads
(:mod:`sipgw.agent.conversation.sections`); the vendors' sections depend on ``SIPGW_STT``,
``SIPGW_LLM`` and ``SIPGW_TTS``, so it takes the sources too and loads the chosen ones
itself, after checking that their keys are all there (all missing ones named at once). What
its agents may dial and the log redactor come from the gateway
(:class:`~sipgw.agent.capabilities.GatewayServices`). :func:`agent_settings` and
:func:`tool_registry` are what the speech-to-speech agents (:mod:`sipgw.agent.s2s.plugin`) build
the same way.

What it can do is declared beside it (:data:`CAPABILITIES`): answering-machine detection,
callbacks, both kinds of transfer, the keypad, the caller's audio as it arrives, the
routes-file keys of :data:`ASSISTANT_KEYS` and its chosen vendors' (:func:`vendor_line_keys`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from sipgw.agent.amd.settings import AmdSection, answering_settings
from sipgw.agent.assistant.agent import AssistantFactory
from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import (
    GatewayServices,
    LineKeys,
    SectionLoader,
    declare,
)
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
from sipgw.agent.idle.settings import IdleSection, idle_settings
from sipgw.agent.resilience.settings import FallbackSection
from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS, Vendor
from sipgw.agent.tools.settings import DeclaredToolsSection
from sipgw.agent.transfer.settings import TransferSection, transfer_settings
from sipgw.foundation.settings import Sources, load, require

if TYPE_CHECKING:
    pass

__all__ = [
    "CAPABILITIES",
    "VENDOR_SECTIONS",
    "assistant_agent",
    "vendor_line_keys",
]

log = logging.getLogger("sipgw.agent")


VENDOR_SECTIONS: tuple[type[Any], ...] = tuple(
    vendor.section for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS) for vendor in table.values()
)
"""Every vendor's section: the assistant loads the chosen ones itself."""


def vendor_line_keys(load_section: SectionLoader) -> LineKeys:
    """The chosen STT and TTS vendors' routes-file keys (``voice``, ``keyterms``,
    ``language``) -> the field of their section each sets."""
    assistant: AssistantSection = load_section(AssistantSection)
    vendors: list[Vendor[Any, Any]] = [STT_VENDORS[assistant.stt], TTS_VENDORS[assistant.tts]]
    return {
        key: (vendor.section, name) for vendor in vendors for key, name in vendor.line_keys.items()
    }


CAPABILITIES = dataclasses.replace(
    AssistantFactory.capabilities,
    line_keys=ASSISTANT_KEYS,
    more_line_keys=vendor_line_keys,
    own_sections=VENDOR_SECTIONS,
)
"""What the assistant's agents do (:class:`sipgw.agent.capabilities.AgentCapabilities`): its
factory's record, with the routes-file keys and the vendors' sections."""


@declare(CAPABILITIES)
def assistant_agent(
    assistant: AssistantSection,
    preemptive: PreemptiveSection,
    tools: BuiltinToolsSection,
    context: CallerContextSection,
    callbacks: CallbackSection,
    fallback: FallbackSection,
    amd: AmdSection,
    transfers: TransferSection,
    idle: IdleSection,
    declared: DeclaredToolsSection,
    sources: Sources,
    gateway: GatewayServices,
) -> AgentFactory:
    """Assistant agents: what all their calls share, built once (the LLM client, the tools,
    the fallback lines in the TTS voice, synthesized when the gateway starts).

    Raises:
        ConfigError: a vendor's key is missing, a value is bad, the prompt file cannot be
            read, or the tools module or caller-context hook does not load.
    """
    from sipgw.agent.assistant.agent import AssistantResources
    from sipgw.agent.resilience.line_cache import FallbackLineCache, VoiceKey

    stt, llm, tts = (
        STT_VENDORS[assistant.stt],
        LLM_VENDORS[assistant.llm],
        TTS_VENDORS[assistant.tts],
    )
    require((stt.section, llm.section, tts.section), sources, "--agent assistant")
    stt_section = load(stt.section, sources)
    if stt.backlog_ms is not None:
        _check_backlog(stt.backlog_ms(stt_section), fallback)
    new_stt = stt.clients(stt_section)
    new_wideband_stt = stt.wideband(stt_section) if stt.wideband is not None else None
    new_llm = llm.clients(load(llm.section, sources))
    tts_section = load(tts.section, sources)
    new_tts = tts.clients(tts_section)
    new_wideband_tts = tts.wideband(tts_section) if tts.wideband is not None else None
    settings = dataclasses.replace(
        with_fallback(
            agent_settings(assistant, preemptive, tools, callbacks, gateway),
            fallback,
        ),
        answering=answering_settings(amd),
        transfer=transfer_settings(transfers),
        idle=idle_settings(idle),
    )
    lines = None
    if fallback.fallback_synthesize:
        voice, model = tts.voice(tts_section) if tts.voice is not None else ("", "")
        lines = FallbackLineCache(VoiceKey(tts.name, voice, model), settings.fallback_cache_dir)
    resources = AssistantResources(
        settings,
        new_llm(),
        tool_registry(settings, declared, sources),
        new_stt=new_stt,
        new_tts=new_tts,
        new_wideband_stt=new_wideband_stt,
        new_wideband_tts=new_wideband_tts,
        caller_context=caller_context(context),
        lines=lines,
        stt_settings=(stt.name, stt_section),
    )
    return AssistantFactory(resources, {"stt": stt.name, "llm": llm.name, "tts": tts.name})


def _check_backlog(backlog_ms: int, fallback: FallbackSection) -> None:
    """Warn when the STT keeps less of the caller's audio during an outage than the
    failure policy waits for it (what the caller says meanwhile would be lost)."""
    if backlog_ms < fallback.stt_give_up_after_ms:
        log.warning("ASSEMBLYAI_MAX_BACKLOG_MS=%d is shorter than SIPGW_STT_GIVE_UP_AFTER_MS="
                    "%d: while speech recognition is down, what the caller said more than %d ms "
                    "ago is dropped", backlog_ms, fallback.stt_give_up_after_ms,
                    backlog_ms)  # fmt: skip
