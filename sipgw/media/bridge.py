"""Two calls' audio crossed in-process: what one side hears is what the other side says.

:class:`FrameBridge` is sans-IO. Both calls tick on the gateway's one 20 ms
ticker: each tick, each side pushes the frame its caller sent
(:meth:`FrameBridge.push`, from its jitter buffer) and pops the frame to send
its caller (:meth:`FrameBridge.pop`), the other side's. Whichever side ticks
first, a frame crosses within one tick; the queues hold a few frames at most
(``depth``), the oldest dropped (and counted) if one side stops popping (its
call on hold). A frame of nothing (``None``: nothing received) crosses as
nothing, which the other side sends as silence.

What crosses is in one format both ends declare (each end is its call's agent, and its
call's media converts to and from it at the edge): :func:`bridge_format` decides it, once,
from the two calls' codecs. 16 kHz linear PCM when both codecs carry 16 kHz or more (two
G.722 phones keep their wideband audio end to end: each side decodes and encodes once,
nothing resampled), else 8 kHz μ-law (a G.711 side hears no more than that; two PCMU
calls' octets cross as they are).

A conference room decides the same way, per participant and for the room
(:func:`seat_format`, :func:`room_rate`): a participant on a wideband codec takes and gives
16 kHz linear, a narrowband one 8 kHz μ-law, and the room mixes at 16 kHz as soon as one of
its participants is wideband (each narrowband one hears that mix low-passed and down to
8 kHz: :mod:`sipgw.media.conference`), at 8 kHz while none is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal, TypeAlias

from sipgw.media.codecs.base import PCM16_16K, ULAW_8K, AudioFormat, Codec

__all__ = ["FrameBridge", "Side", "bridge_format", "room_rate", "seat_format"]

Side: TypeAlias = Literal[0, 1]
"""One of the two calls."""


def bridge_format(a: Codec, b: Codec) -> AudioFormat:
    """The frames a bridge between a call on ``a`` and one on ``b`` carries (see the module
    docstring): 16 kHz linear when both codecs carry 16 kHz or more, else 8 kHz μ-law."""
    wide = PCM16_16K.sample_rate
    return PCM16_16K if a.sample_rate >= wide and b.sample_rate >= wide else ULAW_8K


def seat_format(codec: Codec) -> AudioFormat:
    """What a conference participant on ``codec`` takes and gives (see the module
    docstring): 16 kHz linear when its codec carries 16 kHz or more, else 8 kHz μ-law."""
    return bridge_format(codec, codec)


def room_rate(formats: Iterable[AudioFormat]) -> int:
    """The rate a room whose participants take ``formats`` mixes at (see the module
    docstring): 16000 as soon as one is wideband, else 8000."""
    wide = PCM16_16K.sample_rate
    return wide if any(f.sample_rate >= wide for f in formats) else ULAW_8K.sample_rate


class FrameBridge:
    """Frames from each side to the other (see the module docstring).

    Attributes:
        depth: frames each direction holds at most.
        crossed: frames that reached the other side, per side they came from.
        dropped: frames dropped because the other side did not take them, per side.
    """

    __slots__ = ("_queues", "crossed", "depth", "dropped")

    def __init__(self, depth: int = 3) -> None:
        if depth < 1:
            raise ValueError(f"a bridge holds at least one frame, not {depth}")
        self.depth = depth
        self._queues: tuple[deque[bytes | None], deque[bytes | None]] = (deque(), deque())
        self.crossed = [0, 0]
        self.dropped = [0, 0]

    def push(self, side: Side, frame: bytes | None) -> None:
        """The 20 ms ``side``'s caller sent (None: nothing arrived)."""
        queue = self._queues[side]
        if len(queue) >= self.depth:
            queue.popleft()
            self.dropped[side] += 1
        queue.append(frame)

    def pop(self, side: Side) -> bytes | None:
        """The frame to send ``side``'s caller: the other side's oldest (None: silence)."""
        other = 1 - side
        queue = self._queues[other]
        if not queue:
            return None
        frame = queue.popleft()
        if frame is not None:
            self.crossed[other] += 1
        return frame
