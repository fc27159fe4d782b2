"""The ``srs`` plug-in: a SIPREC recording server's calls, each participant transcribed.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` (``--agent srs``, a line's
``agent = "srs"``); the app answers its calls as recording sessions (:mod:`sipgw.app.srs`)
and hands their streams to :class:`~sipgw.agent.srs.transcriber.SrsAgent`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sipgw.agent.base import AgentFactory, CallControl
from sipgw.agent.capabilities import AgentCapabilities, GatewayServices, declare
from sipgw.agent.record import CallRecord
from sipgw.agent.services.llm.base import ChatLLM
from sipgw.agent.srs.settings import SrsSection
from sipgw.agent.srs.transcriber import SrsAgent
from sipgw.foundation.settings import ConfigError, Sources, load, require

__all__ = ["SRS_CAPABILITIES", "srs_agent"]

SRS_CAPABILITIES = AgentCapabilities(
    amd=False, legs=frozenset({"sip"}), recording_sessions=True, paid=True
)
"""``srs``: recording sessions only (SIP), no detection, no keypad, no transfers; paid
(the speech-to-text)."""


@declare(SRS_CAPABILITIES)
def srs_agent(srs: SrsSection, sources: Sources, gateway: GatewayServices) -> AgentFactory:
    """The ``srs`` plug-in: each recording session's streams transcribed through
    ``SIPGW_SRS_STT``, its record in ``SIPGW_SRS_RECORD_DIR``; with
    ``SIPGW_SRS_ASSIST_PROMPT_FILE``, agent assist through ``SIPGW_SRS_ASSIST_LLM`` (a chat
    client per call, closed with it: its HTTP pool lives no longer than the call).

    Raises:
        ConfigError: the speech-to-text's or the chat model's settings are missing or
            refused, or the prompt file cannot be read.
    """
    from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS

    vendor = STT_VENDORS[srs.stt]
    require([vendor.section], sources, f"SIPGW_SRS_STT={srs.stt}")
    open_stt = vendor.clients(load(vendor.section, sources))
    directory = Path(srs.record_dir) if srs.record_dir else None
    redactor = gateway.redactor
    assist: tuple[Callable[[], ChatLLM], str] | None = None
    if srs.assist_prompt_file:
        try:
            prompt = Path(srs.assist_prompt_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"SIPGW_SRS_ASSIST_PROMPT_FILE: {exc}") from None
        llm_vendor = LLM_VENDORS[srs.assist_llm]
        require([llm_vendor.section], sources, f"SIPGW_SRS_ASSIST_LLM={srs.assist_llm}")
        assist = (llm_vendor.clients(load(llm_vendor.section, sources)), prompt)

    def make(call: CallControl) -> SrsAgent:
        record = CallRecord(directory, call.call_id, redactor)
        return SrsAgent(call, open_stt, record, assist)

    return make
