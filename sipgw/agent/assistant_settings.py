"""The assistant's sections turned into the typed objects its agents are built with.

:func:`assistant_settings` makes :class:`~sipgw.agent.settings.AssistantSettings` (with typed
code mypy checks) from the sections of :mod:`sipgw.agent.assistant_sections`, the dial
allow-list and the log redactor the gateway hands the plug-in
(:class:`sipgw.agent.capabilities.GatewayServices`); :func:`caller_context` loads the
caller-context hook; :func:`with_fallback` adds the fallback lines and the failure policy
(:class:`~sipgw.agent.resilience.settings.FallbackSection`). The speech-to-speech agents
build theirs the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw.agent.assistant_sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
)
from sipgw.agent.caller_audio import NoiseSettings
from sipgw.agent.dialpolicy import DialChecker
from sipgw.agent.early_end import EarlyEndMode
from sipgw.agent.redact import Redactor
from sipgw.agent.resilience.settings import FallbackSection
from sipgw.agent.sections import ConfigError, SettingError
from sipgw.agent.settings import (
    DEFAULT_SYSTEM_PROMPT,
    AssistantSettings,
    BargeInSettings,
    EarlyEndSettings,
)
from sipgw.agent.speculative import SpeculationLimits
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.agent.variables import TemplateError, placeholders
from sipgw.media.vad import ModelVadConfig, VadConfig

if TYPE_CHECKING:
    from sipgw.agent.caller_context import CallerContextSettings

__all__ = ["assistant_settings", "builtin_tool_settings", "caller_context", "with_fallback"]


def builtin_tool_settings(
    tools: BuiltinToolsSection, callbacks: CallbackSection, dial_policy: DialChecker
) -> BuiltinToolSettings:
    """The built-in tools' settings: their files, the transfer target, the callback rules,
    and what the gateway lets agents dial (``dial_policy``: :class:`sipgw.agent.capabilities.
    GatewayServices`)."""
    return BuiltinToolSettings(
        orders_file=Path(tools.orders_file) if tools.orders_file else None,
        orders_verify=tools.orders_verify,
        callback_db=tools.callback_path,
        transfer_target=tools.transfer_target or None,
        callback_allowed_prefixes=callbacks.callback_allowed_prefixes,
        callback_timezone=callbacks.callback_timezone,
        dial_policy=dial_policy,
        callback_quota=CallbackQuota(
            per_caller=callbacks.callback_max_per_caller,
            per_number=callbacks.callback_max_per_number,
            per_day=callbacks.callback_max_per_day,
        ),
        enabled=tools.builtin_tools,
    )


def noise_settings(assistant: AssistantSection) -> NoiseSettings:
    """The detector and suppression settings, checked against what is installed.

    Raises:
        ConfigError: the model detector or suppression is asked for and its package is
            not installed.
    """
    noise = NoiseSettings(
        suppression=assistant.noise_suppression,
        detector="model" if assistant.voice_detector == "model" else "energy",
        model=ModelVadConfig(
            threshold=assistant.vad_model_threshold,
            room_margin_db=assistant.vad_room_margin_db,
            caller_margin_db=assistant.vad_caller_margin_db,
        ),
    )
    missing = noise.missing()
    if missing:
        name = "voice_detector" if missing.startswith("the model") else "noise_suppression"
        raise SettingError(f"{{{name}}}: {{why}}", AssistantSection, why=missing)
    return noise


def assistant_settings(
    assistant: AssistantSection,
    preemptive: PreemptiveSection,
    tools: BuiltinToolsSection,
    callbacks: CallbackSection,
    dial_policy: DialChecker,
    redactor: Redactor,
) -> AssistantSettings:
    """The assistant's :class:`~sipgw.agent.settings.AssistantSettings` from its sections.

    Raises:
        ConfigError: the system prompt file cannot be read.
    """
    prompt = DEFAULT_SYSTEM_PROMPT
    if prompt_file := assistant.system_prompt_file:
        try:
            prompt = Path(prompt_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingError(
                "{system_prompt_file}: cannot read {path}: {why}", AssistantSection,
                path=prompt_file, why=exc.strerror or exc,
            ) from None  # fmt: skip
    templates = (
        (AssistantSection, "system_prompt_file", prompt),
        (AssistantSection, "greeting", assistant.greeting),
        (AssistantSection, "outbound_greeting", assistant.outbound_greeting),
        (CallbackSection, "callback_greeting", callbacks.callback_greeting),
    )
    for cls, name, template in templates:
        try:
            placeholders(template)
        except TemplateError as exc:
            if not prompt_file and name == "system_prompt_file":
                raise ConfigError(f"the built-in system prompt: {exc}") from None
            raise SettingError(f"{{{name}}}: {{why}}", cls, why=exc) from None
    record_dir = assistant.call_record_dir
    return AssistantSettings(
        system_prompt=prompt,
        greeting=assistant.greeting,
        callback_greeting=callbacks.callback_greeting,
        outbound_greeting=assistant.outbound_greeting,
        fallback_phrase=assistant.fallback_phrase,
        tools_module=assistant.tools_module,
        builtin_tools=builtin_tool_settings(tools, callbacks, dial_policy),
        record_dir=Path(record_dir) if record_dir else None,
        max_tool_rounds=assistant.max_tool_rounds,
        barge_in=BargeInSettings(
            commit_ms=assistant.barge_in_commit_ms,
            min_words=assistant.barge_in_min_words,
            vad=VadConfig(
                start_ms=assistant.barge_in_start_ms,
                hangover_ms=BargeInSettings().vad.hangover_ms,
                min_level_dbfs=assistant.vad_min_level_dbfs,
                margin_db=assistant.vad_margin_db,
            ),
            noise=noise_settings(assistant),
        ),
        early_end=EarlyEndSettings(
            EarlyEndMode(assistant.early_turn_end), assistant.early_turn_end_ms
        ),
        dtmf_timeout=assistant.dtmf_timeout_ms / 1000,
        preemptive_pause_ms=preemptive.preemptive_pause_ms if preemptive.preemptive else None,
        preemptive_during_speech=preemptive.preemptive and preemptive.preemptive_during_speech,
        speculative_speech=preemptive.preemptive and preemptive.speculative_speech,
        speculation=SpeculationLimits(
            max_requests_per_turn=preemptive.preemptive_max_requests,
            max_wasted_share=preemptive.speculative_max_waste_percent / 100,
        ),
        answer_wait=assistant.answer_wait_ms / 1000,
        redactor=redactor,
        transfer_line=assistant.transfer_line,
        goodbye_line=assistant.goodbye_line,
        action_line_timeout=assistant.action_line_timeout_ms / 1000,
        filler_after=(assistant.filler_after_ms / 1000) or None,
        filler_lines=assistant.filler_lines,
    )


def caller_context(settings: CallerContextSection) -> CallerContextSettings | None:
    """The caller-context hook loaded (None when not set), with its timeout.

    Raises:
        ConfigError: the module or function cannot be loaded or is not ``async def``.
    """
    from sipgw.agent.caller_context import (
        CallerContextError,
        CallerContextSettings,
        load_caller_context_hook,
    )

    spec = settings.caller_context
    if not spec:
        return None
    try:
        hook = load_caller_context_hook(spec)
    except CallerContextError as exc:
        raise SettingError("{caller_context}: {why}", CallerContextSection, why=exc) from None
    return CallerContextSettings(hook, timeout=settings.caller_context_timeout)


def with_fallback(settings: AssistantSettings, fallback: FallbackSection) -> AssistantSettings:
    """``settings`` with the fallback lines' words, their cache and the failure policy."""
    cache = fallback.fallback_cache_dir
    return dataclasses.replace(
        settings,
        one_moment_line=fallback.one_moment_line,
        stt_down_line=fallback.stt_down_line,
        fallback_cache_dir=Path(cache) if cache else None,
        failure_policy=fallback.policy(),
    )
