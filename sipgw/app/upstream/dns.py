"""The ``dns`` settings section: which DNS servers find a trunk's servers (RFC 3263)."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.sections import section, setting
from sipgw.agent.sections.parsers import float_range
from sipgw.sip.locate import parse_nameservers

__all__ = ["DnsSection"]


@section(
    "dns",
    title="DNS (RFC 3263)",
    intro="How a trunk's servers are found: NAPTR, SRV (priority, weight), then A/AAAA, with "
    "failover to the next server (docs/transports.md).",
)
@dataclass(frozen=True)
class DnsSection:
    """Which DNS servers are asked, and how long a lookup may take."""

    dns_servers: tuple[tuple[str, int], ...] = setting(
        (), env="SIPGW_DNS_SERVERS", flag="--dns-servers", metavar="LIST", parse=parse_nameservers,
        default_text="",
        help="Comma-separated DNS servers (IP, or IP:port) for the SRV and NAPTR lookups of "
        "registrars, proxies and call targets; empty = the system's (/etc/resolv.conf).",
    )  # fmt: skip
    dns_timeout: float = setting(
        3.0, env="SIPGW_DNS_TIMEOUT", flag="--dns-timeout", metavar="S",
        parse=float_range(0.1, 30.0),
        help="Seconds one lookup may take; then the request goes to the URI's own host.",
    )  # fmt: skip
