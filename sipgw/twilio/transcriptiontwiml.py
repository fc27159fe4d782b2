"""``<Start><Transcription>`` and ``<Stop><Transcription>`` read, and the status callbacks
a real-time transcription posts built, sans-IO.

As Twilio's ``<Transcription>`` page gives them
(https://www.twilio.com/docs/voice/twiml/transcription): the noun's attributes (all
optional) are ``name``, ``track`` (``inbound_track``, ``outbound_track`` or
``both_tracks``, the default), ``statusCallbackUrl``, ``statusCallbackMethod`` (POST),
``languageCode`` (``en-US``), ``transcriptionEngine`` (``google``), ``speechModel``,
``profanityFilter`` (true), ``partialResults`` (false), ``hints``,
``enableAutomaticPunctuation`` (true), ``inboundTrackLabel``, ``outboundTrackLabel``,
``intelligenceService`` and ``enableProviderData``; ``<Config name value>`` and
``<Parameter name value>`` children are kept by name. ``<Stop><Transcription name>``
names the one to stop.

:class:`TranscriptionEvents` builds each callback's form: ``transcription-started``,
``transcription-content`` (``TranscriptionData``, JSON ``{"transcript", "confidence"}``,
``Track``, ``Final``), ``transcription-stopped`` and ``transcription-error``, each with
``AccountSid``, ``CallSid``, ``TranscriptionSid``, ``Timestamp`` (ISO 8601, UTC),
``TranscriptionEvent`` and ``SequenceId`` (1, 2, ... over the transcription's callbacks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "TRACKS",
    "StartTranscription",
    "StopTranscription",
    "Transcription",
    "TranscriptionEvents",
    "read_transcription",
]

TRACKS: Final = ("inbound_track", "outbound_track", "both_tracks")
"""``track``'s values."""
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


def _true(attrs: dict[str, str], name: str, default: bool) -> bool:
    value = attrs.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("true", "false"):
        raise ValueError(f"<Transcription {name}={value[:20]!r}>: true or false")
    return value == "true"


def read_transcription(
    attrs: dict[str, str], children: Sequence[tuple[str, dict[str, str]]]
) -> Transcription:
    """The noun of ``attrs`` and its ``children`` (tag, attributes).

    Raises:
        ValueError: a value Twilio does not take (the message says which).
    """
    track = attrs.get("track", "").strip() or "both_tracks"
    if track not in TRACKS:
        raise ValueError(f"<Transcription track={track[:40]!r}>: one of {', '.join(TRACKS)}")
    method = attrs.get("statusCallbackMethod", "").strip().upper() or "POST"
    if method not in ("POST", "GET"):
        raise ValueError(f"<Transcription statusCallbackMethod={method[:20]!r}>: POST or GET")
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
        track=track,
        status_callback_url=attrs.get("statusCallbackUrl", "").strip()[:_MAX],
        status_callback_method=method,
        language_code=attrs.get("languageCode", "").strip()[:40] or "en-US",
        transcription_engine=attrs.get("transcriptionEngine", "").strip()[:40] or "google",
        speech_model=attrs.get("speechModel", "").strip()[:80],
        profanity_filter=_true(attrs, "profanityFilter", True),
        partial_results=_true(attrs, "partialResults", False),
        hints=hints,
        enable_automatic_punctuation=_true(attrs, "enableAutomaticPunctuation", True),
        inbound_track_label=attrs.get("inboundTrackLabel", "").strip()[:_MAX],
        outbound_track_label=attrs.get("outboundTrackLabel", "").strip()[:_MAX],
        intelligence_service=attrs.get("intelligenceService", "").strip()[:_MAX],
        enable_provider_data=_true(attrs, "enableProviderData", False),
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
            "speechModel": noun.speech_model,
            "enableAutomaticPunctuation": str(noun.enable_automatic_punctuation).lower(),
        }
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
        self, track: str, transcript: str, confidence: float | None, final: bool
    ) -> dict[str, str]:
        """``transcription-content``: ``transcript`` heard on ``track`` (``final``: a
        finished utterance; else a partial result, whose ``confidence`` may be None: left
        out of ``TranscriptionData``)."""
        data: dict[str, object] = {"transcript": transcript}
        if confidence is not None:
            data["confidence"] = round(confidence, 6)
        return {
            **self._base("transcription-content"),
            "LanguageCode": self.noun.language_code, "Track": track,
            "TranscriptionData": json.dumps(data, separators=(",", ":")),
            "Final": str(final).lower(),
        }  # fmt: skip

    def stopped(self) -> dict[str, str]:
        """``transcription-stopped``."""
        return self._base("transcription-stopped")

    def error(self, why: str, code: str = "") -> dict[str, str]:
        """``transcription-error``: ``why`` (``TranscriptionError``) and its code."""
        return {**self._base("transcription-error"), "TranscriptionError": why[:500],
                "TranscriptionErrorCode": code}  # fmt: skip
