"""Every call's RTP on one port, each datagram handed to its call; sans-IO.

The option ``SIPGW_RTP_SHARED_PORT`` (docs/configuration.md) gives all calls one RTP
port and one RTCP port, as SIPp's ``-rtp_echo`` and many media servers do, instead of a
port pair per call: one socket read for all calls, a few system calls a tick instead of
two a call (docs/performance.md). What a per-call port tells for free, whose call a
datagram is, comes here from the datagram itself:

1. its source address: the address each call's SDP named, and the source its latch took
   (media/latching.py), each held by one call (the first to claim it: a second call
   whose SDP names an address a running call holds gets no datagram from it until that
   call lets go of it, and the collision is counted);
2. else its SSRC, when it continues a call's latched stream: the caller's NAT mapping
   changed (latching rule 3, which the call's :class:`~sipgw.media.latching.SourceLatch` then
   checks as on its own port);
3. else it is nobody's, counted in :attr:`SharedPort.unknown` and dropped.

Latching rule 2, a first packet from an address the SDP did not name (a caller behind a
NAT), has no safe form here: on its own port such a packet is the call's by the port it
reached, here anyone's. So the option is for trunks and PBXs whose media comes from the
address their SDP names; a softphone behind a NAT is not heard (docs/security.md).

RTCP on the shared RTCP port goes to the call whose peer's stream has the report's
sender SSRC, or, before any RTP, whose RTP address is the report's source port minus
one; the session then checks the host as on a call's own port.

Which addresses a call holds is looked at again when its latch moves (at the datagram
that moved it) and when its endpoint says its session changed (:meth:`SharedPort.rekey`:
a session set, a re-INVITE that named another address).

The native reader (media/aio/rtp_batch.py) keeps a copy of the address table in C
(:attr:`SharedPort.on_route` says each change): a datagram from an address a call holds
reaches :meth:`SharedPort.deliver` already tagged with that call, with one address object
kept per source, and only the others come through :meth:`SharedPort.receive`.
"""

from __future__ import annotations

from collections.abc import Callable

from sipgw.media.latching import NO_SSRC, canonical_address
from sipgw.media.mediaports import MediaPorts
from sipgw.media.rtp import is_rtcp
from sipgw.media.session import deliverable

__all__ = ["Claim", "SharedPort"]

Address = tuple[str, int]


class Claim:
    """One call on the shared port: what it holds in the tables."""

    __slots__ = ("addresses", "ports", "ssrc", "token", "version", "waiting")

    def __init__(self, ports: MediaPorts, token: int) -> None:
        self.ports = ports
        self.token = token  # what the reader tags its datagrams with (-1: none)
        self.addresses: list[Address] = []
        self.waiting: list[Address] = []  # held by another call: its, once that one lets go
        self.ssrc = NO_SSRC
        self.version = -1  # its session's latch's version when keyed


class SharedPort:
    """The tables from source address and SSRC to call, and the datagrams' delivery.

    Attributes:
        port: the shared RTP port (RTCP: the port above it).
        unknown: RTP datagrams from no call's address with no call's SSRC, dropped.
        rtcp_unknown: RTCP datagrams that no call's stream or address claims, dropped.
        collisions: times a call's address was already held by another call.
        on_route: told of each change of the address table: ``(address, token)`` when a
            call (its :attr:`Claim.token`) takes the address, ``(address, -1)`` when it
            is free again.
    """

    __slots__ = (
        "_by_address", "_by_ssrc", "_claims", "_waiters", "collisions", "on_route", "port",
        "rtcp_unknown", "unknown",
    )  # fmt: skip

    def __init__(self, port: int) -> None:
        self.port = port
        self.unknown = 0
        self.rtcp_unknown = 0
        self.collisions = 0
        self._by_address: dict[Address, Claim] = {}
        self._by_ssrc: dict[int, Claim] = {}
        self._claims: list[Claim] = []
        self._waiters: dict[Address, list[Claim]] = {}
        self.on_route: Callable[[Address, int], None] | None = None

    def attach(self, ports: MediaPorts, token: int = -1) -> Claim:
        """A call on the shared port; its addresses are taken once its session is there.
        ``token``: what the reader tags the call's datagrams with (:attr:`on_route`)."""
        claim = Claim(ports, token)
        self._claims.append(claim)
        self.rekey(claim)
        return claim

    def detach(self, claim: Claim) -> None:
        """The call ended: its addresses and SSRC are free."""
        self._release(claim)
        self._claims.remove(claim)

    def __len__(self) -> int:
        return len(self._claims)

    def holder(self, address: Address) -> MediaPorts | None:
        """The call that holds ``address`` (None: nobody)."""
        claim = self._by_address.get(canonical_address(address))
        return claim.ports if claim is not None else None

    # ------------------------------------------------------------------ delivery

    def receive(self, data: bytes, source: Address, arrival: float) -> None:
        """A datagram on the shared RTP port, to its call's session."""
        claim = self._by_address.get(source)
        if claim is None:
            claim = self._by_stream(data, source)
            if claim is None:
                self.unknown += 1
                return
        self.deliver(claim, data, source, arrival)

    def deliver(self, claim: Claim, data: bytes, source: Address, arrival: float) -> None:
        """A datagram found to be ``claim``'s call's, to its session; the tables follow
        its latch."""
        session = claim.ports.session
        if session is None:
            return
        session.receive(data, source, arrival)
        latch = session.latch
        if latch.version != claim.version:
            self.rekey(claim)  # it latched, or latched another source (rule 3)
        elif latch.stream_ssrc != claim.ssrc:
            self._key_ssrc(claim, latch.stream_ssrc)

    def _by_stream(self, data: bytes, source: Address) -> Claim | None:
        if ":" in source[0]:  # an IPv4-mapped IPv6 source: the tables spell it as IPv4
            claim = self._by_address.get(canonical_address(source))
            if claim is not None:
                return claim
        if len(data) < 12 or data[0] >> 6 != 2 or is_rtcp(data):
            return None
        return self._by_ssrc.get(int.from_bytes(data[8:12], "big"))

    def receive_rtcp(self, data: bytes, arrival: float, source: Address) -> None:
        """A datagram on the shared RTCP port, to the call whose peer sent it."""
        claim = None
        if len(data) >= 8 and data[0] >> 6 == 2:
            claim = self._by_ssrc.get(int.from_bytes(data[4:8], "big"))
        if claim is None and source[1] > 0:
            claim = self._by_address.get(canonical_address((source[0], source[1] - 1)))
        if claim is None:
            self.rtcp_unknown += 1
            return
        claim.ports.rtcp_received(data, arrival, source)

    # ------------------------------------------------------------------ the tables

    def rekey(self, claim: Claim) -> None:
        """Hold the call's signalled and latched addresses (those nobody else holds),
        letting go of any others; none once its session is gone."""
        session = claim.ports.session
        self._release(claim)
        if session is None:
            return
        latch = session.latch
        claim.version = latch.version
        wanted = [latch.signalled]
        if latch.latched is not None:
            wanted.append(latch.latched)
        for address in wanted:
            if not deliverable(address):
                continue  # on hold (0.0.0.0 or port 0): nothing comes from there
            key = canonical_address(address)
            if key in claim.addresses or key in claim.waiting:
                continue  # latched where the SDP said: one address
            holder = self._by_address.get(key)
            if holder is None:
                self._hold(key, claim)
            elif holder is not claim:
                self.collisions += 1
                self._waiters.setdefault(key, []).append(claim)
                claim.waiting.append(key)
        self._key_ssrc(claim, latch.stream_ssrc)

    def _key_ssrc(self, claim: Claim, ssrc: int) -> None:
        if claim.ssrc != NO_SSRC and self._by_ssrc.get(claim.ssrc) is claim:
            del self._by_ssrc[claim.ssrc]
        claim.ssrc = ssrc
        if ssrc != NO_SSRC and ssrc not in self._by_ssrc:
            self._by_ssrc[ssrc] = claim

    def _release(self, claim: Claim) -> None:
        for key in claim.waiting:
            waiters = self._waiters[key]  # a claim waits in the list of each key it names
            waiters.remove(claim)
            if not waiters:
                del self._waiters[key]
        claim.waiting.clear()
        for key in claim.addresses:
            if self._by_address.get(key) is claim:
                del self._by_address[key]
                if not self._hand_over(key) and self.on_route is not None:
                    self.on_route(key, -1)
        claim.addresses.clear()
        self._key_ssrc(claim, NO_SSRC)

    def _hand_over(self, key: Address) -> bool:
        """A freed address to the call that waited longest for it (a trunk reused a media
        port for a new call before the old call's BYE came); False: nobody waited."""
        waiters = self._waiters.get(key)
        if waiters is None:
            return False
        claim = waiters.pop(0)
        if not waiters:
            del self._waiters[key]
        claim.waiting.remove(key)
        self._hold(key, claim)
        return True

    def _hold(self, key: Address, claim: Claim) -> None:
        self._by_address[key] = claim
        claim.addresses.append(key)
        if self.on_route is not None:
            self.on_route(key, claim.token)
