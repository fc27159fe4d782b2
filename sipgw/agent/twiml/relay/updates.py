"""A ConversationRelay app's mid-call updates (``config``, ``hints``) read onto the session.

:func:`updated_relay` is the verb as a ``config`` leaves it (a session setting given
replaces the verb's; one not given stays), with what of it is not followed;
:func:`updated_languages` merges its languages into the session's table of voices and
recognizers (a language the TwiML did not declare is added), returning the codes whose voice
changed (their next reply speaks with the new one). The session
(:mod:`sipgw.agent.twiml.relay.session`) hands the new verb to its collaborators, retunes
the turn-taking machine, switches the active languages and answers ``configUpdated``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace

from sipgw.agent.twiml.relay.providers import LanguageSetup, keyterms, stt_notes
from sipgw.twilio.relayconfig import ConfigMessage, LanguageSettings, speech_timeout_ms
from sipgw.twilio.relaytwiml import ConversationRelay

__all__ = ["updated_languages", "updated_relay"]


def updated_relay(
    relay: ConversationRelay, message: ConfigMessage
) -> tuple[ConversationRelay, list[str]]:
    """The verb as ``message`` leaves it, and what of ``message`` is not followed."""
    notes: list[str] = []
    if message.profanity_filter is not None:
        notes.append("profanityFilter (AssemblyAI's transcripts are not filtered)")
    changes: dict[str, object] = {
        name: value for name, value in (
            ("interruptible", message.interruptible), ("preemptible", message.preemptible),
            ("dtmf_detection", message.dtmf_detection),
            ("report_input_during_agent_speech", message.report_input_during_agent_speech),
            ("partial_prompts", message.partial_prompts),
            ("echo_prompt_filtering", message.echo_prompt_filtering),
            ("interrupt_sensitivity", message.interrupt_sensitivity),
            ("ignore_backchannel", message.ignore_backchannel),
            ("eot_threshold", message.eot_threshold), ("turn_detection", message.turn_detection),
        ) if value is not None
    }  # fmt: skip
    if message.speech_timeout is not None:
        changes["speech_timeout_ms"] = speech_timeout_ms(message.speech_timeout)
    return replace(relay, **changes), notes  # type: ignore[arg-type]


def updated_languages(
    table: MutableMapping[str, LanguageSetup], languages: tuple[LanguageSettings, ...]
) -> tuple[set[str], dict[str, tuple[str, ...]], list[str]]:
    """``languages`` merged into ``table`` (lower-case code -> setup): the codes whose voice
    changed or is new, each language's ``hints`` given (as key terms), and what of them is
    not followed."""
    voices: set[str] = set()
    hints: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    for language in languages:
        code = language.code.lower()
        old = table.get(code)
        was = old or LanguageSetup("", "", "", "")
        new = LanguageSetup(
            _or(language.tts_provider, was.tts_provider), _or(language.voice, was.voice),
            _or(language.transcription_provider, was.transcription_provider),
            _or(language.speech_model, was.speech_model),
            _or(language.text_normalization, was.text_normalization),
        )  # fmt: skip
        table[code] = new
        if old is None or (new.tts_provider, new.voice, new.text_normalization) != (
            old.tts_provider, old.voice, old.text_normalization
        ):  # fmt: skip
            voices.add(code)
        if language.hints is not None:
            hints[code], left_out = keyterms(language.hints)
            notes += left_out
        notes += stt_notes(language.transcription_provider or "", language.speech_model or "",
                           f"config language {language.code[:20]!r}: ")  # fmt: skip
    return voices, hints, notes


def _or(value: str | None, old: str) -> str:
    return old if value is None else value
