"""What to check when a call we placed is refused: one hint per common final status.

The far end's own words (reason phrase, Reason and Warning headers) come first, in
:class:`sipgw.sip.finalreply.FinalReply`; these hints add what the status usually means on a
trunk or PBX and which setting to look at. :class:`Refused` keeps both with the call: they
are shown by ``sipgw call``, in the outcome ``POST /api/calls`` returns, in the call's log
line, on the dashboard, in the call record and in the ``call.failed`` webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sipgw.sip.finalreply import FinalReply
from sipgw.sip.message import REASON_PHRASES

__all__ = ["HINTS", "Refused", "hint"]

HINTS: dict[int, str] = {
    401: "the far end wants credentials and refused ours: check --auth-username and "
    "--auth-password (the trunk's credential list, or the account's auth_username and "
    "auth_password)",
    403: "refused: most often the caller id (trunks want a number you own or verified there, "
    "in E.164: --caller-id +15551234567), else our address is not on the trunk's IP list or "
    "the account may not call that destination",
    404: "no such number or user there: dial numbers in E.164 (+15551234567) and check the "
    "trunk's termination domain (--outbound-proxy)",
    407: "the proxy wants credentials and refused ours: check --auth-username and "
    "--auth-password (the trunk's credential list)",
    480: "the callee cannot be reached right now (not registered, phone off, no route): try "
    "again later",
    486: "the callee is busy",
    488: "no media both sides accept: we offer PCMU/PCMA (SRTP only over TLS, see --srtp); "
    "check the trunk's codecs and secure-media setting",
    503: "the trunk or the far end is unavailable or over a limit (channels, calls per "
    "second, no outbound profile): try later, and check the carrier's limits",
}
"""Hints by status code."""


def hint(status: int | None) -> str:
    """The hint for a final status ("" for none)."""
    return HINTS.get(status, "") if status is not None else ""


@dataclass(frozen=True, slots=True)
class Refused:
    """How the far end refused a call we placed: its words, then our hint.

    Attributes:
        status: the final status of our INVITE.
        phrase: its reason phrase as the far end wrote it (``Caller Origination Number is
            Invalid D35``), printable and bounded (:class:`~sipgw.sip.finalreply.FinalReply`).
        detail: its Reason and Warning headers (``Reason: Q.850 cause 21: Call Rejected``)
            and the carrier's own error header (``X-ZT-Hangup-Code: 4190``).
        hint: what the status usually means and what to check (:data:`HINTS`).
    """

    status: int
    phrase: str = ""
    detail: str = ""
    hint: str = ""

    @classmethod
    def of(cls, reply: FinalReply) -> Refused:
        """The refusal a final response makes, with the hint for its status."""
        parts = [f"Reason: {', '.join(reply.reasons)}"] if reply.reasons else []
        parts += [f"Warning: {', '.join(reply.warnings)}"] if reply.warnings else []
        parts += reply.carrier
        return cls(reply.status, reply.phrase, "; ".join(parts), hint(reply.status))

    def describe(self) -> str:
        """One line: ``SIP 403 Caller Origination Number is Invalid D35 [Reason: ...] - hint``."""
        text = f"SIP {self.status} {self.phrase}".strip()
        if self.detail:
            text += f" [{self.detail}]"
        if self.hint:
            text += f" - {self.hint}"
        return text

    def fields(self) -> dict[str, Any]:
        """As a webhook or a call record carries it: ``sip_status``, ``sip_reason`` (the
        far end's phrase, else the standard one), ``sip_detail`` and ``hint``."""
        return {
            "sip_status": self.status,
            "sip_reason": self.phrase or REASON_PHRASES.get(self.status),
            "sip_detail": self.detail or None,
            "hint": self.hint or None,
        }
