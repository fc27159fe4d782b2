"""What to check when a call we placed is refused: one hint per common final status.

The far end's own words (reason phrase, Reason and Warning headers) come first, in
:class:`sipgw.finalreply.FinalReply`; these hints add what the status usually means on a
trunk or PBX and which setting to look at. They are shown by ``sipgw call``, in the
outcome ``POST /api/calls`` returns, in the call's log line and on the dashboard.
"""

from __future__ import annotations

__all__ = ["HINTS", "hint"]

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
