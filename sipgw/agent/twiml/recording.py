"""``<Record>``'s capture, sans-IO: the caller's frames until silence, a key or the length
limit, as Twilio records them.

:class:`Recorder` takes the caller's 20 ms μ-law frames as they arrive (:meth:`Recorder.frame`)
and says when the recording is over: ``timeout`` seconds of silence in a row (a frame
quieter than :data:`SILENCE_DBFS`; 0 disables it), or ``maxLength`` seconds. A key of
``finishOnKey`` ends it too (the agent calls :meth:`Recorder.key`). :meth:`Recorder.audio`
is what was recorded, the silence before the first and after the last sound cut when
``trim`` (Twilio's default ``trim-silence``); :func:`ulaw_wav` wraps it as a WAV file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from sipgw.media.g711 import rms_dbfs

__all__ = ["BEEP", "SILENCE_DBFS", "Recorder", "ulaw_wav"]

SILENCE_DBFS: Final = -45.0
"""A frame quieter than this is silence (line noise is about -60 dBFS; speech -30 to -10)."""
FRAME_SECONDS: Final = 0.02


def _beep() -> bytes:
    """Half a second of 1 kHz at -12 dBFS, μ-law (8 samples a cycle: exact)."""
    import math

    from sipgw.media.g711 import linear_to_ulaw

    amplitude = 32767 * 10 ** (-12 / 20)
    cycle = [int(amplitude * math.sin(2 * math.pi * i / 8)) for i in range(8)]
    pcm = b"".join(v.to_bytes(2, "little", signed=True) for v in cycle) * 500
    return linear_to_ulaw(pcm)


BEEP: Final = _beep()
"""What ``playBeep`` plays before the recording starts."""


@dataclass
class Recorder:
    """One ``<Record>`` (see the module docstring)."""

    timeout: float
    max_length: float
    finish_on_key: str = "1234567890*#"
    frames: list[bytes] = field(default_factory=list)
    loud: list[bool] = field(default_factory=list)
    ended_by: str = ""
    """``silence``, ``max-length``, ``key`` or ``hangup`` once over."""
    key_pressed: str = ""

    def frame(self, ulaw: bytes) -> bool:
        """Take one frame of the caller; True once the recording is over."""
        if self.ended_by:
            return True
        self.frames.append(ulaw)
        self.loud.append(rms_dbfs(ulaw) > SILENCE_DBFS)
        if len(self.frames) * FRAME_SECONDS >= self.max_length:
            self.ended_by = "max-length"
        elif self.timeout and self._silent_for() >= self.timeout:
            self.ended_by = "silence"
        return bool(self.ended_by)

    def key(self, digit: str) -> bool:
        """A key the caller pressed; True when it ends the recording (``finishOnKey``)."""
        if self.ended_by or digit not in self.finish_on_key:
            return False
        self.ended_by, self.key_pressed = "key", digit
        return True

    def hangup(self) -> None:
        """The caller hung up: over."""
        self.ended_by = self.ended_by or "hangup"

    def _silent_for(self) -> float:
        quiet = 0
        for loud in reversed(self.loud):
            if loud:
                break
            quiet += 1
        return quiet * FRAME_SECONDS

    @property
    def heard_anything(self) -> bool:
        """A frame above the silence level was recorded."""
        return any(self.loud)

    def audio(self, trim: bool = True) -> bytes:
        """The recording (μ-law), trimmed of the silence around the sound when ``trim``."""
        frames = self.frames
        if trim:
            if not self.heard_anything:
                return b""
            first = self.loud.index(True)
            last = len(self.loud) - 1 - self.loud[::-1].index(True)
            frames = frames[first : last + 1]
        return b"".join(frames)


def ulaw_wav(audio: bytes) -> bytes:
    """``audio`` (8 kHz mono μ-law) as a WAV file (format 7, with its ``fact`` chunk)."""
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    fact = struct.pack("<I", len(audio))
    pad = b"\x00" if len(audio) % 2 else b""
    body = (
        b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"fact" + struct.pack("<I", len(fact)) + fact
        + b"data" + struct.pack("<I", len(audio)) + audio + pad
    )  # fmt: skip
    return b"RIFF" + struct.pack("<I", len(body)) + body
