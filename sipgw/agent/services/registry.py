"""The vendor registry: which STT, LLM and TTS services the assistant can use.

One :class:`Vendor` per service, in :data:`STT_VENDORS`, :data:`LLM_VENDORS` or
:data:`TTS_VENDORS`: its name (the value of ``SIPGW_STT``, ``SIPGW_LLM`` or
``SIPGW_TTS``), its settings section (a frozen dataclass of
:func:`~sipgw.foundation.settings.setting` fields: the CLI checks, ``.env.example`` and
``docs/configuration.md`` take it from there), and a function from that section to a
maker of the vendor's clients: it builds (and so checks) the client's own typed settings
once, at start, with code mypy checks. The section and that function live with the vendor's
clients, in ``agent/services/<vendor>/settings.py``.

Adding a vendor: a folder ``agent/services/<vendor>/`` with its client, implementing
:class:`~sipgw.agent.services.stt.base.SpeechToText`,
:class:`~sipgw.agent.services.llm.base.ChatLLM` or
:class:`~sipgw.agent.services.tts.base.TextToSpeech`, and its ``settings.py`` (its section and
its client function); here its entry. The catalogue (:mod:`sipgw.app.sections`)
takes every registered vendor's section from these tables, so it is not listed there. The
assistant never names a vendor:
:mod:`sipgw.agent.assistant.plugin` builds one LLM client for all calls and hands each
call factories for its own STT and TTS.

A vendor's client module (and its SDK) is imported only when its client is built, never when
this table or a section is read: the CLI and the health check stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sipgw.agent.services.assemblyai.settings import AssemblyAISection, assemblyai_clients
from sipgw.agent.services.elevenlabs.settings import ElevenLabsSection, elevenlabs_clients
from sipgw.agent.services.openai.settings import OpenAISection, openai_clients

if TYPE_CHECKING:
    from sipgw.agent.services.llm.base import ChatLLM
    from sipgw.agent.services.stt.base import SpeechToText
    from sipgw.agent.services.tts.base import TextToSpeech

__all__ = ["LLM_VENDORS", "STT_VENDORS", "TTS_VENDORS", "Vendor"]

SectionT = TypeVar("SectionT")
ClientT = TypeVar("ClientT")


@dataclass(frozen=True, slots=True)
class Vendor(Generic[SectionT, ClientT]):
    """One vendor: its settings section and how its clients are made from it."""

    name: str
    """The value that picks it (``SIPGW_STT=assemblyai``)."""
    section: type[SectionT]
    """Its settings section (required keys are checked from it)."""
    clients: Callable[[SectionT], Callable[[], ClientT]]
    """The loaded section -> a maker of clients (no network traffic); raises ConfigError
    when the client's settings refuse the values."""
    voice: Callable[[SectionT], tuple[str, str]] | None = None
    """A text-to-speech vendor's voice and model in the loaded section: the fallback lines
    are cached per voice (agent/resilience/line_cache.py)."""
    line_keys: Mapping[str, str] = field(default_factory=dict)
    """A routes file line's key -> the field of :attr:`section` it sets (``voice`` ->
    ``voice_id``): what a line may change of this vendor by name (docs/lines.md)."""
    backlog_ms: Callable[[SectionT], int] | None = None
    """A speech-to-text vendor's backlog in the loaded section: how much of the caller's
    audio its client keeps while the service is down (checked against the failure policy)."""
    wideband: Callable[[SectionT], Callable[[], ClientT]] | None = None
    """For HD-voice calls (docs/hd-voice.md): a speech-to-text vendor's clients that take
    16 kHz s16le audio, a text-to-speech vendor's whose replies speak it; None: its calls
    hear, or speak, 8 kHz μ-law whatever the codec."""


# --------------------------------------------------------------------------- the tables

STT_VENDORS: Mapping[str, Vendor[Any, SpeechToText]] = {
    "assemblyai": Vendor(
        "assemblyai",
        AssemblyAISection,
        assemblyai_clients,
        line_keys={"keyterms": "keyterms", "language": "language"},
        backlog_ms=lambda section: section.max_backlog_ms,
        wideband=partial(assemblyai_clients, wideband=True),
    ),
}
"""Speech-to-text vendors; the first is ``SIPGW_STT``'s default."""
LLM_VENDORS: Mapping[str, Vendor[Any, ChatLLM]] = {
    "openai": Vendor("openai", OpenAISection, openai_clients),
}
"""Chat model vendors; the first is ``SIPGW_LLM``'s default."""
TTS_VENDORS: Mapping[str, Vendor[Any, TextToSpeech]] = {
    "elevenlabs": Vendor(
        "elevenlabs",
        ElevenLabsSection,
        elevenlabs_clients,
        lambda s: (s.voice_id, s.model_id),
        line_keys={"voice": "voice_id"},
        wideband=partial(elevenlabs_clients, wideband=True),
    ),
}
"""Text-to-speech vendors; the first is ``SIPGW_TTS``'s default."""
