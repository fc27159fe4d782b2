"""Who sent an admin request: the peer, or behind a trusted reverse proxy the client; sans-IO.

Behind a reverse proxy every request comes from the proxy's address, so the wrong-token
throttle (:mod:`sipgw.app.admin.throttle`) would count every client as one. A proxy says
whom it serves in ``X-Forwarded-For``, appending its own peer's address to the list the
request came with (nginx's ``$proxy_add_x_forwarded_for``, HAProxy's ``option
forwardfor``, Caddy, Traefik); everything left of what a proxy appended was written by
whoever sent it the request, the client included. So:

- the header is read only when the peer is a trusted proxy (``SIPGW_ADMIN_TRUSTED_PROXIES``,
  addresses and CIDRs); from anyone else it is ignored: a client cannot pick a fresh
  address per request by writing one;
- from a trusted proxy, the client is the right-most address that is not itself a trusted
  proxy (walking left past proxies that passed the request on to each other); an entry
  that is not an address, or a list of trusted proxies only, stops the walk at the last
  trusted hop.

Only ``X-Forwarded-For`` is read, not RFC 7239's ``Forwarded``: a proxy sets one of them
and passes the other through as the client wrote it, so reading both would let the client
choose. Every proxy named above sets ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["Network", "client_address", "networks", "trusted_proxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_proxies(value: str) -> tuple[str, ...]:
    """Comma-separated IP addresses and CIDRs (``10.0.0.5, 192.168.1.0/24, ::1``); ""
    = none. Each is checked, and kept as written.

    Raises:
        ValueError: an entry is neither, naming it.
    """
    entries = tuple(entry.strip() for entry in value.split(",") if entry.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or a CIDR such as 10.0.0.0/8"
            ) from None
    return entries


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The networks of :func:`trusted_proxies`' entries (host bits dropped)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> _Address | None:
    """An address as a hop writes it: ``192.0.2.7``, ``2001:db8::7``, with or without a
    port (``192.0.2.7:4711``, ``[2001:db8::7]:4711``); None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The source of a request from ``peer`` with these ``X-Forwarded-For`` values (in
    the order they came), as the module docstring says; ``"?"`` when the peer is unknown."""
    if peer is None:
        return "?"
    last = _address(peer)
    if last is None or not _trusted(last, trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        if not _trusted(address, trusted):
            return address.compressed
        last = address
    return last.compressed
