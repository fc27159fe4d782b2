"""A ConversationRelay's providers, voices and languages onto the operator's speech services.

Twilio's ``<ConversationRelay>`` names Twilio's vendors (``ttsProvider`` ``ElevenLabs``,
``Google``, ``Amazon``; ``transcriptionProvider`` ``Deepgram``, ``Google``; their
``voice`` and ``speechModel``), per language with ``<Language code ...>``. sipgw speaks and
transcribes with the operator's (``SIPGW_TWIML_TTS=elevenlabs``, ``SIPGW_TWIML_STT=
assemblyai``); this module maps what it can and says what it cannot (each a phrase for the
log and the call record, ``twiml_relay_ignored``):

- **Voices** (:func:`choose_voice`): a ``voice`` in ``SIPGW_TWIML_SAY_VOICES`` is the voice
  ID it maps to, whatever the provider (``Google.en-US-Journey-O``, ``Polly.Joanna``: as
  ``<Say>``); else with ``ttsProvider`` ElevenLabs (Twilio's default) a ``voice`` in Twilio's
  ElevenLabs syntax, ``voiceId[-model][-speed_stability_similarity]``
  (:func:`elevenlabs_voice`: ``UgBBYS2sOqTuMpoF3BR0-flash_v2_5-1.2_1.0_1.0``), is that
  voice, model and voice settings; anything else speaks with the configured voice. The
  language goes as its primary subtag to the models that take one (``<Say>``'s rule);
  ``ttsTextNormalization`` (``elevenlabsTextNormalization``) as ElevenLabs'
  ``apply_text_normalization``.
- **Recognition** (:func:`stt_notes`, :func:`keyterms`): ``transcriptionProvider`` and
  ``speechModel`` are not followed (AssemblyAI transcribes, with the model its settings
  choose for the language); ``hints`` become AssemblyAI's ``keyterms_prompt`` (at most 100
  terms of 50 characters); :func:`needs_new_session` says when a new
  ``transcriptionLanguage`` needs a new streaming session (the model is a connection
  parameter: ``u3-rt-pro`` follows en, es, de, fr, pt and it by itself, ``whisper-rt``
  the other languages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sipgw.agent.services.assemblyai.stt_options import (
    MAX_KEYTERM_CHARS,
    MAX_KEYTERMS,
    speech_model_for,
)
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.twiml.say import LANGUAGE_MODELS, SayVoice
from sipgw.twilio.relaytwiml import ConversationRelay, RelayLanguage

__all__ = [
    "ElevenLabsVoice",
    "LanguageSetup",
    "choose_voice",
    "elevenlabs_voice",
    "keyterms",
    "language_setup",
    "needs_new_session",
    "stt_notes",
]

_ELEVENLABS: Final = re.compile(
    r"(?P<id>[A-Za-z0-9]{16,40})(?:-(?P<model>[a-z][a-z0-9_]*?))?"
    r"(?:-(?P<speed>\d+(?:\.\d+)?)_(?P<stability>\d+(?:\.\d+)?)_(?P<similarity>\d+(?:\.\d+)?))?"
)
_SPEED: Final = (0.7, 1.2)
"""ElevenLabs' ``speed`` range."""
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True, slots=True)
class ElevenLabsVoice:
    """A ``voice`` in Twilio's ElevenLabs syntax."""

    voice_id: str
    model_id: str = ""
    """``eleven_`` + the model Twilio names (``flash_v2_5``); "" when none is named."""
    speed: float | None = None
    stability: float | None = None
    similarity: float | None = None

    def settings(self) -> dict[str, float]:
        """ElevenLabs' ``voice_settings`` for what is named."""
        named = {"speed": self.speed, "stability": self.stability,
                 "similarity_boost": self.similarity}  # fmt: skip
        return {key: value for key, value in named.items() if value is not None}


def elevenlabs_voice(value: str) -> ElevenLabsVoice | None:
    """``voiceId[-model][-speed_stability_similarity]`` (Twilio's "Picking a voice" page);
    None when ``value`` is not in that syntax or a setting is out of ElevenLabs' range
    (speed 0.7 to 1.2, stability and similarity 0 to 1)."""
    found = _ELEVENLABS.fullmatch(value.strip())
    if found is None:
        return None
    model = found["model"] or ""
    if model and not model.startswith("eleven_"):
        model = "eleven_" + model
    if found["speed"] is None:
        return ElevenLabsVoice(found["id"], model)
    speed, stability, similarity = (float(found[k]) for k in ("speed", "stability", "similarity"))
    if not _SPEED[0] <= speed <= _SPEED[1] or not 0 <= stability <= 1 or not 0 <= similarity <= 1:
        return None
    return ElevenLabsVoice(found["id"], model, speed, stability, similarity)


def _is(provider: str, name: str) -> bool:
    return provider.strip().lower() == name


def choose_voice(
    provider: str, voice: str, language: str, say: SayVoice, normalization: str = ""
) -> tuple[TextToSpeech, list[str]]:
    """The client speaking ``voice`` of ``provider`` in ``language`` (see the module
    docstring), with ElevenLabs' ``apply_text_normalization`` ``normalization`` (""
    keeps the configured one), and what of them it does not follow."""
    notes: list[str] = []
    voice_id: str | None = None
    chosen: ElevenLabsVoice | None = None
    if voice:
        voice_id = say.voices.get(voice.lower())
        if voice_id is None and (not provider or _is(provider, "elevenlabs")):
            chosen = elevenlabs_voice(voice)
            voice_id = chosen.voice_id if chosen is not None else None
        if voice_id is None:
            notes.append(f"voice={voice[:80]!r} (not in SIPGW_TWIML_SAY_VOICES nor an "
                         "ElevenLabs voice: the configured voice speaks)")  # fmt: skip
    if provider and not _is(provider, "elevenlabs") and voice_id is None:
        notes.append(f"ttsProvider={provider[:40]!r} (SIPGW_TWIML_TTS=elevenlabs speaks)")
    model = (chosen.model_id if chosen is not None else "") or say.model
    code = None
    if language:
        primary = language.split("-", 1)[0].lower()
        if model not in LANGUAGE_MODELS:
            notes.append(f"language={language[:40]!r} (the model {model or '?'} takes none)")
        elif _LANGUAGE.fullmatch(primary):
            code = primary
        else:
            notes.append(f"language={language[:40]!r} (not a language tag)")
    tuning = chosen is not None and (chosen.model_id or chosen.settings())
    if (tuning or normalization) and say.tuned is not None:
        tts = say.tuned(voice_id, code,
                        model_id=chosen.model_id or None if chosen is not None else None,
                        voice_settings=chosen.settings() or None if chosen is not None else None,
                        text_normalization=normalization or None)  # fmt: skip
    else:
        if tuning:
            notes.append(f"voice={voice[:80]!r}'s model and settings (the text-to-speech "
                         "takes none)")  # fmt: skip
        if normalization:
            notes.append(f"ttsTextNormalization={normalization!r} (the text-to-speech takes "
                         "none)")  # fmt: skip
        tts = say.make(voice_id, code)
    return tts, notes


def stt_notes(provider: str, model: str, where: str = "") -> list[str]:
    """What of ``transcriptionProvider``/``speechModel`` is not followed (``where``: the
    ``<Language>`` it is on, "" for the verb)."""
    notes: list[str] = []
    if provider and not _is(provider, "assemblyai"):
        notes.append(f"{where}transcriptionProvider={provider[:40]!r} "
                     "(SIPGW_TWIML_STT=assemblyai transcribes)")  # fmt: skip
    if model:
        notes.append(f"{where}speechModel={model[:40]!r} (AssemblyAI's model for the "
                     "language transcribes)")  # fmt: skip
    return notes


def keyterms(hints: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """``hints`` as AssemblyAI's key terms (at most 100, each at most 50 characters), and
    what was left out."""
    terms = tuple(h for h in hints if len(h) <= MAX_KEYTERM_CHARS)[:MAX_KEYTERMS]
    left = len(hints) - len(terms)
    notes = [f"hints: {left} of {len(hints)} left out (too long or too many)"] if left else []
    return terms, notes


def needs_new_session(current: str, new: str) -> bool:
    """A switch of the callers' language from ``current`` to ``new`` needs a new streaming
    session: AssemblyAI's model is chosen when it connects (and follows the languages of
    its family by itself)."""
    return speech_model_for(current) != speech_model_for(new)


@dataclass(frozen=True, slots=True)
class LanguageSetup:
    """The voice and recognizer one language code speaks and listens with."""

    tts_provider: str
    voice: str
    transcription_provider: str
    speech_model: str
    text_normalization: str = ""
    """``auto``, ``on``, ``off``; "": the verb's (a ``config``'s language may set it)."""


def language_setup(relay: ConversationRelay) -> Mapping[str, LanguageSetup]:
    """Each language's setup, lower-case code -> setup: the ``<Language>`` nouns', and the
    verb's own for its ``ttsLanguage``/``language`` (a ``<Language>`` of the same code
    fills in what the verb leaves out)."""
    table: dict[str, LanguageSetup] = {}
    for noun in relay.languages:
        table[noun.code.lower()] = _setup(noun)
    own = (relay.tts_language or relay.language or "en-US").lower()
    noun_setup = table.get(own)
    table[own] = LanguageSetup(
        relay.tts_provider or (noun_setup.tts_provider if noun_setup else ""),
        relay.voice or (noun_setup.voice if noun_setup else ""),
        relay.transcription_provider or (noun_setup.transcription_provider if noun_setup else ""),
        relay.speech_model or (noun_setup.speech_model if noun_setup else ""),
    )
    return table


def _setup(noun: RelayLanguage) -> LanguageSetup:
    return LanguageSetup(noun.tts_provider, noun.voice, noun.transcription_provider,
                         noun.speech_model)  # fmt: skip
