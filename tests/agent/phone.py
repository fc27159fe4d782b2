"""The media side of a scripted phone: continuous RTP out, a timestamped log of RTP in.

``PhoneAudio`` sends one packet every 20 ms (absolute deadlines), silence unless
``say()`` queued frames, like a real phone. Received packets are kept with their
arrival time so tests can ask which tone was heard when, and when it stopped.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections import deque
from dataclasses import dataclass, field

from media import g711
from media.rtp import RtpPacket

from ..scripted_caller import Caller

SILENCE = g711.silence_frame("PCMU")


def tone(hz: float, seconds: float, dbfs: float = -15.0) -> list[bytes]:
    """μ-law frames of a sine tone."""
    amplitude = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    step = 2 * math.pi * hz / 8000
    frames = []
    for n in range(round(seconds / 0.02)):
        samples = (int(amplitude * math.sin(step * (n * 160 + i))) for i in range(160))
        frames.append(g711.linear_to_ulaw(struct.pack("<160h", *samples)))
    return frames


def tone_level(frame: bytes, hz: float) -> float:
    """Goertzel power of ``hz`` in one μ-law frame, relative to the frame's energy (0..1)."""
    pcm = struct.unpack("<160h", g711.ulaw_to_linear(frame))
    coefficient = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for sample in pcm:
        s1, s2 = sample + coefficient * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
    energy = sum(x * x for x in pcm) * len(pcm) / 2 or 1.0
    return power / energy


@dataclass
class Heard:
    """One received RTP packet."""

    at: float
    packet: RtpPacket

    @property
    def silent(self) -> bool:
        return g711.rms_dbfs(self.packet.payload) < -50


@dataclass
class PhoneAudio:
    """Continuous RTP to the gateway and a log of what came back."""

    caller: Caller
    remote: tuple[str, int]
    heard: list[Heard] = field(default_factory=list)
    _queue: deque[bytes] = field(default_factory=deque)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    seq: int = 1000
    timestamp: int = 5000

    def start(self) -> PhoneAudio:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send()), loop.create_task(self._receive())]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def say(self, frames: list[bytes]) -> float:
        """Queue speech; returns when (loop time) it will have been sent."""
        self._queue.extend(frames)
        return asyncio.get_running_loop().time() + 0.02 * len(self._queue)

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            frame = self._queue.popleft() if self._queue else SILENCE
            packet = RtpPacket(
                payload_type=0,
                sequence_number=self.seq & 0xFFFF,
                timestamp=self.timestamp & 0xFFFFFFFF,
                ssrc=0x5EED,
                payload=frame,
            )
            self.caller.rtp.sendto(packet.serialize(), self.remote)
            self.seq += 1
            self.timestamp += 160
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, _ = await self.caller.rtp_in.queue.get()
            self.heard.append(Heard(loop.time(), RtpPacket.parse(data)))

    # -- analysis

    def tone_spans(self, hz: float, threshold: float = 0.5) -> list[tuple[float, float]]:
        """(start, end) loop times of runs of packets carrying ``hz``."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        last = 0.0
        for item in self.heard:
            present = not item.silent and tone_level(item.packet.payload, hz) > threshold
            if present and start is None:
                start = item.at
            elif not present and start is not None:
                spans.append((start, last))
                start = None
            last = item.at
        if start is not None:
            spans.append((start, last))
        return spans

    async def wait_until_quiet(self, hz: float, quiet: float, within: float = 10.0) -> None:
        """Wait until ``hz`` has not been heard for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(within):
            # Polls the receive log, which has no event of its own.
            while (spans := self.tone_spans(hz)) and spans[-1][1] > loop.time() - quiet:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    def heard_tone(self, hz: float, min_seconds: float = 0.1) -> bool:
        return sum(end - start for start, end in self.tone_spans(hz)) >= min_seconds

    async def wait_for_tone(
        self, hz: float, within: float = 5.0, min_seconds: float = 0.1
    ) -> float:
        """Loop time at which ``hz`` was first heard for ``min_seconds``."""
        async with asyncio.timeout(within):
            while True:
                for start, end in self.tone_spans(hz):
                    if end - start >= min_seconds:
                        return start
                await asyncio.sleep(0.02)
