"""Where SIP messages come from and go to (RFC 3261 §18, RFC 3581).

A :class:`Flow` names the transport and the remote address of one message.
The sans-IO core returns ``(bytes, Flow)`` pairs; the adapter resolves host
names and writes the bytes on the matching socket or connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sipgw.sip.headers import Via
from sipgw.sip.uri import SipUri

__all__ = [
    "Address",
    "Flow",
    "IPAddress",
    "default_port",
    "ip_literal",
    "is_ip",
    "is_private_address",
    "response_flow",
    "uri_flow",
]

Address = tuple[str, int]
"""A host (IP literal or DNS name) and a port."""
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Flow:
    """A transport and a remote address.

    Attributes:
        transport: ``"UDP"``, ``"TCP"`` or ``"TLS"`` (upper case).
        address: the remote host and port.
        connection_id: for stream transports, the connection a message
            arrived on; responses go back on it (RFC 3261 §18.2.2).
    """

    transport: str
    address: Address
    connection_id: int | None = None

    @property
    def reliable(self) -> bool:
        """Whether the transport retransmits for us (RFC 3261 §17.1.1.2)."""
        return self.transport != "UDP"


def default_port(transport: str, secure: bool = False) -> int:
    """The port used when a URI or Via names none (RFC 3261 §19.1.2)."""
    return 5061 if secure or transport == "TLS" else 5060


def response_flow(via: Via, source: Flow) -> Flow:
    """Where a response to a request with this top Via goes.

    RFC 3261 §18.2.2: reliable transports answer on the same connection.
    Over UDP the response goes to ``received`` (the packet's source, which the
    server transport adds per §18.2.1) and, with RFC 3581 ``rport``, to the
    source port; otherwise to the sent-by port, defaulting to 5060.
    """
    if source.reliable:
        return source
    host = via.received or via.host
    port = via.rport
    if port is None:
        port = via.port if via.port is not None else default_port(via.transport)
    return Flow(source.transport, (host, port))


def uri_flow(uri: SipUri, default_transport: str = "UDP") -> Flow:
    """The flow a request to ``uri`` uses (RFC 3263 without DNS SRV/NAPTR).

    ``maddr`` and ``transport`` URI parameters are honoured; ``sips`` implies TLS.
    """
    transport = (uri.params.get("transport") or default_transport).upper()
    if uri.scheme == "sips":
        transport = "TLS"
    host = uri.params.get("maddr") or uri.host
    port = uri.port if uri.port is not None else default_port(transport, uri.scheme == "sips")
    return Flow(transport, (host, port))


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IP literal (no DNS needed)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def ip_literal(host: str) -> IPAddress | None:
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


def is_private_address(host: str) -> bool:
    """Whether ``host`` is an IP literal that cannot be reached from the internet.

    Used to spot a Contact written behind a NAT (RFC 1918, RFC 6598 CGNAT,
    link-local, unique-local IPv6).
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):
        return True
    return ip.is_private and not ip.is_loopback
