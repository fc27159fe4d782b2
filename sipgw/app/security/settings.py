"""What agents may dial: the gateway's allow-list, whatever the agent.

:class:`DialSection` (``SIPGW_DIAL_ALLOW``) and :func:`dial_policy`, which joins it with
the transfer target and the callback numbers of the assistant's sections into the
:class:`~sipgw.sip.dialpolicy.DialPolicy` the gateway enforces on every REFER, INVITE and
DTMF an agent asks for, and which it hands every agent plug-in
(:class:`sipgw.agent.capabilities.GatewayServices`) so that tools refuse early. It reads
targets with the SIP core's URI parser, which the agent layer does not import.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.assistant_sections import BuiltinToolsSection, CallbackSection
from sipgw.agent.sections import SettingError, section, setting
from sipgw.sip.dialpolicy import DialPolicy, parse_call_template

__all__ = ["DialSection", "dial_allow", "dial_policy"]


def dial_allow(value: str) -> tuple[str, ...]:
    """``SIPGW_DIAL_ALLOW``: comma-separated SIP URIs and number patterns (sipgw.sip.dialpolicy)."""
    return DialPolicy.parse(value).entries


@section(
    "dial",
    title="What the agent may dial",
    intro="Against toll fraud and prompt injection: the only targets an agent may transfer to, "
    "call (callbacks) or send DTMF to, whatever the caller says; see docs/security.md. "
    "`sipgw call` by the operator is not restricted.",
)
@dataclass(frozen=True)
class DialSection:
    """The operator's allow-list for what agents dial."""

    dial_allow: tuple[str, ...] = setting(
        (), env="SIPGW_DIAL_ALLOW", parse=dial_allow, default_text="",
        help="Comma-separated allow-list: exact SIP URIs (sip:support@pbx.example.com), any user "
        "at a host (sip:*@pbx.example.com), numbers (+15550100), digit sets (+1555010[0-9]) and "
        "prefixes (+1800*); keypad sequences (12#) for DTMF, judged with everything the call "
        "keyed. Empty = nothing beyond SIPGW_TRANSFER_TARGET (transfers) and "
        "SIPGW_CALLBACK_ALLOWED_PREFIXES (callbacks).",
    )  # fmt: skip


def dial_policy(
    dial: DialSection, tools: BuiltinToolsSection, callbacks: CallbackSection
) -> DialPolicy:
    """What agents may reach: ``SIPGW_DIAL_ALLOW`` for every action, plus each feature's own
    setting for that feature only: ``SIPGW_TRANSFER_TARGET`` (transfers),
    ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_URI`` (calls).

    Raises:
        SettingError: ``SIPGW_CALLBACK_URI`` is no SIP URI (named as the user gave it).
        ValueError: an allow-list entry does not parse.
    """
    transfer = tools.transfer_target
    if callbacks.callback_uri:
        try:
            parse_call_template(callbacks.callback_uri)
        except ValueError as exc:
            raise SettingError("{callback_uri}: {why}", CallbackSection, why=exc) from None
    return DialPolicy(
        dial.dial_allow,
        per_action={
            "transfer": (transfer,) if transfer else (),
            "call": tuple(f"{prefix}*" for prefix in callbacks.callback_allowed_prefixes),
        },
        call_templates=(callbacks.callback_uri,),
    )
