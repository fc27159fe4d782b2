"""ElevenLabs' settings section and how its text-to-speech clients are made from it.

:class:`ElevenLabsSection` is the ``[elevenlabs]`` table (``ELEVENLABS_*``);
:func:`elevenlabs_clients` turns a loaded one into the client's own settings
(:class:`~sipgw.agent.services.elevenlabs.tts.ElevenLabsSettings`, checked once, at start);
:func:`elevenlabs_voiced` makes clients whose voice is chosen per request. The registry
(:mod:`sipgw.agent.services.registry`) lists it. The client's module is imported only when a
client is made, never when the section is read: the CLI stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sipgw.foundation.settings import build_checked, section, setting
from sipgw.foundation.settings.parsers import choice, int_range, text, true_false

if TYPE_CHECKING:
    from sipgw.agent.services.elevenlabs.tts import ElevenLabsSettings
    from sipgw.agent.services.tts.base import TextToSpeech, TunedVoice

__all__ = ["ElevenLabsSection", "elevenlabs_clients", "elevenlabs_voiced"]


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


def elevenlabs_clients(
    settings: ElevenLabsSection, wideband: bool = False
) -> Callable[[], TextToSpeech]:
    """A maker of ElevenLabs clients for ``settings`` (no network traffic); ``wideband``:
    for HD-voice calls, 16 kHz PCM played as it comes.

    Raises:
        ConfigError: the client's settings refuse the values.
    """
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

    return build_checked(
        ElevenLabsSection,
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
