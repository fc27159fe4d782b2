"""What the gateway does for an agent plug-in at start: hands it its services, checks its record.

:func:`gateway_services` builds the :class:`~sipgw.agent.capabilities.GatewayServices` every
plug-in's factory may ask for (what agents may dial, read with the SIP core's parser; the
log redactor with every secret setting). :func:`check_capabilities` refuses, at start and
naming the setting as the user gave it, a configuration that asks an agent for what its
:class:`~sipgw.agent.capabilities.AgentCapabilities` record does not declare, rather than
letting it be ignored call after call: answering-machine detection on placed calls, warm
transfers, a transfer target for an agent that never transfers. Only the record is read:
no agent names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sipgw.agent.amd.settings import AmdMode, AmdSection
from sipgw.agent.capabilities import AgentCapabilities, GatewayServices
from sipgw.agent.conversation.sections import BuiltinToolsSection, CallbackSection
from sipgw.agent.transfer.settings import TransferSection
from sipgw.app.callqueues import CALL_QUEUES
from sipgw.app.conferences import PROCESS_ROOMS
from sipgw.app.security.privacy import load_redactor
from sipgw.app.security.settings import DialSection, PrivacySection, dial_policy
from sipgw.foundation.settings import (
    ConfigError,
    SectionInfo,
    Sources,
    load,
    secret_texts,
    value_of,
)
from sipgw.sip.dialpolicy import DialPolicy

if TYPE_CHECKING:
    from sipgw.agent.tools.callback_store import CallbackStore
    from sipgw.agent.tools.message_store import MessageStore

__all__ = ["agents_may_dial", "check_capabilities", "gateway_services"]


def agents_may_dial(sources: Sources) -> DialPolicy:
    """What agents configured by ``sources`` may dial (:func:`~sipgw.app.security.settings.
    dial_policy` of the sections loaded from them).

    Raises:
        ConfigError: ``SIPGW_CALLBACK_URI`` is no SIP URI, or an entry does not parse.
    """
    try:
        return dial_policy(
            load(DialSection, sources), load(BuiltinToolsSection, sources),
            load(CallbackSection, sources),
        )  # fmt: skip
    except ValueError as exc:  # a transfer target that is no SIP URI
        raise ConfigError(f"what agents may dial: {exc}") from None


def gateway_services(
    sources: Sources,
    policy: DialPolicy,
    sections: Iterable[SectionInfo] = (),
    secrets: Iterable[str] = (),
    callback_store: CallbackStore | None = None,
    message_store: MessageStore | None = None,
) -> GatewayServices:
    """What the gateway hands a plug-in built from ``sources``: ``policy`` (what its agents
    may dial), and a redactor masking the secret settings of ``sections`` (sipgw's
    catalogue and the plug-in's: the caller gives both, this module imports neither) and
    ``secrets``; the cluster's callback and message stores (``SIPGW_DATABASE_URL``), if any;
    this process's conference rooms (:data:`~sipgw.app.conferences.PROCESS_ROOMS`) and
    call queues (:data:`~sipgw.app.callqueues.CALL_QUEUES`).

    Raises:
        ConfigError: a redaction pattern is bad.
    """
    classes = [info.cls for info in sections]
    found = [*secret_texts(classes, sources), *secrets]
    redactor = load_redactor(load(PrivacySection, sources), found)
    return GatewayServices(
        policy, redactor, callback_store, message_store,
        conferences=PROCESS_ROOMS, call_queues=CALL_QUEUES,
    )  # fmt: skip


def check_capabilities(
    capabilities: AgentCapabilities, sources: Sources, agent: str, amd: AmdMode, *, main: bool
) -> None:
    """Refuse settings that ask agent ``agent`` for what it does not declare.

    Args:
        capabilities: its record.
        sources: the settings (a line's, for a line's agent).
        agent: how messages name it (``the realtime agent``, a line's agent spec).
        amd: the detection its placed calls ask for (``SIPGW_AMD``, a line's ``amd``).
        main: it is the gateway's ``--agent``: settings that only agents which transfer
            read (``SIPGW_TRANSFER_TARGET``, ``SIPGW_TRANSFER_MODE=warm``) are refused when
            it does not transfer at all (another agent of an account or a line may).

    Raises:
        ConfigError: naming the setting as given, and the agent.
    """
    if amd is not AmdMode.OFF and not capabilities.amd:
        raise ConfigError(
            f"{sources.label(AmdSection, 'mode')}={amd.value}: {agent} does not run "
            "answering-machine detection (docs/amd.md), so its placed calls would greet every "
            "voicemail; set it to off, or use an agent that declares amd (the assistant)"
        )
    transfers = capabilities.transfers
    mode = value_of(TransferSection, "mode", sources)
    if mode == "warm" and "warm" not in transfers and (transfers or main):
        kinds = " and ".join(sorted(transfers)) or "no"
        raise ConfigError(
            f"{sources.label(TransferSection, 'mode')}=warm: {agent} makes {kinds} transfers "
            "(its record declares no warm ones; docs/assistant.md, Warm transfer); set it to "
            "blind, or use an agent that transfers warm (the assistant)"
        )
    target = value_of(BuiltinToolsSection, "transfer_target", sources)
    if target and not transfers and main:
        raise ConfigError(
            f"{sources.label(BuiltinToolsSection, 'transfer_target')}={target}: {agent} makes "
            "no transfers (its record declares none); leave it empty, or use an agent that "
            "transfers"
        )
