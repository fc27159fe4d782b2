"""G.711 μ-law (PCMU) and A-law (PCMA) helpers.

This is the only module that imports ``audioop``: it is in the standard
library up to Python 3.12 (deprecated since 3.11) and comes from the
``audioop-lts`` package on 3.13 and later, with the same API.

Conversions between the two laws, and the attenuation used for loss
concealment, are 256-entry tables applied with :meth:`bytes.translate`; the
tables are built once from ``audioop``'s own decode and encode, so they give
exactly what an ``audioop`` round trip gives, several times faster. Linear
audio is signed 16-bit little-endian ("s16le").
"""

from __future__ import annotations

import math
import sys
import warnings
from functools import lru_cache
from typing import Final

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = [
    "ALAW_SILENCE",
    "ULAW_SILENCE",
    "alaw_to_linear",
    "alaw_to_ulaw",
    "attenuate",
    "codec_silence_byte",
    "linear_dbfs",
    "linear_fit",
    "linear_to_alaw",
    "linear_to_ulaw",
    "mean_square",
    "mix_ulaw",
    "projection",
    "rms_dbfs",
    "silence_frame",
    "softer",
    "ulaw_to_alaw",
    "ulaw_to_linear",
]

ULAW_SILENCE: Final = 0xFF
"""μ-law code of a zero sample (positive zero)."""

ALAW_SILENCE: Final = 0xD5
"""A-law code of the smallest positive sample, the conventional A-law silence."""

_BIG_ENDIAN: Final = sys.byteorder == "big"
_ALL_CODES: Final = bytes(range(256))

ULAW_TO_ALAW_TABLE: Final[bytes] = audioop.lin2alaw(audioop.ulaw2lin(_ALL_CODES, 2), 2)
"""``ULAW_TO_ALAW_TABLE[u]`` is the A-law code of μ-law code ``u``."""

ALAW_TO_ULAW_TABLE: Final[bytes] = audioop.lin2ulaw(audioop.alaw2lin(_ALL_CODES, 2), 2)
"""``ALAW_TO_ULAW_TABLE[a]`` is the μ-law code of A-law code ``a``."""


def _codec_key(codec: str) -> str:
    key = codec.upper()
    if key in ("PCMU", "ULAW", "MULAW"):
        return "PCMU"
    if key in ("PCMA", "ALAW"):
        return "PCMA"
    raise ValueError(f"unsupported G.711 codec {codec!r} (expected 'PCMU' or 'PCMA')")


def codec_silence_byte(codec: str) -> int:
    """Return the silence code of ``codec`` ("PCMU" or "PCMA", case-insensitive).

    Raises:
        ValueError: ``codec`` is not a G.711 codec name.
    """
    return ULAW_SILENCE if _codec_key(codec) == "PCMU" else ALAW_SILENCE


_SILENCE_FRAMES: Final[dict[tuple[str, int], bytes]] = {}
_SILENCE_FRAMES_KEPT: Final = 64


def silence_frame(codec: str, samples: int = 160) -> bytes:
    """Return ``samples`` octets of silence in ``codec`` (cached, shared object).

    Raises:
        ValueError: ``codec`` is not a G.711 codec name, or ``samples`` < 0.
    """
    frame = _SILENCE_FRAMES.get((codec, samples))
    if frame is not None:
        return frame
    if samples < 0:
        raise ValueError("samples must not be negative")
    frame = bytes((codec_silence_byte(codec),)) * samples
    if len(_SILENCE_FRAMES) < _SILENCE_FRAMES_KEPT:  # the few sizes calls use, bounded
        _SILENCE_FRAMES[(codec, samples)] = frame
    return frame


def ulaw_to_alaw(b: bytes) -> bytes:
    """Transcode μ-law octets to A-law (same result as via 16-bit linear)."""
    return b.translate(ULAW_TO_ALAW_TABLE)


def alaw_to_ulaw(b: bytes) -> bytes:
    """Transcode A-law octets to μ-law (same result as via 16-bit linear)."""
    return b.translate(ALAW_TO_ULAW_TABLE)


def ulaw_to_linear(b: bytes) -> bytes:
    """Decode μ-law octets to s16le samples."""
    lin = audioop.ulaw2lin(b, 2)
    return audioop.byteswap(lin, 2) if _BIG_ENDIAN else lin


def alaw_to_linear(b: bytes) -> bytes:
    """Decode A-law octets to s16le samples."""
    lin = audioop.alaw2lin(b, 2)
    return audioop.byteswap(lin, 2) if _BIG_ENDIAN else lin


def linear_to_ulaw(b: bytes) -> bytes:
    """Encode s16le samples (an even number of octets) to μ-law."""
    return audioop.lin2ulaw(audioop.byteswap(b, 2) if _BIG_ENDIAN else b, 2)


def linear_to_alaw(b: bytes) -> bytes:
    """Encode s16le samples (an even number of octets) to A-law."""
    return audioop.lin2alaw(audioop.byteswap(b, 2) if _BIG_ENDIAN else b, 2)


def mix_ulaw(a: bytes, b: bytes) -> bytes:
    """Two μ-law signals of one length summed (clipped at full scale), as μ-law: what a
    listener on both lines hears.

    Raises:
        ValueError: the lengths differ.
    """
    if len(a) != len(b):
        raise ValueError(f"cannot mix {len(a)} octets with {len(b)}")
    return audioop.lin2ulaw(audioop.add(audioop.ulaw2lin(a, 2), audioop.ulaw2lin(b, 2), 2), 2)


@lru_cache(maxsize=64)
def _scaled_table(codec: str, factor: float) -> bytes:
    """Every code of ``codec`` decoded, scaled by ``factor`` and re-encoded."""
    if codec == "PCMU":
        return audioop.lin2ulaw(audioop.mul(audioop.ulaw2lin(_ALL_CODES, 2), 2, factor), 2)
    return audioop.lin2alaw(audioop.mul(audioop.alaw2lin(_ALL_CODES, 2), 2, factor), 2)


def attenuate(frame: bytes, codec: str = "PCMU", steps: int = 1) -> bytes:
    """Return ``frame`` with its amplitude halved ``steps`` times (about 6 dB each).

    Each code is decoded, scaled by ``0.5 ** steps`` and re-encoded, through a
    cached 256-entry table.

    Raises:
        ValueError: ``codec`` is not a G.711 codec name, or ``steps`` < 0.
    """
    if steps < 0:
        raise ValueError("steps must not be negative")
    if steps == 0:
        return frame
    return frame.translate(_scaled_table(_codec_key(codec), 0.5 ** min(steps, 16)))


def softer(frame: bytes, db: float, linear: bool = False) -> bytes:
    """``frame`` ``db`` softer: μ-law (a cached 256-entry table, as :func:`attenuate`),
    or s16le samples when ``linear``."""
    if not linear:
        return frame.translate(_scaled_table("PCMU", 10 ** (-db / 20)))
    factor = 10 ** (-db / 20)
    if _BIG_ENDIAN:
        return audioop.byteswap(audioop.mul(audioop.byteswap(frame, 2), 2, factor), 2)
    return audioop.mul(frame, 2, factor)


def rms_dbfs(ulaw: bytes, codec: str = "PCMU") -> float:
    """Return the RMS level of G.711 audio in dB relative to full scale.

    A full-scale square wave is 0 dBFS; digital silence (and empty input) is
    ``-inf``.

    Args:
        ulaw: the encoded audio (μ-law unless ``codec`` says "PCMA").
        codec: "PCMU" (default) or "PCMA".
    """
    if not ulaw:
        return -math.inf
    if codec == "PCMU" or _codec_key(codec) == "PCMU":
        rms = audioop.rms(audioop.ulaw2lin(ulaw, 2), 2)
    else:
        rms = audioop.rms(audioop.alaw2lin(ulaw, 2), 2)
    if rms == 0:
        return -math.inf
    return 20.0 * math.log10(rms / 32768.0)


def linear_dbfs(pcm: bytes) -> float:
    """Return the RMS level of s16le samples in dB relative to full scale (``-inf``: silence)."""
    if not pcm:
        return -math.inf
    rms = audioop.rms(audioop.byteswap(pcm, 2) if _BIG_ENDIAN else pcm, 2)
    return 20.0 * math.log10(rms / 32768.0) if rms else -math.inf


def resample(pcm: bytes, rate_in: int, rate_out: int, state: object) -> tuple[bytes, object]:
    """Convert s16le mono samples from ``rate_in`` to ``rate_out`` Hz (``audioop.ratecv``).

    ``state`` is None for the first chunk of a stream, then what the previous call
    returned, so that chunks join without clicks.
    """
    if _BIG_ENDIAN:
        pcm = audioop.byteswap(pcm, 2)
    out, state = audioop.ratecv(pcm, 2, 1, rate_in, rate_out, state)  # type: ignore[arg-type]
    return (audioop.byteswap(out, 2) if _BIG_ENDIAN else out), state


def linear_fit(target: bytes, source: bytes) -> tuple[float, int]:
    """Return how well ``source`` predicts ``target``, both native-order 16-bit samples.

    Returns:
        ``(factor, rms)``: the factor F minimizing the energy of ``target - F *
        source`` (``<target, source> / <source, source>``; NaN when ``source``
        is all zero), and the RMS of ``source``. Used by the pitch search of
        :mod:`sipgw.media.plc`; the sums run in C.
    """
    return audioop.findfactor(target, source), audioop.rms(source, 2)


def projection(target: bytes, reference: bytes) -> float:
    """``<target, reference> / <reference, reference>``, both native-order 16-bit samples
    of the same length: the factor of ``reference`` closest to ``target`` (NaN when
    ``reference`` is all zero). The in-band DTMF detector's correlations
    (:mod:`sipgw.media.tones.dtmf_detect`); the sums run in C."""
    return audioop.findfactor(target, reference)


def mean_square(pcm: bytes) -> int:
    """The mean of the squared native-order 16-bit samples (their RMS squared, the RMS
    rounded down to an integer as ``audioop.rms`` gives it); 0 for no samples."""
    rms = audioop.rms(pcm, 2)
    return rms * rms
