"""The gateway's counters in one typed place, read by the stats line, the metrics and the API.

:class:`CallCounters` is what the gateway counts itself as calls run (calls
taken, frames sent early, targets the dial allow-list refused, the media of
ended calls); it is changed only through its methods. :func:`read_counters`
adds what other parts count (the live calls' media, the RTP ports, the access
policy, the flood guard, the transports, the overload detector) into one
:class:`Counters` snapshot. Readers take the snapshot; nothing is kept twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Protocol

from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.security.access import RefusalLog
from sipgw.media.ports import PortAllocator
from sipgw.media.session import MediaSession
from sipgw.media.shared_port import SharedPort

__all__ = ["CallCounters", "Counters", "MediaTotals", "ThrottleCount", "read_counters"]


class ThrottleCount(Protocol):
    """What the counters read of the admin server's throttle (:mod:`sipgw.app.admin.throttle`)."""

    @property
    def refused(self) -> int:
        """Tries refused unchecked (429)."""
        ...


@dataclass(slots=True)
class MediaTotals:
    """RTP and jitter-buffer counters summed over calls (``jb_dropped``: frames dropped to
    shrink the delay)."""

    rtp_in: int = 0
    rtp_out: int = 0
    jb_lost: int = 0
    jb_late: int = 0
    jb_concealed: int = 0
    jb_inserted: int = 0
    jb_dropped: int = 0
    jb_reanchors: int = 0
    rtp_foreign: int = 0
    """Packets from a source that is not the call's (media/latching.py): dropped."""
    rtp_relatched: int = 0
    """Times a call's source moved, its stream continuing (a NAT rebinding)."""
    rtp_paused: int = 0
    """Times a call's sending paused for its peer's silence (media/liveness.py)."""
    rtp_withheld: int = 0
    """Frames not sent: before the ACK, or while paused."""

    def add(self, session: MediaSession) -> None:
        """Add one call's media session."""
        self.rtp_foreign += session.stats.foreign
        self.rtp_relatched += session.latch.relatches
        self.rtp_paused += session.liveness.pauses
        self.rtp_withheld += session.liveness.withheld
        jb = session.jitter.stats
        self.rtp_in += session.stats.packets_in
        self.rtp_out += session.sender.packets_sent
        self.jb_lost += jb.lost
        self.jb_late += jb.late
        self.jb_concealed += jb.concealed_frames
        self.jb_inserted += jb.inserted_frames
        self.jb_dropped += jb.compressed_frames
        self.jb_reanchors += jb.reanchors

    def plus(self, sessions: Iterable[MediaSession]) -> MediaTotals:
        """These totals with ``sessions`` added (self unchanged)."""
        totals = MediaTotals(**_fields(self))
        for session in sessions:
            totals.add(session)
        return totals


class CallCounters:
    """What the gateway counts as its calls run; one per gateway, read-only from outside."""

    __slots__ = ("_calls_total", "_dial_refused", "_early_sends", "_ended_media")

    def __init__(self) -> None:
        self._calls_total = 0
        self._early_sends = 0
        self._dial_refused = 0
        self._ended_media = MediaTotals()

    @property
    def calls_total(self) -> int:
        """Calls taken (inbound, admitted) and placed, since start."""
        return self._calls_total

    @property
    def early_sends(self) -> int:
        """Agent frames sent ahead of their tick (the talkspurt fast path)."""
        return self._early_sends

    @property
    def dial_refused(self) -> int:
        """Transfers, calls and DTMF the dial allow-list refused on the way out."""
        return self._dial_refused

    @property
    def ended_media(self) -> MediaTotals:
        """The media counters of the calls that have ended (a copy)."""
        return self._ended_media.plus(())

    def call_started(self) -> None:
        """A call was taken or is being placed."""
        self._calls_total += 1

    def early_send(self) -> None:
        """An agent frame went out ahead of its tick."""
        self._early_sends += 1

    def refused_dial(self) -> None:
        """The allow-list refused a target an agent asked for."""
        self._dial_refused += 1

    def media_ended(self, session: MediaSession) -> None:
        """A call's media session is over: keep its counters."""
        self._ended_media.add(session)


@dataclass(frozen=True, slots=True)
class Counters:
    """One reading of every counter, in the order the stats line logs them.

    Gauges (a value now): ``calls``, ``rtp_ports_in_use``, ``flood_sources`` and
    ``overloaded``; the rest only grow.
    """

    calls: int = 0
    """Calls up now (ringing or answered)."""
    calls_total: int = 0
    rtp_ports_in_use: int = 0
    media: MediaTotals = field(default_factory=MediaTotals)
    """Over every call, ended and live (logged as its own keys, ``rtp_in`` ...)."""
    early_sends: int = 0
    refused: int = 0
    """Requests the access policy refused."""
    challenged: int = 0
    """Requests answered with a digest challenge."""
    unchecked: int = 0
    """Digest answers refused unchecked: their user was in backoff after wrong passwords."""
    dial_refused: int = 0
    rate_limited: int = 0
    rate_limit_503s: int = 0
    scanners_dropped: int = 0
    flood_sources: int = 0
    call_rate_limited: int = 0
    caller_rate_limited: int = 0
    overloaded: int = 0
    """1 while new calls are refused for overload, else 0."""
    overload_refused: int = 0
    udp_oversized: int = 0
    tcp_refused: int = 0
    tcp_slow_senders: int = 0
    tcp_closed_unanswered: int = 0
    """Connections closed because a request on them would get no answer (logged)."""
    tls_handshake_failures: int = 0
    stateless_answers: int = 0
    """Requests of sources not allowed answered without a transaction (403, 401, 481, ...)."""
    stateless_withheld: int = 0
    """Of those, over UDP, responses not sent: even bare, larger than the request."""
    admin_throttled: int = 0
    """Admin requests refused unchecked (429): their address sent too many wrong tokens."""
    rtp_unclaimed: int = 0
    """Datagrams on the shared RTP or RTCP port (media/shared_port.py) that no call's
    address or stream claims: dropped."""
    rtp_address_collisions: int = 0
    """Times a call's SDP named an address another call on the shared port holds."""

    def as_dict(self) -> dict[str, int]:
        """Name to value, in field order, ``media`` spread out (the stats line's keys)."""
        values: dict[str, int] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values.update(_fields(value) if isinstance(value, MediaTotals) else {f.name: value})
        return values


def _fields(totals: MediaTotals) -> dict[str, int]:
    return {f.name: getattr(totals, f.name) for f in fields(totals)}


def read_counters(
    counted: CallCounters,
    *,
    live: Iterable[MediaSession],
    calls: int,
    ports: PortAllocator,
    refusals: RefusalLog,
    overloaded: bool,
    sip: SipEndpoint | None,
    admin_throttled: int = 0,
    shared: SharedPort | None = None,
) -> Counters:
    """Everything counted, now: ``counted`` and the live parts (zeros for what has not started).

    Args:
        counted: what the gateway counted.
        live: the media sessions of the calls up now.
        calls: how many calls are up.
        ports: the RTP port allocator.
        refusals: the access policy's refusal log.
        overloaded: whether new calls are refused for overload now.
        sip: the SIP endpoint, None before the start.
        admin_throttled: the admin server's throttled requests (0 without one).
        shared: the shared RTP port's tables (None without one).
    """
    ua = sip.ua if sip is not None else None
    flood = ua.flood if ua is not None else None
    call_rate = ua.call_rate if ua is not None else None
    udp = sip.udp if sip is not None else None
    streams = sip.streams if sip is not None else None
    return Counters(
        calls=calls,
        calls_total=counted.calls_total,
        rtp_ports_in_use=ports.in_use,
        media=counted.ended_media.plus(live),
        early_sends=counted.early_sends,
        refused=refusals.refused,
        challenged=refusals.challenged,
        unchecked=refusals.unchecked,
        dial_refused=counted.dial_refused,
        rate_limited=flood.counters.rate_limited if flood else 0,
        rate_limit_503s=flood.counters.rate_limit_replies if flood else 0,
        scanners_dropped=flood.counters.scanners_dropped if flood else 0,
        flood_sources=flood.sources if flood else 0,
        call_rate_limited=call_rate.limited_global if call_rate else 0,
        caller_rate_limited=call_rate.limited_caller if call_rate else 0,
        overloaded=int(overloaded),
        overload_refused=ua.overload_refused if ua is not None else 0,
        udp_oversized=udp.oversized if udp is not None else 0,
        tcp_refused=streams.refused if streams is not None else 0,
        tcp_slow_senders=streams.slow_senders if streams is not None else 0,
        tcp_closed_unanswered=streams.closed_unanswered if streams is not None else 0,
        tls_handshake_failures=streams.handshake_failures if streams is not None else 0,
        stateless_answers=ua.strangers.answered if ua is not None else 0,
        stateless_withheld=ua.responder.too_large if ua is not None else 0,
        admin_throttled=admin_throttled,
        rtp_unclaimed=shared.unknown + shared.rtcp_unknown if shared is not None else 0,
        rtp_address_collisions=shared.collisions if shared is not None else 0,
    )
