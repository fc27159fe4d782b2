"""``<Say voice language>`` through the configured text-to-speech (docs/twilio-apps.md).

Twilio's voices (``alice``, ``Polly.Joanna``, ``Google.en-US-Neural2-F``, ...) are not the
text-to-speech's: the operator maps those the app uses to its voice IDs
(``SIPGW_TWIML_SAY_VOICES``, :func:`say_voices`). ``language`` (``en-US``, ``fr-FR``) goes
as its primary subtag (``en``, ``fr``, ISO 639-1) to a model that takes one
(:data:`LANGUAGE_MODELS`). What cannot be honoured is said: :meth:`SayVoice.voiced` returns
it, the agent logs it and writes it in the call's record; the configured voice speaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sipgw.agent.services.tts.base import TextToSpeech, TunedVoice

__all__ = ["LANGUAGE_MODELS", "SayVoice", "say_voices"]

LANGUAGE_MODELS: Final = frozenset({"eleven_flash_v2_5", "eleven_turbo_v2_5"})
"""The ElevenLabs models that take a ``language_code`` (others refuse a request with one)."""
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}")
_VOICE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def say_voices(value: str) -> tuple[tuple[str, str], ...]:
    """``alice=21m00Tcm4TlvDq8ikWAM,Polly.Joanna=EXAVITQu4vr4xnSDxMaL``: Twilio's voice name
    (any case) -> the text-to-speech's voice ID, comma-separated."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, equals, voice_id = (text.strip() for text in item.partition("="))
        if not equals or not name or not _VOICE_ID.fullmatch(voice_id):
            raise ValueError(
                f"{item!r}: each entry must be twilio_voice=voice_id (letters, digits, - and _)"
            )
        pairs.append((name.lower(), voice_id))
    return tuple(pairs)


@dataclass(frozen=True)
class SayVoice:
    """The text-to-speech ``<Say>`` goes through, and what of its attributes it takes.

    Args:
        make: a client speaking with a voice ID (None: the configured one) and a language
            code (None: the model's own choice).
        voices: Twilio's voice name, lower case -> the voice ID.
        model: the text-to-speech's model, named in what is ignored.
        tuned: the same client maker taking a model and voice settings too (None: it takes
            neither).
    """

    make: Callable[[str | None, str | None], TextToSpeech]
    voices: Mapping[str, str] = field(default_factory=dict)
    model: str = ""
    tuned: TunedVoice | None = None

    def voiced(self, voice: str, language: str) -> tuple[TextToSpeech, list[str]]:
        """A client for one ``<Say>``, and each attribute it does not honour (why, for the log)."""
        ignored: list[str] = []
        voice_id = None
        if voice:
            voice_id = self.voices.get(voice.lower())
            if voice_id is None:
                ignored.append(
                    f"voice={voice!r} (not in SIPGW_TWIML_SAY_VOICES: the configured voice speaks)"
                )
        code = None
        if language:
            primary = language.split("-", 1)[0].lower()
            if self.model not in LANGUAGE_MODELS:
                ignored.append(f"language={language!r} (the model {self.model or '?'} takes none)")
            elif not _LANGUAGE.fullmatch(primary):
                ignored.append(f"language={language!r} (not a language tag)")
            else:
                code = primary
        return self.make(voice_id, code), ignored
