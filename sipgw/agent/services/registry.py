"""The vendor registry: which STT, LLM and TTS services the assistant can use.

One :class:`Vendor` per service, in :data:`STT_VENDORS`, :data:`LLM_VENDORS` or
:data:`TTS_VENDORS`: its name (the value of ``SIPGW_STT``, ``SIPGW_LLM`` or
``SIPGW_TTS``), its settings section (a frozen dataclass of
:func:`~sipgw.foundation.settings.setting` fields: the CLI checks, ``.env.example`` and
``docs/configuration.md`` take it from there), and a function from that section to a
maker of the vendor's clients: it builds (and so checks) the client's own typed settings
once, at start, with code mypy checks.

Adding a vendor: its client in one new file under ``agent/stt``, ``agent/llm`` or
``agent/tts``, implementing :class:`~sipgw.agent.services.stt.base.SpeechToText`,
:class:`~sipgw.agent.services.llm.base.ChatLLM` or
:class:`~sipgw.agent.services.tts.base.TextToSpeech`; here its
section, its client function and its entry; the catalogue (:mod:`sipgw.app.sections`)
takes every registered vendor's section from these tables, so it is not listed there. The
assistant never names a vendor:
:mod:`sipgw.agent.assistant.plugin` builds one LLM client for all calls and hands each
call factories for its own STT and TTS.

A vendor's module (and its SDK) is imported only when its client is built, never when
this table or a section is read: the CLI and the health check stay fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sipgw.foundation.settings import ConfigError, section, setting
from sipgw.foundation.settings.parsers import (
    choice,
    comma_list,
    int_range,
    non_negative,
    on_off,
    or_empty,
    positive,
    text,
    true_false,
)

if TYPE_CHECKING:
    from sipgw.agent.services.elevenlabs.tts import ElevenLabsSettings
    from sipgw.agent.services.llm.base import ChatLLM
    from sipgw.agent.services.stt.base import SpeechToText
    from sipgw.agent.services.tts.base import TextToSpeech, TunedVoice

__all__ = [
    "LLM_VENDORS",
    "STT_VENDORS",
    "TTS_VENDORS",
    "AssemblyAISection",
    "ElevenLabsSection",
    "OpenAISection",
    "Vendor",
    "assemblyai_spoken",
    "elevenlabs_voiced",
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
    voice: Callable[[SectionT], tuple[str, str]] | None = None
    """A text-to-speech vendor's voice and model in the loaded section: the fallback lines
    are cached per voice (agent/resilience/line_cache.py)."""
    line_keys: Mapping[str, str] = field(default_factory=dict)
    """A routes file line's key -> the field of :attr:`section` it sets (``voice`` ->
    ``voice_id``): what a line may change of this vendor by name (docs/lines.md)."""
    backlog_ms: Callable[[SectionT], int] | None = None
    """A speech-to-text vendor's backlog in the loaded section: how much of the caller's
    audio its client keeps while the service is down (checked against the failure policy)."""
    wideband: Callable[[SectionT], Callable[[], ClientT]] | None = None
    """For HD-voice calls (docs/hd-voice.md): a speech-to-text vendor's clients that take
    16 kHz s16le audio, a text-to-speech vendor's whose replies speak it; None: its calls
    hear, or speak, 8 kHz μ-law whatever the codec."""


def _checked(title: str, build: Callable[[], SettingsT]) -> SettingsT:
    """Build a client's settings; their checks' ValueError names the section."""
    try:
        return build()
    except ValueError as exc:
        raise ConfigError(f"{title}: {exc}") from None


_optional_ms = or_empty(
    int_range(0, 60000), "must be a whole number of ms from 0 to 60000, or empty"
)


def _optional_on_off(value: str) -> bool | None:
    if not value.strip():
        return None
    try:
        return on_off(value)
    except ValueError:
        raise ValueError("must be on, off, or empty for the server's default") from None


# --------------------------------------------------------------------------- AssemblyAI


def _keyterms(value: str) -> tuple[str, ...]:
    from sipgw.agent.services.assemblyai.stt_options import check_keyterms

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
    intro="Read when `--agent assistant` and `SIPGW_STT=assemblyai`; its key also when "
    "`--agent voice-agent`.",
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
    interruption_delay: int | None = setting(
        None, env="ASSEMBLYAI_INTERRUPTION_DELAY",
        parse=or_empty(int_range(0, 1000), "must be a whole number of ms from 0 to 1000, or empty"),
        help="Universal-3 Pro: when the early partial transcript comes during continuous speech "
        "(the server adds at least 300 ms: 0 gives ~300 ms, 500 ~800 ms); empty = server "
        "default (500).",
    )  # fmt: skip
    continuous_partials: bool | None = setting(
        None, env="ASSEMBLYAI_CONTINUOUS_PARTIALS",
        parse=_optional_on_off,
        help="Universal-3 Pro: on = a partial transcript about every 3 s while the caller "
        "keeps talking; empty = on, sent as such (the server's own default changed during "
        "2026). Answering-machine detection reads a long greeting's words in them: off, fewer "
        "machines are known by 4 s.",
    )  # fmt: skip
    max_backlog_ms: int = setting(
        30000, env="ASSEMBLYAI_MAX_BACKLOG_MS", parse=int_range(0, 600000),
        help="Caller audio (ms) kept while the session reconnects and sent when it is back; "
        "older audio is dropped (and counted). Keep it above SIPGW_STT_GIVE_UP_AFTER_MS, so "
        "nothing the caller says before the call moves on is lost (the start warns if not).",
    )  # fmt: skip
    chunk_ms: int = setting(
        100, env="ASSEMBLYAI_CHUNK_MS", parse=int_range(50, 1000),
        help="Audio per message to AssemblyAI (50..1000 ms) while the caller talks; for 1.5 s "
        "after the caller stops talking, chunks are 50 ms so the turn ends sooner, and once "
        "the turn has ended and the caller stays quiet, 250 ms (fewer messages).",
    )  # fmt: skip


def _assemblyai(settings: AssemblyAISection, wideband: bool = False) -> Callable[[], SpeechToText]:
    from sipgw.agent.services.assemblyai.stt import AssemblyAISTTService
    from sipgw.agent.services.assemblyai.stt_options import (
        REGION_URLS,
        U3_FAMILY,
        AssemblyAISettings,
        speech_model_for,
    )

    model = speech_model_for(settings.language)
    continuous = settings.continuous_partials
    if continuous is None and model in U3_FAMILY:
        # Pinned, not left to the server: its default went from off to on during 2026
        # (docs/cloud-apis.md), and detection reads a long greeting's words in them.
        continuous = True
    client = _checked(
        "AssemblyAI (speech to text)",
        lambda: AssemblyAISettings(
            api_key=settings.api_key,
            url=settings.streaming_url or REGION_URLS[settings.region],
            speech_model=model,
            keyterms_prompt=settings.keyterms,
            prompt=settings.prompt or None,
            min_turn_silence=settings.min_turn_silence,
            max_turn_silence=settings.max_turn_silence,
            interruption_delay=settings.interruption_delay,
            continuous_partials=continuous,
            chunk_ms=settings.chunk_ms,
            max_backlog_seconds=settings.max_backlog_ms / 1000,
        ),
    )
    if wideband:  # an HD-voice caller's 16 kHz, as it comes (the API takes pcm_s16le 16000)
        client = dataclasses.replace(client, encoding="pcm_s16le", sample_rate=16000)
    return partial(AssemblyAISTTService, client)


def assemblyai_spoken(settings: AssemblyAISection) -> Callable[[str], SpeechToText]:
    """AssemblyAI for callers speaking a language chosen per session (a ConversationRelay's
    ``transcriptionLanguage``: agent/twiml/relay/providers.py): its model chosen for that
    language as ``ASSEMBLYAI_LANGUAGE`` chooses it.

    Raises (from the maker):
        ValueError: not a language tag, or values the chosen model refuses.
    """

    def make(language: str) -> SpeechToText:
        code = _language(language.split("-", 1)[0])
        chosen = dataclasses.replace(settings, language=code)
        try:
            return _assemblyai(chosen)()
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    return make


# --------------------------------------------------------------------------- OpenAI


_SPOKEN_TOKENS: int | None = 300
_REASONING_TOKENS: int | None = 4096


_optional_tokens = or_empty(
    int_range(1, 1_000_000), "must be a whole number of tokens from 1, or empty"
)


def _reasoning_effort(value: str) -> str:
    from sipgw.agent.services.openai.chat import REASONING_EFFORTS

    effort = value.strip().lower()
    if effort and effort not in REASONING_EFFORTS:
        raise ValueError(f"must be one of {', '.join(sorted(REASONING_EFFORTS))}, or empty")
    return effort


def _capabilities(value: str) -> str:
    from sipgw.agent.services.openai.models import ModelCapabilities

    if value.strip():
        ModelCapabilities.parse(value)  # its ValueError says what is allowed
    return value.strip()


@section(
    "openai",
    title="OpenAI (chat model)",
    intro="Read when `--agent assistant` and `SIPGW_LLM=openai`; any OpenAI-compatible server "
    "works. Its key also when `--agent realtime`.",
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
    max_retries: int = setting(
        2, env="OPENAI_MAX_RETRIES", parse=int_range(0, 10),
        help="Retries of a failed request (a reset connection, a 429 with a short or no "
        "Retry-After, a 5xx) within the turn's budget; 0 = never.",
    )  # fmt: skip
    retry_budget: float = setting(
        2.0, env="OPENAI_RETRY_BUDGET", parse=non_negative,
        help="Seconds after a turn's first request within which a retry may still start; "
        "later, the caller hears the apology.",
    )  # fmt: skip
    retry_first_delay: float = setting(
        0.1, env="OPENAI_RETRY_FIRST_DELAY", parse=non_negative,
        help="Seconds before the first retry of a reset or a 5xx without Retry-After (doubling "
        "with each retry).",
    )  # fmt: skip
    max_retry_after: float = setting(
        1.0, env="OPENAI_MAX_RETRY_AFTER", parse=non_negative,
        help="A Retry-After longer than this (seconds) is not waited for: the apology instead.",
    )  # fmt: skip
    max_completion_tokens: int | None = setting(
        _SPOKEN_TOKENS, env="OPENAI_MAX_COMPLETION_TOKENS", parse=_optional_tokens,
        help="Tokens of one reply's spoken part at most; empty = the server's default.",
    )  # fmt: skip
    reasoning_token_allowance: int | None = setting(
        _REASONING_TOKENS, env="OPENAI_REASONING_TOKEN_ALLOWANCE", parse=_optional_tokens,
        help="Tokens a reasoning model (o-series, GPT-5) may spend thinking, added to the cap "
        "(its cap counts reasoning too); empty = no cap for reasoning models.",
    )  # fmt: skip
    reasoning_effort: str = setting(
        "low", env="OPENAI_REASONING_EFFORT", parse=_reasoning_effort,
        help="reasoning_effort sent to reasoning models (never to others): none, minimal, low, "
        "medium, high, xhigh or max; empty = the model's default.",
    )  # fmt: skip
    capabilities: str = setting(
        "", env="OPENAI_CAPABILITIES", parse=_capabilities,
        help="What the model accepts, for a server or deployment name the built-in table does "
        "not know: comma-separated max_completion_tokens, max_tokens or no_token_limit, and "
        "the flags parallel_tool_calls, temperature, reasoning_effort, reasoning (e.g. "
        "max_tokens,parallel_tool_calls,temperature); empty = by the model's family.",
    )  # fmt: skip


def _openai(settings: OpenAISection) -> Callable[[], ChatLLM]:
    from sipgw.agent.services.llm.retry import LlmRetrySettings
    from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings
    from sipgw.agent.services.openai.models import ModelCapabilities

    client = _checked(
        "OpenAI (chat model)",
        lambda: OpenAISettings(
            api_key=settings.api_key,
            model=settings.model,
            base_url=settings.base_url or None,
            first_token_timeout=settings.first_token_timeout,
            total_timeout=settings.total_timeout,
            max_completion_tokens=settings.max_completion_tokens,
            reasoning_token_allowance=settings.reasoning_token_allowance,
            reasoning_effort=settings.reasoning_effort or None,
            retry=LlmRetrySettings(
                attempts=settings.max_retries,
                budget=settings.retry_budget,
                first_delay=settings.retry_first_delay,
                max_retry_after=settings.max_retry_after,
            ),
            capabilities=(
                ModelCapabilities.parse(settings.capabilities) if settings.capabilities else None
            ),
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
    first_audio_timeout_ms: int = setting(
        3000, env="ELEVENLABS_FIRST_AUDIO_TIMEOUT_MS", parse=int_range(100, 60000),
        help="How long (ms) a reply's first audio may take after its last sentence was sent; "
        "then the reply fails and the caller hears the apology from memory, not dead air.",
    )  # fmt: skip
    auto_mode: bool = setting(
        True, env="ELEVENLABS_AUTO_MODE", parse=true_false, default_text="true",
        help="true: ask the WebSocket for auto_mode, which ElevenLabs recommends when whole "
        "sentences are sent (as the assistant does): each starts at once instead of waiting "
        "for the chunk schedule.",
    )  # fmt: skip


def _elevenlabs(settings: ElevenLabsSection, wideband: bool = False) -> Callable[[], TextToSpeech]:
    from sipgw.agent.services.elevenlabs.tts import ElevenLabsTTSService

    client = _elevenlabs_settings(settings)
    if wideband:  # an HD-voice call's 16 kHz, played as it comes (no resampling)
        client = dataclasses.replace(client, output_format="pcm_16000")
    return partial(ElevenLabsTTSService, client)


def elevenlabs_voiced(settings: ElevenLabsSection) -> TunedVoice:
    """ElevenLabs with a voice ID and a language code chosen per request (a TwiML
    ``<Say>``'s: agent/twiml/say.py), and for a ConversationRelay voice its model, voice
    settings and text normalization (agent/twiml/relay/providers.py); None keeps the
    configured one."""
    from sipgw.agent.services.elevenlabs.tts import ElevenLabsTTSService

    base = _elevenlabs_settings(settings)

    def make(
        voice_id: str | None,
        language_code: str | None,
        *,
        model_id: str | None = None,
        voice_settings: Mapping[str, float] | None = None,
        text_normalization: str | None = None,
    ) -> TextToSpeech:
        chosen = dataclasses.replace(
            base, voice_id=voice_id or base.voice_id, language_code=language_code,
            model_id=model_id or base.model_id,
            voice_settings={**(base.voice_settings or {}), **voice_settings}
            if voice_settings else base.voice_settings,
            text_normalization=text_normalization or base.text_normalization,
        )  # fmt: skip
        return ElevenLabsTTSService(chosen)

    return make


def _elevenlabs_settings(settings: ElevenLabsSection) -> ElevenLabsSettings:
    from sipgw.agent.services.elevenlabs.tts import ElevenLabsSettings

    return _checked(
        "ElevenLabs (text to speech)",
        lambda: ElevenLabsSettings(
            api_key=settings.api_key,
            voice_id=settings.voice_id,
            base_url=settings.base_url.rstrip("/"),
            model_id=settings.model_id,
            transport=settings.transport,
            auto_mode=settings.auto_mode,
            first_audio_timeout=settings.first_audio_timeout_ms / 1000,
        ),
    )


# --------------------------------------------------------------------------- the tables

STT_VENDORS: Mapping[str, Vendor[Any, SpeechToText]] = {
    "assemblyai": Vendor(
        "assemblyai",
        AssemblyAISection,
        _assemblyai,
        line_keys={"keyterms": "keyterms", "language": "language"},
        backlog_ms=lambda section: section.max_backlog_ms,
        wideband=partial(_assemblyai, wideband=True),
    ),
}
"""Speech-to-text vendors; the first is ``SIPGW_STT``'s default."""
LLM_VENDORS: Mapping[str, Vendor[Any, ChatLLM]] = {
    "openai": Vendor("openai", OpenAISection, _openai),
}
"""Chat model vendors; the first is ``SIPGW_LLM``'s default."""
TTS_VENDORS: Mapping[str, Vendor[Any, TextToSpeech]] = {
    "elevenlabs": Vendor(
        "elevenlabs",
        ElevenLabsSection,
        _elevenlabs,
        lambda s: (s.voice_id, s.model_id),
        line_keys={"voice": "voice_id"},
        wideband=partial(_elevenlabs, wideband=True),
    ),
}
"""Text-to-speech vendors; the first is ``SIPGW_TTS``'s default."""
