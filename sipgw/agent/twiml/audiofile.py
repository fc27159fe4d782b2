"""A ``<Play>`` file's bytes as 8 kHz μ-law, sans-IO: WAV (μ-law, A-law or 16-bit PCM) or raw μ-law.

Twilio plays WAV and MP3 (and more); sipgw plays what it can without a decoder:
a RIFF/WAVE file whose ``fmt`` is μ-law (7), A-law (6) or 16-bit linear PCM (1), mono,
at any rate (PCM is resampled to 8 kHz), or a headerless μ-law body (``audio/basic``,
``audio/x-mulaw``). Anything else raises :class:`AudioFileError` naming what it found.
"""

from __future__ import annotations

import struct
from typing import Final

from sipgw.media.g711 import alaw_to_ulaw, linear_to_ulaw, resample

__all__ = ["RAW_ULAW_TYPES", "AudioFileError", "decode_audio"]

RAW_ULAW_TYPES: Final = ("audio/basic", "audio/x-mulaw", "audio/mulaw", "audio/pcmu")
"""Content types taken as headerless 8 kHz μ-law."""


class AudioFileError(ValueError):
    """A file sipgw cannot play (the message says what it is)."""


def decode_audio(data: bytes, content_type: str = "") -> bytes:
    """``data`` as 8 kHz μ-law (see the module docstring).

    Raises:
        AudioFileError: not a WAV sipgw reads and not declared raw μ-law.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if kind in RAW_ULAW_TYPES:
        return data
    raise AudioFileError(
        f"a {kind or 'untyped'} file of {len(data)} bytes: sipgw plays WAV (μ-law, A-law, "
        "16-bit PCM, mono) or raw μ-law (audio/basic)"
    )


def _wav(data: bytes) -> bytes:
    position, fmt, body = 12, None, None
    while position + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, position)
        content = data[position + 8 : position + 8 + size]
        if chunk == b"fmt " and len(content) >= 16:
            fmt = struct.unpack_from("<HHIIHH", content)
        elif chunk == b"data":
            body = content
        position += 8 + size + (size & 1)
    if fmt is None or body is None:
        raise AudioFileError("a WAV file without its fmt or data chunk")
    code, channels, rate, _, _, bits = fmt
    if channels != 1:
        raise AudioFileError(f"a WAV file of {channels} channels (sipgw plays mono)")
    if code == 7 and rate == 8000:
        return body
    if code == 6 and rate == 8000:
        return alaw_to_ulaw(body)
    if code == 1 and bits == 16:
        pcm = body[: len(body) - len(body) % 2]
        if rate != 8000:
            pcm, _ = resample(pcm, rate, 8000, None)
        return linear_to_ulaw(pcm)
    raise AudioFileError(
        f"a WAV file of format {code}, {bits} bits at {rate} Hz (sipgw plays μ-law or A-law "
        "at 8 kHz, or 16-bit PCM)"
    )
