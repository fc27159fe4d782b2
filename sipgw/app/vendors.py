"""The vendor registry: which STT, LLM and TTS services the assistant can use.

One line per vendor: its name (the value of ``SIPGW_STT``, ``SIPGW_LLM`` or
``SIPGW_TTS``), its section of the settings registry, how its typed settings
are built from the registry's values, and how its client is built from them.

Adding a vendor: its client in one new file under ``agent/stt``, ``agent/llm``
or ``agent/tts``, implementing :class:`~agent.stt.base.SpeechToText`,
:class:`~agent.llm.base.ChatLLM` or :class:`~agent.tts.base.TextToSpeech`; its
settings as a section in :mod:`sipgw.app.settings_registry` (with its name in
``STT_NAMES``, ``LLM_NAMES`` or ``TTS_NAMES``); a settings builder and one line
here. The assistant never names a vendor: :mod:`sipgw.app.agents` builds one
LLM client for all calls and hands each call factories for its own STT and TTS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agent.llm.base import ChatLLM
from agent.llm.openai import OpenAIChatLLM, OpenAISettings
from agent.stt.assemblyai import REGION_URLS, AssemblyAISettings, AssemblyAISTTService
from agent.stt.base import SpeechToText
from agent.tts.base import TextToSpeech
from agent.tts.elevenlabs import ElevenLabsSettings, ElevenLabsTTSService
from sipgw.app.settings import ConfigError, Section, SettingValues
from sipgw.app.settings_registry import ASSEMBLYAI, ELEVENLABS, OPENAI

__all__ = [
    "LLM_VENDORS",
    "STT_VENDORS",
    "TTS_VENDORS",
    "Vendor",
    "VendorChoice",
    "choose_vendors",
]

SettingsT = TypeVar("SettingsT")
ClientT = TypeVar("ClientT")


@dataclass(frozen=True, slots=True)
class Vendor(Generic[SettingsT, ClientT]):
    """One vendor: its settings section, typed settings and client."""

    name: str
    """The value that picks it (``SIPGW_STT=assemblyai``)."""
    section: Section
    """Its rows in the settings registry (required keys are checked from these)."""
    settings: Callable[[SettingValues], SettingsT]
    """Builds its typed settings from the registry's values; raises ConfigError."""
    client: Callable[[SettingsT], ClientT]
    """Builds its client from the typed settings (no network traffic)."""


def _built(section: Section, build: Callable[[], SettingsT]) -> SettingsT:
    """Run a settings dataclass's own checks; their ValueError names the section."""
    try:
        return build()
    except ValueError as exc:
        raise ConfigError(f"{section.title}: {exc}") from None


def assemblyai_settings(v: SettingValues) -> AssemblyAISettings:
    """``ASSEMBLYAI_*`` to :class:`AssemblyAISettings`."""
    keyterms = tuple(t.strip() for t in v["ASSEMBLYAI_KEYTERMS"].split(",") if t.strip())
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


def openai_settings(v: SettingValues) -> OpenAISettings:
    """``OPENAI_*`` to :class:`OpenAISettings`."""
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


def elevenlabs_settings(v: SettingValues) -> ElevenLabsSettings:
    """``ELEVENLABS_*`` to :class:`ElevenLabsSettings`."""
    return _built(
        ELEVENLABS,
        lambda: ElevenLabsSettings(
            api_key=v["ELEVENLABS_API_KEY"],
            voice_id=v["ELEVENLABS_VOICE_ID"],
            base_url=v["ELEVENLABS_BASE_URL"].rstrip("/"),
            model_id=v["ELEVENLABS_MODEL_ID"],
            transport=v["ELEVENLABS_TRANSPORT"],
        ),
    )


# Each table's settings type differs per vendor (Any); the clients share a contract.
STT_VENDORS: Mapping[str, Vendor[Any, SpeechToText]] = {
    "assemblyai": Vendor("assemblyai", ASSEMBLYAI, assemblyai_settings, AssemblyAISTTService),
}
LLM_VENDORS: Mapping[str, Vendor[Any, ChatLLM]] = {
    "openai": Vendor("openai", OPENAI, openai_settings, OpenAIChatLLM),
}
TTS_VENDORS: Mapping[str, Vendor[Any, TextToSpeech]] = {
    "elevenlabs": Vendor("elevenlabs", ELEVENLABS, elevenlabs_settings, ElevenLabsTTSService),
}


@dataclass(frozen=True, slots=True)
class VendorChoice:
    """The three vendors ``SIPGW_STT``, ``SIPGW_LLM`` and ``SIPGW_TTS`` picked."""

    stt: Vendor[Any, SpeechToText]
    llm: Vendor[Any, ChatLLM]
    tts: Vendor[Any, TextToSpeech]

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
