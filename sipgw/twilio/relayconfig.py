"""ConversationRelay's settings on the wire, sans-IO: the values the ``<ConversationRelay>``
verb and the app's mid-call updates share, and the updates themselves.

Twilio's changelog of 2026-10-28 ("Conversation Relay: Dynamic Configuration, Application
Reconnect, Echo Filtering") adds the app messages ``config`` and ``hints`` and the
platform's ``configUpdated``; its guide "Update configuration during a call" lists what may
change: a language's settings (speech model, hints, transcription provider, voice, TTS
provider, text normalization), the session's (``interruptible``, ``preemptible``,
``dtmfDetection``, ``reportInputDuringAgentSpeech``, ``partialPrompts``, ``speechTimeout``,
``echoPromptFiltering``, ``interruptSensitivity``, ``ignoreBackchannel``,
``profanityFilter``, ``eotThreshold``), the active languages (``ttsLanguage`` and
``transcriptionLanguage``, independently), and a language the TwiML did not declare,
declared and switched to in one message. The guide's message layouts are not readable
offline; this module reads the names the verb and its ``<Language>`` noun use:

- ``config``: session settings at the top level (or inside a ``session`` object), the
  languages switched to (``ttsLanguage``, ``transcriptionLanguage``, ``language`` for both),
  and ``languages``: a list of objects with ``code`` (or an object keyed by code) holding
  ``ttsProvider``, ``voice``, ``transcriptionProvider``, ``speechModel``, ``hints``,
  ``ttsTextNormalization``.
- ``hints``: ``hints``, a list of strings or one comma-separated string (the verb's form),
  replacing the session's.

A name outside these is refused by name (the whole message: nothing of it applies), as an
``error`` tells the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "INTERRUPTIBLE",
    "SENSITIVITIES",
    "SESSION_SETTINGS",
    "SPEECH_TIMEOUT_MS",
    "ConfigMessage",
    "ConfigUpdatedMessage",
    "HintsMessage",
    "LanguageSettings",
    "eot_threshold",
    "interruptible_value",
    "read_config",
    "read_hints",
    "speech_timeout_ms",
]

INTERRUPTIBLE: Final = ("none", "dtmf", "speech", "any")
"""What may cut speech (``interruptible``): Twilio's values; ``true`` is ``any``, ``false``
``none``."""
SENSITIVITIES: Final = ("low", "medium", "high")
"""``interruptSensitivity``'s values."""
SPEECH_TIMEOUT_MS: Final = (100, 10_000)
"""The ``speechTimeout`` values read, in ms (bounds included)."""
SESSION_SETTINGS: Final = (
    "interruptible", "preemptible", "dtmfDetection", "reportInputDuringAgentSpeech",
    "partialPrompts", "speechTimeout", "echoPromptFiltering", "interruptSensitivity",
    "ignoreBackchannel", "profanityFilter", "eotThreshold", "turnDetection",
)  # fmt: skip
"""The session settings a ``config`` may change (the guide's list, and ``turnDetection``)."""
_SWITCHES: Final = ("ttsLanguage", "transcriptionLanguage", "language")
_LANGUAGE_FIELDS: Final = (
    "code", "ttsProvider", "voice", "transcriptionProvider", "speechModel", "hints",
    "ttsTextNormalization",
)  # fmt: skip
_REPORT: Final = {"true": "any", "false": "none", "none": "none", "dtmf": "dtmf",
                  "speech": "speech", "any": "any"}  # fmt: skip


def interruptible_value(value: object, error: Callable[[], Exception]) -> str:
    """An ``interruptible`` value (a string or a boolean) as one of :data:`INTERRUPTIBLE`."""
    if value is True or (isinstance(value, str) and value.lower() == "true"):
        return "any"
    if value is False or (isinstance(value, str) and value.lower() == "false"):
        return "none"
    if isinstance(value, str) and value.lower() in INTERRUPTIBLE:
        return value.lower()
    raise error()


def speech_timeout_ms(value: str) -> int | None:
    """``speechTimeout``: ``auto`` (or empty: None) or milliseconds, a whole number with or
    without ``ms`` (``1500``, ``1500ms``), or seconds with ``s`` (``1.5s``), from 100 ms to
    10 s. A bare number under 100 is refused: seconds (``<Gather speechTimeout>``'s unit)
    or milliseconds, it cannot be told.

    Raises:
        ValueError: any other value.
    """
    text = value.strip().lower()
    if text in ("", "auto"):
        return None
    low, high = SPEECH_TIMEOUT_MS
    bad = ValueError(
        f"<ConversationRelay speechtimeout={value[:40]!r}>: auto, or {low} to {high} "
        "milliseconds (1500, 1500ms, 1.5s)"
    )
    number, scale = text, 1.0
    if text.endswith("ms"):
        number = text[:-2]
    elif text.endswith("s"):
        number, scale = text[:-1], 1000.0
    try:
        ms = float(number.strip()) * scale
    except ValueError:
        raise bad from None
    if not low <= ms <= high or ms != round(ms):
        raise bad
    return int(ms)


def eot_threshold(value: object) -> float:
    """``eotThreshold``: how sure the recognizer must be that the caller's turn is over, a
    number from 0 to 1 (or its text).

    Raises:
        ValueError: any other value.
    """
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        number = None
    if isinstance(value, bool) or number is None or not 0.0 <= number <= 1.0:
        raise ValueError(f"'eotThreshold' {str(value)[:40]!r}: a number from 0 to 1")
    return number


@dataclass(frozen=True, slots=True)
class LanguageSettings:
    """One language's settings in a ``config`` (None: unchanged)."""

    code: str
    tts_provider: str | None = None
    voice: str | None = None
    transcription_provider: str | None = None
    speech_model: str | None = None
    hints: tuple[str, ...] | None = None
    text_normalization: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigMessage:
    """``config``: settings changed mid-call (None: unchanged)."""

    interruptible: str | None = None
    preemptible: bool | None = None
    dtmf_detection: bool | None = None
    report_input_during_agent_speech: str | None = None
    partial_prompts: bool | None = None
    speech_timeout: str | None = None
    """``auto`` or the milliseconds as given (:func:`speech_timeout_ms` reads it)."""
    echo_prompt_filtering: bool | None = None
    interrupt_sensitivity: str | None = None
    ignore_backchannel: bool | None = None
    profanity_filter: bool | None = None
    eot_threshold: float | None = None
    turn_detection: bool | None = None
    tts_language: str = ""
    transcription_language: str = ""
    languages: tuple[LanguageSettings, ...] = ()


@dataclass(frozen=True, slots=True)
class HintsMessage:
    """``hints``: the words the recognizer should expect, replacing the session's."""

    hints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfigUpdatedMessage:
    """``configUpdated``: a ``config``, ``hints`` or ``language`` has been applied."""


# --------------------------------------------------------------------------- reading


def _flag(name: str, value: object) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{name!r} must be true or false")
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name!r} must be a string, not {type(value).__name__}")
    return value.strip()


def _hints(name: str, value: object) -> tuple[str, ...]:
    """A list of strings, or one string of comma-separated words (the verb's form)."""
    if isinstance(value, str):
        return tuple(h.strip() for h in value.split(",") if h.strip())
    if isinstance(value, list) and all(isinstance(h, str) for h in value):
        return tuple(h.strip() for h in value if h.strip())
    raise ValueError(f"{name!r} must be a list of strings or a comma-separated string")


def _language(data: object, code: str | None = None) -> LanguageSettings:
    if not isinstance(data, dict):
        raise ValueError("'languages' entries must be objects")
    unknown = sorted(set(data) - set(_LANGUAGE_FIELDS))
    if unknown:
        raise ValueError(f"a language's {unknown[0][:40]!r} is not a language setting "
                         f"({', '.join(_LANGUAGE_FIELDS[1:])})")  # fmt: skip
    code = code if code is not None else _text("code", data.get("code"))
    if not code:
        raise ValueError("a language without a 'code'")

    def text(name: str) -> str | None:
        return _text(name, data[name]) if name in data else None

    normalization = text("ttsTextNormalization")
    if normalization is not None and normalization.lower() not in ("auto", "on", "off"):
        raise ValueError(f"'ttsTextNormalization' {normalization[:40]!r}: auto, on or off")
    return LanguageSettings(
        code, text("ttsProvider"), text("voice"), text("transcriptionProvider"),
        text("speechModel"), _hints("hints", data["hints"]) if "hints" in data else None,
        normalization.lower() if normalization is not None else None,
    )  # fmt: skip


def _languages(value: object) -> tuple[LanguageSettings, ...]:
    if isinstance(value, list):
        return tuple(_language(entry) for entry in value)
    if isinstance(value, dict):
        return tuple(_language(entry, str(code)) for code, entry in value.items())
    raise ValueError("'languages' must be a list of languages or an object keyed by code")


def read_config(data: Mapping[str, Any]) -> ConfigMessage:
    """A ``config`` message's fields (``type`` among them), read (see the module docstring).

    Raises:
        ValueError: a name that is no setting, or a value out of range (the text names it).
    """
    fields = {k: v for k, v in data.items() if k not in ("type", "session")}
    session = data.get("session", {})
    if not isinstance(session, dict):
        raise ValueError("'session' must be an object of settings")
    fields.update(session)
    unknown = sorted(set(fields) - {*SESSION_SETTINGS, *_SWITCHES, "languages"})
    if unknown:
        raise ValueError(f"{unknown[0][:40]!r} cannot change during a call (settings: "
                         f"{', '.join(SESSION_SETTINGS)}; languages)")  # fmt: skip
    get = fields.get

    def flag(name: str) -> bool | None:
        return _flag(name, fields[name]) if name in fields else None

    def choice(name: str, values: Mapping[str, str] | tuple[str, ...]) -> str | None:
        if name not in fields:
            return None
        text = str(fields[name]).lower() if isinstance(fields[name], str | bool) else ""
        if text not in values:
            raise ValueError(f"{name!r} {str(fields[name])[:40]!r}: {', '.join(values)}")
        return values[text] if isinstance(values, Mapping) else text

    interruptible = None
    if "interruptible" in fields:
        interruptible = interruptible_value(
            get("interruptible"),
            lambda: ValueError(
                f"'interruptible' {str(get('interruptible'))[:40]!r}: {', '.join(INTERRUPTIBLE)}"
            ),
        )
    timeout = None
    if "speechTimeout" in fields:
        timeout = str(get("speechTimeout")) if isinstance(get("speechTimeout"), int | str) else ""
        try:
            speech_timeout_ms(timeout)
        except ValueError:
            low, high = SPEECH_TIMEOUT_MS
            raise ValueError(f"'speechTimeout' {timeout[:40]!r}: auto, or {low} to {high} "
                             "milliseconds") from None  # fmt: skip
    tts = _text("ttsLanguage", get("ttsLanguage", get("language", "")))
    heard = _text("transcriptionLanguage", get("transcriptionLanguage", get("language", "")))
    return ConfigMessage(
        interruptible=interruptible,
        preemptible=flag("preemptible"),
        dtmf_detection=flag("dtmfDetection"),
        report_input_during_agent_speech=choice("reportInputDuringAgentSpeech", _REPORT),
        partial_prompts=flag("partialPrompts"),
        speech_timeout=timeout,
        echo_prompt_filtering=flag("echoPromptFiltering"),
        interrupt_sensitivity=choice("interruptSensitivity", SENSITIVITIES),
        ignore_backchannel=flag("ignoreBackchannel"),
        profanity_filter=flag("profanityFilter"),
        eot_threshold=eot_threshold(get("eotThreshold")) if "eotThreshold" in fields else None,
        turn_detection=flag("turnDetection"),
        tts_language=tts,
        transcription_language=heard,
        languages=_languages(get("languages")) if "languages" in fields else (),
    )


def read_hints(data: Mapping[str, Any]) -> HintsMessage:
    """A ``hints`` message's fields, read.

    Raises:
        ValueError: no ``hints``, or not words.
    """
    if "hints" not in data:
        raise ValueError("'hints' is missing")
    return HintsMessage(_hints("hints", data["hints"]))
