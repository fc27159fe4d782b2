"""Noise suppression on the caller's audio: RNNoise, per 20 ms μ-law frame, sans-IO.

RNNoise (the ``pyrnnoise`` wheel's ``librnnoise.so``, its model compiled in:
nothing is downloaded) works on 10 ms frames of 480 samples at 48 kHz. A 20 ms
telephone frame (160 samples at 8 kHz) is decoded, upsampled by 6 (zeros
stuffed, then a windowed-sinc low-pass at 3.8 kHz), denoised as two RNNoise
frames, low-passed again and decimated by 6, and encoded back: the one place
where the caller's audio changes rate. Both filters keep their tail between
frames, so frames join without clicks. The added delay is RNNoise's own 20 ms (its
frame and its analysis window's overlap) plus the two filters' 2 ms
(:data:`FILTER_DELAY_MS`, checked by tests/media/voice/test_denoise.py): 22 ms, as
``python -m bench.noise --suppression`` measures it.

The wheel's Python wrapper imports plotting and media libraries the gateway does
not need, so this module loads the library with ``ctypes`` from where the
package is installed (``importlib.util.find_spec`` runs none of its code).
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from typing import Any, Final

import numpy as np

from sipgw.media import g711

__all__ = ["DELAY_MS", "NoiseSuppressor", "SuppressorMissing", "library_path"]

RATIO: Final = 6
"""48 kHz over 8 kHz."""
RNNOISE_FRAME: Final = 480
_TAPS: Final = 97  # odd: linear phase, a whole-sample delay of 48 samples at 48 kHz
FILTER_DELAY_MS: Final = 2 * (_TAPS - 1) / 2 / 48
"""Group delay of the up- and down-sampling filters (2 ms)."""
DELAY_MS: Final = 20.0 + FILTER_DELAY_MS
"""What suppression adds to the caller's audio path (RNNoise's 20 ms + the filters)."""
_SCALE: Final = 32768.0


class SuppressorMissing(RuntimeError):
    """``pyrnnoise`` is not installed; the message says how to install it."""


def library_path() -> Path:
    """Where the installed ``pyrnnoise`` package keeps ``librnnoise.so``.

    Raises:
        SuppressorMissing: the package or its library is not there.
    """
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or spec.origin is None:
        raise SuppressorMissing(
            "noise suppression needs the pyrnnoise package (pip install pyrnnoise --no-deps; "
            "see docs/quality.md)"
        )
    path = Path(spec.origin).parent / "librnnoise.so"
    if not path.is_file():
        raise SuppressorMissing(f"pyrnnoise is installed but has no {path}")
    return path


_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(str(library_path()))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        if lib.rnnoise_get_frame_size() != RNNOISE_FRAME:
            raise SuppressorMissing(f"{library_path()} does not take {RNNOISE_FRAME}-sample frames")
        _lib = lib
    return _lib


def _lowpass() -> np.ndarray[Any, np.dtype[np.float32]]:
    """A windowed-sinc low-pass at 3.8 kHz for 48 kHz, unity gain at DC."""
    n = np.arange(_TAPS) - (_TAPS - 1) / 2
    taps = np.sinc(2 * 3800 / 48000 * n) * np.blackman(_TAPS)
    normalized: np.ndarray[Any, np.dtype[np.float32]] = (taps / taps.sum()).astype(np.float32)
    return normalized


_LOWPASS: Final = _lowpass()


class NoiseSuppressor:
    """One call's RNNoise state and filter tails; :meth:`process` one frame at a time.

    Attributes:
        speech_probability: RNNoise's own voice estimate for the last frame (the
            higher of its two 10 ms halves).
    """

    __slots__ = ("_down_tail", "_lib", "_state", "_up_tail", "speech_probability")

    def __init__(self) -> None:
        self._lib = _library()
        self._state: int | None = self._lib.rnnoise_create(None)
        self._up_tail = np.zeros(_TAPS - 1, dtype=np.float32)
        self._down_tail = np.zeros(_TAPS - 1, dtype=np.float32)
        self.speech_probability = 0.0

    def process(self, frame: bytes) -> bytes:
        """A 20 ms μ-law frame (160 bytes) in, the denoised one out (same length)."""
        state = self._state
        if state is None:
            raise RuntimeError("the noise suppressor was closed")
        pcm = np.frombuffer(g711.ulaw_to_linear(frame), dtype="<i2").astype(np.float32)
        stuffed = np.zeros(len(pcm) * RATIO, dtype=np.float32)
        stuffed[::RATIO] = pcm * RATIO
        up = np.convolve(np.concatenate((self._up_tail, stuffed)), _LOWPASS, mode="valid")
        self._up_tail = stuffed[-(_TAPS - 1) :]
        # RNNoise takes float samples at 16-bit scale, and may work in place.
        wide = np.ascontiguousarray(up, dtype=np.float32)
        best = 0.0
        for start in range(0, len(wide), RNNOISE_FRAME):
            view = wide[start : start + RNNOISE_FRAME]
            pointer = view.ctypes.data
            best = max(best, float(self._lib.rnnoise_process_frame(state, pointer, pointer)))
        self.speech_probability = best
        down = np.convolve(np.concatenate((self._down_tail, wide)), _LOWPASS, mode="valid")
        self._down_tail = wide[-(_TAPS - 1) :]
        out = np.clip(np.rint(down[::RATIO]), -32768, 32767).astype("<i2")
        return g711.linear_to_ulaw(out.tobytes())

    def close(self) -> None:
        """Free the RNNoise state (idempotent)."""
        if self._state is not None:
            self._lib.rnnoise_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
