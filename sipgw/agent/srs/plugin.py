"""The ``srs`` plug-in: a SIPREC recording server's calls, each participant transcribed.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` (``--agent srs``, a line's
``agent = "srs"``); the app answers its calls as recording sessions (:mod:`sipgw.app.srs`)
and hands their streams to :class:`~sipgw.agent.srs.transcriber.RecordingTranscriber`.
"""

from __future__ import annotations

from pathlib import Path

from sipgw.agent.base import AgentFactory, CallControl
from sipgw.agent.capabilities import AgentCapabilities, GatewayServices, declare
from sipgw.agent.record import CallRecord
from sipgw.agent.srs.settings import SrsSection
from sipgw.agent.srs.transcriber import RecordingTranscriber
from sipgw.foundation.settings import Sources, load, require

__all__ = ["SRS_CAPABILITIES", "srs_agent"]

SRS_CAPABILITIES = AgentCapabilities(
    amd=False, legs=frozenset({"sip"}), recording_sessions=True, paid=True
)
"""``srs``: recording sessions only (SIP), no detection, no keypad, no transfers; paid
(the speech-to-text)."""


@declare(SRS_CAPABILITIES)
def srs_agent(srs: SrsSection, sources: Sources, gateway: GatewayServices) -> AgentFactory:
    """The ``srs`` plug-in: each recording session's streams transcribed through
    ``SIPGW_SRS_STT``, its record in ``SIPGW_SRS_RECORD_DIR``.

    Raises:
        ConfigError: the speech-to-text's settings are missing or refused.
    """
    from sipgw.agent.services.registry import STT_VENDORS

    vendor = STT_VENDORS[srs.stt]
    require([vendor.section], sources, f"SIPGW_SRS_STT={srs.stt}")
    open_stt = vendor.clients(load(vendor.section, sources))
    directory = Path(srs.record_dir) if srs.record_dir else None
    redactor = gateway.redactor

    def make(call: CallControl) -> RecordingTranscriber:
        return RecordingTranscriber(call, open_stt, CallRecord(directory, call.call_id, redactor))

    return make
