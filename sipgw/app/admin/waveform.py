"""A recording's waveform for the dashboard: a small array of peaks per channel."""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path
from typing import Any

__all__ = ["PEAK_BUCKETS", "wav_peaks"]

PEAK_BUCKETS = 400
"""Columns of the drawn waveform."""


def _channel_peaks(samples: array[int], channels: int, channel: int, buckets: int) -> list[float]:
    frames = len(samples) // channels
    peaks: list[float] = []
    for i in range(buckets):
        start, end = i * frames // buckets, (i + 1) * frames // buckets
        part = samples[start * channels + channel : end * channels : channels]
        if not part:
            peaks.append(0.0)
            continue
        peak = max(max(part), -min(part))
        peaks.append(round(min(peak, 32767) / 32767, 3))
    return peaks


def wav_peaks(path: Path, buckets: int = PEAK_BUCKETS) -> dict[str, Any]:
    """The largest absolute sample (0..1) in each of ``buckets`` spans, per channel, of a
    16-bit PCM WAV (the call recordings: caller left, agent right), and its length.

    Fewer buckets when the file has fewer frames. Reads the whole file (a recording
    is 32 kB per second).

    Raises:
        OSError: the file cannot be read.
        wave.Error: it is not a 16-bit PCM WAV.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise wave.Error("not 16-bit PCM")
        channels, rate, frames = wav.getnchannels(), wav.getframerate(), wav.getnframes()
        samples = array("h")
        samples.frombytes(wav.readframes(frames))
    if sys.byteorder == "big":
        samples.byteswap()
    frames = len(samples) // channels
    buckets = max(0, min(buckets, frames))
    names = ["caller", "agent"] if channels == 2 else [f"ch{n}" for n in range(channels)]
    return {
        "seconds": round(frames / rate, 2) if rate else 0.0,
        "channels": {
            name: _channel_peaks(samples, channels, n, buckets) for n, name in enumerate(names)
        },
    }
