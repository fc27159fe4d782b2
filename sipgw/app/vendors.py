"""The vendor registry: which STT, LLM and TTS services the assistant can use.

One :class:`Vendor` per service, in :data:`STT_VENDORS`, :data:`LLM_VENDORS` or
:data:`TTS_VENDORS`: its name (the value of ``SIPGW_STT``, ``SIPGW_LLM`` or
``SIPGW_TTS``), its settings section (a frozen dataclass of
:func:`~sipgw.app.settings.setting` fields: the CLI checks, ``.env.example`` and
``docs/configuration.md`` take it from there), and a function from that section to a
maker of the vendor's clients: it builds (and so checks) the client's own typed settings
once, at start, with code mypy checks.

Adding a vendor: its client in one new file under ``agent/stt``, ``agent/llm`` or
``agent/tts``, implementing :class:`~agent.stt.base.SpeechToText`,
:class:`~agent.llm.base.ChatLLM` or :class:`~agent.tts.base.TextToSpeech`; here its
section, its client function and its entry (and the section in the catalogue,
:mod:`sipgw.app.sections`). The assistant never names a vendor:
:mod:`sipgw.app.assistant_agent` builds one LLM client for all calls and hands each
call factories for its own STT and TTS.

A vendor's module (and its SDK) is imported only when its client is built, never when
this table or a section is read: the CLI and the health check stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sipgw.app.settings import ConfigError, section, setting
from sipgw.app.settings.parsers import choice, comma_list, int_range, positive, text, true_false

if TYPE_CHECKING:
    from agent.llm.base import ChatLLM
    from agent.stt.base import SpeechToText
    from agent.tts.base import TextToSpeech

__all__ = [
    "LLM_VENDORS",
    "STT_VENDORS",
    "TTS_VENDORS",
    "AssemblyAISection",
    "ElevenLabsSection",
    "OpenAISection",
    "Vendor",
]

SectionT = TypeVar("SectionT")
SettingsT = TypeVar("SettingsT")
ClientT = TypeVar("ClientT")


@dataclass(frozen=True, slots=True)
class Vendor(Generic[SectionT, ClientT]):
    """One vendor: its settings section and how its clients are made from it."""

    name: str
    """The value that picks it (``SIPGW_STT=assemblyai``)."""
    section: type[SectionT]
    """Its settings section (required keys are checked from it)."""
    clients: Callable[[SectionT], Callable[[], ClientT]]
    """The loaded section -> a maker of clients (no network traffic); raises ConfigError
    when the client's settings refuse the values."""
    line_keys: Mapping[str, str] = field(default_factory=dict)
    """A routes file line's key -> the field of :attr:`section` it sets (``voice`` ->
    ``voice_id``): what a line may change of this vendor by name (docs/lines.md)."""


def _checked(title: str, build: Callable[[], SettingsT]) -> SettingsT:
    """Build a client's settings; their checks' ValueError names the section."""
    try:
        return build()
    except ValueError as exc:
        raise ConfigError(f"{title}: {exc}") from None


def _optional_ms(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int_range(0, 60000)(value)
    except ValueError:
        raise ValueError("must be a whole number of ms from 0 to 60000, or empty") from None


# --------------------------------------------------------------------------- AssemblyAI


def _keyterms(value: str) -> tuple[str, ...]:
    from agent.stt.assemblyai import check_keyterms

    terms = comma_list(value)
    check_keyterms(terms)
    return terms


def _language(value: str) -> str:
    code = value.strip().lower()
    if code and not (code.isalpha() and 2 <= len(code) <= 3):
        raise ValueError("must be a language code such as en or es (ISO 639-1), or empty")
    return code


@section(
    "assemblyai",
    title="AssemblyAI (speech to text)",
    intro="Read when `--agent assistant` and `SIPGW_STT=assemblyai`.",
)
@dataclass(frozen=True)
class AssemblyAISection:
    """AssemblyAI's streaming speech-to-text."""

    api_key: str = setting(
        "", env="ASSEMBLYAI_API_KEY", parse=text, required=True, secret=True,
        help="AssemblyAI API key (required).",
    )  # fmt: skip
    region: str = setting(
        "default", env="ASSEMBLYAI_REGION", parse=choice("default", "us", "eu"),
        help="default, us or eu: which AssemblyAI streaming endpoint.",
    )  # fmt: skip
    streaming_url: str = setting(
        "", env="ASSEMBLYAI_STREAMING_URL", parse=text,
        help="Overrides the region's wss:// URL (a proxy, a test fake).",
    )  # fmt: skip
    keyterms: tuple[str, ...] = setting(
        (), env="ASSEMBLYAI_KEYTERMS", parse=_keyterms, default_text="",
        help="Comma-separated words to boost (product names, ...): at most 100 terms of at most "
        "50 characters each.",
    )  # fmt: skip
    language: str = setting(
        "", env="ASSEMBLYAI_LANGUAGE", parse=_language,
        help="The callers' language (ISO 639-1, e.g. es); empty = en, es, de, fr, pt or it, "
        "which u3-rt-pro detects by itself. Another language selects AssemblyAI's whisper-rt "
        "model (99 languages, detected automatically).",
    )  # fmt: skip
    prompt: str = setting(
        "", env="ASSEMBLYAI_PROMPT", parse=text,
        help="Context for Universal-3 Pro (beta); empty = none.",
    )  # fmt: skip
    min_turn_silence: int | None = setting(
        None, env="ASSEMBLYAI_MIN_TURN_SILENCE", parse=_optional_ms,
        help="Silence (ms) before the model checks for an end of turn; empty = server default "
        "(100).",
    )  # fmt: skip
    max_turn_silence: int | None = setting(
        None, env="ASSEMBLYAI_MAX_TURN_SILENCE", parse=_optional_ms,
        help="Silence (ms) that always ends a turn; empty = server default (1000).",
    )  # fmt: skip
    chunk_ms: int = setting(
        100, env="ASSEMBLYAI_CHUNK_MS", parse=int_range(50, 1000),
        help="Audio per message to AssemblyAI (50..1000 ms) while the caller talks; for 1.5 s "
        "after the caller stops talking, chunks are 50 ms so the turn ends sooner, and once "
        "the turn has ended and the caller stays quiet, 250 ms (fewer messages).",
    )  # fmt: skip


def _assemblyai(settings: AssemblyAISection) -> Callable[[], SpeechToText]:
    from agent.stt.assemblyai import (
        REGION_URLS,
        AssemblyAISettings,
        AssemblyAISTTService,
        speech_model_for,
    )

    client = _checked(
        "AssemblyAI (speech to text)",
        lambda: AssemblyAISettings(
            api_key=settings.api_key,
            url=settings.streaming_url or REGION_URLS[settings.region],
            speech_model=speech_model_for(settings.language),
            keyterms_prompt=settings.keyterms,
            prompt=settings.prompt or None,
            min_turn_silence=settings.min_turn_silence,
            max_turn_silence=settings.max_turn_silence,
            chunk_ms=settings.chunk_ms,
        ),
    )
    return partial(AssemblyAISTTService, client)


# --------------------------------------------------------------------------- OpenAI


@section(
    "openai",
    title="OpenAI (chat model)",
    intro="Read when `--agent assistant` and `SIPGW_LLM=openai`; any OpenAI-compatible server "
    "works.",
)
@dataclass(frozen=True)
class OpenAISection:
    """An OpenAI-compatible chat model."""

    api_key: str = setting(
        "", env="OPENAI_API_KEY", parse=text, required=True, secret=True,
        help="OpenAI API key (required; any value for a server that needs none).",
    )  # fmt: skip
    base_url: str = setting(
        "", env="OPENAI_BASE_URL", parse=text,
        help="An OpenAI-compatible server's URL, e.g. http://127.0.0.1:11434/v1; empty = "
        "OpenAI.",
    )  # fmt: skip
    model: str = setting("gpt-4.1-mini", env="OPENAI_MODEL", parse=text, help="Chat model.")
    first_token_timeout: float = setting(
        5.0, env="OPENAI_FIRST_TOKEN_TIMEOUT", parse=positive,
        help="Seconds to wait for the LLM's first token before the fallback phrase.",
    )  # fmt: skip
    total_timeout: float = setting(
        20.0, env="OPENAI_TOTAL_TIMEOUT", parse=positive,
        help="Seconds one LLM response may take in all.",
    )  # fmt: skip


def _openai(settings: OpenAISection) -> Callable[[], ChatLLM]:
    from agent.llm.openai import OpenAIChatLLM, OpenAISettings

    client = _checked(
        "OpenAI (chat model)",
        lambda: OpenAISettings(
            api_key=settings.api_key,
            model=settings.model,
            base_url=settings.base_url or None,
            first_token_timeout=settings.first_token_timeout,
            total_timeout=settings.total_timeout,
        ),
    )
    return partial(OpenAIChatLLM, client)


# --------------------------------------------------------------------------- ElevenLabs


@section(
    "elevenlabs",
    title="ElevenLabs (text to speech)",
    intro="Read when `--agent assistant` and `SIPGW_TTS=elevenlabs`.",
)
@dataclass(frozen=True)
class ElevenLabsSection:
    """ElevenLabs' streaming text-to-speech."""

    api_key: str = setting(
        "", env="ELEVENLABS_API_KEY", parse=text, required=True, secret=True,
        help="ElevenLabs API key (required).",
    )  # fmt: skip
    voice_id: str = setting(
        "21m00Tcm4TlvDq8ikWAM", env="ELEVENLABS_VOICE_ID", parse=text,
        help="Voice to speak with.",
    )  # fmt: skip
    model_id: str = setting(
        "eleven_flash_v2_5", env="ELEVENLABS_MODEL_ID", parse=text,
        help="TTS model (flash: ~75 ms inference).",
    )  # fmt: skip
    base_url: str = setting(
        "https://api.elevenlabs.io", env="ELEVENLABS_BASE_URL", parse=text,
        help="API base URL (regions: https://api.us.elevenlabs.io, "
        "https://api.eu.residency.elevenlabs.io).",
    )  # fmt: skip
    transport: str = setting(
        "websocket", env="ELEVENLABS_TRANSPORT", parse=choice("websocket", "http"),
        help="websocket (one multi-context socket per call, opened while ringing) or http (one "
        "streaming request per sentence).",
    )  # fmt: skip
    auto_mode: bool = setting(
        True, env="ELEVENLABS_AUTO_MODE", parse=true_false, default_text="true",
        help="true: ask the WebSocket for auto_mode, which ElevenLabs recommends when whole "
        "sentences are sent (as the assistant does): each starts at once instead of waiting "
        "for the chunk schedule.",
    )  # fmt: skip


def _elevenlabs(settings: ElevenLabsSection) -> Callable[[], TextToSpeech]:
    from agent.tts.elevenlabs import ElevenLabsSettings, ElevenLabsTTSService

    client = _checked(
        "ElevenLabs (text to speech)",
        lambda: ElevenLabsSettings(
            api_key=settings.api_key,
            voice_id=settings.voice_id,
            base_url=settings.base_url.rstrip("/"),
            model_id=settings.model_id,
            transport=settings.transport,
            auto_mode=settings.auto_mode,
        ),
    )
    return partial(ElevenLabsTTSService, client)


# --------------------------------------------------------------------------- the tables

STT_VENDORS: Mapping[str, Vendor[Any, SpeechToText]] = {
    "assemblyai": Vendor(
        "assemblyai",
        AssemblyAISection,
        _assemblyai,
        line_keys={"keyterms": "keyterms", "language": "language"},
    ),
}
"""Speech-to-text vendors; the first is ``SIPGW_STT``'s default."""
LLM_VENDORS: Mapping[str, Vendor[Any, ChatLLM]] = {
    "openai": Vendor("openai", OpenAISection, _openai),
}
"""Chat model vendors; the first is ``SIPGW_LLM``'s default."""
TTS_VENDORS: Mapping[str, Vendor[Any, TextToSpeech]] = {
    "elevenlabs": Vendor(
        "elevenlabs", ElevenLabsSection, _elevenlabs, line_keys={"voice": "voice_id"}
    ),
}
"""Text-to-speech vendors; the first is ``SIPGW_TTS``'s default."""
