"""Source addresses aggregated into networks: who counts as one source for flood purposes.

One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1: interface identifiers are
64 bits, and SLAAC privacy addresses, RFC 8981, rotate within it), so keying a limit
on the exact address gives such a host 2^64 fresh buckets. :func:`source_key` names
the network a source belongs to - by default its IPv4 address (/32) or its IPv6 /64 -
and every per-source table that limits floods or guesses is keyed by it.
"""

from __future__ import annotations

from functools import lru_cache

from sipgw.sip.addressing import ip_literal

__all__ = ["IPV4_PREFIX", "IPV6_PREFIX", "source_key"]

IPV4_PREFIX = 32
"""IPv4 sources are counted one address each by default (NAT already aggregates)."""
IPV6_PREFIX = 64
"""IPv6 sources are counted one /64 each by default (one host's, or one site's, share)."""


@lru_cache(maxsize=4096)  # a busy source, or a flood's: parsed once
def source_key(host: str, ipv4_prefix: int = IPV4_PREFIX, ipv6_prefix: int = IPV6_PREFIX) -> str:
    """The network ``host`` (an IP literal, brackets allowed) is counted in, as text.

    ``203.0.113.7`` -> ``203.0.113.7`` (a /32 shows as the address), ``2001:db8::1:2``
    -> ``2001:db8::/64``; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, as a
    dual-stack socket reports IPv4 peers) counts as its IPv4 address. Text that is not
    an IP literal is its own key.
    """
    address = ip_literal(host)
    if address is None:
        return host
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    bits = address.max_prefixlen
    if prefix >= bits:
        return str(address)
    network = int(address) >> (bits - prefix) << (bits - prefix)
    return f"{type(address)(network)}/{prefix}"
