"""RFC 3263 lookups over DNS: the asyncio side of :mod:`sipgw.sip.locate`, on dnspython.

:class:`ServerLocator` asks the NAPTR, SRV and A/AAAA questions :mod:`sipgw.sip.locate` says to
ask, with ``dns.asyncresolver`` (dnspython: pure Python, typed, maintained, on the running
event loop; the system's ``/etc/resolv.conf`` unless name servers are given), and returns a
:class:`~sipgw.sip.locate.TargetList`: each target a :class:`~sipgw.sip.addressing.Flow` to an
address, in the order to try them, valid until the smallest TTL of the answers used
(answers are cached that long). A TLS target keeps its host name (the TLS connection
checks the server's certificate against it, RFC 5922 §7.2) and is looked up when the
connection opens. A lookup that fails (no answer, no server, a timeout) gives an empty
list, which callers take as "send to the URI as it is" (the transport resolves its A
record), and is asked again after :data:`RETRY_AFTER` seconds.
"""

from __future__ import annotations

import logging
import math
import random
import socket
from collections.abc import Callable, Sequence
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from sipgw.sip.addressing import Flow
from sipgw.sip.locate import (
    Candidate,
    Naptr,
    Srv,
    TargetList,
    explicit_candidate,
    fallback_candidate,
    is_ip,
    naptr_choices,
    order_srv,
    srv_names,
)
from sipgw.sip.uri import SipUri

__all__ = ["RETRY_AFTER", "ServerLocator"]

log = logging.getLogger("sipgw.dns")

RETRY_AFTER = 30.0
"""Seconds before a lookup that failed (or found nothing) is asked again."""
MAX_CACHED = 1024
"""Answers kept at most (the oldest go first)."""


class ServerLocator:
    """Finds where a SIP URI's requests go (see the module docstring).

    Args:
        nameservers: (address, port) of the DNS servers to ask; empty = the system's.
        families: which addresses are usable (``socket.AF_INET``, ``socket.AF_INET6``):
            those of the sockets we send from.
        timeout: seconds one whole lookup (all its retries) may take.
        rng: ``random.random``-like, for the SRV weights.
    """

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] = (),
        *,
        families: Sequence[int] = (socket.AF_INET,),
        timeout: float = 3.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.families = tuple(families)
        self.rng = rng
        self._cache: dict[str, TargetList] = {}
        self.resolver: dns.asyncresolver.Resolver | None
        try:
            self.resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:
            log.warning("no DNS configuration (/etc/resolv.conf): no SRV or NAPTR lookups")
            self.resolver = None
        if self.resolver is not None:
            if nameservers:
                self.resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers
                ]
            self.resolver.lifetime = timeout

    async def locate(self, uri: SipUri, now: float) -> TargetList:
        """The targets of ``uri``'s requests, in order (cached until their TTL ends)."""
        key = _key(uri)
        cached = self._cache.get(key)
        if cached is not None and cached.expires > now:
            return cached
        flows, ttl = await self._locate(uri)
        found = TargetList(tuple(dict.fromkeys(flows)), now + (ttl if flows else RETRY_AFTER))
        self._cache[key] = found
        while len(self._cache) > MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        if flows:
            log.debug("%s: %s (for %.0f s)", key, ", ".join(_text(f) for f in flows), ttl)
        return found

    async def _locate(self, uri: SipUri) -> tuple[list[Flow], float]:
        ttl = math.inf
        explicit = explicit_candidate(uri)
        candidates: list[Candidate] = []
        if explicit is not None:
            candidates = [explicit]
        else:
            records, ttl = await self._naptr(uri.host, ttl)
            choices = naptr_choices(records, uri.scheme == "sips") or srv_names(uri)
            for transport, name in choices:
                services, ttl = await self._srv(name, ttl)
                candidates += [
                    Candidate(transport, srv.target, srv.port)
                    for srv in order_srv(services, self.rng)
                ]
            if not candidates:
                candidates = [fallback_candidate(uri)]
        flows: list[Flow] = []
        for candidate in candidates:
            if candidate.transport == "TLS" or is_ip(candidate.host):
                flows.append(Flow(candidate.transport, (candidate.host, candidate.port)))
                continue
            addresses, ttl = await self._addresses(candidate.host, ttl)
            flows += [Flow(candidate.transport, (a, candidate.port)) for a in addresses]
        return flows, (ttl if math.isfinite(ttl) else RETRY_AFTER)

    async def _query(self, name: str, kind: str) -> tuple[list[Any], float]:
        """The records of ``name`` (none on any failure) and their TTL (inf for none)."""
        if self.resolver is None:
            return [], math.inf
        try:
            answer = await self.resolver.resolve(name, kind, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            log.debug("%s %s: %s", kind, name, type(exc).__name__)
            return [], math.inf
        except dns.exception.DNSException as exc:
            log.warning("DNS %s %s: %s", kind, name, exc)
            return [], math.inf
        if answer.rrset is None:
            return [], math.inf
        return list(answer.rrset), float(answer.rrset.ttl)

    async def _naptr(self, domain: str, ttl: float) -> tuple[list[Naptr], float]:
        rows, found_ttl = await self._query(domain, "NAPTR")
        records = [
            Naptr(
                int(r.order), int(r.preference), r.flags.decode(), r.service.decode(),
                r.replacement.to_text().rstrip("."),
            )
            for r in rows
        ]  # fmt: skip
        return records, min(ttl, found_ttl)

    async def _srv(self, name: str, ttl: float) -> tuple[list[Srv], float]:
        rows, found_ttl = await self._query(name, "SRV")
        records = [
            Srv(int(r.priority), int(r.weight), int(r.port), r.target.to_text().rstrip("."))
            for r in rows
        ]
        return records, min(ttl, found_ttl)

    async def _addresses(self, host: str, ttl: float) -> tuple[list[str], float]:
        found: list[str] = []
        for family, kind in ((socket.AF_INET, "A"), (socket.AF_INET6, "AAAA")):
            if family in self.families:
                rows, found_ttl = await self._query(host, kind)
                found += [r.address for r in rows]
                ttl = min(ttl, found_ttl)
        return found, ttl


def _key(uri: SipUri) -> str:
    """What decides a URI's targets: scheme, host, port, transport and maddr."""
    params = ";".join(f"{name}={uri.params[name]}" for name in ("transport", "maddr")
                      if uri.params.get(name))  # fmt: skip
    return f"{uri.scheme}:{uri.host}:{uri.port or ''};{params}"


def _text(flow: Flow) -> str:
    host, port = flow.address
    return f"{flow.transport.lower()}:{host}:{port}"
