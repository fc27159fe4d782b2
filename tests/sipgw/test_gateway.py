"""The asyncio gateway on real loopback sockets, driven by a scripted caller."""

from __future__ import annotations

import asyncio
import math
import random
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise

import pytest

from agent.base import Agent, CallControl
from agent.echo import EchoAgent
from media import g711
from media.rtp import RtpPacket
from sipgw.aio.gateway import Gateway
from sipgw.config import GatewayConfig
from sipgw.message import SipRequest, SipResponse, make_response, parse_message

pytestmark = pytest.mark.timeout(30)


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
    contact_port: int = 0
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
            f"Contact: <sip:caller@127.0.0.1:{self.sip_port}>",
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
        "echo_delay_ms": 200, "rtp_timeout": 0.0,
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


async def test_echo_call_over_real_sockets() -> None:
    async with running() as (gateway, new_caller):
        caller = await new_caller()
        ok = await caller.invite()
        assert ok.status == 200
        statuses = [m.status for m in caller.received if isinstance(m, SipResponse)]
        assert statuses == [100, 180, 200]
        frames = tone_frames(1000, 75)  # 1.5 s
        await send_rtp(caller, ("127.0.0.1", sdp_port(ok)), frames)
        await asyncio.sleep(0.5)
        packets = drain_rtp(caller)
        assert await caller.bye() and caller.received[-1].status == 200
    # Continuous outbound RTP: one SSRC, seq +1, ts +160, marker only on the first packet
    # and at the start of the echoed talkspurt.
    assert len({p.ssrc for p in packets}) == 1
    assert all((b.sequence_number - a.sequence_number) % 65536 == 1 for a, b in pairwise(packets))
    assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in pairwise(packets))
    assert packets[0].marker
    markers = [i for i, p in enumerate(packets) if p.marker]
    echoed = [p.payload for p in packets if p.payload != g711.silence_frame("PCMU")]
    # The echo is the caller's audio, bit-exact (μ-law in, μ-law out), in order.
    assert echoed[:60] == frames[:60]
    first_echo = next(i for i, p in enumerate(packets) if p.payload == frames[0])
    assert markers == [0, first_echo]
    # ...delayed by the echo delay (200 ms) plus the jitter buffer (40 ms) plus a tick or two.
    assert 10 <= first_echo <= 10 + 2 + 3


async def test_pcma_call_is_converted_at_the_edge() -> None:
    async with running() as (gateway, new_caller):
        caller = await new_caller()
        ok = await caller.invite("8 101")
        assert b"RTP/AVP 8 101" in ok.body
        frames = tone_frames(800, 40, "PCMA")
        await send_rtp(caller, ("127.0.0.1", sdp_port(ok)), frames, pt=8)
        await asyncio.sleep(0.4)
        packets = drain_rtp(caller)
        await caller.bye()
    assert {p.payload_type for p in packets} == {8}
    echoed = [p.payload for p in packets if p.payload != g711.silence_frame("PCMA")]
    assert len(echoed) >= 30
    # A-law → μ-law → A-law is not bit-exact, but the tone survives within a dB.
    level_in = g711.rms_dbfs(g711.alaw_to_ulaw(frames[10]))
    level_out = g711.rms_dbfs(g711.alaw_to_ulaw(echoed[10]))
    assert abs(level_in - level_out) < 1.0


async def test_rtp_timeout_hangs_up() -> None:
    async with running(rtp_timeout=1.0) as (gateway, new_caller):
        caller = await new_caller()
        ok = await caller.invite()
        assert ok.status == 200
        bye = await caller.answer_bye(within=4.0)
        assert bye.from_.tag == ok.to.tag
        await asyncio.sleep(0.1)
        assert gateway.handles == {} and gateway.ports.in_use == 0


async def test_max_call_duration_hangs_up() -> None:
    async with running(max_call_seconds=1.0) as (gateway, new_caller):
        caller = await new_caller()
        await caller.invite()
        await caller.answer_bye(within=4.0)


class DigitAgent(EchoAgent):
    digits: list[str] = []

    def on_dtmf(self, digit: str) -> None:
        DigitAgent.digits.append(digit)


async def test_rfc4733_dtmf_reaches_the_agent() -> None:
    DigitAgent.digits = []
    async with running(lambda c: DigitAgent(c, 0)) as (gateway, new_caller):
        caller = await new_caller()
        ok = await caller.invite()
        remote = ("127.0.0.1", sdp_port(ok))
        events = [(False, 160), (False, 320), (True, 480), (True, 480), (True, 480)]
        for n, (end, duration) in enumerate(events):
            payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, duration)
            packet = RtpPacket(payload_type=101, sequence_number=100 + n, timestamp=8000, ssrc=7,
                               marker=n == 0, payload=payload)  # fmt: skip
            caller.rtp.sendto(packet.serialize(), remote)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await caller.bye()
    assert DigitAgent.digits == ["5"]


async def test_shutdown_sends_bye_and_waits() -> None:
    async with running() as (gateway, new_caller):
        caller = await new_caller()
        await caller.invite()
        stopping = asyncio.create_task(gateway.stop(grace=3.0))
        await caller.answer_bye()
        await asyncio.wait_for(stopping, 2.0)
        assert not gateway.ua.busy


class FailingAgent(EchoAgent):
    async def prepare(self) -> None:
        raise ConnectionError("speech service unreachable")


async def test_agent_prepare_failure_rejects_with_503() -> None:
    async with running(FailingAgent) as (gateway, new_caller):
        caller = await new_caller()
        response = await caller.invite()
        assert response.status == 503
        assert gateway.ports.in_use == 0


async def test_rtp_port_exhaustion_rejects_with_503() -> None:
    async with running(rtp_ports=(31500, 31502)) as (gateway, new_caller):
        first = await new_caller()
        assert (await first.invite()).status == 200
        second = await new_caller()
        assert (await second.invite()).status == 503
        await first.bye()
