"""``<Record>``'s capture, sans-IO: the caller's frames until silence, a key or the length
limit, as Twilio records them.

:class:`Recorder` takes the caller's 20 ms μ-law frames as they arrive (:meth:`Recorder.frame`)
and says when the recording is over: ``timeout`` seconds of silence in a row (a frame
quieter than :data:`SILENCE_DBFS`; 0 disables it), or ``maxLength`` seconds. A key of
``finishOnKey`` ends it too (the agent calls :meth:`Recorder.key`). :meth:`Recorder.audio`
is what was recorded, the silence before the first and after the last sound cut when
``trim`` (Twilio's default ``trim-silence``); :func:`ulaw_wav` wraps it as a WAV file.

:class:`BridgeRecorder` is a bridged ``<Dial record>``'s: both sides from the answer, one
frame of each per tick (silence for a tick a side sent nothing), written as two channels
(the caller first, the called party second: Twilio's ``-dual``) or mixed into one; or only
one side (``recordingTrack``: ``inbound`` the caller's, ``outbound`` the called party's),
one channel; with ``trim`` the 20 ms frames silent on every recorded side before the
first sound and after the last are cut (``trim-silence``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sipgw.media.g711 import mix_ulaw, rms_dbfs

__all__ = ["BEEP", "SILENCE_DBFS", "BridgeRecorder", "Recorder", "interleave", "ulaw_wav"]

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
    sid: str = ""
    """The recording's ``RecordingSid`` (given at its start: ``in-progress`` names it)."""

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


_SILENT_FRAME: Final = b"\xff" * 160


@dataclass
class BridgeRecorder:
    """A bridged ``<Dial>``'s two sides (see the module docstring).

    Each side's frames are kept as they come (the caller's at the caller's tick, the
    called party's at its own); :meth:`audio` lines them up from the answer, the shorter
    side padded with silence. At most ``max_seconds`` are kept per side.
    """

    dual: bool
    max_seconds: float = 14400.0
    track: str = "both"
    """``both``, ``inbound`` (the caller only) or ``outbound`` (the called party only)."""
    trim: bool = False
    """Cut the silence before the first sound and after the last."""
    caller: bytearray = field(default_factory=bytearray)
    called: bytearray = field(default_factory=bytearray)
    sid: str = ""
    """The recording's ``RecordingSid`` (given before it starts: ``in-progress`` names it)."""
    on_start: Callable[[], None] | None = field(default=None, repr=False)
    """Called once, at the first frame kept (the two were bridged: the recording starts)."""

    @property
    def started(self) -> bool:
        """A frame was kept: the two were bridged."""
        return bool(self.caller or self.called)

    def caller_frame(self, ulaw: bytes | None) -> None:
        """The caller's 20 ms (None: nothing came: silence)."""
        self._keep(self.caller, ulaw)

    def called_frame(self, ulaw: bytes | None) -> None:
        """The called party's 20 ms (None: silence)."""
        self._keep(self.called, ulaw)

    def _keep(self, side: bytearray, ulaw: bytes | None) -> None:
        if self.on_start is not None:
            start, self.on_start = self.on_start, None
            start()
        if len(side) < self.max_seconds * 8000:
            side += ulaw if ulaw is not None else _SILENT_FRAME

    @property
    def channels(self) -> int:
        """2 when each side has its channel, else 1."""
        return 2 if self.dual and self.track == "both" else 1

    @property
    def seconds(self) -> float:
        """How long the recording is."""
        return len(self.audio()) / self.channels / 8000

    def _sides(self) -> list[bytes]:
        length = max(len(self.caller), len(self.called))
        caller = bytes(self.caller) + b"\xff" * (length - len(self.caller))
        called = bytes(self.called) + b"\xff" * (length - len(self.called))
        sides = {"inbound": [caller], "outbound": [called]}.get(self.track, [caller, called])
        if not self.trim:
            return sides
        loud = [
            any(rms_dbfs(side[i : i + 160]) > SILENCE_DBFS for side in sides)
            for i in range(0, length, 160)
        ]
        if not any(loud):
            return [b"" for _ in sides]
        first = loud.index(True) * 160
        last = (len(loud) - loud[::-1].index(True)) * 160
        return [side[first:last] for side in sides]

    def audio(self) -> bytes:
        """The recording, μ-law: interleaved caller/called samples (``dual``), mixed, or
        the one side ``track`` names; trimmed when ``trim``."""
        sides = self._sides()
        if len(sides) == 1:
            return sides[0]
        return interleave(*sides) if self.dual else mix_ulaw(*sides)


def interleave(left: bytes, right: bytes) -> bytes:
    """Two channels of 8-bit samples, one length, as one stereo stream (left first)."""
    if len(left) != len(right):
        raise ValueError(f"channels of {len(left)} and {len(right)} samples")
    out = bytearray(2 * len(left))
    out[0::2] = left
    out[1::2] = right
    return bytes(out)


def ulaw_wav(audio: bytes, channels: int = 1) -> bytes:
    """``audio`` (8 kHz μ-law, ``channels`` interleaved) as a WAV file (format 7, with its
    ``fact`` chunk)."""
    fmt = struct.pack("<HHIIHHH", 7, channels, 8000, 8000 * channels, channels, 8, 0)
    fact = struct.pack("<I", len(audio) // channels)
    pad = b"\x00" if len(audio) % 2 else b""
    body = (
        b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"fact" + struct.pack("<I", len(fact)) + fact
        + b"data" + struct.pack("<I", len(audio)) + audio + pad
    )  # fmt: skip
    return b"RIFF" + struct.pack("<I", len(body)) + body
