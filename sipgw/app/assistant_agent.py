"""The ``assistant`` plug-in: the AI agent, built from its sections and its vendors'.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` and imported only when
chosen (it pulls in the vendors' SDKs). :func:`assistant_agent` is a plug-in factory like
any other: its parameters name the sections it reads; the vendors' sections depend on
``SIPGW_STT``, ``SIPGW_LLM`` and ``SIPGW_TTS``, so it takes the sources too and loads the
chosen ones itself, after checking that their keys are all there (all missing ones named
at once).
"""

from __future__ import annotations

from agent.base import AgentFactory
from sipgw.app.assistant_settings import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    DialSection,
    PreemptiveSection,
    assistant_settings,
    caller_context,
)
from sipgw.app.privacy import PrivacySection, load_redactor
from sipgw.app.sections import SECTIONS
from sipgw.app.settings import ConfigError, Sources, load, require, secret_texts
from sipgw.app.vendors import LLM_VENDORS, STT_VENDORS, TTS_VENDORS

__all__ = ["assistant_agent"]


def assistant_agent(
    assistant: AssistantSection,
    preemptive: PreemptiveSection,
    tools: BuiltinToolsSection,
    context: CallerContextSection,
    callbacks: CallbackSection,
    dial: DialSection,
    privacy: PrivacySection,
    sources: Sources,
) -> AgentFactory:
    """Assistant agents: what all their calls share, built once (the LLM client, the tools).

    Raises:
        ConfigError: a vendor's key is missing, a value is bad, the prompt file cannot be
            read, or the tools module or caller-context hook does not load.
    """
    from agent.assistant import AssistantFactory, AssistantResources
    from agent.tools.builtin import builtin_tools
    from agent.tools.registry import ToolLoadError, ToolRegistry, load_user_tools

    stt, llm, tts = (
        STT_VENDORS[assistant.stt],
        LLM_VENDORS[assistant.llm],
        TTS_VENDORS[assistant.tts],
    )
    require((stt.section, llm.section, tts.section), sources, "--agent assistant")
    new_stt = stt.clients(load(stt.section, sources))
    new_llm = llm.clients(load(llm.section, sources))
    new_tts = tts.clients(load(tts.section, sources))
    redactor = load_redactor(privacy, secret_texts([info.cls for info in SECTIONS], sources))
    settings = assistant_settings(assistant, preemptive, tools, callbacks, dial, redactor)
    registry = ToolRegistry(builtin_tools(settings.builtin_tools))  # names checked by the section
    if settings.tools_module:
        try:
            load_user_tools(settings.tools_module, registry)
        except (ToolLoadError, ValueError) as exc:  # ValueError: a user tool reusing a name
            raise ConfigError(f"SIPGW_TOOLS_MODULE: {exc}") from None
    resources = AssistantResources(
        settings,
        new_llm(),
        registry,
        new_stt=new_stt,
        new_tts=new_tts,
        caller_context=caller_context(context),
    )
    return AssistantFactory(resources)
