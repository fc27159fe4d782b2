"""The assistant's typed settings from the registry: :class:`~agent.settings.AssistantSettings`.

Reads the ``ASSISTANT``, ``BUILTIN_TOOLS`` and ``CALLBACKS`` sections of
:mod:`sipgw.app.settings_registry` and the sections of the vendors
``SIPGW_STT``, ``SIPGW_LLM`` and ``SIPGW_TTS`` pick (:mod:`sipgw.app.vendors`).
"""

from __future__ import annotations

from pathlib import Path

from agent.settings import (
    DEFAULT_SYSTEM_PROMPT,
    AssistantSettings,
    BargeInSettings,
    BuiltinToolSettings,
)
from media.vad import VadConfig
from sipgw.app.privacy import load_redactor
from sipgw.app.settings import ConfigError, SettingValues
from sipgw.app.settings_registry import ASSISTANT, BUILTIN_TOOLS, CALLBACKS, DIAL, PREEMPTIVE
from sipgw.app.vendors import VendorChoice, choose_vendors
from sipgw.dialpolicy import DialPolicy

__all__ = ["load_assistant_settings", "load_builtin_tool_settings", "load_dial_policy"]


def load_dial_policy(values: SettingValues) -> DialPolicy:
    """What agents may reach: ``SIPGW_DIAL_ALLOW`` for every action, plus each feature's own
    setting for that feature only: ``SIPGW_TRANSFER_TARGET`` (transfers),
    ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_URI`` (calls)."""
    transfer = values["SIPGW_TRANSFER_TARGET"]
    return DialPolicy(
        values["SIPGW_DIAL_ALLOW"],
        per_action={
            "transfer": (transfer,) if transfer else (),
            "call": tuple(f"{prefix}*" for prefix in values["SIPGW_CALLBACK_ALLOWED_PREFIXES"]),
        },
        call_templates=(values["SIPGW_CALLBACK_URI"],),
    )


def load_builtin_tool_settings(values: SettingValues) -> BuiltinToolSettings:
    """``SIPGW_ORDERS_FILE``, ``SIPGW_CALLBACK_DB``, ``SIPGW_TRANSFER_TARGET`` and the
    callback rules ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_TIMEZONE``."""
    orders = values["SIPGW_ORDERS_FILE"]
    callback_db = values["SIPGW_CALLBACK_DB"] or values.setting("SIPGW_CALLBACK_DB").default
    return BuiltinToolSettings(
        orders_file=Path(orders) if orders else None,
        callback_db=Path(callback_db),
        transfer_target=values["SIPGW_TRANSFER_TARGET"] or None,
        callback_allowed_prefixes=values["SIPGW_CALLBACK_ALLOWED_PREFIXES"],
        callback_timezone=values["SIPGW_CALLBACK_TIMEZONE"],
        dial_policy=load_dial_policy(values),
    )


def load_assistant_settings(
    values: SettingValues, vendors: VendorChoice | None = None
) -> AssistantSettings:
    """Resolve the assistant's settings.

    Args:
        values: the registry's values.
        vendors: the vendors to use; default: those the settings pick.

    Raises:
        ConfigError: a required key is missing (all missing ones are named), a
            value does not parse, or the prompt file cannot be read.
    """
    vendors = vendors or choose_vendors(values)
    missing = values.missing(
        (ASSISTANT, PREEMPTIVE, BUILTIN_TOOLS, CALLBACKS, DIAL, *vendors.sections)
    )
    if missing:
        raise ConfigError(
            f"--agent assistant needs {', '.join(missing)} "
            "(set them in the environment or in .env; see .env.example)"
        )
    prompt = DEFAULT_SYSTEM_PROMPT
    if prompt_file := values["SIPGW_SYSTEM_PROMPT_FILE"]:
        try:
            prompt = Path(prompt_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"SIPGW_SYSTEM_PROMPT_FILE={prompt_file}: {exc.strerror}") from None
    record_dir = values["SIPGW_CALL_RECORD_DIR"]
    pause_ms: int = values["SIPGW_PREEMPTIVE_PAUSE_MS"]
    preemptive_pause_ms = pause_ms if values["SIPGW_PREEMPTIVE"] == "on" else None
    return AssistantSettings(
        system_prompt=prompt,
        greeting=values["SIPGW_GREETING"],
        callback_greeting=values["SIPGW_CALLBACK_GREETING"],
        fallback_phrase=values["SIPGW_FALLBACK_PHRASE"],
        tools_module=values["SIPGW_TOOLS_MODULE"],
        builtin_tools=load_builtin_tool_settings(values),
        record_dir=Path(record_dir) if record_dir else None,
        max_tool_rounds=values["SIPGW_MAX_TOOL_ROUNDS"],
        barge_in=BargeInSettings(
            commit_ms=values["SIPGW_BARGE_IN_COMMIT_MS"],
            min_words=values["SIPGW_BARGE_IN_MIN_WORDS"],
            vad=VadConfig(
                start_ms=values["SIPGW_BARGE_IN_START_MS"],
                hangover_ms=BargeInSettings().vad.hangover_ms,
                min_level_dbfs=values["SIPGW_VAD_MIN_LEVEL_DBFS"],
                margin_db=values["SIPGW_VAD_MARGIN_DB"],
            ),
        ),
        dtmf_timeout=values["SIPGW_DTMF_TIMEOUT_MS"] / 1000,
        preemptive_pause_ms=preemptive_pause_ms,
        answer_wait=values["SIPGW_ANSWER_WAIT_MS"] / 1000,
        redactor=load_redactor(values),
        transfer_line=values["SIPGW_TRANSFER_LINE"],
        goodbye_line=values["SIPGW_GOODBYE_LINE"],
        action_line_timeout=values["SIPGW_ACTION_LINE_TIMEOUT_MS"] / 1000,
        filler_after=(values["SIPGW_FILLER_AFTER_MS"] / 1000) or None,
        filler_lines=values["SIPGW_FILLER_LINES"],
    )
