"""A leg's caller audio: the playout jitter buffer for the tick, the ingress stage for listeners.

The legs that are not RTP sockets (a Twilio Media Stream, a browser through aiortc) turn what
they receive into RTP-shaped μ-law packets and hand them here: the same two stages a SIP
call's :class:`sipgw.media.session.MediaSession` feeds, with the same waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from sipgw.media.codecs.g711 import PCMU
from sipgw.media.ingress import IngressAudio
from sipgw.media.jitterbuffer import JitterBuffer, JitterBufferConfig
from sipgw.media.rtp import RtpPacket

__all__ = ["MIN_INGRESS_WAIT", "CallerAudio"]

MIN_INGRESS_WAIT: Final = 0.040
"""Seconds the listeners' tap waits for missing audio, at least (as on SIP)."""


class CallerAudio:
    """μ-law packets in; a frame per tick out, and in-order frames at arrival to ``on_audio``.

    Args:
        jitter: the playout buffer's settings (its codec is forced to μ-law).

    Attributes:
        on_audio: the listeners' tap (see media/ingress.py); None: nobody listens.
    """

    def __init__(self, jitter: JitterBufferConfig | None = None) -> None:
        config = dataclasses.replace(jitter or JitterBufferConfig(), codec=PCMU)
        self.jitter = JitterBuffer(config)
        self.ingress = IngressAudio(PCMU)
        self.on_audio: Callable[[bytes], None] | None = None

    def push(self, packet: RtpPacket, now: float) -> None:
        """One packet of μ-law (payload type 0) that arrived at ``now``."""
        self.jitter.push(packet, now)
        on_audio = self.on_audio
        if on_audio is not None:
            for frame in self.ingress.push(packet, now):
                on_audio(frame)

    def poll_ingress(self, now: float) -> None:
        """Per tick: release gaps and silence to the listeners' tap.

        A gap is waited for as long as the playout buffer's adaptive delay, at least 40 ms.
        """
        on_audio = self.on_audio
        if on_audio is not None:
            wait = max(MIN_INGRESS_WAIT, self.jitter.stats.target_delay)
            for frame in self.ingress.poll(now, wait):
                on_audio(frame)

    def caller_frame(self, now: float) -> bytes | None:
        """The caller's next 20 ms as μ-law, or None when there is nothing to play."""
        return self.jitter.pop(now)
