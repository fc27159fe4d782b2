"""``<Start><Transcription>`` and ``<Stop><Transcription>`` read, and the status callbacks
a real-time transcription posts built, sans-IO.

As Twilio's ``<Transcription>`` page gives them
(https://www.twilio.com/docs/voice/twiml/transcription): the noun's attributes (all
optional) are ``name``, ``statusCallbackUrl``, ``languageCode`` (``en-US``), ``track``
(``inbound_track``, ``outbound_track`` or ``both_tracks``, the default),
``inboundTrackLabel``, ``outboundTrackLabel``, ``transcriptionEngine`` (``google``),
``speechModel`` (``telephony``), ``enableProviderData`` (false), ``profanityFilter``
(true), ``partialResults`` (false), ``hints``, ``enableAutomaticPunctuation`` (true),
``intelligenceService``, ``conversationConfiguration`` and ``conversationId``; the SDK's
``statusCallbackMethod`` (POST) is read too, and ``<Config name value>`` and ``<Parameter
name value>`` children are kept by name. ``<Stop><Transcription name>`` names the one to
stop.

:class:`TranscriptionEvents` builds each callback's form, with the page's fields:
``transcription-started`` (``ProviderConfiguration``, a JSON object of strings:
``profanityFilter``, ``speechModel``, ``enableAutomaticPunctuation`` and, when given,
``hints``; ``TranscriptionEngine``, ``Name``, ``Track``, ``InboundTrackLabel``,
``OutboundTrackLabel``, ``PartialResults``, ``LanguageCode``), ``transcription-content``
(``LanguageCode``, ``Track``: ``inbound_track`` or ``outbound_track``,
``TranscriptionData``: JSON ``{"transcript", "confidence"}``, ``Final``; with
``partialResults`` the page's rule holds: ``Stability`` is sent and ``confidence`` is not),
``transcription-stopped`` and ``transcription-error`` (``TranscriptionErrorCode``,
``TranscriptionError``), each with ``AccountSid``, ``CallSid``, ``TranscriptionSid``,
``Timestamp`` (ISO 8601, UTC) and ``SequenceId`` (1, 2, ... over the transcription's
callbacks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sipgw.twilio.attributes import post_or_get, track_value, true_or_false

__all__ = [
    "PROVIDER_UNAVAILABLE",
    "StartTranscription",
    "StopTranscription",
    "Transcription",
    "TranscriptionEvents",
    "read_transcription",
]

PROVIDER_UNAVAILABLE: Final = "32655"
"""``TranscriptionErrorCode`` of a speech-to-text that cannot be reached (Twilio's page's
example: ``32655``, ``Provider Unavailable``)."""
_DEFAULT_MODEL: Final = "telephony"
"""``speechModel``'s default (Twilio's page), as ``ProviderConfiguration`` names it."""
_MAX: Final = 2000
"""Longest attribute value kept."""


@dataclass(frozen=True, slots=True)
class Transcription:
    """One ``<Transcription>`` noun (see the module docstring)."""

    name: str = ""
    track: str = "both_tracks"
    status_callback_url: str = ""
    status_callback_method: str = "POST"
    language_code: str = "en-US"
    transcription_engine: str = "google"
    speech_model: str = ""
    profanity_filter: bool = True
    partial_results: bool = False
    hints: tuple[str, ...] = ()
    enable_automatic_punctuation: bool = True
    inbound_track_label: str = ""
    outbound_track_label: str = ""
    intelligence_service: str = ""
    enable_provider_data: bool = False
    conversation_configuration: str = ""
    conversation_id: str = ""
    config: tuple[tuple[str, str], ...] = ()
    """``<Config name value>`` children."""
    parameters: tuple[tuple[str, str], ...] = ()
    """``<Parameter name value>`` children."""

    @property
    def tracks(self) -> tuple[str, ...]:
        """The tracks transcribed: ``inbound_track``, ``outbound_track`` or both."""
        if self.track == "both_tracks":
            return ("inbound_track", "outbound_track")
        return (self.track,)


@dataclass(frozen=True, slots=True)
class StartTranscription:
    """``<Start><Transcription>``: the call's audio transcribed; the document goes on."""

    transcription: Transcription


@dataclass(frozen=True, slots=True)
class StopTranscription:
    """``<Stop><Transcription name>``: that transcription stopped ("" names none)."""

    name: str = ""


def read_transcription(
    attrs: dict[str, str], children: Sequence[tuple[str, dict[str, str]]]
) -> Transcription:
    """The noun of ``attrs`` and its ``children`` (tag, attributes).

    Raises:
        ValueError: a value Twilio does not take (the message says which).
    """
    config: list[tuple[str, str]] = []
    parameters: list[tuple[str, str]] = []
    for tag, child in children:
        if tag not in ("Config", "Parameter"):
            raise ValueError(f"<{tag[:40]}> inside <Transcription> (only <Config>, <Parameter>)")
        pair = (child.get("name", "")[:_MAX], child.get("value", "")[:_MAX])
        (config if tag == "Config" else parameters).append(pair)
    hints = tuple(h.strip() for h in attrs.get("hints", "").split(",") if h.strip())
    return Transcription(
        name=attrs.get("name", "").strip()[:_MAX],
        track=track_value(attrs, "Transcription"),
        status_callback_url=attrs.get("statusCallbackUrl", "").strip()[:_MAX],
        status_callback_method=post_or_get(attrs, "statusCallbackMethod", "Transcription"),
        language_code=attrs.get("languageCode", "").strip()[:40] or "en-US",
        transcription_engine=attrs.get("transcriptionEngine", "").strip()[:40] or "google",
        speech_model=attrs.get("speechModel", "").strip()[:80],
        profanity_filter=true_or_false(attrs, "profanityFilter", True, "Transcription"),
        partial_results=true_or_false(attrs, "partialResults", False, "Transcription"),
        hints=hints,
        enable_automatic_punctuation=true_or_false(
            attrs, "enableAutomaticPunctuation", True, "Transcription"
        ),
        inbound_track_label=attrs.get("inboundTrackLabel", "").strip()[:_MAX],
        outbound_track_label=attrs.get("outboundTrackLabel", "").strip()[:_MAX],
        intelligence_service=attrs.get("intelligenceService", "").strip()[:_MAX],
        enable_provider_data=true_or_false(attrs, "enableProviderData", False, "Transcription"),
        conversation_configuration=attrs.get("conversationConfiguration", "").strip()[:_MAX],
        conversation_id=attrs.get("conversationId", "").strip()[:_MAX],
        config=tuple(config),
        parameters=tuple(parameters),
    )


def _now() -> str:
    """Now, ISO 8601 in UTC with microseconds (``2026-11-26T18:20:27.123456Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class TranscriptionEvents:
    """The status callbacks' forms of one transcription, numbered in order."""

    noun: Transcription
    account_sid: str
    call_sid: str
    transcription_sid: str
    sequence: int = 0
    clock: Callable[[], str] = field(default=_now, repr=False)
    """Called for each ``Timestamp`` (a test may fix it)."""

    def _base(self, event: str) -> dict[str, str]:
        self.sequence += 1
        return {
            "AccountSid": self.account_sid, "CallSid": self.call_sid,
            "TranscriptionSid": self.transcription_sid, "Timestamp": self.clock(),
            "TranscriptionEvent": event, "SequenceId": str(self.sequence),
        }  # fmt: skip

    def started(self) -> dict[str, str]:
        """``transcription-started``, with what the noun asked for."""
        noun = self.noun
        provider = {
            "profanityFilter": str(noun.profanity_filter).lower(),
            "speechModel": noun.speech_model or _DEFAULT_MODEL,
            "enableAutomaticPunctuation": str(noun.enable_automatic_punctuation).lower(),
        }
        if noun.hints:
            provider["hints"] = ", ".join(noun.hints)
        return {
            **self._base("transcription-started"),
            "ProviderConfiguration": json.dumps(provider, separators=(",", ":")),
            "Name": noun.name, "Track": noun.track,
            "InboundTrackLabel": noun.inbound_track_label,
            "OutboundTrackLabel": noun.outbound_track_label,
            "PartialResults": str(noun.partial_results).lower(),
            "LanguageCode": noun.language_code,
            "TranscriptionEngine": noun.transcription_engine,
        }  # fmt: skip

    def content(
        self,
        track: str,
        transcript: str,
        confidence: float | None,
        final: bool,
        stability: float | None = None,
    ) -> dict[str, str]:
        """``transcription-content``: ``transcript`` heard on ``track`` (``final``: a
        finished utterance; else a partial result). As Twilio's page has it, a
        transcription with ``partialResults`` sends ``Stability`` (``stability``, 1.0 for a
        final result when None) and no ``confidence``; one without sends ``confidence``
        (left out when None) and no ``Stability``."""
        data: dict[str, object] = {"transcript": transcript}
        form = {
            **self._base("transcription-content"),
            "LanguageCode": self.noun.language_code, "Track": track,
        }  # fmt: skip
        if self.noun.partial_results:
            value = 1.0 if stability is None and final else (stability or 0.0)
            form["Stability"] = str(round(value, 2))
        elif confidence is not None:
            data["confidence"] = round(confidence, 6)
        form["TranscriptionData"] = json.dumps(data, separators=(",", ":"))
        form["Final"] = str(final).lower()
        return form

    def stopped(self) -> dict[str, str]:
        """``transcription-stopped``."""
        return self._base("transcription-stopped")

    def error(self, why: str, code: str = "") -> dict[str, str]:
        """``transcription-error``: ``why`` (``TranscriptionError``) and its code."""
        return {**self._base("transcription-error"), "TranscriptionError": why[:500],
                "TranscriptionErrorCode": code}  # fmt: skip
