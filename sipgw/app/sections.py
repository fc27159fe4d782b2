"""The catalogue: every settings section of sipgw, in the order ``--help`` and the docs show.

Each section lives beside what it configures; this list only orders them. The CLI's flags
and help groups, ``docs/configuration.md`` and ``.env.example``
(:mod:`sipgw.app.settings_doc`), the masking of secrets and the checks that names are
unique all read it. A plug-in agent's sections come on top, when it is chosen.

Importing this module imports no vendor SDK (the vendors' sections are plain
dataclasses; their clients are imported when built).
"""

from __future__ import annotations

from collections.abc import Iterable

from sipgw.agent.amd.settings import AmdSection
from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
)
from sipgw.agent.echo.settings import EchoSection
from sipgw.agent.idle.settings import IdleSection
from sipgw.agent.resilience.settings import BreakerSection, FallbackSection
from sipgw.agent.s2s.settings import RealtimeSection, S2sSection, VoiceAgentSection
from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS
from sipgw.agent.srs.settings import SrsSection
from sipgw.agent.tools.settings import DeclaredToolsSection
from sipgw.agent.transfer.settings import TransferSection
from sipgw.agent.twiml.settings import StreamSection, TwilioAppSection, TwimlSection
from sipgw.app.admin.settings import AdminSettings, CallCommandSection
from sipgw.app.calls.settings import CallHeadersSection
from sipgw.app.campaigns.settings import CampaignSection
from sipgw.app.cluster.settings import ClusterSection
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.lines.settings import RoutesSection
from sipgw.app.operations.settings import OverloadConfig
from sipgw.app.security.settings import (
    AccessSection,
    DialSection,
    LimitsConfig,
    PrivacySection,
    RateLimitSection,
)
from sipgw.app.settings import (
    AgentSection,
    CallSection,
    HealthcheckSection,
    NetworkSection,
    OperationsSection,
    WorkersSection,
)
from sipgw.app.summary.settings import SummarySection
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.app.upstream.settings import AccountSection, DnsSection, OutboundSection
from sipgw.app.webhooks.settings import WebhookSection
from sipgw.foundation.settings import SectionInfo, StateSection, section_info
from sipgw.foundation.settings import check_names as check_catalogue

__all__ = [
    "CALL_ONLY",
    "SECTIONS",
    "AmdSection",
    "AssistantSection",
    "BreakerSection",
    "BuiltinToolsSection",
    "CallbackSection",
    "CallerContextSection",
    "DeclaredToolsSection",
    "EchoSection",
    "FallbackSection",
    "IdleSection",
    "PreemptiveSection",
    "RealtimeSection",
    "S2sSection",
    "SrsSection",
    "StreamSection",
    "TransferSection",
    "TwilioAppSection",
    "TwimlSection",
    "VoiceAgentSection",
    "check_names",
    "section_named",
    "serve_sections",
]
"""The catalogue, and the agent layer's sections by class: the app names them from here,
not by the agent's module paths (which the agent layer may rearrange)."""

_VENDOR_SECTIONS = tuple(
    vendor.section for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS) for vendor in table.values()
)


def _infos(classes: Iterable[type]) -> tuple[SectionInfo, ...]:
    infos = []
    for cls in classes:
        info = section_info(cls)
        if info is None:
            raise TypeError(f"{cls.__name__} is not a @section")
        infos.append(info)
    return tuple(infos)


SECTIONS: tuple[SectionInfo, ...] = _infos(
    (
        AgentSection, NetworkSection, AccountSection, RoutesSection, OutboundSection,
        CallCommandSection, AmdSection, CallHeadersSection, DnsSection, AccessSection,
        CallSection, OperationsSection, StateSection, AdminSettings, LegsSettings, TwilioApiSection,
        WebhookSection, ClusterSection, CampaignSection,
        SummarySection, WorkersSection, LimitsConfig,
        RateLimitSection, OverloadConfig, PrivacySection, EchoSection, AssistantSection,
        PreemptiveSection, BuiltinToolsSection, DeclaredToolsSection, TransferSection,
        IdleSection, CallerContextSection, CallbackSection, DialSection, FallbackSection,
        *_VENDOR_SECTIONS, VoiceAgentSection, RealtimeSection, S2sSection, TwimlSection,
        StreamSection, TwilioAppSection, SrsSection, BreakerSection, HealthcheckSection,
    )
)  # fmt: skip
"""Every section of sipgw, in order: the ones a newcomer meets first at the top."""

CALL_ONLY: tuple[SectionInfo, ...] = _infos((CallCommandSection,))
"""The sections only ``sipgw call`` reads: their flags are not ``sipgw serve``'s."""


def section_named(name: str, sections: Iterable[SectionInfo] = SECTIONS) -> SectionInfo | None:
    """The section declared as ``name`` (``network``), or None."""
    return next((info for info in sections if info.name == name), None)


def serve_sections(sections: Iterable[SectionInfo]) -> tuple[SectionInfo, ...]:
    """``sections`` without :data:`CALL_ONLY`: the flags of ``sipgw serve``."""
    return tuple(info for info in sections if info not in CALL_ONLY)


def check_names(sections: Iterable[SectionInfo], who: str) -> None:
    """Refuse sections whose variables or flags are also sipgw's (a plug-in's sections).

    Raises:
        ConfigError: a variable or flag of ``sections`` is already one of :data:`SECTIONS`.
    """
    check_catalogue(sections, who, SECTIONS)
