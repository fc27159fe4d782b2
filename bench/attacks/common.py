"""What the attacks share: a gateway on this loop, counting sockets, forged requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sipgw.app.agents import find_agent
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.security.access import AccessConfig
from sipgw.app.security.settings import LimitsConfig
from sipgw.app.settings import GatewayConfig
from sipgw.foundation.settings import Sources
from tests.toolkit.gateway_in_process import TEST_AGENT_ENV, TEST_OVERLOAD

__all__ = [
    "Counter",
    "count_udp",
    "forged_request",
    "gateway_on_loop",
    "statuses",
    "wait_for",
]


@asynccontextmanager
async def gateway_on_loop(
    *, access: AccessConfig | None = None, limits: LimitsConfig | None = None, **settings: Any
) -> AsyncIterator[Gateway]:
    """A gateway answering with the echo agent on 127.0.0.1 (SIP port 0, free RTP ports).

    ``settings`` are :class:`GatewayConfig` fields; ``access`` and ``limits`` as for
    ``sipgw serve`` (default: what ``serve --agent echo`` does with nothing configured,
    anyone may call). Overload protection is off (a loaded machine must not refuse calls).
    """
    config = GatewayConfig(
        **{
            "bind": "127.0.0.1",
            "sip_port": 0,
            "public_ip": "127.0.0.1",
            "rtp_ports": tuple(free_port_range(40)),
            **settings,
        }
    )
    sources = Sources({**TEST_AGENT_ENV, "SIPGW_AGENT": "echo"})
    gateway = Gateway(
        config,
        find_agent("echo").build(sources),
        GatewayParts(
            access=access or _lab(), limits=limits or LimitsConfig(), overload=TEST_OVERLOAD
        ),
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop(grace=1.0)


def _lab() -> AccessConfig:
    """What ``sipgw serve --agent echo`` admits with nothing configured: anyone (an older
    tree has no ``free_agents``: it admitted anyone with any agent)."""
    try:
        return AccessConfig(free_agents=True)  # type: ignore[call-arg, unused-ignore]
    except TypeError:
        return AccessConfig()


@dataclass
class Counter:
    """Datagrams one socket received: how many, their bytes, each arrival time."""

    packets: int = 0
    octets: int = 0
    largest: int = 0
    times: list[float] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    keep: bool = False

    def add(self, data: bytes) -> None:
        self.packets += 1
        self.octets += len(data)
        self.largest = max(self.largest, len(data))
        self.times.append(time.monotonic())
        if self.keep:
            self.data.append(data)


class _Counting(asyncio.DatagramProtocol):
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counter.add(data)


async def count_udp(
    host: str, port: int = 0, keep: bool = False
) -> tuple[asyncio.DatagramTransport, Counter]:
    """A UDP socket bound to ``host`` (any 127.x works on loopback) counting what arrives."""
    counter = Counter(keep=keep)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Counting(counter), local_addr=(host, port)
    )
    return transport, counter


def forged_request(
    method: str,
    source: tuple[str, int],
    target: tuple[str, int],
    n: int,
    body: str = "",
    transport: str = "UDP",
) -> bytes:
    """A small request as a scanner or flooder sends it, from ``source`` (its Via); a
    ``body`` is an SDP (a phone's INVITE)."""
    host, port = source
    lines = [
        f"{method} sip:100@{target[0]}:{target[1]} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{n:x};rport",
        "Max-Forwards: 70",
        f"From: <sip:100@{host}>;tag={n:x}",
        "To: <sip:100@sipgw>",
        f"Call-ID: {n:x}@{host}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:100@{host}:{port}>",
        *(["Content-Type: application/sdp"] if body else []),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def wait_for(predicate: Any, within: float, step: float = 0.02) -> bool:
    """Poll ``predicate()`` until true or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def statuses(reader: asyncio.StreamReader, quiet: float = 1.0) -> list[str]:
    """The status codes of every response read until ``quiet`` seconds pass without one."""
    got = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), quiet):
            got += chunk
    except (TimeoutError, OSError):
        pass
    return [line.split(b" ")[1].decode() for line in got.split(b"\r\n") if line[:8] == b"SIP/2.0 "]
