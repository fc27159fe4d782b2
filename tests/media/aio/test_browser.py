"""BrowserLeg between two aiortc peers on loopback: a "browser" playing a tone, our leg answering.

What comes out of our jitter buffer is checked (the tone, every frame, concealed across injected
loss, no stall), and what the browser receives back (the agent's tone, paced by our ticker).
In the private network namespace the tests run in, ICE needs an address other than 127.0.0.1
(aioice leaves 127.0.0.1 out): 127.0.0.2 is added to ``lo`` there, and ICE gathers on it
alone (:func:`tests.toolkit.netns.ice_on_loopback_only`).
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from av.audio.frame import AudioFrame

from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.media import g711
from sipgw.media.aio.browser import (
    AgentTrack,
    BrowserLeg,
    BrowserLegConfig,
    IceServer,
    NoIceCandidates,
)
from sipgw.media.aio.ticker import Ticker
from tests.toolkit.netns import ice_on_loopback_only

CALLER_TONE = tone_frames(600, 0.02)[0]  # 600 Hz repeats every 20 ms: one frame, looped
AGENT_TONE = tone_frames(1000, 0.02)[0]


@pytest.fixture(autouse=True)
def ice_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address ICE will use: the host's own outside a private namespace, 127.0.0.2 alone
    inside (not the addresses other tests add to the namespace meanwhile)."""
    ice_on_loopback_only(monkeypatch)


def browser_peer() -> RTCPeerConnection:
    """The "browser": an aiortc peer that asks no STUN server. aiortc's default is
    stun.l.google.com: where the namespace has a route out (the suite's, while a browser test
    of another worker has :func:`tests.toolkit.netns.webrtc_interface`'s veth and default
    route up) each offer's gathering waited aioice's 5 s for it, unanswered (a test here
    1.4-3.2 s alone, 5-8 s with such a route, 15-26 s in a loaded whole run)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class ToneTrack(MediaStreamTrack):
    """The browser's microphone: a 600 Hz tone, 20 ms frames at real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._n * 0.020 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=160)
        frame.planes[0].update(g711.ulaw_to_linear(CALLER_TONE))
        frame.sample_rate = 8000
        frame.pts = self._n * 160
        frame.time_base = fractions.Fraction(1, 8000)
        self._n += 1
        return frame


@dataclass(eq=False)
class Agent:
    """The ticker's participant: the browser's frames out of our buffer, a tone back."""

    leg: BrowserLeg
    heard: list[bytes | None] = field(default_factory=list)

    def tick(self, now: float) -> None:
        self.leg.poll_ingress(now)
        self.heard.append(self.leg.caller_frame(now))
        self.leg.send_frame(AGENT_TONE)

    def skip(self, ticks: int) -> None:
        self.leg.skip(ticks)


@dataclass
class Call:
    leg: BrowserLeg
    agent: Agent
    browser: RTCPeerConnection
    received: list[bytes] = field(default_factory=list)
    """The agent's audio as the browser decoded it, when that is 8 kHz mono (PCMU), as μ-law."""
    frames_in: int = 0


async def _call(browser_codecs: list[str], drop_every: int = 0) -> AsyncIterator[Call]:
    ticker = Ticker()
    ticker.start()
    browser = browser_peer()
    transceiver = browser.addTransceiver(ToneTrack(), direction="sendrecv")
    capabilities = RTCRtpSender.getCapabilities("audio")
    assert capabilities is not None
    transceiver.setCodecPreferences(
        [c for name in browser_codecs for c in capabilities.codecs if c.mimeType == name]
    )
    leg = BrowserLeg()
    call = Call(leg, Agent(leg), browser)
    reader: asyncio.Task[None] | None = None

    @browser.on("track")
    def _track(track: MediaStreamTrack) -> None:
        nonlocal reader

        async def read() -> None:
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                call.frames_in += 1
                pcm = bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]
                if frame.sample_rate == 8000 and len(frame.layout.channels) == 1:
                    call.received.append(g711.linear_to_ulaw(pcm))

        reader = asyncio.get_running_loop().create_task(read())

    await browser.setLocalDescription(await browser.createOffer())
    answer = await leg.answer(browser.localDescription.sdp)
    await browser.setRemoteDescription(type(browser.localDescription)(answer, "answer"))
    if drop_every:
        sender_transport = transceiver.sender.transport
        send = sender_transport._send_rtp
        count = 0

        async def lossy(data: bytes) -> None:
            nonlocal count
            if 192 <= data[1] <= 223:  # RTCP goes through
                await send(data)
                return
            count += 1
            if count % drop_every:
                await send(data)

        sender_transport._send_rtp = lossy  # type: ignore[method-assign]
    ticker.add(call.agent)
    try:
        yield call
    finally:
        ticker.remove(call.agent)
        if reader is not None:
            reader.cancel()
        await browser.close()
        await leg.close()
        await ticker.stop()


async def until_heard(call: Call, frames: int, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while sum(f is not None for f in call.agent.heard) < frames:
        assert loop.time() < deadline, f"heard {sum(f is not None for f in call.agent.heard)}"
        await asyncio.sleep(0.05)


async def until_browser_hears(call: Call, frames: int, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while call.frames_in < frames:
        assert loop.time() < deadline, f"the browser got {call.frames_in} frames"
        await asyncio.sleep(0.05)


def _tone_share(frames: list[bytes], hz: int) -> float:
    return sum(dominant_tone(f, (hz, 600 if hz != 600 else 1000)) == hz for f in frames) / len(
        frames
    )


async def test_pcmu_passes_through_our_jitter_buffer_and_back() -> None:
    async for call in _call(["audio/PCMU", "audio/opus"]):
        await until_heard(call, 100)
        assert call.leg.codec == "PCMU"
        heard = [f for f in call.agent.heard if f is not None]
        assert sum(f == CALLER_TONE for f in heard) >= 0.9 * len(heard)  # μ-law unchanged
        assert call.leg.audio is not None and call.leg.audio.jitter.stats.lost == 0
        assert len(call.received) >= 50
        assert _tone_share(call.received[10:], 1000) > 0.9  # the agent's tone reached the browser
        quality = call.leg.quality()
        assert quality is not None and quality.packets_expected >= 100


async def test_the_tap_keeps_aiortcs_statistics_and_the_browser_gets_receiver_reports() -> None:
    """Our tap replaces aiortc's packet handler; its statistics must still be fed, or aiortc
    sends the browser no RTCP receiver report (RFC 3550 §6.4.2) and getStats() has no
    inbound-rtp: the browser's remote-inbound-rtp (loss, jitter, round trip) appears only
    from our reports."""
    async for call in _call(["audio/PCMU"]):
        await until_heard(call, 50)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15  # aiortc reports every 0.5-1.5 s
        remote: list[object] = []
        while not remote:
            assert loop.time() < deadline, "no receiver report reached the browser"
            await asyncio.sleep(0.2)
            sender = call.browser.getTransceivers()[0].sender
            stats = await sender.getStats()
            remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
        report = remote[0]
        assert getattr(report, "packetsLost", None) == 0
        receiver = call.leg.pc.getTransceivers()[0].receiver
        inbound = [s for s in (await receiver.getStats()).values() if s.type == "inbound-rtp"]
        assert inbound and getattr(inbound[0], "packetsReceived", 0) >= 50


async def test_loss_is_concealed_by_our_buffer_without_a_stall() -> None:
    async for call in _call(["audio/PCMU"], drop_every=10):
        await until_heard(call, 150)
        audio = call.leg.audio
        assert audio is not None
        first = next(i for i, f in enumerate(call.agent.heard) if f is not None)
        after = call.agent.heard[first:]
        # One lost packet in ten: each is concealed (a frame, not a gap). A frame of nothing
        # (None) comes only when the buffer ran dry because nothing came (an underrun: the
        # in-process browser starved with the loop on a loaded machine), never for a loss.
        stats = audio.jitter.stats
        assert stats.lost >= 10
        assert stats.concealed_frames >= stats.lost
        assert sum(f is None for f in after) <= stats.underruns
        assert _tone_share([f for f in after if f is not None], 600) > 0.9


async def test_opus_is_decoded_once_at_the_edge() -> None:
    async for call in _call(["audio/opus"]):
        await until_heard(call, 100)
        assert call.leg.codec == "opus"
        assert call.leg.track.wire is None  # aiortc's encoder makes the Opus (its 48 kHz clock)
        heard = [f for f in call.agent.heard if f is not None]
        assert _tone_share(heard[5:], 600) > 0.9
        assert call.leg.audio is not None and call.leg.audio.stats.undecodable == 0
        await until_browser_hears(call, 50)  # our frames, encoded by aiortc, decoded by it


async def test_an_offer_without_a_codec_of_ours_is_refused_naming_them() -> None:
    browser = browser_peer()
    transceiver = browser.addTransceiver("audio", direction="sendrecv")
    capabilities = RTCRtpSender.getCapabilities("audio")
    assert capabilities is not None
    transceiver.setCodecPreferences([c for c in capabilities.codecs if c.mimeType == "audio/G722"])
    await browser.setLocalDescription(await browser.createOffer())
    leg = BrowserLeg()
    with pytest.raises(ValueError, match="no audio in PCMU, opus"):
        await leg.answer(browser.localDescription.sdp)
    await leg.close()
    await browser.close()


async def test_the_configured_ice_servers_and_turn_credentials_reach_aiortc() -> None:
    servers = (
        IceServer(("stun:stun.example.test:3478",)),
        IceServer(("turn:turn.example.test:3478?transport=udp",), "sipgw", "secret"),
    )
    leg = BrowserLeg(BrowserLegConfig(ice_servers=servers))
    given = leg.configuration.iceServers or []
    assert [(s.urls, s.username, s.credential) for s in given] == [
        (["stun:stun.example.test:3478"], None, None),
        (["turn:turn.example.test:3478?transport=udp"], "sipgw", "secret"),
    ]
    await leg.close()


async def test_an_answer_without_an_ice_candidate_is_refused_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host whose only address is loopback gives aioice nothing to gather (it leaves
    127.0.0.1 out): the call must fail at once, saying so, not time out in ICE."""
    from aioice import ice

    monkeypatch.setattr(ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [])
    browser = browser_peer()
    browser.addTransceiver(ToneTrack(), direction="sendrecv")
    await browser.setLocalDescription(await browser.createOffer())
    leg = BrowserLeg()
    with pytest.raises(NoIceCandidates, match=r"no ICE candidate.*SIPGW_ICE_SERVERS: none"):
        await leg.answer(browser.localDescription.sdp)
    await leg.close()
    await browser.close()


async def test_clear_drops_the_frames_the_sender_has_not_taken() -> None:
    track = AgentTrack(max_queued=3)
    track.push(AGENT_TONE)
    track.push(AGENT_TONE)
    assert track.clear() == 2 and track.clear() == 0


@pytest.mark.parametrize(
    ("offer", "says"),
    [("v=0\r\n", "no audio section"), ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "no audio")],
)
async def test_an_offer_without_audio_is_refused_saying_so(offer: str, says: str) -> None:
    leg = BrowserLeg()
    with pytest.raises(ValueError, match=says):
        await leg.answer(offer)
    await leg.close()
