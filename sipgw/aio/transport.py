"""The SIP endpoint over UDP only: the names the gateway used before TCP and TLS.

:class:`SipUdpEndpoint` is :class:`~sipgw.aio.endpoint.SipEndpoint`, and
:func:`open_sip_udp` opens one listening on UDP alone. New code uses
:func:`~sipgw.aio.endpoint.open_sip_endpoint`.
"""

from __future__ import annotations

from collections.abc import Callable

from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.events import SipEvent
from sipgw.useragent import UserAgent

__all__ = ["SipUdpEndpoint", "open_sip_udp"]

SipUdpEndpoint = SipEndpoint


async def open_sip_udp(
    bind: str, port: int, make_ua: Callable[[int], UserAgent], on_event: Callable[[SipEvent], None]
) -> SipEndpoint:
    """Bind the SIP UDP socket, then build the core knowing the real port.

    ``make_ua`` receives the bound port (useful with port 0).
    """
    config = TransportConfig(bind=bind, sip_port=port, transports=("UDP",))
    return await open_sip_endpoint(config, lambda ports: make_ua(ports["UDP"]), on_event)
