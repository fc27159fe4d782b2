"""The calls' settings sections: what an agent learns of a call from its INVITE and what a
transfer carries (``headers``); :mod:`sipgw.app.calls.calldetails` applies them."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import on_off
from sipgw.sip.customheaders import HeaderAllowList

__all__ = ["CallHeadersSection"]


def _allow_list(value: str) -> HeaderAllowList:
    return HeaderAllowList.parse(value)


@section(
    "headers",
    title="SIP headers and call details",
    intro="What the agent learns of a call from its INVITE, and what a transfer carries; see "
    "docs/outbound.md (headers in and out). Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class CallHeadersSection:
    """The X- headers agents see, and whether transfers carry a summary."""

    pass_headers: HeaderAllowList = setting(
        HeaderAllowList(), env="SIPGW_PASS_HEADERS", flag="--pass-headers", metavar="LIST",
        parse=_allow_list, default_text="",
        help="X- headers of incoming INVITEs the agent (and the caller-context hook) sees, "
        "comma-separated, e.g. X-Ticket-Id,X-Campaign-* (a trailing * matches a prefix); "
        "empty = none. The forwarding (History-Info, Diversion) is always passed, the number "
        "of a P-Asserted-Identity when a source in the allow list sent it.",
    )  # fmt: skip
    transfer_summary: bool = setting(
        False, env="SIPGW_TRANSFER_SUMMARY", flag="--transfer-summary", metavar="on|off",
        parse=on_off, default_text="off",
        help="on: a transfer's REFER carries the call's summary the agent gives with the "
        "transfer (who is calling, what they need) as User-to-User data (RFC 7433, hex, at "
        "most 128 bytes, cut after a word) in its Refer-To, for the human's PBX; off: none.",
    )  # fmt: skip
