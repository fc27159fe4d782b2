"""ConversationRelay on the wire: the JSON text frames between the platform and the app, sans-IO.

ConversationRelay (Twilio's "ConversationRelay WebSocket messages" page; Telnyx's
"ConversationRelay WebSocket channel" is the same protocol) is a text protocol for voice AI:
the platform does the speech-to-text and the text-to-speech, the app only ever sees words.
Field names are Twilio's, as the app reads and writes them.

What the platform sends (:data:`PlatformMessage`): ``setup`` once, first (``sessionId``,
``accountSid``, ``callSid``, ``from``, ``to``, ``direction``, ``callStatus``,
``customParameters`` of the ``<Parameter>`` nouns...), then ``prompt`` (``voicePrompt``,
``lang``, ``last``: the caller's words), ``dtmf`` (``digit``), ``interrupt``
(``utteranceUntilInterrupt``: the text the caller heard before cutting the reply,
``durationUntilInterruptMs``: how long it played), ``error`` (``description``) and, when the
verb's ``events`` asks, ``info`` (``name``, ``value``: ``agentSpeaking`` and ``clientSpeaking``
``on``/``off``, ``tokensPlayed`` with the text heard: Twilio's pages at hand document
neither the kinds nor the shape; both are the ones apps written for Twilio read), and
``configUpdated`` once a ``config``, ``hints`` or ``language`` is applied.

What the app sends (:data:`AppMessage`): ``text`` (``token``, ``last``, ``interruptible``,
``preemptible``, ``lang``: words to speak, streamed token by token), ``play`` (``source``,
``loop``, ``interruptible``, ``preemptible``: an audio URL), ``sendDigits`` (``digits``),
``language`` (``ttsLanguage``, ``transcriptionLanguage``) and ``end`` (``handoffData``, a
string handed to the ``<Connect action>`` URL). Twilio's changelog of 2026-10-28 adds the
mid-session ``config`` and ``hints`` (read by :mod:`sipgw.twilio.relayconfig`), each
applied and answered with ``configUpdated`` (as a ``language`` is).

:func:`parse_app_message` and :func:`parse_platform_message` return one message per frame and
raise only :class:`MalformedRelayMessage` (a ``ValueError``) whose text says what is wrong:
bad JSON, no ``type``, an unknown ``type``, a missing or mistyped field, an oversized frame.
That text is what the platform sends back in an ``error`` message, as Twilio does. Each
message serializes with :func:`serialize` (compact JSON; fields left at their default are
left out where the docs mark them optional).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from sipgw.twilio.relayconfig import (
    INTERRUPTIBLE,
    ConfigMessage,
    ConfigUpdatedMessage,
    HintsMessage,
    LanguageSettings,
    interruptible_value,
    read_config,
    read_hints,
)

__all__ = [
    "INTERRUPTIBLE",
    "MAX_RELAY_CHARS",
    "AppMessage",
    "ConfigMessage",
    "ConfigUpdatedMessage",
    "DtmfMessage",
    "EndMessage",
    "ErrorMessage",
    "HintsMessage",
    "InfoMessage",
    "InterruptMessage",
    "LanguageMessage",
    "MalformedRelayMessage",
    "PlatformMessage",
    "PlayMessage",
    "PromptMessage",
    "SendDigitsMessage",
    "SetupMessage",
    "TextMessage",
    "interruptible_value",
    "parse_app_message",
    "parse_platform_message",
    "serialize",
]

MAX_RELAY_CHARS: Final = 65_536
"""Longest text frame accepted (a token is a few characters; ``handoffData`` a small JSON)."""
_DIGITS: Final = frozenset("0123456789*#ABCDw")
"""``sendDigits``: keypad keys, and ``w`` (a half-second pause, as in ``<Play digits>``)."""


class MalformedRelayMessage(ValueError):
    """A frame that is no ConversationRelay message (the text says why)."""


# --------------------------------------------------------------------------- platform -> app


@dataclass(frozen=True, slots=True)
class SetupMessage:
    """``setup``: the session and the call, sent once when the socket opens."""

    session_id: str
    account_sid: str
    call_sid: str
    from_: str
    to: str
    direction: str = "inbound"
    call_status: str = "IN-PROGRESS"
    parent_call_sid: str = ""
    forwarded_from: str = ""
    call_type: str = "SIP"
    caller_name: str = ""
    custom_parameters: tuple[tuple[str, str], ...] = ()
    """The ``<Parameter>`` nouns, in order (``customParameters``)."""


@dataclass(frozen=True, slots=True)
class PromptMessage:
    """``prompt``: the caller's words (``last``: the turn is over)."""

    voice_prompt: str
    lang: str = "en-US"
    last: bool = True


@dataclass(frozen=True, slots=True)
class DtmfMessage:
    """``dtmf``: a key the caller pressed (when ``dtmfDetection`` is on)."""

    digit: str


@dataclass(frozen=True, slots=True)
class InterruptMessage:
    """``interrupt``: the caller spoke over a reply, which was cut."""

    utterance_until_interrupt: str
    """The reply's text the caller heard before the cut."""
    duration_until_interrupt_ms: int
    """How long the reply played before the cut."""


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """``error``: something the app sent could not be done (the text says why)."""

    description: str


@dataclass(frozen=True, slots=True)
class InfoMessage:
    """``info``: what the verb's ``events`` (``debug``) asked to be told, as ``name`` and
    ``value`` (``agentSpeaking``/``clientSpeaking`` ``on``/``off``; ``tokensPlayed``: the
    text the caller heard)."""

    name: str
    value: str


PlatformMessage: TypeAlias = (
    SetupMessage
    | PromptMessage
    | DtmfMessage
    | InterruptMessage
    | ErrorMessage
    | InfoMessage
    | ConfigUpdatedMessage
)

# --------------------------------------------------------------------------- app -> platform


@dataclass(frozen=True, slots=True)
class TextMessage:
    """``text``: a token of the reply, spoken as it comes (``last``: the reply is complete)."""

    token: str
    last: bool = False
    lang: str = ""
    interruptible: str | None = None
    """``none``, ``dtmf``, ``speech`` or ``any`` (booleans mapped); None: the session's."""
    preemptible: bool = False


@dataclass(frozen=True, slots=True)
class PlayMessage:
    """``play``: an audio file's URL, played ``loop`` times (0: Twilio's "many")."""

    source: str
    loop: int = 1
    interruptible: str | None = None
    preemptible: bool = False


@dataclass(frozen=True, slots=True)
class SendDigitsMessage:
    """``sendDigits``: keypad tones to send on the call (``w``: half a second's pause)."""

    digits: str


@dataclass(frozen=True, slots=True)
class LanguageMessage:
    """``language``: switch the speech (``ttsLanguage``) and/or recognition language."""

    tts_language: str = ""
    transcription_language: str = ""


@dataclass(frozen=True, slots=True)
class EndMessage:
    """``end``: the session is over; ``handoff_data`` goes to the ``<Connect action>``."""

    handoff_data: str = ""


AppMessage: TypeAlias = (
    TextMessage
    | PlayMessage
    | SendDigitsMessage
    | LanguageMessage
    | ConfigMessage
    | HintsMessage
    | EndMessage
)

# --------------------------------------------------------------------------- serializing


def serialize(message: PlatformMessage | AppMessage) -> str:
    """``message`` as its JSON text frame, with Twilio's field names."""
    return json.dumps(_fields(message), separators=(",", ":"), ensure_ascii=False)


def _fields(message: PlatformMessage | AppMessage) -> dict[str, Any]:  # noqa: PLR0911 - one per type
    if isinstance(message, SetupMessage):
        return {
            "type": "setup", "sessionId": message.session_id,
            "accountSid": message.account_sid, "parentCallSid": message.parent_call_sid,
            "callSid": message.call_sid, "from": message.from_, "to": message.to,
            "forwardedFrom": message.forwarded_from, "callType": message.call_type,
            "callerName": message.caller_name, "direction": message.direction,
            "callStatus": message.call_status,
            "customParameters": dict(message.custom_parameters),
        }  # fmt: skip
    if isinstance(message, PromptMessage):
        return {"type": "prompt", "voicePrompt": message.voice_prompt, "lang": message.lang,
                "last": message.last}  # fmt: skip
    if isinstance(message, DtmfMessage):
        return {"type": "dtmf", "digit": message.digit}
    if isinstance(message, InterruptMessage):
        return {"type": "interrupt", "utteranceUntilInterrupt": message.utterance_until_interrupt,
                "durationUntilInterruptMs": message.duration_until_interrupt_ms}  # fmt: skip
    if isinstance(message, ErrorMessage):
        return {"type": "error", "description": message.description}
    if isinstance(message, InfoMessage):
        return {"type": "info", "name": message.name, "value": message.value}
    if isinstance(message, ConfigUpdatedMessage):
        return {"type": "configUpdated"}
    if isinstance(message, ConfigMessage):
        return _config_fields(message)
    if isinstance(message, HintsMessage):
        return {"type": "hints", "hints": list(message.hints)}
    if isinstance(message, TextMessage):
        out: dict[str, Any] = {"type": "text", "token": message.token, "last": message.last}
        if message.lang:
            out["lang"] = message.lang
        if message.interruptible is not None:
            out["interruptible"] = message.interruptible
        if message.preemptible:
            out["preemptible"] = True
        return out
    if isinstance(message, PlayMessage):
        out = {"type": "play", "source": message.source, "loop": message.loop}
        if message.interruptible is not None:
            out["interruptible"] = message.interruptible
        if message.preemptible:
            out["preemptible"] = True
        return out
    if isinstance(message, SendDigitsMessage):
        return {"type": "sendDigits", "digits": message.digits}
    if isinstance(message, LanguageMessage):
        out = {"type": "language"}
        if message.tts_language:
            out["ttsLanguage"] = message.tts_language
        if message.transcription_language:
            out["transcriptionLanguage"] = message.transcription_language
        return out
    out = {"type": "end"}
    if message.handoff_data:
        out["handoffData"] = message.handoff_data
    return out


_CONFIG_NAMES: Final = (
    ("interruptible", "interruptible"), ("preemptible", "preemptible"),
    ("dtmf_detection", "dtmfDetection"),
    ("report_input_during_agent_speech", "reportInputDuringAgentSpeech"),
    ("partial_prompts", "partialPrompts"), ("speech_timeout", "speechTimeout"),
    ("echo_prompt_filtering", "echoPromptFiltering"),
    ("interrupt_sensitivity", "interruptSensitivity"),
    ("ignore_backchannel", "ignoreBackchannel"), ("profanity_filter", "profanityFilter"),
    ("eot_threshold", "eotThreshold"), ("turn_detection", "turnDetection"),
)  # fmt: skip
_LANGUAGE_NAMES: Final = (
    ("tts_provider", "ttsProvider"), ("voice", "voice"),
    ("transcription_provider", "transcriptionProvider"), ("speech_model", "speechModel"),
    ("text_normalization", "ttsTextNormalization"),
)  # fmt: skip


def _config_fields(message: ConfigMessage) -> dict[str, Any]:
    """A ``config`` as an app writes it (the toolkit's app and tests)."""
    out: dict[str, Any] = {"type": "config"}
    out.update((wire, getattr(message, name)) for name, wire in _CONFIG_NAMES
               if getattr(message, name) is not None)  # fmt: skip
    if message.tts_language:
        out["ttsLanguage"] = message.tts_language
    if message.transcription_language:
        out["transcriptionLanguage"] = message.transcription_language
    if message.languages:
        out["languages"] = [_language_fields(language) for language in message.languages]
    return out


def _language_fields(language: LanguageSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"code": language.code}
    out.update((wire, getattr(language, name)) for name, wire in _LANGUAGE_NAMES
               if getattr(language, name) is not None)  # fmt: skip
    if language.hints is not None:
        out["hints"] = list(language.hints)
    return out


# --------------------------------------------------------------------------- parsing


class _Fields:
    """The fields of one message, read with their type checked (errors name the field)."""

    def __init__(self, kind: str, data: Mapping[str, Any]) -> None:
        self.kind = kind
        self.data = data

    def _bad(self, name: str, what: str) -> MalformedRelayMessage:
        return MalformedRelayMessage(f"{self.kind}: {name!r} {what}")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, str):
            raise self._bad(name, f"must be a string, not {type(value).__name__}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self._bad(name, "must be true or false")
        return value

    def number(self, name: str, default: int | None = None) -> int:
        value = self.data.get(name, default)
        if value is None:
            raise self._bad(name, "is missing")
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
            raise self._bad(name, "must be a whole number")
        return value

    def interruptible(self, name: str = "interruptible") -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        return interruptible_value(
            value, lambda: self._bad(name, f"must be one of {INTERRUPTIBLE}")
        )


def _load(frame: str | bytes) -> tuple[str, Mapping[str, Any]]:
    if len(frame) > MAX_RELAY_CHARS:
        raise MalformedRelayMessage(f"a {len(frame)}-character message (at most {MAX_RELAY_CHARS})")
    try:
        data = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRelayMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedRelayMessage("not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedRelayMessage("no 'type'")
    return kind, data


def _text(f: _Fields) -> AppMessage:
    return TextMessage(f.text("token"), f.flag("last", False), f.text("lang", ""),
                       f.interruptible(), f.flag("preemptible", False))  # fmt: skip


def _play(f: _Fields) -> AppMessage:
    source = f.text("source")
    if not source.strip():
        raise f._bad("source", "is empty")
    return PlayMessage(source.strip(), f.number("loop", 1), f.interruptible(),
                       f.flag("preemptible", False))  # fmt: skip


def _send_digits(f: _Fields) -> AppMessage:
    digits = f.text("digits")
    if not digits or not set(digits) <= _DIGITS:
        raise f._bad("digits", "must be keypad keys (0-9, *, #, A-D) and w")
    return SendDigitsMessage(digits)


def _language(f: _Fields) -> AppMessage:
    message = LanguageMessage(f.text("ttsLanguage", ""), f.text("transcriptionLanguage", ""))
    if not message.tts_language and not message.transcription_language:
        raise f._bad("ttsLanguage", "and 'transcriptionLanguage' are both missing")
    return message


def _config(f: _Fields) -> AppMessage:
    try:
        return read_config(f.data)
    except ValueError as exc:
        raise MalformedRelayMessage(f"config: {exc}") from None


def _hints(f: _Fields) -> AppMessage:
    try:
        return read_hints(f.data)
    except ValueError as exc:
        raise MalformedRelayMessage(f"hints: {exc}") from None


def _end(f: _Fields) -> AppMessage:
    data = f.data.get("handoffData", "")
    if not isinstance(data, str):  # an object where the docs say a string: kept as its JSON
        data = json.dumps(data, separators=(",", ":"))
    return EndMessage(data)


_APP: Final[dict[str, Callable[[_Fields], AppMessage]]] = {
    "text": _text, "play": _play, "sendDigits": _send_digits, "language": _language,
    "config": _config, "hints": _hints, "end": _end,
}  # fmt: skip


def parse_app_message(frame: str | bytes) -> AppMessage:
    """One message the app sent (see the module docstring).

    Raises:
        MalformedRelayMessage: what is wrong with it (the ``error`` message's description).
    """
    kind, data = _load(frame)
    reader = _APP.get(kind)
    if reader is None:
        raise MalformedRelayMessage(f"unknown type {kind[:40]!r}")
    return reader(_Fields(kind, data))


def _setup(f: _Fields) -> PlatformMessage:
    params = f.data.get("customParameters") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise f._bad("customParameters", "must be an object of strings")
    return SetupMessage(
        session_id=f.text("sessionId"), account_sid=f.text("accountSid"),
        call_sid=f.text("callSid"), from_=f.text("from"), to=f.text("to"),
        direction=f.text("direction", "inbound"), call_status=f.text("callStatus", ""),
        parent_call_sid=f.text("parentCallSid", ""), forwarded_from=f.text("forwardedFrom", ""),
        call_type=f.text("callType", ""), caller_name=f.text("callerName", ""),
        custom_parameters=tuple(params.items()),
    )  # fmt: skip


_PLATFORM: Final[dict[str, Callable[[_Fields], PlatformMessage]]] = {
    "setup": _setup,
    "prompt": lambda f: PromptMessage(
        f.text("voicePrompt"), f.text("lang", ""), f.flag("last", True)
    ),  # fmt: skip
    "dtmf": lambda f: DtmfMessage(f.text("digit")),
    "interrupt": lambda f: InterruptMessage(
        f.text("utteranceUntilInterrupt", ""), f.number("durationUntilInterruptMs", 0)
    ),  # fmt: skip
    "error": lambda f: ErrorMessage(f.text("description", "")),
    "info": lambda f: InfoMessage(f.text("name"), f.text("value", "")),
    "configUpdated": lambda f: ConfigUpdatedMessage(),
}


def parse_platform_message(frame: str | bytes) -> PlatformMessage:
    """One message the platform sent: what an app reads (tests and the toolkit's app).

    Raises:
        MalformedRelayMessage: what is wrong with it.
    """
    kind, data = _load(frame)
    reader = _PLATFORM.get(kind)
    if reader is None:
        raise MalformedRelayMessage(f"unknown type {kind[:40]!r}")
    return reader(_Fields(kind, data))
