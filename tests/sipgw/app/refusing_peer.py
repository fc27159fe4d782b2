"""A UDP peer that refuses every INVITE with a status line and headers of the test's choosing
(what a carrier does to a caller id it does not accept), and ACKs nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sipgw.sip.message import SipRequest, make_response, parse_message


@dataclass
class RefusingPeer(asyncio.DatagramProtocol):
    status: int
    phrase: str
    headers: tuple[tuple[str, str], ...] = ()
    invites: list[SipRequest] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        message = parse_message(data)
        if not isinstance(message, SipRequest) or message.method != "INVITE":
            return
        self.invites.append(message)
        response = make_response(message, self.status, self.phrase, to_tag="carrier")
        for name, value in self.headers:
            response.headers.add(name, value)
        assert self.transport is not None
        self.transport.sendto(response.serialize(), addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


@asynccontextmanager
async def refusing_peer(
    status: int, phrase: str, headers: tuple[tuple[str, str], ...] = ()
) -> AsyncIterator[RefusingPeer]:
    """The peer on a free loopback port."""
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        lambda: RefusingPeer(status, phrase, headers), local_addr=("127.0.0.1", 0)
    )
    try:
        yield peer
    finally:
        transport.close()
