"""A browser's WebRTC call as a call: the aiortc peer connection as a leg.

:func:`answer_browser` answers the page's SDP offer (``media/aio/browser.py``: aiortc does
ICE and DTLS-SRTP, our jitter buffer takes the audio) and starts the call through
:class:`~sipgw.app.legs.calls.LegCalls`; the peer connection failing or closing hangs up.
:class:`BrowserMedia` is the peer connection as :class:`~sipgw.app.legs.handle.LegMedia`.
aiortc is the ``browser`` extra: it is imported when the first browser call is answered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipgw.agent.base import CallDetails
from sipgw.app.legs.calls import LegCalls, party
from sipgw.app.legs.handle import LegHandle
from sipgw.app.legs.settings import LegsSettings
from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.quality import CallQuality

if TYPE_CHECKING:
    from sipgw.media.aio.browser import BrowserLeg

__all__ = [
    "BrowserAnswer",
    "BrowserMedia",
    "BrowserUnavailable",
    "NoIceAddress",
    "answer_browser",
    "ice_servers",
]


class BrowserUnavailable(RuntimeError):
    """The ``browser`` extra (aiortc) is not installed."""


class NoIceAddress(RuntimeError):
    """Our answer would carry no ICE candidate (the message says why): no browser could
    reach us."""


def ice_servers(settings: LegsSettings) -> list[dict[str, object]]:
    """The ICE servers as the W3C ``RTCIceServer`` dictionaries (the page gets the same)."""
    servers: list[dict[str, object]] = []
    for url in settings.ice_servers:
        server: dict[str, object] = {"urls": [url]}
        if url.startswith("turn"):
            server.update(username=settings.turn_username, credential=settings.turn_password)
        servers.append(server)
    return servers


class BrowserMedia:
    """One browser call's media as a leg (:class:`~sipgw.app.legs.handle.LegMedia`)."""

    name = "browser"

    def __init__(self, leg: BrowserLeg) -> None:
        self.leg = leg

    def listen(self, on_audio: Callable[[bytes], None] | None) -> None:
        if self.leg.audio is not None:
            self.leg.audio.on_audio = on_audio

    def poll_ingress(self, now: float) -> None:
        self.leg.poll_ingress(now)

    def caller_frame(self, now: float) -> bytes | None:
        return self.leg.caller_frame(now)

    def send_frame(self, frame: bytes | None) -> None:
        self.leg.send_frame(frame)

    def skip(self, ticks: int) -> None:
        self.leg.skip(ticks)

    def idle_for(self, now: float) -> float:
        return self.leg.idle_for(now)

    def clear(self) -> int:
        return self.leg.clear()

    def quality(self) -> CallQuality | None:
        return self.leg.quality()

    def describe(self) -> dict[str, object]:
        audio, track = self.leg.audio, self.leg.track
        jitter = audio.jitter.stats if audio is not None else None
        return {
            "transport": "WebRTC", "codec": self.leg.codec,
            "state": self.leg.pc.connectionState,
            "packets in": audio.stats.packets_in if audio is not None else 0,
            "lost": jitter.lost if jitter is not None else 0,
            "undecodable": audio.stats.undecodable if audio is not None else 0,
            "frames dropped out": track.dropped,
        }  # fmt: skip

    async def played_out(self, within: float) -> bool:
        """True: a frame sent over RTP is a frame the browser plays."""
        return True

    async def close(self) -> None:
        await self.leg.close()


@dataclass(frozen=True, slots=True)
class BrowserAnswer:
    """A browser call answered: its handle and the SDP answer for the page."""

    handle: LegHandle
    sdp: str


async def answer_browser(
    calls: LegCalls,
    settings: LegsSettings,
    offer_sdp: str,
    *,
    remote: str,
    variables: Mapping[str, str],
    jitter: JitterBufferConfig,
) -> BrowserAnswer:
    """Answer the page's offer and start its call (check :meth:`LegCalls.refusal` first).

    Raises:
        BrowserUnavailable: aiortc is not installed.
        NoIceAddress: ICE found no address of ours to offer.
        ValueError: the offer has no audio in a codec we take (the message says which).
    """
    try:
        from sipgw.media.aio.browser import BrowserLeg, BrowserLegConfig, IceServer, NoIceCandidates
    except ImportError as exc:
        raise BrowserUnavailable(
            f"browser calls need the browser extra: pip install 'sipgw[browser]' ({exc})"
        ) from exc
    servers = tuple(
        IceServer((url,), settings.turn_username, settings.turn_password)
        if url.startswith("turn")
        else IceServer((url,))
        for url in settings.ice_servers
    )
    leg = BrowserLeg(BrowserLegConfig(ice_servers=servers, jitter=jitter))
    try:
        sdp = await leg.answer(offer_sdp)
    except BaseException as exc:
        await leg.close()
        if isinstance(exc, NoIceCandidates):
            raise NoIceAddress(str(exc)) from exc
        raise
    call_id = f"browser-{secrets.token_hex(8)}"
    handle = calls.start(
        BrowserMedia(leg),
        call_id=call_id,
        caller=party(f"browser:{remote}", fallback="browser:unknown"),
        called=party("browser:agent", fallback="browser:agent"),
        details=CallDetails(variables=dict(variables)),
    )

    def state_changed(state: str) -> None:
        if state == "failed":
            handle.end("media-failed")
        elif state == "closed":
            handle.end("remote-hangup")

    leg.on_state = state_changed
    return BrowserAnswer(handle, sdp)
