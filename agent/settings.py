"""Typed settings of the assistant agent (the app layer fills them in from its registry)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.llm.openai import OpenAISettings
from agent.stt.assemblyai import AssemblyAISettings
from agent.tts.elevenlabs import ElevenLabsSettings
from media.vad import VadConfig

__all__ = [
    "DEFAULT_GREETING",
    "DEFAULT_SYSTEM_PROMPT",
    "AssistantSettings",
    "BargeInSettings",
]

DEFAULT_SYSTEM_PROMPT = """\
You are the voice assistant of a small online shop, speaking with a caller on the phone.
Keep every answer short: one or two sentences, plain words, no lists, no markdown, no emoji.
Say numbers the way people say them on the phone. You can look up an order's status, schedule
a callback, transfer the caller to a human, and end the call. When the caller says goodbye or
has nothing more, say a short goodbye and end the call. If you could not understand, ask the
caller to repeat. Keypad input arrives as text in square brackets."""

DEFAULT_GREETING = "Hello, thanks for calling. How can I help you today?"


@dataclass(frozen=True, slots=True)
class BargeInSettings:
    """When caller speech interrupts the agent (see agent/assistant.py).

    Attributes:
        commit_ms: speech that cancels the reply.
        min_words: words in a partial transcript that cancel the reply.
        vad: the detector; its ``start_ms`` is what pauses the agent's audio.
    """

    commit_ms: int = 600
    min_words: int = 2
    vad: VadConfig = VadConfig(start_ms=60, hangover_ms=300)


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Everything an assistant call needs, resolved."""

    stt: AssemblyAISettings
    llm: OpenAISettings
    tts: ElevenLabsSettings
    system_prompt: str
    greeting: str
    fallback_phrase: str
    tools_module: str
    record_dir: Path | None
    max_tool_rounds: int
    barge_in: BargeInSettings
    dtmf_timeout: float
    env: Mapping[str, str]
