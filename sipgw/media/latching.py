"""Which source a call takes RTP from (symmetric RTP without RTP bleed), sans-IO.

Symmetric RTP (RFC 4961) sends to where the peer's RTP comes from, which is
what gets audio through a NAT; taken naively ("latch the first packet, let
another source take over after a silence") it lets anyone who guesses the port
take the call's media over, hear the agent and talk as the caller ("RTP
bleed"). :class:`SourceLatch` latches a source only when

1. it is the address the SDP named: that always wins, since the signalling
   (from a source the access policy admitted) said so;
2. nothing is latched yet and its packet carries the call's audio payload type:
   a caller behind a NAT sends from another address than its ``c=``, and its
   audio is the first thing to arrive;
3. its packet continues the latched stream: the same SSRC and a sequence number
   at most :data:`RELATCH_WINDOW` ahead (the caller's NAT mapping changed); or,
   on an SRTP call, it authenticated (only the peer holds the key).

Nobody who does not see the call's packets knows its SSRC and sequence, so a
third party can only win the race of rule 2: before the caller's first packet,
with the right port (drawn at random, :mod:`sipgw.media.ports`) and payload type,
against a caller whose RTP does not come from its ``c=``.
"""

from __future__ import annotations

import ipaddress
from typing import Final

__all__ = [
    "NO_SSRC",
    "RELATCH_WINDOW",
    "SourceLatch",
    "canonical_address",
    "ip_literal",
    "same_host",
]

Address = tuple[str, int]

NO_SSRC: Final = -1
"""No stream yet (an SSRC is 32 bits unsigned; an int, not None: no boxing when compiled)."""

RELATCH_WINDOW: Final = 64
"""How far ahead of the latched stream's sequence number a packet from another source may be
(packets lost while the caller's NAT mapping changed) and still continue that stream."""


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address when it is an IP literal (brackets allowed), else None; an
    IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, as a dual-stack socket reports an IPv4
    peer) as its IPv4 address."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _canonical(host: str) -> str:
    """An IP literal in one spelling (IPv4-mapped IPv6 as IPv4); anything else as it is."""
    address = ip_literal(host)
    return host.lower() if address is None else str(address)


def canonical_address(address: Address) -> Address:
    """``address`` with its host in one spelling (see :func:`same_host`)."""
    return (_canonical(address[0]), address[1])


def same_host(a: str, b: str) -> bool:
    """Whether two host strings name the same IP address (however each is spelled)."""
    return a == b or _canonical(a) == _canonical(b)


class SourceLatch:
    """The latched source and its stream; see the module docstring.

    Args:
        signalled: the address the SDP named (``c=`` and the ``m=`` port).
    """

    __slots__ = (
        "_seq", "_signalled", "_ssrc", "latched", "relatches", "signalled", "target", "version",
    )  # fmt: skip

    def __init__(self, signalled: Address) -> None:
        self.relatches = 0
        """Times another source took over from a latched one."""
        self.signalled = signalled
        self._signalled = (_canonical(signalled[0]), signalled[1])
        self.latched: Address | None = None
        """The source whose packets are accepted; None until one is."""
        self.target = signalled
        """Where the call's RTP goes: the latched source, else the signalled address."""
        self.version = 0
        """Counts the changes of :attr:`target`: what depends on it can tell it moved."""
        self._ssrc = NO_SSRC
        self._seq = 0

    def retarget(self, signalled: Address) -> None:
        """A re-negotiation named a new address: latch afresh (rules 1 and 2)."""
        self.signalled = signalled
        self._signalled = (_canonical(signalled[0]), signalled[1])
        self.latched = None
        self._ssrc = NO_SSRC
        self.target = signalled
        self.version += 1

    def accepts(
        self, source: Address, ssrc: int, seq: int, audio: bool, authenticated: bool = False
    ) -> bool:
        """Whether a valid packet from ``source`` is the call's; latches it as a side effect.

        Args:
            source: where the packet came from.
            ssrc, seq: its SSRC and sequence number.
            audio: whether it carries the call's audio payload type.
            authenticated: it passed SRTP authentication.
        """
        if not self.is_latched(source):
            if not self._may_latch(source, ssrc, seq, audio, authenticated):
                return False
            if self.latched is not None:
                self.relatches += 1
            self.latched = self.target = source
            self.version += 1
            self._ssrc = NO_SSRC
        if ssrc != self._ssrc:
            self._ssrc = ssrc  # a new stream from the latched source
            self._seq = seq
        elif 0 < (seq - self._seq) & 0xFFFF < 0x8000:
            self._seq = seq
        return True

    @property
    def stream_ssrc(self) -> int:
        """The SSRC of the latched stream (rule 3 continues it); -1 before any packet."""
        return self._ssrc

    def is_latched(self, source: Address) -> bool:
        """Whether ``source`` is the latched source."""
        latched = self.latched
        # Field by field: compiled, an address is a C struct, and comparing it with the
        # latched one as tuples would box it into a new tuple for every packet.
        return latched is not None and source[1] == latched[1] and source[0] == latched[0]

    def _may_latch(
        self, source: Address, ssrc: int, seq: int, audio: bool, authenticated: bool
    ) -> bool:
        if authenticated:
            return True
        if source[1] == self._signalled[1] and _canonical(source[0]) == self._signalled[0]:
            return True
        if self.latched is None:
            return audio
        ahead = (seq - self._seq) & 0xFFFF
        return ssrc == self._ssrc and 0 < ahead <= RELATCH_WINDOW
