"""The callee of a placed call, as the answering tests of the assistant and the
speech-to-speech agents play it: its audio fed to the agent at arrival, one frame per 20 ms
on a real schedule (the detector counts frames as time).

A 300 Hz tone's syllables stand for speech (below the beep detector's band, so it is
voice), a 1 kHz tone for a voicemail's beep, the three rising tones of a special
information tone for a carrier's announcement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from sipgw.agent.base import Agent
from sipgw.app.evaluation.audio import tone_frames

__all__ = [
    "SILENCE",
    "answered",
    "beep",
    "feed",
    "silence",
    "special_information_tone",
    "voice",
]

SILENCE = b"\xff" * 160


class Rigged(Protocol):
    """A test's agent and its doubles (``tests.agent.parts.Assistant``,
    ``tests.agent.s2s.parts.Rig``)."""

    @property
    def agent(self) -> Agent: ...


def silence(seconds: float) -> list[bytes]:
    return [SILENCE] * round(seconds / 0.02)


def voice(seconds: float) -> list[bytes]:
    """Syllables: 200 ms of a low tone, 60 ms of silence (speech has gaps: the VAD's noise
    floor stays below it), ``seconds`` long, ending on a syllable."""
    frames: list[bytes] = []
    pitches = (250, 300, 350)
    while len(frames) < round(seconds / 0.02):
        frames += tone_frames(pitches[len(frames) % 3], 0.2, -20.0)
        frames += silence(0.06)
    frames = frames[: round(seconds / 0.02)]
    while frames and frames[-1] == SILENCE:
        frames.pop()
    return frames


def beep(seconds: float = 0.5) -> list[bytes]:
    return tone_frames(1000, seconds, -18.0)


def special_information_tone() -> list[bytes]:
    return [*tone_frames(950, 0.34, -18.0), *tone_frames(1400, 0.34, -18.0),
            *tone_frames(1800, 0.34, -18.0)]  # fmt: skip


async def answered(rig: Rigged) -> float:
    """Prepare and answer the call; returns the loop time of the answer."""
    await rig.agent.prepare()
    rig.agent.on_answered()
    return asyncio.get_running_loop().time()


async def feed(rig: Rigged, frames: Sequence[bytes], started: float | None = None) -> float:
    """The callee's frames at arrival, one per 20 ms on absolute deadlines (from
    ``started``, else now); returns when the next frame would be due."""
    loop = asyncio.get_running_loop()
    t0 = loop.time() if started is None else started
    for n, frame in enumerate(frames):
        await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.02 - loop.time()))
        rig.agent.on_caller_audio(frame)
    return t0 + len(frames) * 0.02
