"""The vendor registry: which STT, LLM and TTS services the assistant can use.

One entry per vendor, in :data:`STT_VENDORS`, :data:`LLM_VENDORS` or
:data:`TTS_VENDORS`: its name (the value of ``SIPGW_STT``, ``SIPGW_LLM`` or
``SIPGW_TTS``), its settings section (environment variables, defaults, help:
the registry of :mod:`sipgw.app.settings_registry` takes it from here, and so do
the CLI checks, ``.env.example`` and ``docs/configuration.md``), how its typed
settings are built from those values, and how its client is built from them.

Adding a vendor: its client in one new file under ``agent/stt``, ``agent/llm``
or ``agent/tts``, implementing :class:`~agent.stt.base.SpeechToText`,
:class:`~agent.llm.base.ChatLLM` or :class:`~agent.tts.base.TextToSpeech`, and
its entry here. The assistant never names a vendor: :mod:`sipgw.app.agents`
builds one LLM client for all calls and hands each call factories for its own
STT and TTS.

A vendor's module (and its SDK) is imported only when its settings or client
are built, never when this table is read: the CLI and the health check read the
registry at start and stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sipgw.app.settings import ConfigError, Section, Setting, SettingValues, choice, positive

if TYPE_CHECKING:
    from agent.llm.base import ChatLLM
    from agent.stt.base import SpeechToText
    from agent.tts.base import TextToSpeech

__all__ = [
    "LLM_VENDORS",
    "STT_VENDORS",
    "TTS_VENDORS",
    "Vendor",
    "VendorChoice",
    "choose_vendors",
]

ClientT = TypeVar("ClientT")


@dataclass(frozen=True, slots=True)
class Vendor(Generic[ClientT]):
    """One vendor: its settings section, typed settings and client."""

    name: str
    """The value that picks it (``SIPGW_STT=assemblyai``)."""
    section: Section
    """Its rows in the settings registry (required keys are checked from these)."""
    settings: Callable[[SettingValues], Any]
    """Builds its typed settings from the registry's values; raises ConfigError."""
    client: Callable[[Any], ClientT]
    """Builds its client from those settings (no network traffic)."""


def _built(section: Section, build: Callable[[], Any]) -> Any:
    """Run a settings dataclass's own checks; their ValueError names the section."""
    try:
        return build()
    except ValueError as exc:
        raise ConfigError(f"{section.title}: {exc}") from None


def _optional_ms(value: str) -> int | None:
    return None if value.strip() == "" else int(value)


def _chunk_ms(value: str) -> int:
    number = int(value)
    if not 50 <= number <= 1000:
        raise ValueError("must be 50..1000 (the API closes the session otherwise)")
    return number


# --------------------------------------------------------------------------- AssemblyAI

ASSEMBLYAI = Section(
    "assemblyai",
    "AssemblyAI (speech to text)",
    "Read when `--agent assistant` and `SIPGW_STT=assemblyai`.",
    (
        Setting("ASSEMBLYAI_API_KEY", "", "AssemblyAI API key (required).", required=True,
                secret=True),
        Setting("ASSEMBLYAI_REGION", "default", "default, us or eu: which AssemblyAI streaming "
                "endpoint.", choice("default", "us", "eu")),
        Setting("ASSEMBLYAI_STREAMING_URL", "", "Overrides the region's wss:// URL (a proxy, a "
                "test fake)."),
        Setting("ASSEMBLYAI_KEYTERMS", "", "Comma-separated words to boost (product names, "
                "...): at most 100 terms of at most 50 characters each."),
        Setting("ASSEMBLYAI_PROMPT", "", "Context for Universal-3 Pro (beta); empty = none."),
        Setting("ASSEMBLYAI_MIN_TURN_SILENCE", "", "Silence (ms) before the model checks for "
                "an end of turn; empty = server default (100).", _optional_ms),
        Setting("ASSEMBLYAI_MAX_TURN_SILENCE", "", "Silence (ms) that always ends a turn; "
                "empty = server default (1000).", _optional_ms),
        Setting("ASSEMBLYAI_CHUNK_MS", "100", "Audio per message to AssemblyAI (50..1000 ms) "
                "while the caller talks; for 1.5 s after the caller stops talking, chunks are "
                "50 ms so the turn ends sooner, and once the turn has ended and the caller "
                "stays quiet, 250 ms (fewer messages).", _chunk_ms),
    ),
)  # fmt: skip


def _assemblyai_settings(v: SettingValues) -> Any:
    from agent.stt.assemblyai import REGION_URLS, AssemblyAISettings, check_keyterms

    keyterms = tuple(t.strip() for t in v["ASSEMBLYAI_KEYTERMS"].split(",") if t.strip())
    try:
        check_keyterms(keyterms)
    except ValueError as exc:
        raise ConfigError(f"ASSEMBLYAI_KEYTERMS: {exc}") from None
    return _built(
        ASSEMBLYAI,
        lambda: AssemblyAISettings(
            api_key=v["ASSEMBLYAI_API_KEY"],
            url=v["ASSEMBLYAI_STREAMING_URL"] or REGION_URLS[v["ASSEMBLYAI_REGION"]],
            keyterms_prompt=keyterms,
            prompt=v["ASSEMBLYAI_PROMPT"] or None,
            min_turn_silence=v["ASSEMBLYAI_MIN_TURN_SILENCE"],
            max_turn_silence=v["ASSEMBLYAI_MAX_TURN_SILENCE"],
            chunk_ms=v["ASSEMBLYAI_CHUNK_MS"],
        ),
    )


def _assemblyai_client(settings: Any) -> SpeechToText:
    from agent.stt.assemblyai import AssemblyAISTTService

    return AssemblyAISTTService(settings)


# --------------------------------------------------------------------------- OpenAI

OPENAI = Section(
    "openai",
    "OpenAI (chat model)",
    "Read when `--agent assistant` and `SIPGW_LLM=openai`; any OpenAI-compatible server works.",
    (
        Setting("OPENAI_API_KEY", "", "OpenAI API key (required; any value for a server that "
                "needs none).", required=True, secret=True),
        Setting("OPENAI_BASE_URL", "", "An OpenAI-compatible server's URL, e.g. "
                "http://127.0.0.1:11434/v1; empty = OpenAI."),
        Setting("OPENAI_MODEL", "gpt-4.1-mini", "Chat model."),
        Setting("OPENAI_FIRST_TOKEN_TIMEOUT", "5", "Seconds to wait for the LLM's first token "
                "before the fallback phrase.", positive),
        Setting("OPENAI_TOTAL_TIMEOUT", "20", "Seconds one LLM response may take in all.",
                positive),
    ),
)  # fmt: skip


def _openai_settings(v: SettingValues) -> Any:
    from agent.llm.openai import OpenAISettings

    return _built(
        OPENAI,
        lambda: OpenAISettings(
            api_key=v["OPENAI_API_KEY"],
            model=v["OPENAI_MODEL"],
            base_url=v["OPENAI_BASE_URL"] or None,
            first_token_timeout=v["OPENAI_FIRST_TOKEN_TIMEOUT"],
            total_timeout=v["OPENAI_TOTAL_TIMEOUT"],
        ),
    )


def _openai_client(settings: Any) -> ChatLLM:
    from agent.llm.openai import OpenAIChatLLM

    return OpenAIChatLLM(settings)


# --------------------------------------------------------------------------- ElevenLabs

ELEVENLABS = Section(
    "elevenlabs",
    "ElevenLabs (text to speech)",
    "Read when `--agent assistant` and `SIPGW_TTS=elevenlabs`.",
    (
        Setting("ELEVENLABS_API_KEY", "", "ElevenLabs API key (required).", required=True,
                secret=True),
        Setting("ELEVENLABS_VOICE_ID", "21m00Tcm4TlvDq8ikWAM", "Voice to speak with."),
        Setting("ELEVENLABS_MODEL_ID", "eleven_flash_v2_5", "TTS model (flash: ~75 ms "
                "inference)."),
        Setting("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io", "API base URL (regions: "
                "https://api.us.elevenlabs.io, https://api.eu.residency.elevenlabs.io)."),
        Setting("ELEVENLABS_TRANSPORT", "websocket", "websocket (one multi-context socket per "
                "call, opened while ringing) or http (one streaming request per sentence).",
                choice("websocket", "http")),
        Setting("ELEVENLABS_AUTO_MODE", "true", "true: ask the WebSocket for auto_mode, which "
                "ElevenLabs recommends when whole sentences are sent (as the assistant does): "
                "each starts at once instead of waiting for the chunk schedule.",
                choice("true", "false")),
    ),
)  # fmt: skip


def _elevenlabs_settings(v: SettingValues) -> Any:
    from agent.tts.elevenlabs import ElevenLabsSettings

    return _built(
        ELEVENLABS,
        lambda: ElevenLabsSettings(
            api_key=v["ELEVENLABS_API_KEY"],
            voice_id=v["ELEVENLABS_VOICE_ID"],
            base_url=v["ELEVENLABS_BASE_URL"].rstrip("/"),
            model_id=v["ELEVENLABS_MODEL_ID"],
            transport=v["ELEVENLABS_TRANSPORT"],
            auto_mode=v["ELEVENLABS_AUTO_MODE"] == "true",
        ),
    )


def _elevenlabs_client(settings: Any) -> TextToSpeech:
    from agent.tts.elevenlabs import ElevenLabsTTSService

    return ElevenLabsTTSService(settings)


# --------------------------------------------------------------------------- the tables

STT_VENDORS: Mapping[str, Vendor[SpeechToText]] = {
    "assemblyai": Vendor("assemblyai", ASSEMBLYAI, _assemblyai_settings, _assemblyai_client),
}
"""Speech-to-text vendors; the first is ``SIPGW_STT``'s default."""
LLM_VENDORS: Mapping[str, Vendor[ChatLLM]] = {
    "openai": Vendor("openai", OPENAI, _openai_settings, _openai_client),
}
"""Chat model vendors; the first is ``SIPGW_LLM``'s default."""
TTS_VENDORS: Mapping[str, Vendor[TextToSpeech]] = {
    "elevenlabs": Vendor("elevenlabs", ELEVENLABS, _elevenlabs_settings, _elevenlabs_client),
}
"""Text-to-speech vendors; the first is ``SIPGW_TTS``'s default."""


@dataclass(frozen=True, slots=True)
class VendorChoice:
    """The three vendors ``SIPGW_STT``, ``SIPGW_LLM`` and ``SIPGW_TTS`` picked."""

    stt: Vendor[SpeechToText]
    llm: Vendor[ChatLLM]
    tts: Vendor[TextToSpeech]

    @property
    def sections(self) -> tuple[Section, ...]:
        """Their settings sections."""
        return (self.stt.section, self.llm.section, self.tts.section)


def choose_vendors(values: SettingValues) -> VendorChoice:
    """The vendors the settings pick.

    Raises:
        ConfigError: a name is not one of the registered vendors.
    """
    return VendorChoice(
        stt=STT_VENDORS[values["SIPGW_STT"]],
        llm=LLM_VENDORS[values["SIPGW_LLM"]],
        tts=TTS_VENDORS[values["SIPGW_TTS"]],
    )
