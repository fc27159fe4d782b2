"""A scripted SIP caller with its own RTP socket, and a running in-process gateway.

Shared by the gateway and assistant integration tests (real loopback sockets).
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agent.base import Agent, CallControl
from agent.echo import EchoAgent
from media import g711
from media.rtp import RtpPacket
from sipgw.app.config import GatewayConfig
from sipgw.app.gateway import Gateway
from sipgw.message import SipRequest, SipResponse, make_response, parse_message


def tone_frames(hz: float, count: int, codec: str = "PCMU") -> list[bytes]:
    """``count`` 20 ms frames of a -12 dBFS sine."""
    amplitude = 0.25 * 32767
    frames = []
    for n in range(count):
        pcm = struct.pack(
            "<160h",
            *(
                int(amplitude * math.sin(2 * math.pi * hz * (n * 160 + i) / 8000))
                for i in range(160)
            ),
        )
        frames.append(g711.linear_to_ulaw(pcm) if codec == "PCMU" else g711.linear_to_alaw(pcm))
    return frames


def new_branch() -> str:
    return f"z9hG4bK{random.getrandbits(40):x}"


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


@dataclass
class Caller:
    """A scripted SIP UAC with its own RTP socket."""

    sip: asyncio.DatagramTransport
    sip_in: _Udp
    rtp: asyncio.DatagramTransport
    rtp_in: _Udp
    gateway: tuple[str, int]
    call_id: str = field(default_factory=lambda: f"gwtest-{random.getrandbits(32):08x}")
    cseq: int = 1
    to_tag: str | None = None
    contact_host: str = "127.0.0.1"
    received: list[SipRequest | SipResponse] = field(default_factory=list)

    @property
    def sip_port(self) -> int:
        return int(self.sip.get_extra_info("sockname")[1])

    @property
    def rtp_port(self) -> int:
        return int(self.rtp.get_extra_info("sockname")[1])

    def request(
        self, method: str, body: str = "", cseq: int | None = None, branch: str = ""
    ) -> bytes:
        to = "<sip:echo@127.0.0.1>" + (f";tag={self.to_tag}" if self.to_tag else "")
        lines = [
            f"{method} sip:echo@{self.gateway[0]}:{self.gateway[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.sip_port};branch={branch or new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:caller@127.0.0.1:{self.sip_port}>;tag=callertag",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq or self.cseq} {method}",
            f"Contact: <sip:caller@{self.contact_host}:{self.sip_port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def sdp(self, formats: str = "0 101") -> str:
        return (
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP {formats}\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
        )

    def send(self, data: bytes) -> None:
        self.sip.sendto(data, self.gateway)

    async def expect(
        self, predicate: Callable[[SipRequest | SipResponse], bool], within: float = 5.0
    ) -> SipRequest | SipResponse:
        async with asyncio.timeout(within):
            while True:
                data, _ = await self.sip_in.queue.get()
                message = parse_message(data)
                self.received.append(message)
                if predicate(message):
                    return message

    async def invite(self, formats: str = "0 101") -> SipResponse:
        self.send(self.request("INVITE", self.sdp(formats)))
        ok = await self.expect(lambda m: isinstance(m, SipResponse) and m.status >= 200)
        assert isinstance(ok, SipResponse)
        if ok.status == 200:
            self.to_tag = ok.to.tag
            ack = self.request("ACK")
            self.send(ack)
        return ok

    async def answer_bye(self, within: float = 5.0) -> SipRequest:
        bye = await self.expect(lambda m: isinstance(m, SipRequest) and m.method == "BYE", within)
        assert isinstance(bye, SipRequest)
        self.sip.sendto(make_response(bye, 200).serialize(), self.gateway)
        return bye

    async def bye(self) -> SipResponse:
        self.cseq += 1
        self.send(self.request("BYE"))
        ok = await self.expect(lambda m: isinstance(m, SipResponse) and m.cseq.method == "BYE")
        assert isinstance(ok, SipResponse)
        return ok


@asynccontextmanager
async def running(
    factory: Callable[[CallControl], Agent] | None = None, **config: object
) -> AsyncIterator[tuple[Gateway, Callable[[], asyncio.Future[Caller]]]]:
    settings: dict[str, object] = {
        "bind": "127.0.0.1", "sip_port": 0, "rtp_ports": (31000, 31999), "public_ip": "127.0.0.1",
        "rtp_timeout": 0.0,
    }  # fmt: skip
    settings.update(config)
    gateway = Gateway(GatewayConfig(**settings), factory or (lambda c: EchoAgent(c, 200)))  # type: ignore[arg-type]
    address = await gateway.start()
    loop = asyncio.get_running_loop()
    transports: list[asyncio.DatagramTransport] = []

    async def new_caller() -> Caller:
        sip, sip_in = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
        rtp, rtp_in = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
        transports.extend([sip, rtp])
        return Caller(sip, sip_in, rtp, rtp_in, address)

    try:
        yield gateway, new_caller  # type: ignore[misc]
    finally:
        await gateway.stop(grace=1.0)
        for transport in transports:
            transport.close()


async def send_rtp(
    caller: Caller, remote: tuple[str, int], frames: list[bytes], pt: int = 0
) -> None:
    """Send frames at a real 20 ms pace (absolute deadlines)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, frame in enumerate(frames):
        packet = RtpPacket(payload_type=pt, sequence_number=(60000 + n) & 0xFFFF,
                           timestamp=(2**32 - 800 + 160 * n) % 2**32, ssrc=0x1234,
                           marker=n == 0, payload=frame)  # fmt: skip
        caller.rtp.sendto(packet.serialize(), remote)
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))


def drain_rtp(caller: Caller) -> list[RtpPacket]:
    packets = []
    while not caller.rtp_in.queue.empty():
        data, _ = caller.rtp_in.queue.get_nowait()
        packets.append(RtpPacket.parse(data))
    return packets


def sdp_port(ok: SipResponse) -> int:
    line = next(x for x in ok.body.decode().splitlines() if x.startswith("m=audio"))
    return int(line.split()[1])
