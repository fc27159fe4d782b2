"""Two of the gateway's calls joined in-process: each one's agent is the other's caller.

:func:`bridge` replaces the agents of two calls (the assistant on the caller's,
the consultation agent on the person's: a warm transfer, :mod:`sipgw.app.calls.warmtransfer`)
with the two ends of a :class:`~sipgw.media.bridge.FrameBridge`, and closes the agents
it replaced. Each call keeps everything else it had (its RTP, recording, timers);
the ticker moves the frames. Both ends take and give the format
:func:`~sipgw.media.bridge.bridge_format` decides from the two calls' codecs (16 kHz
linear when both are wideband, G.722 or Opus; else 8 kHz μ-law): each call's media converts
to it at its edge, and its recording follows (``CallHandle.use_agent``). When either call
ends the other is hung up; a keypad digit goes across as RFC 4733 (if the dial allow-list lets it).
"""

from __future__ import annotations

from sipgw.agent.base import Agent
from sipgw.agent.capabilities import AgentCapabilities
from sipgw.agent.dialpolicy import DialRefused
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.callpath import CallPath
from sipgw.media.bridge import FrameBridge, Side, bridge_format
from sipgw.media.codecs import PCM16_16K, ULAW_8K, AudioFormat

__all__ = ["BRIDGED", "BridgedLeg", "bridge"]

BRIDGED = AgentCapabilities(
    amd=False, keypad=True, paid=False, audio=frozenset({ULAW_8K, PCM16_16K})
)
"""What a bridge's end takes: the keypad (digits go across), either format a bridge carries."""


class BridgedLeg(Agent):
    """One end of a bridge, as the agent of ``call`` (the other end is ``other``'s)."""

    def __init__(
        self,
        call: CallHandle,
        other: CallHandle,
        frames: FrameBridge,
        side: Side,
        audio: AudioFormat = ULAW_8K,
    ) -> None:
        self.audio_format = audio
        self.call = call
        self.other = other
        self.frames = frames
        self.side: Side = side

    def on_caller_frame(self, frame: bytes | None) -> None:
        """This caller's 20 ms, to the other side."""
        self.frames.push(self.side, frame)

    def next_frame(self) -> bytes | None:
        """The other side's 20 ms."""
        return self.frames.pop(self.side)

    def on_dtmf(self, digit: str) -> None:
        """A digit across, when the allow-list has it."""
        try:
            self.other.send_dtmf(digit)
        except DialRefused:
            self.call.log.info("DTMF %s not passed across the bridge (not allowed)", digit)

    async def close(self, reason: str = "") -> None:
        """This call ended: so does the other."""
        if not self.other.ended:
            self.other.log.info("the bridged call ended (%s): hanging up", reason or "ended")
            self.other.hangup()


def bridge(path: CallPath, a: CallHandle, b: CallHandle) -> FrameBridge:
    """Join ``a`` and ``b``'s audio; their agents until now are closed (``bridged``)."""
    frames = FrameBridge()
    audio = ULAW_8K
    if a.session is not None and b.session is not None:
        audio = bridge_format(a.session.params.codec, b.session.params.codec)
    _attach(path, a, BridgedLeg(a, b, frames, 0, audio))
    _attach(path, b, BridgedLeg(b, a, frames, 1, audio))
    how = f"{audio.encoding}/{audio.sample_rate}"
    a.log.info("bridged with %s (%s)", b.call.log_id, how)
    b.log.info("bridged with %s (%s)", a.call.log_id, how)
    return frames


def _attach(path: CallPath, handle: CallHandle, leg: BridgedLeg) -> None:
    old = handle.agent
    handle.use_agent(leg, BRIDGED)
    if handle.session is not None:
        handle.session.on_audio = None  # the bridge takes the jitter buffer's frames
    if old is not None:
        path.close_agent(handle, old, "bridged")
