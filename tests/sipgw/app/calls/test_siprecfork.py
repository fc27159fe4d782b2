"""SIPREC recording sessions, the gateway's side (sipgw/app/calls/siprecfork.py).

An in-process gateway answers a scripted caller (a 700 Hz tone) with an agent that says a
1100 Hz tone; a second scripted phone plays the Session Recording Server, with a third's
RTP socket for its second stream. The call's handle is asked to record to it: the
INVITE (RFC 7866's headers and multipart body, the metadata naming the call's parties),
the SRS's answer (two ``recvonly`` streams), the caller's tone on the stream labelled 1 and
the agent's on the one labelled 2, the BYE at the stop or when the call ends, an SRS that
refuses, and the ports given back. The real SRS (SIPp) is in
tests/interop/test_siprec_peers.py; the TwiML verbs in tests/agent/twiml/test_siprec.py.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import pytest

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.twiml.siprec import SiprecCall, SiprecFailed
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.siprecfork import SiprecFork
from sipgw.app.evaluation.audio import dominant_tone, tone_frames, tone_samples
from sipgw.app.evaluation.phone import Phone
from sipgw.app.gateway import Gateway
from sipgw.media.rtp import RtpPacket
from sipgw.sip.body import sdp_body
from sipgw.sip.message import SipMessage, SipRequest, make_response
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.siprec import NAMESPACE
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

CALLER_HZ, AGENT_HZ = 700, 1100


class Talking(Agent):
    """Says a steady 1100 Hz tone; hears nothing it keeps."""

    built: list[Talking] = []

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.frames: Iterator[bytes] = itertools.cycle(tone_frames(AGENT_HZ, 1.0, -12.0))
        Talking.built.append(self)

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return next(self.frames)


@dataclass
class Scene:
    gateway: Gateway
    caller: Phone
    handle: CallHandle
    srs: Phone
    second: Phone
    """Only its RTP socket: the SRS's second stream."""

    @property
    def uri(self) -> str:
        return f"sip:srs@127.0.0.1:{self.srs.sip_port}"


@asynccontextmanager
async def scene() -> AsyncIterator[Scene]:
    Talking.built = []
    srs = Phone(("127.0.0.1", 9), user="srs")
    second = Phone(("127.0.0.1", 9), user="srs2")
    try:
        async with running_gateway(Talking) as (gateway, new_phone):
            srs.gateway = ("127.0.0.1", gateway.sip.listening[0][2])
            caller = await new_phone()
            assert (await caller.invite()).status == 200
            caller.start_audio()
            caller.say(tone_frames(CALLER_HZ, 6.0, -12.0))
            (agent,) = Talking.built
            handle = agent.call
            assert isinstance(handle, CallHandle) and isinstance(handle, SiprecCall)
            yield Scene(gateway, caller, handle, srs, second)
    finally:
        srs.close()
        second.close()


def is_request(method: str) -> object:
    def check(message: SipMessage) -> bool:
        return isinstance(message, SipRequest) and message.method == method

    return check


def srs_answer(s: Scene, invite: SipRequest, lines: int = 2) -> bytes:
    """The SRS's 200 OK: each stream (of ``lines``) ``recvonly``, to one phone's RTP socket."""
    ok = make_response(invite, 200, to_tag="srs-tag")
    ok.headers.add("Contact", f"<sip:srs@127.0.0.1:{s.srs.sip_port}>")
    ok.headers.add("Content-Type", "application/sdp")
    sdp = "v=0\r\no=SRS 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    for label, phone in list(zip(("1", "2"), (s.srs, s.second), strict=True))[:lines]:
        sdp += (
            f"m=audio {phone.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=label:{label}\r\na=recvonly\r\n"
        )
    ok.body = sdp.encode()
    return ok.serialize()


def metadata_of(invite: SipRequest) -> ET.Element:
    """The INVITE's RFC 7865 metadata, parsed."""
    part = invite.body.split(b"recording-session\r\n\r\n", 1)[1]
    return ET.fromstring(part.split(b"\r\n--")[0])


async def recording(s: Scene, name: str = "rec1") -> tuple[SipRequest, asyncio.Task[None]]:
    """Start recording to the SRS; its INVITE, answered; the start, done."""
    start = asyncio.create_task(s.handle.start_siprec(s.uri, name))
    invite = await s.srs.expect(is_request("INVITE"))  # type: ignore[arg-type]
    assert isinstance(invite, SipRequest)
    s.srs.send(srs_answer(s, invite))
    await s.srs.expect(is_request("ACK"))  # type: ignore[arg-type]
    await asyncio.wait_for(start, 5)
    return invite, start


async def test_both_sides_reach_the_srs_each_on_its_labelled_stream_until_the_stop() -> None:
    async with scene() as s:
        ports_before = s.gateway.ports.in_use
        invite, _ = await recording(s)
        # RFC 7866 §6.1.1: an SRC's INVITE
        assert invite.headers.get("Require") == "siprec"
        assert (invite.headers.get("Contact") or "").endswith(";+sip.src")
        offer = SessionDescription.parse(sdp_body(invite) or b"")
        assert [(m.attribute("label"), offer.direction(m)) for m in offer.media] == [
            ("1", "sendonly"), ("2", "sendonly"),
        ]  # fmt: skip
        root = metadata_of(invite)
        aors = [n.get("aor") for n in root.iter(f"{{{NAMESPACE}}}nameID")]
        assert aors == [s.handle.caller, s.handle.called]
        # the caller's tone on stream 1, the agent's on stream 2, and not the other way
        await s.srs.wait_for_tone(CALLER_HZ, within=4.0, min_seconds=0.5)
        await s.second.wait_for_tone(AGENT_HZ, within=4.0, min_seconds=0.5)
        assert not s.srs.heard_tone(AGENT_HZ) and not s.second.heard_tone(CALLER_HZ)
        assert s.gateway.ports.in_use == ports_before + 2
        assert s.handle.stop_siprec("rec1") is True
        await s.srs.answer_bye()
        for _ in range(100):
            if not s.gateway.calls.siprec or not s.gateway.calls.siprec.sessions:
                break
            await asyncio.sleep(0.02)
        assert s.gateway.calls.siprec is not None and not s.gateway.calls.siprec.sessions
        assert s.handle.forks.up == {} and s.gateway.ports.in_use == ports_before
        assert s.handle.stop_siprec("rec1") is False
        await s.caller.bye()


async def test_the_call_ending_ends_its_recording_session() -> None:
    async with scene() as s:
        await recording(s)
        await s.caller.bye()
        bye = await s.srs.answer_bye()
        assert bye.call_id != s.caller.call_id


async def test_the_inbound_track_alone_is_one_stream_of_the_callers_side() -> None:
    async with scene() as s:
        ports_before = s.gateway.ports.in_use
        start = asyncio.create_task(s.handle.start_siprec(s.uri, "in", "inbound_track"))
        invite = await s.srs.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        offer = SessionDescription.parse(sdp_body(invite) or b"")
        assert [m.attribute("label") for m in offer.media] == ["1"]
        assert len(metadata_of(invite).findall(f"{{{NAMESPACE}}}stream")) == 1
        s.srs.send(srs_answer(s, invite, lines=1))
        await s.srs.expect(is_request("ACK"))  # type: ignore[arg-type]
        await asyncio.wait_for(start, 5)
        assert s.gateway.ports.in_use == ports_before + 1
        await s.srs.wait_for_tone(CALLER_HZ, within=4.0, min_seconds=0.5)
        assert not s.srs.heard_tone(AGENT_HZ)
        await s.caller.bye()
        await s.srs.answer_bye()


@pytest.mark.parametrize("status", [488, 503])
async def test_an_srs_that_refuses_fails_the_start_and_gives_the_ports_back(status: int) -> None:
    async with scene() as s:
        ports_before = s.gateway.ports.in_use
        start = asyncio.create_task(s.handle.start_siprec(s.uri, "rec1"))
        invite = await s.srs.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        s.srs.send(make_response(invite, status, to_tag="srs-tag").serialize())
        with pytest.raises(SiprecFailed, match=str(status)):
            await asyncio.wait_for(start, 5)
        assert s.gateway.ports.in_use == ports_before and s.handle.forks.up == {}
        await s.caller.bye()


class Sink:
    """A stream's socket: what was sent, and where."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


async def test_a_side_turning_wideband_still_reaches_the_srs_in_its_codec() -> None:
    """A bridged ``<Dial>`` may carry 16 kHz linear frames: the fork reads a frame's format
    from its size and sends G.711 all the same; a frame of no format's size is silence."""
    sinks = [Sink(), Sink()]
    fork = SiprecFork("rec", "sip:srs@192.0.2.9", [0, 0], sinks)  # type: ignore[arg-type]
    agreed = NegotiatedAudio("192.0.2.9", 4000, None, "PCMU", 0, None, 20, "sendonly", False, 0)
    assert fork.take_answer((agreed, replace(agreed, remote_port=4002, media_index=1)))
    caller = tone_frames(CALLER_HZ, 0.02)[0]
    wide = struct.pack("<320h", *tone_samples(AGENT_HZ, 0.02, -12.0, rate=16000))
    fork.tick(caller, wide)
    fork.tick(caller, b"\x01" * 7)
    fork.tick(None, None)
    first, second = ([RtpPacket.parse(data) for data, _ in sink.sent] for sink in sinks)
    assert {addr for _, addr in sinks[1].sent} == {("192.0.2.9", 4002)}
    assert [len(p.payload) for p in second] == [160, 160, 160]
    assert dominant_tone(second[0].payload, (CALLER_HZ, AGENT_HZ)) == AGENT_HZ
    assert second[1].payload == second[2].payload  # silence
    assert dominant_tone(first[0].payload, (CALLER_HZ, AGENT_HZ)) == CALLER_HZ
    assert [p.sequence_number for p in first] == [first[0].sequence_number + n for n in range(3)]
