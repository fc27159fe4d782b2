"""The assistant's settings registry: environment variables to :class:`AssistantSettings`.

One registry (:data:`ASSISTANT_SETTINGS`) feeds the parsing, the error messages,
``.env.example`` and the docs; a test keeps them in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.llm.openai import OpenAISettings
from agent.settings import (
    DEFAULT_GREETING,
    DEFAULT_SYSTEM_PROMPT,
    AssistantSettings,
    BargeInSettings,
)
from agent.stt.assemblyai import REGION_URLS, AssemblyAISettings
from agent.tts.elevenlabs import ElevenLabsSettings
from media.vad import VadConfig
from sipgw.app.config import ConfigError, Setting

__all__ = ["ASSISTANT_SETTINGS", "REQUIRED", "load_assistant_settings"]


def _text(value: str) -> str:
    return value


def _optional_ms(value: str) -> int | None:
    return None if value.strip() == "" else int(value)


def _seconds(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be > 0")
    return number


def _int(value: str) -> int:
    return int(value)


def _chunk_ms(value: str) -> int:
    number = int(value)
    if not 50 <= number <= 1000:
        raise ValueError("must be 50..1000 (the API closes the session otherwise)")
    return number


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _s(env: str, default: str, help: str, parse: Callable[[str], Any] = _text) -> Setting:
    return Setting(env.lower(), env, None, default, help, parse)


ASSISTANT_SETTINGS: tuple[Setting, ...] = (
    _s("ASSEMBLYAI_API_KEY", "", "AssemblyAI API key (required)."),
    _s("ASSEMBLYAI_REGION", "default", "default, us or eu: which AssemblyAI streaming endpoint.",
       _choice("default", "us", "eu")),
    _s("ASSEMBLYAI_STREAMING_URL", "", "Overrides the region's wss:// URL (a proxy, a test "
       "fake)."),
    _s("ASSEMBLYAI_KEYTERMS", "", "Comma-separated words to boost (product names, ...)."),
    _s("ASSEMBLYAI_PROMPT", "", "Context for Universal-3 Pro (beta); empty = none."),
    _s("ASSEMBLYAI_MIN_TURN_SILENCE", "", "Silence (ms) before the model checks for an end of "
       "turn; empty = server default (100).", _optional_ms),
    _s("ASSEMBLYAI_MAX_TURN_SILENCE", "", "Silence (ms) that always ends a turn; empty = server "
       "default (1000).", _optional_ms),
    _s("ASSEMBLYAI_CHUNK_MS", "100", "Audio per message to AssemblyAI (50..1000 ms) while the "
       "caller talks or is quiet; for 1.5 s after the caller stops talking, chunks are 50 ms "
       "so the turn ends sooner.", _chunk_ms),
    _s("OPENAI_API_KEY", "", "OpenAI API key (required; any value for a server that needs none)."),
    _s("OPENAI_BASE_URL", "", "An OpenAI-compatible server's URL, e.g. http://127.0.0.1:11434/v1; "
       "empty = OpenAI."),
    _s("OPENAI_MODEL", "gpt-4.1-mini", "Chat model."),
    _s("OPENAI_FIRST_TOKEN_TIMEOUT", "5", "Seconds to wait for the LLM's first token before the "
       "fallback phrase.", _seconds),
    _s("OPENAI_TOTAL_TIMEOUT", "20", "Seconds one LLM response may take in all.", _seconds),
    _s("ELEVENLABS_API_KEY", "", "ElevenLabs API key (required)."),
    _s("ELEVENLABS_VOICE_ID", "21m00Tcm4TlvDq8ikWAM", "Voice to speak with."),
    _s("ELEVENLABS_MODEL_ID", "eleven_flash_v2_5", "TTS model (flash: ~75 ms inference)."),
    _s("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io", "API base URL (regions: "
       "https://api.us.elevenlabs.io, https://api.eu.residency.elevenlabs.io)."),
    _s("ELEVENLABS_TRANSPORT", "websocket", "websocket (one multi-context socket per call, "
       "opened while ringing) or http (one streaming request per sentence).",
       _choice("websocket", "http")),
    _s("SIPGW_SYSTEM_PROMPT_FILE", "", "File with the system prompt; empty = the built-in "
       "shop-assistant prompt."),
    _s("SIPGW_GREETING", DEFAULT_GREETING, "Said when the call is answered; empty = wait for the "
       "caller."),
    _s("SIPGW_FALLBACK_PHRASE", "Sorry, I'm having trouble right now. Could you say that again?",
       "Said when the LLM fails or times out."),
    _s("SIPGW_TOOLS_MODULE", "", "A Python module (name or .py path) with your own tools: "
       "TOOLS = [Tool(...)] and/or def register(registry)."),
    _s("SIPGW_ORDERS_FILE", "", "Orders JSON for get_order_status; empty = the bundled sample."),
    _s("SIPGW_CALLBACK_DB", "callbacks.sqlite3", "SQLite file where schedule_callback stores "
       "requests."),
    _s("SIPGW_TRANSFER_TARGET", "", "SIP URI transfer_to_human sends callers to (REFER), e.g. "
       "sip:support@pbx.example.com; empty = no transfers."),
    _s("SIPGW_CALL_RECORD_DIR", "calls", "Directory for per-call JSONL records; empty = none."),
    _s("SIPGW_MAX_TOOL_ROUNDS", "4", "Tool-call rounds the LLM may take per reply.", _int),
    _s("SIPGW_BARGE_IN_START_MS", "60", "Caller speech (ms) that pauses the agent's audio.", _int),
    _s("SIPGW_BARGE_IN_COMMIT_MS", "600", "Caller speech (ms) that cancels the reply; shorter "
       "sounds (\"mm-hm\", a cough) only pause it, and it resumes.", _int),
    _s("SIPGW_BARGE_IN_MIN_WORDS", "2", "Words in a partial transcript that cancel the reply.",
       _int),
    _s("SIPGW_VAD_MIN_LEVEL_DBFS", "-40", "Caller audio quieter than this is never speech.",
       float),
    _s("SIPGW_VAD_MARGIN_DB", "10", "How far above the line's noise floor speech must be.", float),
    _s("SIPGW_DTMF_TIMEOUT_MS", "1500", "Keypad digits are sent to the LLM after this pause (or "
       "at #).", _int),
)  # fmt: skip

REQUIRED = ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY")


def _resolve(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in ASSISTANT_SETTINGS:
        text = env.get(setting.env)
        text = setting.default if text is None else text
        try:
            values[setting.env] = setting.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={text!r}: {exc}") from None
    return values


def load_assistant_settings(env: Mapping[str, str]) -> AssistantSettings:
    """Resolve the assistant's settings from the merged environment.

    Raises:
        ConfigError: a required key is missing or a value does not parse.
    """
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise ConfigError(f"--agent assistant needs {', '.join(missing)}")
    v = _resolve(env)
    prompt = DEFAULT_SYSTEM_PROMPT
    if v["SIPGW_SYSTEM_PROMPT_FILE"]:
        path = Path(v["SIPGW_SYSTEM_PROMPT_FILE"])
        try:
            prompt = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"SIPGW_SYSTEM_PROMPT_FILE={path}: {exc.strerror}") from None
    keyterms = tuple(t.strip() for t in v["ASSEMBLYAI_KEYTERMS"].split(",") if t.strip())
    try:
        stt = AssemblyAISettings(
            api_key=v["ASSEMBLYAI_API_KEY"],
            url=v["ASSEMBLYAI_STREAMING_URL"] or REGION_URLS[v["ASSEMBLYAI_REGION"]],
            keyterms_prompt=keyterms,
            prompt=v["ASSEMBLYAI_PROMPT"] or None,
            min_turn_silence=v["ASSEMBLYAI_MIN_TURN_SILENCE"],
            max_turn_silence=v["ASSEMBLYAI_MAX_TURN_SILENCE"],
            chunk_ms=v["ASSEMBLYAI_CHUNK_MS"],
        )
        llm = OpenAISettings(
            api_key=v["OPENAI_API_KEY"],
            model=v["OPENAI_MODEL"],
            base_url=v["OPENAI_BASE_URL"] or None,
            first_token_timeout=v["OPENAI_FIRST_TOKEN_TIMEOUT"],
            total_timeout=v["OPENAI_TOTAL_TIMEOUT"],
        )
        tts = ElevenLabsSettings(
            api_key=v["ELEVENLABS_API_KEY"],
            voice_id=v["ELEVENLABS_VOICE_ID"],
            base_url=v["ELEVENLABS_BASE_URL"].rstrip("/"),
            model_id=v["ELEVENLABS_MODEL_ID"],
            transport=v["ELEVENLABS_TRANSPORT"],
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    vad = VadConfig(
        start_ms=v["SIPGW_BARGE_IN_START_MS"],
        hangover_ms=300,
        min_level_dbfs=v["SIPGW_VAD_MIN_LEVEL_DBFS"],
        margin_db=v["SIPGW_VAD_MARGIN_DB"],
    )
    record_dir = v["SIPGW_CALL_RECORD_DIR"]
    return AssistantSettings(
        stt=stt,
        llm=llm,
        tts=tts,
        system_prompt=prompt,
        greeting=v["SIPGW_GREETING"].strip(),
        fallback_phrase=v["SIPGW_FALLBACK_PHRASE"],
        tools_module=v["SIPGW_TOOLS_MODULE"].strip(),
        record_dir=Path(record_dir) if record_dir else None,
        max_tool_rounds=v["SIPGW_MAX_TOOL_ROUNDS"],
        barge_in=BargeInSettings(
            commit_ms=v["SIPGW_BARGE_IN_COMMIT_MS"],
            min_words=v["SIPGW_BARGE_IN_MIN_WORDS"],
            vad=vad,
        ),
        dtmf_timeout=v["SIPGW_DTMF_TIMEOUT_MS"] / 1000,
        env=env,
    )
