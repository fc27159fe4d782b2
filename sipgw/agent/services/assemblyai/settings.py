"""AssemblyAI's settings section and how its speech-to-text clients are made from it.

:class:`AssemblyAISection` is the ``[assemblyai]`` table (``ASSEMBLYAI_*``);
:func:`assemblyai_clients` turns a loaded one into the session options the client is built
with (:class:`~sipgw.agent.services.assemblyai.stt_options.AssemblyAISettings`, checked
against the API's limits once, at start). The registry (:mod:`sipgw.agent.services.registry`)
lists it. The client's module is imported only when a client is made, never when the section
is read: the CLI stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sipgw.foundation.settings import ConfigError, build_checked, section, setting
from sipgw.foundation.settings.parsers import choice, comma_list, int_range, on_off, or_empty, text

if TYPE_CHECKING:
    from sipgw.agent.services.stt.base import SpeechToText

__all__ = ["AssemblyAISection", "assemblyai_clients", "assemblyai_spoken"]


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


def assemblyai_clients(
    settings: AssemblyAISection, wideband: bool = False
) -> Callable[[], SpeechToText]:
    """A maker of AssemblyAI clients for ``settings`` (no network traffic); ``wideband``:
    for HD-voice calls, 16 kHz s16le audio as it comes.

    Raises:
        ConfigError: the session options refuse the values.
    """
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
    client = build_checked(
        AssemblyAISection,
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
            return assemblyai_clients(chosen)()
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    return make
