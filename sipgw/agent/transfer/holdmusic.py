"""What a caller on hold hears: a μ-law file in a loop, or the built-in tone pattern.

:func:`load_hold_music` reads the operator's file once, at start-up: a WAV file of
8 kHz mono G.711 μ-law (format 7) or 16-bit PCM (converted once), or raw μ-law bytes
(``.ul``, ``.ulaw``, ``.mulaw``, ``.raw``). :func:`tone_pattern` is the built-in one,
a soft arpeggio and a rest (3.6 s), for when no file is configured. :class:`HoldMusic`
hands either out in 20 ms frames, looping, with no I/O (the playout plays it under
its replies: :attr:`sipgw.agent.playout.Playout.background`).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from sipgw.media import g711

__all__ = ["MAX_SECONDS", "HoldMusic", "load_hold_music", "tone_pattern"]

RATE = 8000
FRAME = 160
MAX_SECONDS = 600
"""The longest hold music kept in memory (4.8 MB of μ-law); a longer file is cut."""
_RAW = frozenset({".ul", ".ulaw", ".mulaw", ".raw"})
_NOTES = (
    (523.25, 0.30), (659.25, 0.30), (783.99, 0.30), (1046.50, 0.45), (0.0, 0.25),
    (783.99, 0.30), (659.25, 0.30), (523.25, 0.50), (0.0, 0.90),
)  # fmt: skip
"""The built-in pattern: (Hz, seconds), 0 Hz a rest (C major, up and down)."""


def tone_pattern(level_dbfs: float = -24.0) -> bytes:
    """The built-in hold music, one loop of μ-law: soft notes (a fundamental and a
    quieter octave, 20 ms fades) and rests."""
    amplitude = 32767 * 10 ** (level_dbfs / 20) * math.sqrt(2)
    samples: list[int] = []
    for hz, seconds in _NOTES:
        count = round(seconds * RATE)
        fade = min(160, count // 2)
        for n in range(count):
            if hz == 0.0:
                samples.append(0)
                continue
            envelope = min(1.0, n / fade, (count - 1 - n) / fade) if fade else 1.0
            t = n / RATE
            value = 0.8 * math.sin(2 * math.pi * hz * t) + 0.2 * math.sin(4 * math.pi * hz * t)
            samples.append(round(amplitude * envelope * value))
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    return g711.linear_to_ulaw(pcm)


def load_hold_music(path: Path) -> bytes:
    """The μ-law audio of a hold-music file (see the module docstring).

    Raises:
        ValueError: it cannot be read, or is not 8 kHz mono μ-law or 16-bit PCM; the
            message names the file and what it is instead.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix.lower() in _RAW:
        audio = data
    elif data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        audio = _wav_ulaw(path, data)
    else:
        raise ValueError(f"{path}: not a WAV file nor raw μ-law (.ul, .ulaw, .mulaw, .raw)")
    audio = audio[: MAX_SECONDS * RATE]
    audio = audio[: len(audio) - len(audio) % FRAME]
    if not audio:
        raise ValueError(f"{path}: no audio (less than 20 ms)")
    return audio


def _wav_ulaw(path: Path, data: bytes) -> bytes:
    fmt: tuple[int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        body = data[offset + 8 : offset + 8 + size]
        if kind == b"fmt " and len(body) >= 16:
            code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (code, channels, rate, bits)
        elif kind == b"data":
            if fmt is None:
                break
            return _to_ulaw(path, fmt, body)
        offset += 8 + size + size % 2
    raise ValueError(f"{path}: a WAV file without a fmt and a data chunk")


def _to_ulaw(path: Path, fmt: tuple[int, int, int, int], body: bytes) -> bytes:
    code, channels, rate, bits = fmt
    if channels != 1 or rate != RATE:
        raise ValueError(f"{path}: {rate} Hz, {channels} channel(s); hold music must be 8 kHz mono")
    if code == 7 and bits == 8:
        return body
    if code == 1 and bits == 16:
        return g711.linear_to_ulaw(body[: len(body) - len(body) % 2])
    raise ValueError(f"{path}: WAV format {code}, {bits} bits; use μ-law or 16-bit PCM")


class HoldMusic:
    """``audio`` (μ-law) in 20 ms frames, from the start and round again, for ever.

    Attributes:
        played: frames handed out so far.
    """

    __slots__ = ("_audio", "_at", "played")

    def __init__(self, audio: bytes) -> None:
        whole = len(audio) - len(audio) % FRAME
        if whole <= 0:
            raise ValueError("hold music needs at least 20 ms of audio")
        self._audio = audio[:whole]
        self._at = 0
        self.played = 0

    def __iter__(self) -> HoldMusic:
        return self

    def __next__(self) -> bytes:
        at = self._at
        frame = self._audio[at : at + FRAME]
        self._at = (at + FRAME) % len(self._audio)
        self.played += 1
        return frame
