"""The options of an AssemblyAI streaming session, checked before any connection is made.

:class:`AssemblyAISettings` is what
:class:`sipgw.agent.services.assemblyai.stt.AssemblyAISTTService` is built with
(``agent/services/assemblyai/settings.py`` makes it from the loaded ``[assemblyai]`` section);
the limits are AssemblyAI's (docs/cloud-apis.md, "AssemblyAI streaming v3"): 50-1000 ms of audio per
message, at most :data:`MAX_KEYTERMS` keyterms of :data:`MAX_KEYTERM_CHARS` characters,
Universal-3 Pro's own parameters only for its models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sipgw.agent.services.stt.base import GIVE_UP_GRACE
from sipgw.agent.services.stt.uplink import AudioFormat

__all__ = [
    "MAX_CHUNK_MS",
    "MAX_INTERRUPTION_DELAY_MS",
    "MAX_KEYTERMS",
    "MAX_KEYTERM_CHARS",
    "MIN_CHUNK_MS",
    "REGION_URLS",
    "U3_FAMILY",
    "U3_LANGUAGES",
    "AssemblyAISettings",
    "check_keyterms",
    "speech_model_for",
]

REGION_URLS: Final[dict[str, str]] = {
    "default": "wss://streaming.assemblyai.com/v3/ws",
    "us": "wss://streaming.us.assemblyai.com/v3/ws",
    "eu": "wss://streaming.eu.assemblyai.com/v3/ws",
}
"""Streaming endpoints by data-residency region."""

MIN_CHUNK_MS: Final = 50
"""The API's smallest message, in milliseconds of audio."""

MAX_CHUNK_MS: Final = 1000
"""The API's largest message, in milliseconds of audio."""

U3_LANGUAGES: Final = frozenset({"en", "es", "de", "fr", "pt", "it"})
"""What ``u3-rt-pro`` transcribes, detecting and switching between them by itself (it takes
no language parameter); for any other language AssemblyAI points to ``whisper-rt`` (99
languages, detected automatically): https://assemblyai.com/docs/streaming/universal-3-pro/supported-languages
"""


U3_FAMILY: Final = frozenset({"u3-rt-pro", "u3-pro", "universal-3-5-pro", "universal-3-6-pro"})
"""The Universal-3 Pro models (``u3-pro`` is the deprecated alias of ``u3-rt-pro``): the
only ones that take ``interruption_delay`` and ``continuous_partials``."""

MAX_INTERRUPTION_DELAY_MS: Final = 1000
"""``interruption_delay`` is 0-1000 ms (AssemblyAI, "Universal-3 Pro Streaming Partial
Transcripts and Turn Detection")."""


def speech_model_for(language: str) -> str:
    """The ``speech_model`` for callers speaking ``language`` (an ISO 639-1 code; "" =
    the default model, ``u3-rt-pro``); see :data:`U3_LANGUAGES`."""
    code = language.strip().lower().split("-")[0]
    return "u3-rt-pro" if not code or code in U3_LANGUAGES else "whisper-rt"


MAX_KEYTERMS: Final = 100
"""Most ``keyterms_prompt`` terms a streaming session takes (AssemblyAI's streaming
keyterms page: https://www.assemblyai.com/docs/speech-to-text/universal-streaming/keyterms-prompting;
more is an error)."""

MAX_KEYTERM_CHARS: Final = 50
"""Longest single keyterm, in characters (the same page: longer ones are ignored)."""


@dataclass(frozen=True, slots=True)
class AssemblyAISettings:
    """Connection and session options for :class:`AssemblyAISTTService`."""

    api_key: str = field(repr=False)
    """Sent as ``Authorization: <key>`` (no ``Bearer``). Empty: no header, e.g.
    when ``url`` or ``extra_params`` carries a temporary ``token``."""
    url: str = REGION_URLS["default"]
    """Endpoint, see :data:`REGION_URLS`; a query already in it is kept."""
    speech_model: str = "u3-rt-pro"
    """The ``speech_model`` query parameter."""
    sample_rate: int = 8000
    """Samples per second of the audio passed to ``send_audio``."""
    encoding: str = "pcm_mulaw"
    """``pcm_mulaw`` (1 byte per sample) or ``pcm_s16le`` (2 bytes per sample)."""
    keyterms_prompt: tuple[str, ...] = ()
    """Terms to boost; sent as a JSON array when not empty."""
    prompt: str | None = None
    """Context prompt (u3 only, beta); omitted when None."""
    min_turn_silence: int | None = None
    """Milliseconds of silence before the end-of-turn check; None = server default."""
    max_turn_silence: int | None = None
    """Milliseconds of silence that force the end of a turn; None = server default."""
    interruption_delay: int | None = None
    """When the early partial comes, Universal-3 Pro only: the server adds at least 300 ms,
    so 0 gives it ~300 ms into continuous speech and 500 (the server default) ~800 ms;
    if it comes back empty the server tries again at twice, three times ... that point
    (AssemblyAI, "Universal-3 Pro Streaming Partial Transcripts and Turn Detection",
    https://assemblyai.com/docs/streaming/universal-3-pro/turn-detection-and-partials).
    None = not sent (the server's default)."""
    continuous_partials: bool | None = None
    """Universal-3 Pro only: a partial about every 3 s while speech goes on, on top of the
    early and the silence partials (the same page). None = not sent: the server decides
    (its default changed from off to on in 2026, and is off with ``speaker_labels``)."""
    chunk_ms: int = 100
    """Audio per WebSocket frame, 50-1000 ms (the API closes with 3007 otherwise)."""
    max_backlog_seconds: float = 30.0
    """Audio kept while reconnecting; older audio is dropped (and counted). More than the
    failure policy's ``stt_give_up_after`` (20 s), so nothing said before the call moves
    on is lost."""
    connect_timeout: float = 5.0
    """Budget for one connection attempt: TCP, TLS, upgrade and ``Begin``."""
    reconnect_for: float = 20.0 + GIVE_UP_GRACE
    """Seconds one outage is retried (waits and attempts), with backoff 0.2 s doubling,
    capped at 2 s (5 s doubling to 60 s after a rate-limit refusal); no attempt starts
    after it. Default: the failure policy's default give-up (20 s) plus
    :data:`sipgw.agent.services.stt.base.GIVE_UP_GRACE`;
    :meth:`AssemblyAISTTService.set_reconnect_window`
    sets it per call."""
    extra_params: Mapping[str, str] = field(default_factory=dict)
    """Extra query parameters (newer server options); they win over the above."""

    def __post_init__(self) -> None:
        """Reject values the API would refuse, before any connection is made."""
        AudioFormat(self.encoding, self.sample_rate)  # a known encoding, a positive rate
        if not MIN_CHUNK_MS <= self.chunk_ms <= MAX_CHUNK_MS:
            raise ValueError("chunk_ms must be between 50 and 1000 (the API's limits)")
        if self.max_backlog_seconds < 0:
            raise ValueError("max_backlog_seconds must not be negative")
        if self.connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        if self.reconnect_for < 0:
            raise ValueError("reconnect_for must not be negative")
        check_keyterms(self.keyterms_prompt)
        delay = self.interruption_delay
        if delay is not None and not 0 <= delay <= MAX_INTERRUPTION_DELAY_MS:
            raise ValueError(f"interruption_delay {delay} ms is outside 0-1000 ms")
        partials = {"interruption_delay": delay, "continuous_partials": self.continuous_partials}
        asked = [name for name, value in partials.items() if value is not None]
        if asked and self.speech_model not in U3_FAMILY:
            raise ValueError(
                f"{' and '.join(asked)}: Universal-3 Pro parameters, not for speech_model "
                f"{self.speech_model} (the callers' language selects it)"
            )


def check_keyterms(terms: tuple[str, ...] | list[str]) -> None:
    """Reject keyterms the service would refuse: more than :data:`MAX_KEYTERMS`
    terms, or one longer than :data:`MAX_KEYTERM_CHARS` characters (ValueError)."""
    if len(terms) > MAX_KEYTERMS:
        raise ValueError(f"{len(terms)} keyterms; AssemblyAI takes at most {MAX_KEYTERMS}")
    for term in terms:
        if len(term) > MAX_KEYTERM_CHARS:
            raise ValueError(
                f"keyterm {term[:20]!r}... is {len(term)} characters long;"
                f" AssemblyAI takes at most {MAX_KEYTERM_CHARS}"
            )
