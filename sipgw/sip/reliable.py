"""Reliable provisional responses (RFC 3262): the ``100rel`` option, RSeq and RAck, sans-IO.

A 1xx other than 100 that carries ``Require: 100rel`` and an RSeq is sent reliably: the UAC
answers it with a PRACK in its early dialog whose RAck names the RSeq, the INVITE's CSeq
number and ``INVITE`` (§7.2). The UAS numbers its reliable 1xx from a random RSeq up by one
(§3), and the UAC takes them in that order only (§4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sipgw.sip.message import SipRequest, SipResponse

__all__ = [
    "OPTION", "RSEQ_MAX", "Rack", "Reliability", "next_in_order", "requires_reliable", "rseq_of",
]  # fmt: skip

OPTION: Final = "100rel"
"""The option tag (RFC 3262 §8)."""
RSEQ_MAX: Final = 2**31 - 1
"""The largest RSeq (§7.1: 1 to 2**31 - 1)."""

Reliability = Literal["off", "supported", "required"]
"""Whether a placed call offers (``Supported``) or requires (``Require``) reliable 1xx."""


def _tags(message: SipRequest | SipResponse, header: str) -> set[str]:
    values = message.headers.get_all(header)
    return {tag.strip().lower() for value in values for tag in value.split(",")}


def requires_reliable(message: SipRequest | SipResponse) -> bool:
    """Whether a request requires reliable provisional responses (``Require: 100rel``, §3)."""
    return OPTION in _tags(message, "Require")


def rseq_of(response: SipResponse) -> int | None:
    """The RSeq of a response sent reliably (a 101-199 that requires ``100rel``, §4); None
    for any other (a 100, a 1xx sent the usual way, an RSeq out of range)."""
    if not 100 < response.status < 200 or OPTION not in _tags(response, "Require"):
        return None
    value = (response.headers.get("RSeq") or "").strip()
    if not value.isdigit():
        return None
    number = int(value)
    return number if 1 <= number <= RSEQ_MAX else None


def next_in_order(last: int | None, rseq: int) -> bool:
    """Whether a reliable 1xx numbered ``rseq`` is the next one of its early dialog after
    ``last`` (None: the first, any number). A repeat or a gap is not acknowledged nor
    processed (§4): a repeat is the UAS's retransmission, a gap comes again in order."""
    return last is None or rseq == last + 1


@dataclass(frozen=True, slots=True)
class Rack:
    """An RAck header: which reliable 1xx a PRACK acknowledges (§7.2)."""

    rseq: int
    cseq: int
    method: str = "INVITE"

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"

    @classmethod
    def parse(cls, value: str) -> Rack | None:
        """``RAck: 776656 1 INVITE``; None when it is not that."""
        parts = value.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(int(parts[0]), int(parts[1]), parts[2].upper())
