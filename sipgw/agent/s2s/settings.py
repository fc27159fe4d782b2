"""The speech-to-speech agents' own settings sections (``--agent voice-agent``, ``realtime``).

Read when their agent answers (:mod:`sipgw.agent.s2s.plugin`), beside the assistant's
sections for everything that is not the vendor's. Each value is checked as it is read:
the vendor clients' own rules (a voice in lower case, a chunk size in whole frames, a
base URL that makes a WebSocket URL) are the parsers' here, so a bad value stops
``sipgw serve`` naming its variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import choice, float_range, int_range, or_empty, text

__all__ = ["HANDOVER_FORMATS", "RealtimeSection", "S2sSection", "VoiceAgentSection"]


def _chunk_ms(value: str) -> int:
    """Caller audio per message: a multiple of 20 ms, 20..1000."""
    ms = int_range(20, 1000)(value)
    if ms % 20:
        raise ValueError("must be a multiple of 20 (ms) from 20 to 1000")
    return ms


_optional_share = or_empty(
    float_range(0.0, 1.0), "must be a number from 0 to 1, or empty for the service's"
)
"""A threshold from 0 to 1, or empty for the service's default."""


def _voice_name(value: str) -> str:
    """A Voice Agent voice: its lower-case name, as the service spells them."""
    name = value.strip()
    if not name or name != name.lower():
        raise ValueError("must be a voice name in lower case, e.g. ivy or claire")
    return name


def _ws_url(value: str) -> str:
    """A ws:// or wss:// URL."""
    url = value.strip()
    if not url.startswith(("ws://", "wss://")) or len(url.split("//", 1)[1]) < 1:
        raise ValueError("must be a ws:// or wss:// URL")
    return url


def _base_url(value: str) -> str:
    """An http(s) or ws(s) base URL (``/realtime`` is appended)."""
    from sipgw.agent.services.openai.realtime import RealtimeSettings, realtime_url

    url = value.strip().rstrip("/")
    try:
        realtime_url(RealtimeSettings(base_url=url))
    except ValueError:
        raise ValueError("must be an http(s):// or ws(s):// URL with a host") from None
    return url


_optional_tokens = or_empty(
    int_range(1, 1_000_000), "must be a whole number from 1, or empty for the model's maximum"
)


@section(
    "voice_agent",
    title="AssemblyAI Voice Agent (speech to speech)",
    intro="Read when `--agent voice-agent`; the key is `ASSEMBLYAI_API_KEY` (docs/"
    "speech-to-speech.md).",
)
@dataclass(frozen=True)
class VoiceAgentSection:
    """AssemblyAI's Voice Agent API."""

    url: str = setting(
        "wss://agents.assemblyai.com/v1/ws", env="ASSEMBLYAI_VOICE_AGENT_URL", parse=_ws_url,
        help="The Voice Agent API's WebSocket endpoint (a proxy, a test fake).",
    )  # fmt: skip
    voice: str = setting(
        "ivy", env="ASSEMBLYAI_VOICE_AGENT_VOICE", parse=_voice_name,
        help="The agent's voice, lower case as the service names it (ivy, claire, dawn ...).",
    )  # fmt: skip
    vad_threshold: float | None = setting(
        None, env="ASSEMBLYAI_VOICE_AGENT_VAD_THRESHOLD", parse=_optional_share,
        help="The service's speech detection threshold, 0 to 1; empty = the service's default.",
    )  # fmt: skip
    chunk_ms: int = setting(
        20, env="ASSEMBLYAI_VOICE_AGENT_CHUNK_MS", parse=_chunk_ms,
        help="Caller audio per message, ms (a multiple of 20): larger means fewer messages and "
        "up to that much later end of turn at the service.",
    )  # fmt: skip


@section(
    "realtime",
    title="OpenAI Realtime (speech to speech)",
    intro="Read when `--agent realtime`; the key is `OPENAI_API_KEY` (docs/speech-to-speech.md).",
)
@dataclass(frozen=True)
class RealtimeSection:
    """OpenAI's Realtime API over WebSocket."""

    base_url: str = setting(
        "https://api.openai.com/v1", env="OPENAI_REALTIME_BASE_URL", parse=_base_url,
        help="The API base: /realtime?model= is appended, http(s) becomes ws(s) (any "
        "Realtime-compatible server).",
    )  # fmt: skip
    model: str = setting(
        "gpt-realtime-2.1", env="OPENAI_REALTIME_MODEL", parse=text,
        help="The Realtime model.",
    )  # fmt: skip
    voice: str = setting("marin", env="OPENAI_REALTIME_VOICE", parse=text, help="The voice.")
    turn_detection: str = setting(
        "server_vad", env="OPENAI_REALTIME_TURN_DETECTION",
        parse=choice("server_vad", "semantic_vad", "local"),
        help="Who ends the caller's turn: server_vad, semantic_vad (the server), or local (our "
        "voice-activity detector and OPENAI_REALTIME_SILENCE_MS).",
    )  # fmt: skip
    noise_reduction: str = setting(
        "off", env="OPENAI_REALTIME_NOISE_REDUCTION",
        parse=choice("off", "near_field", "far_field"),
        help="The Realtime API's own noise reduction of the caller's audio, before its turn "
        "detection and the model (session.audio.input.noise_reduction): near_field (a handset "
        "or headset), far_field (a speakerphone), or off (not asked for). It works on the "
        "session's audio, 24 kHz on HD-voice calls too; SIPGW_NOISE_SUPPRESSION is the "
        "gateway's own (RNNoise, before our voice detector).",
    )  # fmt: skip
    silence_ms: int = setting(
        500, env="OPENAI_REALTIME_SILENCE_MS", parse=int_range(100, 10000),
        help="Caller silence (ms) that ends a turn (server VAD's silence_duration_ms; ours with "
        "local).",
    )  # fmt: skip
    preemptive_ms: int = setting(
        0, env="OPENAI_REALTIME_PREEMPTIVE_MS", parse=int_range(0, 9980),
        help="With local turn-taking: caller silence (ms) after which the reply starts before "
        "the end of turn, its audio held until OPENAI_REALTIME_SILENCE_MS is reached and "
        "dropped (cancelled, taken out of the context) if the caller goes on; 0 = off. At least "
        "100 and below OPENAI_REALTIME_SILENCE_MS (docs/speech-to-speech.md).",
    )  # fmt: skip
    vad_threshold: float | None = setting(
        None, env="OPENAI_REALTIME_VAD_THRESHOLD", parse=_optional_share,
        help="Server VAD's activation threshold, 0 to 1; empty = the server's default.",
    )  # fmt: skip
    eagerness: str = setting(
        "auto", env="OPENAI_REALTIME_EAGERNESS", parse=choice("low", "medium", "high", "auto"),
        help="Semantic VAD's eagerness: low, medium, high or auto.",
    )  # fmt: skip
    transcription_model: str = setting(
        "gpt-4o-mini-transcribe", env="OPENAI_REALTIME_TRANSCRIPTION_MODEL", parse=text,
        help="Transcribes the caller for the call record; empty = no caller transcripts.",
    )  # fmt: skip
    max_output_tokens: int | None = setting(
        None, env="OPENAI_REALTIME_MAX_OUTPUT_TOKENS", parse=_optional_tokens,
        help="Tokens per response at most; empty = the model's maximum.",
    )  # fmt: skip
    chunk_ms: int = setting(
        20, env="OPENAI_REALTIME_CHUNK_MS", parse=_chunk_ms,
        help="Caller audio per input_audio_buffer.append, ms (a multiple of 20).",
    )  # fmt: skip


HANDOVER_FORMATS = ("best", "keep")
"""``SIPGW_S2S_HANDOVER_FORMAT``'s values."""


@section(
    "s2s",
    title="Speech to speech (both services)",
    intro="Read when `--agent voice-agent` or `--agent realtime` (docs/speech-to-speech.md).",
)
@dataclass(frozen=True)
class S2sSection:
    """What both speech-to-speech agents read."""

    handover_format: str = setting(
        "best", env="SIPGW_S2S_HANDOVER_FORMAT", parse=choice(*HANDOVER_FORMATS),
        help="An HD-voice call (G.722, Opus) handed over to a speech-to-speech line: best = "
        "its session opens at 24 kHz whatever the handing agent took (the caller keeps the "
        "wideband audio); keep = in the handing agent's format when the session carries it "
        "(8 kHz μ-law from a μ-law assistant: no resampling at the switch).",
    )  # fmt: skip
