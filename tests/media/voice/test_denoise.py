"""Noise suppression (RNNoise, media/voice/denoise.py) on injected frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from sipgw.media import g711
from sipgw.media.voice import denoise
from sipgw.media.voice.denoise import FILTER_DELAY_MS, NoiseSuppressor
from tests.toolkit.noisy_audio import background, mix, speech


def ulaw(samples: Sequence[int] | np.ndarray[Any, Any]) -> bytes:
    return g711.linear_to_ulaw(np.clip(np.asarray(samples), -32768, 32767).astype("<i2").tobytes())


def pcm(data: bytes) -> np.ndarray[Any, Any]:
    return np.frombuffer(g711.ulaw_to_linear(data), dtype="<i2").astype(np.float64)


def through(suppressor: NoiseSuppressor, data: bytes) -> bytes:
    return b"".join(suppressor.process(data[i : i + 160]) for i in range(0, len(data) - 159, 160))


def rms(x: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(x**2)))


class PassThrough:
    """RNNoise's calls, doing nothing to the audio: the resampling chain alone."""

    def __init__(self) -> None:
        self.frames = 0

    def rnnoise_create(self, _: None) -> int:
        return 1

    def rnnoise_destroy(self, _: int) -> None:
        pass

    def rnnoise_process_frame(self, state: int, out: int, into: int) -> float:
        self.frames += 1
        return 0.25


def test_resampling_keeps_the_speech_and_delays_it_by_the_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = PassThrough()
    monkeypatch.setattr(denoise, "_library", lambda: fake)
    said = np.asarray(mix(speech("One moment, please."), [0] * 8000, 200.0), dtype=np.float64)
    out = pcm(through(NoiseSuppressor(), ulaw(said)))
    lag = round(FILTER_DELAY_MS * 8)
    assert lag == 16
    corr = np.correlate(out[:4000], said[:4000], mode="full")
    assert int(np.argmax(corr)) - 3999 == lag
    aligned = out[lag:]
    assert abs(rms(aligned) / rms(said[: len(aligned)]) - 1) < 0.05  # no gain, no loss
    assert fake.frames == 2 * (len(said) // 160)  # two 10 ms RNNoise frames per 20 ms frame


def test_stationary_noise_is_suppressed() -> None:
    noise = mix([0], background("pink", 3.0), 0.0)  # -20 dBFS pink noise
    out = pcm(through(NoiseSuppressor(), ulaw(noise)))
    tail = slice(8000, None)  # after its first second
    assert rms(out[tail]) < rms(np.asarray(noise, dtype=np.float64)[tail]) / 10  # 20 dB down


@pytest.mark.parametrize(("low_hz", "kept"), [(100, True), (300, False)])
def test_clean_speech_is_kept_only_with_its_fundamental(low_hz: int, kept: bool) -> None:
    """RNNoise is trained on full-band speech: a voice that keeps its fundamental (a digital
    or mobile line, 100-3400 Hz) passes within 3 dB; the same voice cut at 300 Hz (an
    analogue line's band, ITU-T G.712, and this suite's speech) is taken for noise and
    muted, with nothing in the room (docs/performance.md, "Noise suppression")."""
    said = np.asarray(mix(speech("One moment, please.", low_hz=low_hz), [0] * 12000, 200.0))
    out = pcm(through(NoiseSuppressor(), ulaw(said)))
    gain_db = 20 * np.log10(rms(out[4000:]) / rms(said[4000 : len(out)]))
    assert (gain_db > -3.0) if kept else (gain_db < -15.0), gain_db


def test_frames_keep_their_size_and_closing_is_final() -> None:
    suppressor = NoiseSuppressor()
    assert len(suppressor.process(b"\xff" * 160)) == 160
    suppressor.close()
    suppressor.close()
    with pytest.raises(RuntimeError, match="closed"):
        suppressor.process(b"\xff" * 160)


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(denoise.SuppressorMissing, match="pyrnnoise"):
        denoise.library_path()
