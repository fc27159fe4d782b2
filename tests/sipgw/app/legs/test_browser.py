"""A browser's call (sipgw/app/legs/browser.py): an aiortc peer as the browser, the echo agent.

The "browser" plays a tone over WebRTC (ICE, DTLS-SRTP on loopback); the call goes through the
gateway's leg calls, and what the browser receives back is the echo. 127.0.0.2 is added to
``lo`` in the tests' private namespace (aioice leaves 127.0.0.1 out) and ICE gathers on it
alone (:func:`tests.toolkit.netns.ice_on_loopback_only`).
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av.audio.frame import AudioFrame

from sipgw.app.evaluation.audio import dominant_tone
from sipgw.app.legs.browser import BrowserMedia, answer_browser, ice_servers
from sipgw.app.legs.calls import LegCalls
from sipgw.app.legs.settings import LegsSettings
from sipgw.media import g711
from sipgw.media.jitterbuffer import JitterBufferConfig
from tests.media.aio.test_browser import ToneTrack, browser_peer
from tests.sipgw.app.legs.doubles import until
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.netns import ice_on_loopback_only

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def ice_address(monkeypatch: pytest.MonkeyPatch) -> None:
    ice_on_loopback_only(monkeypatch)


def test_the_ice_servers_as_the_page_takes_them() -> None:
    settings = LegsSettings(
        ice_servers=("stun:stun.example.com:3478", "turn:turn.example.com:3478?transport=udp"),
        turn_username="ann", turn_password="secret",
    )  # fmt: skip
    assert ice_servers(settings) == [
        {"urls": ["stun:stun.example.com:3478"]},
        {"urls": ["turn:turn.example.com:3478?transport=udp"], "username": "ann",
         "credential": "secret"},
    ]  # fmt: skip


async def test_a_browser_calls_the_echo_agent_and_hangs_up() -> None:
    async with running_gateway() as (gateway, _):
        calls = LegCalls(gateway)
        browser = browser_peer()
        browser.addTransceiver(ToneTrack(), direction="sendrecv")
        received: list[bytes] = []
        readers: list[asyncio.Task[None]] = []

        @browser.on("track")
        def _track(track: MediaStreamTrack) -> None:
            async def read() -> None:
                while True:
                    frame = await track.recv()
                    assert isinstance(frame, AudioFrame)
                    received.append(g711.linear_to_ulaw(bytes(frame.planes[0])[:320]))

            readers.append(asyncio.ensure_future(read()))

        await browser.setLocalDescription(await browser.createOffer())
        answer = await answer_browser(
            calls, LegsSettings(), browser.localDescription.sdp, remote="127.0.0.1",
            variables={"customer": "Ann"}, jitter=JitterBufferConfig(),
        )  # fmt: skip
        handle = answer.handle
        assert handle.leg == "browser" and handle.caller == "browser:127.0.0.1"
        assert handle.details.variables == {"customer": "Ann"}
        await browser.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        # the caller's 600 Hz comes back from the echo agent (200 ms later)
        await until(lambda: sum(dominant_tone(f, (600, 1000)) == 600 for f in received) > 25, 10)
        media = handle.media
        assert isinstance(media, BrowserMedia)
        assert media.describe()["codec"] == "PCMU" and media.quality() is not None
        await browser.close()  # the browser leaves: its DTLS close ends the call
        await asyncio.wait_for(calls.finished(handle), 10)
        for reader in readers:
            reader.cancel()
        assert handle.end_reason == "remote-hangup" and not gateway.handles


async def test_an_offer_we_cannot_take_starts_no_call() -> None:
    async with running_gateway() as (gateway, _):
        with pytest.raises(ValueError):
            await answer_browser(
                LegCalls(gateway), LegsSettings(), "v=0\r\nnot an offer\r\n",
                remote="127.0.0.1", variables={}, jitter=JitterBufferConfig(),
            )  # fmt: skip
        assert not gateway.handles
