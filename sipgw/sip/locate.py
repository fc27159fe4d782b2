"""Locating a SIP server (RFC 3263): which transports, hosts and ports a URI leads to, in order.

Sans-IO: the DNS answers come in (NAPTR, SRV records as data), the ordered list of places to
try comes out; :mod:`sipgw.aio.dns` asks the questions. Theory of operation, for a URI
that is not an IP address:

1. **Transport** (§4.1). A ``transport`` parameter decides. Else an explicit port means UDP
   for ``sip:`` and TLS for ``sips:``. Else the domain's NAPTR records: those whose service
   we speak (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``; only the last for ``sips:``) with the
   ``s`` flag, by ``order`` then ``preference``, each naming an SRV name
   (:func:`naptr_choices`). Without NAPTR records, the SRV names of each transport we
   speak (:func:`srv_names`).
2. **Hosts and ports** (§4.2). With an explicit port, the URI's host and that port. Else
   the SRV records of each chosen name, ordered as RFC 2782 says (:func:`order_srv`:
   lowest priority first; within a priority a weighted random order, weight 0 last in
   chance). Without SRV records, the URI's host with the transport's default port
   (5060, 5061 for TLS).
3. Each host is then looked up (A/AAAA) by the adapter; every address is a target.

**Failure** (§4.3): when the transaction layer reports a transport error, a timeout with
no response at all, or a 503, the request is sent again, with a new Via branch, to the next
target of the list. That continuation is the usages' (``usages/register``,
``usages/outbound``); :class:`TargetList` is what they are given.

A URI whose host is an IP address, with or without a port, needs no DNS: its one target is
:func:`~sipgw.sip.addressing.uri_flow`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sipgw.sip.addressing import Flow, default_port, is_ip
from sipgw.sip.uri import SipUri

__all__ = [
    "Candidate",
    "Naptr",
    "Srv",
    "TargetList",
    "explicit_candidate",
    "fallback_candidate",
    "is_ip",
    "naptr_choices",
    "order_srv",
    "parse_nameservers",
    "srv_names",
]

_SERVICES = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}
"""NAPTR services (RFC 3263 §4.1) -> our transport."""
_SRV_PREFIX = {"UDP": "_sip._udp", "TCP": "_sip._tcp", "TLS": "_sips._tcp"}
"""Transport -> its SRV service and protocol labels (§4.1)."""


@dataclass(frozen=True, slots=True)
class Naptr:
    """One NAPTR record (RFC 3403) of a SIP domain."""

    order: int
    preference: int
    flags: str
    service: str
    replacement: str
    """The SRV name this record points to (a trailing dot removed)."""


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str
    """The host name (a trailing dot removed); ``"."`` means "no service here"."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A transport, a host (a name or an address) and a port, to be looked up (A/AAAA)."""

    transport: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class TargetList:
    """Where a request may go, in the order to try them, and until when that holds."""

    flows: tuple[Flow, ...]
    expires: float
    """When the DNS answers behind it run out (``now`` + their smallest TTL)."""


def _transport_of(uri: SipUri) -> str | None:
    """The transport the URI names (``sips:`` is TLS whatever it says), or None."""
    given = uri.params.get("transport")
    if uri.scheme == "sips":
        return "TLS"
    return given.upper() if given else None


def explicit_candidate(uri: SipUri) -> Candidate | None:
    """The one place a URI names without NAPTR or SRV: an IP host, or an explicit port
    (§4.1, §4.2); None when DNS must choose."""
    transport = _transport_of(uri)
    if is_ip(uri.host) or uri.port is not None:
        chosen = transport or ("TLS" if uri.scheme == "sips" else "UDP")
        port = uri.port if uri.port is not None else default_port(chosen)
        return Candidate(chosen, uri.params.get("maddr") or uri.host, port)
    if "maddr" in uri.params:  # RFC 3261 §19.1.1: maddr overrides the host
        chosen = transport or "UDP"
        return Candidate(chosen, uri.params["maddr"] or uri.host, default_port(chosen))
    return None


def srv_names(
    uri: SipUri, supported: Sequence[str] = ("UDP", "TCP", "TLS")
) -> list[tuple[str, str]]:
    """(transport, SRV name) to query when there is no NAPTR record, or when the URI names
    its transport (§4.1: that one only); ``sips:`` only ever TLS."""
    transport = _transport_of(uri)
    if transport is not None:
        wanted = [transport]
    elif uri.scheme == "sips":
        wanted = ["TLS"]
    else:
        wanted = [t for t in ("UDP", "TCP", "TLS") if t in supported]
    return [(t, f"{_SRV_PREFIX[t]}.{uri.host}") for t in wanted if t in _SRV_PREFIX]


def naptr_choices(
    records: Iterable[Naptr], secure: bool, supported: Sequence[str] = ("UDP", "TCP", "TLS")
) -> list[tuple[str, str]]:
    """(transport, SRV name) from a domain's NAPTR records, best first (§4.1): the
    terminal (``s`` flag) records of services we speak, by order then preference; a
    ``sips:`` URI takes ``SIPS+D2T`` only."""
    usable = []
    for record in records:
        transport = _SERVICES.get(record.service.upper())
        if transport is None or transport not in supported or "s" not in record.flags.lower():
            continue
        if secure and transport != "TLS":
            continue
        usable.append(record)
    usable.sort(key=lambda r: (r.order, r.preference))
    return [(_SERVICES[r.service.upper()], r.replacement) for r in usable]


def order_srv(records: Iterable[Srv], rng: Callable[[], float]) -> list[Srv]:
    """RFC 2782's order: by priority, lowest first; within one priority a weighted random
    order: the records not yet taken, weight 0 first, a number drawn from 0 to the sum of
    their weights, and the first whose running sum reaches it taken next (so a weight 0
    record is taken only on a draw of 0, or when only such records are left). A target of
    ``"."`` (no service here) is dropped."""
    by_priority: dict[int, list[Srv]] = {}
    for record in records:
        if record.target not in (".", ""):
            by_priority.setdefault(record.priority, []).append(record)
    ordered: list[Srv] = []
    for priority in sorted(by_priority):
        left = sorted(by_priority[priority], key=lambda r: r.weight != 0)  # weight 0 first
        while left:
            total = sum(r.weight for r in left)
            draw = rng() * total
            running = 0
            chosen = left[-1]
            for record in left:
                running += record.weight
                if running >= draw:
                    chosen = record
                    break
            ordered.append(chosen)
            left.remove(chosen)
    return ordered


def fallback_candidate(uri: SipUri, transport: str | None = None) -> Candidate:
    """§4.2 when no SRV record exists: the URI's host with the transport's default port
    (UDP for ``sip:``, TLS for ``sips:``, unless the URI names one)."""
    chosen = transport or _transport_of(uri) or ("TLS" if uri.scheme == "sips" else "UDP")
    return Candidate(chosen, uri.host, default_port(chosen))


def parse_nameservers(text: str) -> tuple[tuple[str, int], ...]:
    """``"10.0.0.2, 127.0.0.1:5353, [::1]:53"`` -> ((address, port), ...).

    Raises:
        ValueError: an entry is not an IP address with an optional port.
    """
    servers = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        host, port = entry, 53
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
        elif entry.count(":") == 1:
            host, _, text_port = entry.partition(":")
            if not text_port.isdigit():
                raise ValueError(f"{entry!r}: the port must be a number")
            port = int(text_port)
        if not is_ip(host) or not 0 < port < 65536:
            raise ValueError(f"{entry!r} is not an IP address with an optional :port")
        servers.append((host, port))
    return tuple(servers)
