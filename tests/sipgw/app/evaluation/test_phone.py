"""The scripted phone against a scripted UAS on loopback: its SIP handling and its RTP logs."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import cast

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.phone import Phone
from sipgw.media import g711
from sipgw.media.rtp import RtpPacket
from sipgw.sip.message import SipRequest, SipResponse

pytestmark = pytest.mark.timeout(30)

UAS_RTP_PORT = 4000  # what the UAS's SDP answer names; nothing listens there


class Uas(asyncio.DatagramProtocol):
    """A socket that plays the gateway: it records what arrives and answers as told."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[str, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((data.decode(), addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def receive(self, method: str) -> tuple[str, tuple[str, int]]:
        """The next request with ``method``; others are dropped."""
        async with asyncio.timeout(5):
            while True:
                text, addr = await self.inbox.get()
                if text.startswith(f"{method} "):
                    return text, addr

    def answer(self, request: str, addr: tuple[str, int], status: int, body: str = "") -> None:
        """A response that copies the dialog headers of ``request`` (To gets a tag)."""
        copied = [
            line + (";tag=uas" if line.startswith("To:") and "tag=" not in line else "")
            for line in request.split("\r\n")
            if line.startswith(("Via:", "From:", "To:", "Call-ID:", "CSeq:"))
        ]
        head = [f"SIP/2.0 {status} Whatever", *copied, f"Content-Length: {len(body)}"]
        self.send("\r\n".join(head) + "\r\n\r\n" + body, addr)

    def send(self, text: str, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), addr)

    def idle(self) -> bool:
        return self.inbox.empty()


SDP_ANSWER = (
    "v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    f"m=audio {UAS_RTP_PORT} RTP/AVP 0 101\r\n"
)


@pytest.fixture
async def uas() -> AsyncIterator[Uas]:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Uas, local_addr=("127.0.0.1", 0))
    yield protocol
    assert protocol.transport is not None
    protocol.transport.close()


async def answered_call(uas: Uas, **options: object) -> tuple[Phone, str, tuple[str, int]]:
    phone = Phone(uas.address, **options)  # type: ignore[arg-type]
    inviting = asyncio.create_task(phone.invite())
    invite, addr = await uas.receive("INVITE")
    uas.answer(invite, addr, 100)
    uas.answer(invite, addr, 200, SDP_ANSWER)
    ok = await inviting
    assert ok.status == 200
    return phone, invite, addr


async def test_invite_offers_its_rtp_port_acks_the_answer_and_keeps_the_times(uas: Uas) -> None:
    phone, invite, addr = await answered_call(uas)
    try:
        assert f"m=audio {phone.rtp_port} RTP/AVP 0 101" in invite
        assert addr == ("127.0.0.1", phone.sip_port)
        ack, _ = await uas.receive("ACK")
        assert "tag=uas" in ack and "CSeq: 1 ACK" in ack
        assert [m.status for m in phone.received if isinstance(m, SipResponse)] == [100, 200]
        assert phone.invite_sent_at is not None and phone.answered_at is not None
        assert phone.invite_sent_at <= phone.answered_at <= time.monotonic()
        assert phone.remote_rtp == ("127.0.0.1", UAS_RTP_PORT)
        assert phone.acked and phone.to_tag == "uas"
    finally:
        phone.close()


async def test_a_retransmitted_200_is_acked_again_and_not_expected(uas: Uas) -> None:
    phone, invite, addr = await answered_call(uas)
    try:
        await uas.receive("ACK")
        uas.answer(invite, addr, 200, SDP_ANSWER)
        await uas.receive("ACK")  # RFC 3261 §13.2.2.4
        with pytest.raises(TimeoutError):
            await phone.expect(lambda m: isinstance(m, SipResponse), within=0.2)
    finally:
        phone.close()


async def test_a_rejected_invite_is_acked_in_its_transaction(uas: Uas) -> None:
    phone = Phone(uas.address)
    try:
        inviting = asyncio.create_task(phone.invite())
        invite, addr = await uas.receive("INVITE")
        uas.answer(invite, addr, 486)
        assert (await inviting).status == 486
        ack, _ = await uas.receive("ACK")
        branch = next(line for line in invite.split("\r\n") if line.startswith("Via:"))
        assert branch in ack.split("\r\n")  # same Via branch as the INVITE (§17.1.1.3)
        assert not phone.acked
        await phone.hang_up()  # nothing to hang up
        await asyncio.sleep(0.1)
        assert uas.idle()
    finally:
        phone.close()


async def test_bye_and_answer_bye(uas: Uas) -> None:
    phone, _, _ = await answered_call(uas)
    try:
        bye = asyncio.create_task(phone.bye())
        request, addr = await uas.receive("BYE")
        assert "CSeq: 2 BYE" in request
        uas.answer(request, addr, 200)
        assert (await bye).status == 200
        uas.send(request.replace("CSeq: 2 BYE", "CSeq: 7 BYE"), addr)  # the UAS hangs up
        received = await phone.answer_bye()
        assert received.method == "BYE"
        response, _ = await uas.receive("SIP/2.0")
        assert response.startswith("SIP/2.0 200") and "CSeq: 7 BYE" in response
    finally:
        phone.close()


async def test_answer_requests_answers_at_once_and_hang_up_then_sends_nothing(uas: Uas) -> None:
    phone, invite, addr = await answered_call(uas, answer_requests=True)
    try:
        await uas.receive("ACK")
        bye = invite.replace("INVITE sip:", "BYE sip:").replace("CSeq: 1 INVITE", "CSeq: 9 BYE")
        uas.send(bye, addr)
        response, _ = await uas.receive("SIP/2.0")
        assert response.startswith("SIP/2.0 200") and "CSeq: 9 BYE" in response
        await asyncio.sleep(0.05)
        assert phone.bye_received
        assert any(isinstance(m, SipRequest) and m.method == "BYE" for m in phone.received)
        await phone.hang_up()
        await asyncio.sleep(0.1)
        assert uas.idle()
    finally:
        phone.close()


async def test_expect_passes_over_others_and_rejects_garbage(uas: Uas) -> None:
    phone, invite, addr = await answered_call(uas)
    try:
        options = invite.replace("INVITE sip:", "OPTIONS sip:").replace("1 INVITE", "2 OPTIONS")
        info = invite.replace("INVITE sip:", "INFO sip:").replace("1 INVITE", "3 INFO")
        uas.send(options, addr)
        uas.send(info, addr)
        got = await phone.expect(lambda m: isinstance(m, SipRequest) and m.method == "INFO")
        assert isinstance(got, SipRequest) and got.method == "INFO"
        with pytest.raises(TimeoutError):  # the OPTIONS before it was passed over
            await phone.expect(lambda m: isinstance(m, SipRequest), within=0.2)
        stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with stray:  # another process's RTCP on a shared loopback: not the gateway's
            stray.sendto(b"\x81\xc8\x00\x0c" + bytes(48), ("127.0.0.1", phone.sip_port))
        uas.send(info.replace("3 INFO", "4 INFO"), addr)  # queued after it on loopback
        got = await phone.expect(lambda m: isinstance(m, SipRequest) and m.cseq.number == 4)
        assert phone.stray_datagrams == 1
        uas.send("this is not SIP", addr)  # the gateway's garbage fails the test
        with pytest.raises(ValueError, match="unparsable SIP"):
            await phone.expect(lambda m: True, within=2)
    finally:
        phone.close()


async def rtp_socket() -> tuple[asyncio.DatagramTransport, asyncio.Queue[bytes]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            queue.put_nowait(data)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    return transport, queue


async def test_audio_is_paced_numbered_and_tagged(uas: Uas) -> None:
    sink, packets = await rtp_socket()
    phone = Phone(uas.address, idle=lambda index: bytes([index % 256]) * 160, sequence=65534)
    try:
        phone.start_audio(sink.get_extra_info("sockname")[:2])
        said = phone.say(tone_frames(300, 0.1), tag=7)
        assert said == pytest.approx(time.monotonic() + 0.1, abs=0.02)
        last = await phone.wait_said(7, within=2)
        await asyncio.sleep(0.1)
        await phone.stop_audio()
        received = [RtpPacket.parse(packets.get_nowait()) for _ in range(packets.qsize())]
        assert len(received) == len(phone.sent_at) and len(received) >= 10
        first = received[0]
        assert first.marker and first.sequence_number == 65534 and first.payload_type == 0
        assert not any(p.marker for p in received[1:])
        for n, packet in enumerate(received):
            assert packet.sequence_number == (65534 + n) & 0xFFFF
            assert packet.timestamp == (5000 + 160 * n) & 0xFFFFFFFF
        assert list(phone.sent_tags[:5]) == [7] * 5 and last == 4
        assert [p.payload for p in received[:5]] == tone_frames(300, 0.1)
        assert received[5].payload == bytes([5]) * 160  # the idle frame names its index
        gaps = [b - a for a, b in zip(phone.sent_at, phone.sent_at[1:], strict=False)]
        assert 0.015 < sum(gaps) / len(gaps) < 0.025
    finally:
        phone.close()
        sink.close()


async def test_play_sends_exactly_the_frames(uas: Uas) -> None:
    sink, packets = await rtp_socket()
    phone = Phone(uas.address)
    phone.remote_rtp = sink.get_extra_info("sockname")[:2]
    try:
        await phone.play(tone_frames(1000, 0.1, codec="PCMA"), payload_type=8)
        await asyncio.sleep(0.05)
        received = [RtpPacket.parse(packets.get_nowait()) for _ in range(packets.qsize())]
        assert [p.payload_type for p in received] == [8] * 5
    finally:
        phone.close()
        sink.close()


async def test_what_was_heard_and_when(uas: Uas) -> None:
    phone = Phone(uas.address)
    sender, _ = await rtp_socket()
    target = ("127.0.0.1", phone.rtp_port)
    silence = g711.silence_frame("PCMU")
    script = [silence] * 5 + tone_frames(700, 0.2) + [silence] * 5
    try:
        start = time.monotonic()
        for n, frame in enumerate(script):
            packet = RtpPacket(0, n, 160 * n, 0x1234, False, frame)
            sender.sendto(packet.serialize(), target)
            if n == 12:  # a telephone-event in the middle: heard, not audio
                event = RtpPacket(101, 999, 0, 0x1234, False, struct.pack("!BBH", 1, 10, 160))
                sender.sendto(event.serialize(), target)
            await asyncio.sleep(0.004)
        assert await phone.wait_for_tone(700, within=2, min_seconds=0.02) >= start
        sender.sendto(b"\x00", target)  # not RTP: counted, not kept
        await phone.wait_until_quiet(0.05, hz=700, within=2)
        for _ in range(200):  # the datagram is read when the loop gets to it (a loaded machine)
            if phone.rtp_garbage:
                break
            await asyncio.sleep(0.01)
        heard = phone.heard
        assert len(heard) == len(script) + 1 and phone.rtp_garbage == 1
        assert all(h.at <= h.read_at for h in heard)
        assert phone.rtp.kernel_stamps
        assert [h.loud for h in heard if h.audio] == [False] * 5 + [True] * 10 + [False] * 5
        first = phone.first_heard(start)
        assert first is not None and heard[first].packet.sequence_number == 5
        quiet = phone.first_heard(heard[first].at, loud=False)
        assert quiet is not None and heard[quiet].packet.sequence_number == 15  # skips DTMF
        ((began, ended),) = phone.tone_spans(700)  # the event neither ends nor extends it
        assert began == heard[5].at and ended == heard[15].at
        assert phone.tone_spans(900) == [] and phone.heard_tone(700, min_seconds=0.02)
        assert len(phone.packets()) == len(heard)
        with pytest.raises(TimeoutError):
            await phone.wait_heard(time.monotonic(), within=0.1)
    finally:
        phone.close()
        sender.close()


async def test_the_rtcp_port_of_the_rtp_socket_is_never_the_sip_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernel gave the RTP socket the port just below the SIP socket's once in a latency
    benchmark: the gateway's RTCP (to RTP + 1) then failed the phone's next expect()."""
    ports = iter([5001, 5000, 6000])  # SIP, RTP colliding (5000 + 1), RTP again
    made: list[_FakeSocket] = []

    class _FakeSocket:
        def __init__(self, on_datagram: object) -> None:
            self.port = next(ports)
            self.closed = False
            made.append(self)

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr("sipgw.app.evaluation.phone.TimestampedSocket", _FakeSocket)
    phone = Phone(("127.0.0.1", 5060))
    assert (phone.sip_port, phone.rtp_port) == (5001, 6000)
    assert [s.closed for s in made] == [False, True, False]
