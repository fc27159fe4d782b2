"""A browser call relayed through a real TURN server: coturn on loopback (Debian ``coturn``).

The gateway runs in-process with its admin server, ``SIPGW_ICE_SERVERS`` naming coturn (TURN
with its long-term credentials, and STUN); the "browser" is an aiortc peer that takes its ICE
servers from the page's own ``/api/phone/config`` and may use relayed candidates only
(``iceTransportPolicy: relay``), so the media can flow only through coturn. Checked: the
configured servers and credentials reach the page and aiortc on our side (our answer carries
a relayed candidate: coturn allocated for our credentials), the browser's offer carries
relayed candidates only, and the echo agent's audio comes back through the relay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from sipgw.app.legs.settings import LegsSettings
from tests.media.aio.test_browser import ToneTrack
from tests.sipgw.app.admin.legs_admin import admin_with_legs
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.netns import add_ice_address
from tests.toolkit.peers.coturn import Coturn
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

TOKEN = "admin-token-for-the-turn-test"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def candidate_types(sdp: str) -> set[str]:
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines()
            if line.startswith("a=candidate:")}  # fmt: skip


async def test_a_browser_call_relayed_through_coturn(tmp_workdir: Path) -> None:
    add_ice_address()
    with Coturn(tmp_workdir, user="sipgw", password="turn-secret") as turn:
        legs = LegsSettings(
            ice_servers=(turn.url("stun"), turn.url("turn")), turn_username="sipgw",
            turn_password="turn-secret",
        )  # fmt: skip
        async with running_gateway() as (gateway, _), admin_with_legs(gateway, legs, TOKEN) as (
            server, http,
        ):  # fmt: skip
            async with http.get(server.url + "/api/phone/config", headers=BEARER) as response:
                config = await response.json()
            assert config["ice_servers"] == [
                {"urls": [turn.url("stun")]},
                {"urls": [turn.url("turn")], "username": "sipgw", "credential": "turn-secret"},
            ]
            browser = RTCPeerConnection(RTCConfiguration(
                iceServers=[RTCIceServer(**server) for server in config["ice_servers"]],
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
            ))  # fmt: skip
            browser.addTransceiver(ToneTrack(), direction="sendrecv")
            frames = 0

            @browser.on("track")
            def _track(track: MediaStreamTrack) -> None:
                async def read() -> None:
                    nonlocal frames
                    while True:
                        await track.recv()
                        frames += 1

                asyncio.get_running_loop().create_task(read())

            await browser.setLocalDescription(await browser.createOffer())
            offer = browser.localDescription.sdp
            assert candidate_types(offer) == {"relay"}, offer
            async with http.post(server.url + "/api/phone/calls", json={"sdp": offer},
                                 headers=BEARER) as response:  # fmt: skip
                answer = await response.json()
                assert response.status == 201, answer
            assert "relay" in candidate_types(answer["sdp"]), answer["sdp"]  # our allocation
            await browser.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while frames < 50 or browser.connectionState != "connected":
                assert loop.time() < deadline, (frames, browser.connectionState, turn.log_tail())
                await asyncio.sleep(0.05)
            (handle,) = gateway.handles.values()
            assert handle.leg == "browser" and handle.answered
            await browser.close()
        wait_for(lambda: allocated(turn), 10, turn.log_tail)  # coturn's log may lag


def allocated(turn: Coturn) -> bool:
    """coturn's log shows an allocation by the user ``sipgw``."""
    log = turn.process.log_text() if turn.process is not None else ""
    return "sipgw" in log and "ALLOCATE" in log.upper()
