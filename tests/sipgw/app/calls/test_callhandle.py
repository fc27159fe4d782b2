"""One call's control (sipgw/app/calls/callhandle.py): transfers and DTMF through the dial gate,
the REFER's progress, keypad digits in; in-process over real loopback sockets."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.calls.callhandle import TRANSFER_NOTIFY_MARGIN, CallHandle, follow_formats
from sipgw.app.calls.recording import CallRecorder
from sipgw.app.evaluation.phone import Phone
from sipgw.app.gateway import Gateway
from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_16K, PCM16_24K, ULAW_8K
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.sip.call import CallState
from sipgw.sip.message import SipRequest, make_response
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

ALLOW = "sip:*@127.0.0.1:5999,+1555*,9*"
TELEPHONE_EVENT_PT = 101


class ControlAgent(EchoAgent):
    """The echo agent, its call control at hand for the test; what the gateway tells it."""

    built: list[ControlAgent] = []

    def __init__(self, call: CallControl) -> None:
        super().__init__(call, delay_ms=0)
        self.digits: list[str] = []
        self.failed_transfers: list[tuple[int, str]] = []
        self.refused_transfers: list[tuple[int, str]] = []
        ControlAgent.built.append(self)

    def on_dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def on_transfer_failed(self, status: int, reason: str) -> None:
        self.failed_transfers.append((status, reason))

    def on_transfer_refused(self, status: int, reason: str) -> None:
        self.refused_transfers.append((status, reason))


@asynccontextmanager
async def answered_call(
    allow: str = ALLOW, keypad: bool = True
) -> AsyncIterator[tuple[Gateway, Phone, ControlAgent]]:
    ControlAgent.built = []
    env = {"SIPGW_DIAL_ALLOW": allow}
    factory = PluginFactory(ControlAgent, AgentCapabilities(keypad=keypad))
    async with running_gateway(factory, env=env) as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        (agent,) = ControlAgent.built
        handle = agent.call
        assert isinstance(handle, CallHandle)
        await until(lambda: handle.call.state is CallState.CONFIRMED)  # our 200's ACK is in
        yield gateway, phone, agent
        await phone.bye()


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def requests(phone: Phone, method: str) -> list[SipRequest]:
    return [m for m in phone.received if isinstance(m, SipRequest) and m.method == method]


def notify(phone: Phone, status_line: str) -> bytes:
    phone.cseq += 1
    request = phone.request("NOTIFY", cseq=phone.cseq)
    body = status_line + "\r\n"
    return request.replace(b"Content-Length: 0\r\n\r\n", (
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
        f"Content-Type: message/sipfrag\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode())  # fmt: skip


async def test_a_refused_transfer_sends_nothing_and_is_counted() -> None:
    async with answered_call() as (gateway, phone, agent):
        for target in ("sip:desk@127.0.0.1:5999;maddr=evil.example", "sip:a b@127.0.0.1:5999"):
            with pytest.raises(DialRefused):
                await agent.call.transfer(target)
        await asyncio.sleep(0.2)  # a REFER would have arrived by now
        assert requests(phone, "REFER") == []
        assert gateway.counters().dial_refused == 2


async def test_the_refer_carries_the_uri_the_gate_judged() -> None:
    """Angle brackets and an upper-case host: the allow-list used to accept this text while
    the REFER then refused it as no URI; now the judged URI is what Refer-To carries."""
    async with answered_call() as (gateway, phone, agent):
        transfer = asyncio.create_task(agent.call.transfer(" <sip:Desk@127.0.0.1:5999> "))
        refer = await phone.expect(lambda m: isinstance(m, SipRequest) and m.method == "REFER")
        assert isinstance(refer, SipRequest)
        assert refer.headers.get("Refer-To") == "<sip:Desk@127.0.0.1:5999>"
        phone.send(make_response(refer, 202).serialize())
        assert await transfer is True
        phone.send(notify(phone, "SIP/2.0 486 Busy Here"))  # the target did not answer
        await phone.expect(lambda m: getattr(m, "status", None) == 200)  # to the NOTIFY
        assert agent.failed_transfers == [(486, "Busy Here")]
        assert gateway.counters().dial_refused == 0


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (603, "Decline")])
async def test_a_refer_the_phone_refuses_tells_the_agent_its_answer(
    status: int, reason: str
) -> None:
    """The phone answers the REFER with an error: the agent is told that final response
    (a TwiML ``<Refer>``'s ``ReferSipResponseCode``) and ``transfer`` returns False."""
    async with answered_call() as (_, phone, agent):
        transfer = asyncio.create_task(agent.call.transfer("sip:desk@127.0.0.1:5999"))
        refer = await phone.expect(lambda m: isinstance(m, SipRequest) and m.method == "REFER")
        assert isinstance(refer, SipRequest)
        phone.send(make_response(refer, status, reason).serialize())
        assert await transfer is False
        assert agent.refused_transfers == [(status, reason)]
        assert agent.failed_transfers == []


async def test_a_transfer_whose_final_notify_never_comes_fails_and_the_agent_is_told() -> None:
    """The phone accepted the REFER (202) and then said nothing more: after the ring
    timeout and a margin (``transfer_wait``) the transfer failed, the agent resumes."""
    async with answered_call() as (gateway, phone, agent):
        assert gateway.calls.transfer_wait == 60.0 + TRANSFER_NOTIFY_MARGIN  # the ring timeout
        handle = agent.call
        assert isinstance(handle, CallHandle)
        handle.transfer_wait = 0.4
        transfer = asyncio.create_task(handle.transfer("sip:desk@127.0.0.1:5999"))
        refer = await phone.expect(lambda m: isinstance(m, SipRequest) and m.method == "REFER")
        assert isinstance(refer, SipRequest)
        phone.send(make_response(refer, 202).serialize())
        assert await transfer is True
        await asyncio.sleep(0.2)
        assert agent.failed_transfers == []
        await until(lambda: bool(agent.failed_transfers))
        assert agent.failed_transfers == [
            (408, "no final NOTIFY 0.4 s after the REFER was accepted")
        ]
        assert handle.call.state is CallState.CONFIRMED  # the call goes on with the agent


async def test_an_allowed_number_is_no_transfer_target() -> None:
    async with answered_call() as (_, phone, agent):
        assert await agent.call.transfer("+1 555 0100") is False  # a REFER needs a URI
        await asyncio.sleep(0.2)
        assert requests(phone, "REFER") == []


def keyed(phone: Phone) -> list[int]:
    """The RFC 4733 events the phone heard (one per packet, redundant ones included)."""
    return [h.packet.payload[0] for h in phone.heard if h.packet.payload_type == TELEPHONE_EVENT_PT]


async def test_dtmf_sends_the_digits_judged() -> None:
    async with answered_call() as (gateway, phone, agent):
        with pytest.raises(DialRefused):
            agent.call.send_dtmf("0044")  # +44 is not on the list, and 0044 is what is keyed
        agent.call.send_dtmf("9 0-0")  # keyed as 900
        await asyncio.sleep(0.8)  # three digits at 100 ms each, plus their gaps
        events = keyed(phone)
        assert sorted(set(events)) == [0, 9] and events[0] == 9
        assert gateway.counters().dial_refused == 1


async def test_the_allow_list_judges_all_the_digits_a_call_keyed() -> None:
    """Issue 21: the list was checked per string, so keys allowed one at a time (a menu's
    1, 2, #) added up to anything: 9 for an outside line, then 0, 0, 4, 4, ... Now the
    call's whole sequence must be on the list."""
    async with answered_call("1,2,#,12#") as (gateway, phone, agent):
        agent.call.send_dtmf("1")
        with pytest.raises(DialRefused):
            agent.call.send_dtmf("#")  # "1#" is not on the list, though "#" alone is
        agent.call.send_dtmf("2")  # "12" begins "12#"
        agent.call.send_dtmf("#")  # "12#" is on the list
        with pytest.raises(DialRefused):
            agent.call.send_dtmf("1")  # "12#1" is not
        await asyncio.sleep(1.0)
        assert sorted(set(keyed(phone))) == [1, 2, 11]  # 1, 2, # (event 11)
        assert gateway.counters().dial_refused == 2


async def test_keypad_digits_reach_the_agent_both_ways() -> None:
    async with answered_call() as (_, phone, agent):
        phone.cseq += 1
        info = phone.request("INFO", cseq=phone.cseq).replace(
            b"Content-Length: 0\r\n\r\n",
            b"Content-Type: application/dtmf\r\nContent-Length: 1\r\n\r\n7",
        )
        phone.send(info)
        # the INFO's digit first: the SIP and RTP sockets are read in no set order, and a
        # loaded machine once read the RTP event sent after the INFO before it
        await until(lambda: agent.digits == ["7"])
        remote = phone.remote_rtp
        assert remote is not None
        for n, end in enumerate([False, True, True, True]):
            payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, 160 * (n + 1))
            packet = RtpPacket(payload_type=TELEPHONE_EVENT_PT, sequence_number=500 + n,
                               timestamp=8000, ssrc=7, marker=n == 0, payload=payload)  # fmt: skip
            phone.rtp.sendto(packet.serialize(), remote)
            await asyncio.sleep(0.02)
        await until(lambda: len(agent.digits) >= 2)
        assert agent.digits == ["7", "5"]


async def test_digits_reach_only_an_agent_whose_record_declares_the_keypad(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 40: the record's ``keypad`` is read: an agent that declares none is not given
    the caller's digits (they are logged, and that they were not given, once)."""
    with caplog.at_level("INFO", logger="sipgw"):
        async with answered_call(keypad=False) as (_, phone, agent):
            for digit in (b"7", b"8"):
                phone.cseq += 1
                phone.send(phone.request("INFO", cseq=phone.cseq).replace(
                    b"Content-Length: 0\r\n\r\n",
                    b"Content-Type: application/dtmf\r\nContent-Length: 1\r\n\r\n" + digit,
                ))  # fmt: skip
            await until(lambda: "DTMF 8 (SIP INFO)" in caplog.text)
            assert agent.digits == []
    assert caplog.text.count("its agent takes no keypad digits") == 1


async def test_a_transfer_carries_the_calls_headers_and_its_summary_when_turned_on() -> None:
    """X- headers on the REFER (Asterisk reads them with GET_TRANSFERRER_DATA), the summary
    as User-to-User in the Refer-To (RFC 7433) only with SIPGW_TRANSFER_SUMMARY on."""
    async with answered_call() as (_, phone, agent):
        handle = agent.call
        assert isinstance(handle, CallHandle)
        handle.refer_headers = (("X-Ticket-Id", "T-42"),)
        seen: set[int] = set()
        for summary_on, expected in ((False, "<sip:desk@127.0.0.1:5999>"),
                                     (True, "<sip:desk@127.0.0.1:5999?User-to-User=")):  # fmt: skip
            handle.transfer_summary = summary_on
            transfer = asyncio.create_task(handle.transfer("sip:desk@127.0.0.1:5999", "refund"))
            refer = await phone.expect(
                lambda m: isinstance(m, SipRequest) and m.method == "REFER"
                and m.cseq.number not in seen
            )  # fmt: skip
            assert isinstance(refer, SipRequest)
            seen.add(refer.cseq.number)
            refer_to = refer.headers.get("Refer-To") or ""
            assert refer_to.startswith(expected) and refer.headers.get("X-Ticket-Id") == "T-42"
            phone.send(make_response(refer, 603).serialize())
            assert await transfer is False
        uui = refer_to.split("User-to-User=")[1].rstrip(">").split("%3B")[0]
        assert bytes.fromhex(uui).decode() == "refund"


def test_the_media_and_the_recorder_follow_the_agent_s_formats(tmp_path: Path) -> None:
    """``use_agent``'s part (:func:`follow_formats`): a G.722 call whose 16 kHz agent is
    replaced by a 24 kHz one (a hand-off), then by an 8 kHz μ-law one (a bridge's end): the
    session gives and takes each one's format, the recorder converts from it; no agent (the
    call is ending) changes nothing."""
    session = MediaSession(StreamParams(("192.0.2.10", 40000), codec=G722, payload_type=9),
                           now=0.0, agent_format=PCM16_16K)  # fmt: skip
    recorder = CallRecorder(tmp_path / "call.wav", PCM16_16K, PCM16_16K)
    follow_formats(session, recorder, cast(Agent, SimpleNamespace(
        audio_format=PCM16_24K, caller_format=None)))  # fmt: skip
    assert session.heard_format == PCM16_24K and recorder.formats == (PCM16_24K, PCM16_24K)
    (packet,) = session.packets_for(bytes(PCM16_24K.frame_bytes), 0.0)
    assert len(RtpPacket.parse(packet).payload) == 160  # 20 ms at 24 kHz, as G.722
    follow_formats(session, recorder, cast(Agent, SimpleNamespace(
        audio_format=ULAW_8K, caller_format=None)))  # fmt: skip
    assert session.heard_format == ULAW_8K and recorder.formats == (ULAW_8K, ULAW_8K)
    follow_formats(session, recorder, None)
    assert session.heard_format == ULAW_8K
    recorder.tick(g711.silence_frame("PCMU"), None)
    recorder.close()
    assert recorder.ticks == 1
