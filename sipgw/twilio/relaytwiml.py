"""``<Connect><ConversationRelay>`` read into a verb, sans-IO (Twilio's "TwiML Voice:
<ConversationRelay>" page; Telnyx's TeXML verb of the same name takes the same attributes).

Attributes read (Twilio's spelling): ``url`` (the app's WebSocket, required),
``welcomeGreeting`` and ``welcomeGreetingInterruptible``, ``interruptible`` (``none``,
``dtmf``, ``speech``, ``any``; ``true``/``false`` as ``any``/``none``), ``dtmfDetection``,
``language`` with ``ttsLanguage`` and ``transcriptionLanguage``, ``ttsProvider`` and
``voice``, ``transcriptionProvider`` and ``speechModel``, ``hints``, ``preemptible``,
``reportInputDuringAgentSpeech``, ``partialPrompts``, ``events`` and ``debug`` (either, space-
or comma-separated: ``speaker-events``, ``tokens-played``, ``debugging``),
``ttsTextNormalization`` and ``elevenlabsTextNormalization`` (``auto``, ``on``, ``off``;
the first wins), the turn-taking ones of Twilio's SDK (its typings' spelling, or camel case):
``interruptSensitivity`` (``low``, ``medium``, ``high``), ``ignorebackchannel``,
``speechtimeout`` (:func:`~sipgw.twilio.relayconfig.speech_timeout_ms`), ``turnDetection``,
``echoPromptFiltering``, ``partialPromptOnHangup``, ``eotThreshold`` (0 to 1);
``applicationReconnect``;
nouns ``<Language
code ttsProvider voice transcriptionProvider speechModel>`` and ``<Parameter name value>``.
Any other attribute is kept by name in :attr:`ConversationRelay.ignored` so the agent can
say it is not followed.
Every failure is a :class:`~sipgw.twilio.document.TwimlError`-compatible ``ValueError``
raised by the caller with this module's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sipgw.twilio.attributes import true_or_false
from sipgw.twilio.relayconfig import (
    SENSITIVITIES,
    eot_threshold,
    interruptible_value,
    speech_timeout_ms,
)

__all__ = [
    "INFO_EVENTS",
    "SENSITIVITIES",
    "ConnectRelay",
    "ConversationRelay",
    "RelayLanguage",
    "read_relay",
    "speech_timeout_ms",
]

_READ: Final = frozenset({
    "url", "welcomeGreeting", "welcomeGreetingInterruptible", "interruptible", "dtmfDetection",
    "language", "ttsLanguage", "transcriptionLanguage", "ttsProvider", "voice",
    "transcriptionProvider", "speechModel", "hints", "preemptible",
    "reportInputDuringAgentSpeech", "partialPrompts", "events", "debug", "ttsTextNormalization",
    "elevenlabsTextNormalization", "interruptSensitivity", "ignorebackchannel",
    "ignoreBackchannel", "speechtimeout", "speechTimeout", "turnDetection", "echoPromptFiltering",
    "partialPromptOnHangup", "applicationReconnect", "eotThreshold",
})  # fmt: skip
INFO_EVENTS: Final = ("speaker-events", "tokens-played", "debugging")
"""What ``events`` (``debug``) may ask: ``info`` messages of these kinds."""


@dataclass(frozen=True, slots=True)
class RelayLanguage:
    """``<Language>``: the voice and recognizer to use for one language code."""

    code: str
    tts_provider: str = ""
    voice: str = ""
    transcription_provider: str = ""
    speech_model: str = ""


@dataclass(frozen=True, slots=True)
class ConversationRelay:
    """``<ConversationRelay>``: the platform does STT and TTS, the app exchanges text."""

    url: str
    welcome_greeting: str = ""
    welcome_greeting_interruptible: str = "any"
    interruptible: str = "any"
    dtmf_detection: bool = False
    language: str = ""
    """The TTS's and recognizer's language ("": en-US, the prompts' ``lang``)."""
    tts_language: str = ""
    transcription_language: str = ""
    tts_provider: str = ""
    voice: str = ""
    transcription_provider: str = ""
    speech_model: str = ""
    hints: tuple[str, ...] = ()
    preemptible: bool = False
    report_input_during_agent_speech: str = "none"
    """``none`` (``false``), ``dtmf``, ``speech`` or ``any`` (``true``): which of the caller's
    input while the agent speaks goes to the app."""
    partial_prompts: bool = False
    """``prompt`` messages with ``last: false`` as the caller's words come."""
    events: frozenset[str] = frozenset()
    """The ``info`` messages asked for (``events``, ``debug``): of :data:`INFO_EVENTS`."""
    text_normalization: str = ""
    """``auto``, ``on`` or ``off`` (``ttsTextNormalization``, else
    ``elevenlabsTextNormalization``); "": the voice's own default."""
    interrupt_sensitivity: str = "high"
    """How readily the caller's speech cuts a reply: ``low``, ``medium`` or ``high`` (the
    default, the assistant's barge-in settings)."""
    ignore_backchannel: bool = True
    """A backchannel over a reply cuts nothing and is no prompt (``ignorebackchannel``;
    absent: true, the assistant's rule)."""
    speech_timeout_ms: int | None = None
    """The caller's silence that ends their turn (``speechtimeout``); None: ``auto``, the
    speech-to-text's own end of turn."""
    turn_detection: bool = False
    """The turn model ends the caller's turn (``turnDetection``)."""
    echo_prompt_filtering: bool = False
    """Transcripts that echo the agent's recent words are dropped (``echoPromptFiltering``)."""
    partial_prompt_on_hangup: bool = False
    """The caller's unfinished turn is the last ``prompt`` when the call hangs up."""
    application_reconnect: bool = False
    """A socket that drops is reconnected, what was sent meanwhile replayed
    (``applicationReconnect``; :mod:`sipgw.agent.twiml.relay.reconnect`)."""
    eot_threshold: float | None = None
    """How sure the recognizer must be that the turn is over, 0 to 1 (``eotThreshold``);
    None: the recognizer's own."""
    languages: tuple[RelayLanguage, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()
    """The ``<Parameter>`` nouns, in order (``setup``'s ``customParameters``)."""
    ignored: tuple[str, ...] = ()
    """Attributes given that sipgw does not read (named in the log and the record)."""


@dataclass(frozen=True, slots=True)
class ConnectRelay:
    """``<Connect><ConversationRelay>``: the document waits until the session ends."""

    relay: ConversationRelay
    action: str = ""
    """Fetched (with ``HandoffData``) when the session ends; its TwiML runs next."""


def _interruptible(attrs: Mapping[str, str], name: str) -> str:
    value = attrs.get(name, "").strip() or "any"

    def bad() -> ValueError:
        return ValueError(f"<ConversationRelay {name}={value[:40]!r}>: none, dtmf, speech or any")

    return interruptible_value(value, bad)


def _eot_threshold(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return eot_threshold(value.strip())
    except ValueError:
        raise ValueError(f"<ConversationRelay eotThreshold={value[:40]!r}>: a number from 0 "
                         "to 1") from None  # fmt: skip


def _either(attrs: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` given (the SDK's lowercase spelling, or camel case)."""
    return next((attrs[name] for name in names if name in attrs), "")


def read_relay(
    attrs: Mapping[str, str],
    children: Sequence[tuple[str, Mapping[str, str]]],
    action: str = "",
) -> ConnectRelay:
    """The verb of a ``<Connect action>`` holding ``<ConversationRelay attrs>`` with
    ``children`` (each noun's tag and attributes).

    Raises:
        ValueError: no ``url``, a value out of range, a noun other than ``<Language>`` and
            ``<Parameter>``, a ``<Language>`` without ``code`` or a ``<Parameter>`` without
            ``name``.
    """
    url = attrs.get("url", "").strip()
    if not url:
        raise ValueError("<ConversationRelay> without a url")
    languages: list[RelayLanguage] = []
    parameters: list[tuple[str, str]] = []
    for tag, noun in children:
        if tag == "Parameter":
            if not noun.get("name"):
                raise ValueError("a <Parameter> without a name")
            parameters.append((noun["name"], noun.get("value", "")))
        elif tag == "Language":
            if not noun.get("code"):
                raise ValueError("a <Language> without a code")
            languages.append(RelayLanguage(
                noun["code"], noun.get("ttsProvider", ""), noun.get("voice", ""),
                noun.get("transcriptionProvider", ""), noun.get("speechModel", ""),
            ))  # fmt: skip
        else:
            raise ValueError(f"<{tag[:40]}> inside <ConversationRelay> (<Language>, <Parameter>)")
    report = attrs.get("reportInputDuringAgentSpeech", "none").strip().lower() or "none"
    report = {"true": "any", "false": "none"}.get(report, report)
    if report not in ("none", "dtmf", "speech", "any"):
        raise ValueError(
            f"<ConversationRelay reportInputDuringAgentSpeech={report[:40]!r}>: none, dtmf, "
            "speech or any"
        )
    events = frozenset(
        word for name in ("events", "debug")
        for word in attrs.get(name, "").replace(",", " ").split()
    )  # fmt: skip
    for word in events - frozenset(INFO_EVENTS):
        raise ValueError(f"<ConversationRelay events={word[:40]!r}>: {', '.join(INFO_EVENTS)}")
    normalization = (
        attrs.get("ttsTextNormalization", "").strip().lower()
        or attrs.get("elevenlabsTextNormalization", "").strip().lower()
    )
    if normalization not in ("", "auto", "on", "off"):
        raise ValueError(
            f"<ConversationRelay ttsTextNormalization={normalization[:40]!r}>: auto, on or off"
        )
    sensitivity = attrs.get("interruptSensitivity", "").strip().lower() or "high"
    if sensitivity not in SENSITIVITIES:
        raise ValueError(
            f"<ConversationRelay interruptSensitivity={sensitivity[:40]!r}>: low, medium or high"
        )
    backchannel = _either(attrs, "ignorebackchannel", "ignoreBackchannel")
    relay = ConversationRelay(
        url=url,
        welcome_greeting=" ".join(attrs.get("welcomeGreeting", "").split()),
        welcome_greeting_interruptible=_interruptible(attrs, "welcomeGreetingInterruptible"),
        interruptible=_interruptible(attrs, "interruptible"),
        dtmf_detection=true_or_false(attrs, "dtmfDetection", False, "ConversationRelay"),
        language=attrs.get("language", "").strip(),
        tts_language=attrs.get("ttsLanguage", "").strip(),
        transcription_language=attrs.get("transcriptionLanguage", "").strip(),
        tts_provider=attrs.get("ttsProvider", "").strip(),
        voice=attrs.get("voice", "").strip(),
        transcription_provider=attrs.get("transcriptionProvider", "").strip(),
        speech_model=attrs.get("speechModel", "").strip(),
        hints=tuple(h.strip() for h in attrs.get("hints", "").split(",") if h.strip()),
        preemptible=true_or_false(attrs, "preemptible", False, "ConversationRelay"),
        report_input_during_agent_speech=report,
        partial_prompts=true_or_false(attrs, "partialPrompts", False, "ConversationRelay"),
        events=events,
        text_normalization=normalization,
        interrupt_sensitivity=sensitivity,
        ignore_backchannel=true_or_false(
            {"ignorebackchannel": backchannel}, "ignorebackchannel", True, "ConversationRelay"
        ),
        speech_timeout_ms=speech_timeout_ms(_either(attrs, "speechtimeout", "speechTimeout")),
        turn_detection=true_or_false(attrs, "turnDetection", False, "ConversationRelay"),
        echo_prompt_filtering=true_or_false(
            attrs, "echoPromptFiltering", False, "ConversationRelay"
        ),
        partial_prompt_on_hangup=true_or_false(
            attrs, "partialPromptOnHangup", False, "ConversationRelay"
        ),
        application_reconnect=true_or_false(
            attrs, "applicationReconnect", False, "ConversationRelay"
        ),
        eot_threshold=_eot_threshold(attrs.get("eotThreshold", "")),
        languages=tuple(languages),
        parameters=tuple(parameters),
        ignored=tuple(sorted(name for name in attrs if name not in _READ)),
    )
    return ConnectRelay(relay, action.strip())
