"""Silero VAD's 8 kHz graph as a few numpy matrix products over a batch of streams.

The ONNX graph (:mod:`sipgw.media.voice.silero`) is, at 8 kHz: the chunk (32 samples of
context + 256) padded by reflection to 320 samples; an STFT as a convolution (130 filters
of 128 samples, hop 64: 4 frames, 65 bins' magnitudes); four convolutions of 3 taps with
ReLU (65->128 channels on 4 frames, 128->64 with stride 2 to 2 frames, 64->64 with stride 2
to 1 frame, 64->128 on that one frame, where only the middle tap meets samples); an LSTM
cell of 128 (its state, with the cell's, is the stream's 2 x 128 recurrent state); then
ReLU, one output and a sigmoid. ONNX Runtime runs each of those convolutions image by
image, so a batch of 42 streams is 42 small products per layer (about 32 µs a stream on
AMD EPYC); here each layer is a few products over the whole batch, each reading its rows as
views of the layer before: a frame's taps lie side by side in the layer's output already
(frames t-1, t, t+1 of a 65-bin magnitude are 195 floats in a row), so no column is copied
into place, and the taps that meet only padding are left out (the first and last frame of
the first convolution, the first frame of the second); the STFT's 32 reflected samples are
folded into the last frame's basis, so the chunk is never padded. About 10 µs a stream in
a batch of 42 and 9.5 in one of 125 (AMD EPYC, ``python -m bench.model_cost``), the same
probabilities as ONNX Runtime within about 1e-6. The six products are nearly all of it, at
about the core's peak (OpenBLAS's AVX-512 kernels): the LSTM's 256 x 512 the most. One
stream alone takes about 70 µs, a function call of numpy's per product or element-wise
step. The LSTM's three sigmoids and its cell gate's tanh are one ``exp`` over its gates,
which its weights give negated (the cell gate's doubled: tanh(g) = 2 sigmoid(2g) - 1):
numpy's float32 ``tanh`` costs about twice its ``exp``, more on a strided view, and the
gates' nonlinearity takes a third less time so (a run 3-8 % less from 8 streams up, the
same alone; the probabilities within 3e-8 of the ``tanh`` form). An FFT for the STFT (the basis is a
periodic Hann window times the DFT's cosines and sines) saved 0.3 µs a stream at 125
(numpy's ``rfft``): not taken.

The weights are the ONNX file's 8 kHz constants as sipgw ships them
(:mod:`sipgw.media.voice.silero_weights`: ``silero_vad_8k.npz``, exported from the ``silero-vad``
package's ONNX file, MIT-licensed), or read from that ONNX file itself. The products go to
numpy's BLAS, which would spread a product this size over every core (OpenBLAS does from
about 260 000 multiply-adds): :func:`single_threaded_blas` keeps it on the calling thread, as
ONNX Runtime's session was (a gateway process is one core's worth of calls). Where it cannot
(another BLAS, no thread count in the environment), :class:`~sipgw.media.voice.silero.SileroModel`
runs ONNX Runtime if it is installed, else these products all the same, and says so.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np

from sipgw.media.voice.silero_weights import BASIS, read

__all__ = ["SileroMath", "single_threaded_blas"]

_F32: TypeAlias = "np.ndarray[Any, np.dtype[np.float32]]"
"""A float32 array (an explicit alias: a wheel built without numpy must type-check, numpy
then being Any)."""

_BINS: Final = 65
_FRAME: Final = 128
_HOP: Final = 64
_FRAMES: Final = 4
_INPUT: Final = 288
_PADDED: Final = 320
_HIDDEN: Final = 128
_EXP_LIMIT: Final = 80.0
"""The largest argument the gates' ``exp`` is given: ``exp(80)`` (5.5e34) neither overflows
float32 (3.4e38) nor makes its sigmoid, 1.8e-35, a subnormal; a gate that low is 0 within
float32 all the same."""

_SET_THREADS: Final = (
    "openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
)
_GET_THREADS: Final = (
    "openblas_get_num_threads",
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
)


def _loaded_openblas() -> list[str]:
    """The OpenBLAS libraries this process has loaded (Linux's /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    return sorted(p for p in paths if p.startswith("/") and ".so" in p)


def single_threaded_blas() -> bool:
    """Make numpy's BLAS run each product on the calling thread; whether it is now so.

    OpenBLAS (what numpy's wheels carry) is set to one thread through its own
    ``set_num_threads`` (every OpenBLAS the process loaded). Another BLAS counts as
    single-threaded only when the environment says so (``OPENBLAS_NUM_THREADS``,
    ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` at 1).
    """
    libraries = _loaded_openblas()
    capped = 0
    for path in libraries:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, n) for n in _SET_THREADS if hasattr(library, n)), None)
        getter = next((getattr(library, n) for n in _GET_THREADS if hasattr(library, n)), None)
        if setter is None or getter is None:
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = None
        getter.argtypes = []
        getter.restype = ctypes.c_int
        setter(1)
        if getter() == 1:
            capped += 1
    if libraries:
        return capped == len(libraries)
    return any(
        os.environ.get(name) == "1"
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    )


def _sigmoid_inplace(x: _F32) -> _F32:
    """The logistic function of ``x``, written over it: 0.5 (1 + tanh(x / 2)), which does
    not overflow where exp(-x) would."""
    x *= np.float32(0.5)
    np.tanh(x, out=x)
    x += np.float32(1.0)
    x *= np.float32(0.5)
    return x


class SileroMath:
    """The model's weights laid out for batched products; :meth:`run` steps a batch."""

    def __init__(self, weights: Mapping[str, _F32] | None = None) -> None:
        """``weights``: the 8 kHz branch's constants by name
        (:data:`~sipgw.media.voice.silero_weights.SHAPES`, as
        :func:`~sipgw.media.voice.silero_weights.read`
        returns them); by default the shipped ones."""
        found = read() if weights is None else weights

        def weight(name: str, shape: tuple[int, ...]) -> _F32:
            array = found.get(name)
            if array is None or array.shape != shape or array.dtype != np.float32:
                raise ValueError(f"{name} is not a float32 {shape}")
            return array

        def taps(name: str, out: int, into: int, used: slice) -> _F32:
            """A convolution's taps side by side: (taps x in) x out, for ``x @ w``."""
            w = weight(f"{name}.weight", (out, into, 3))[:, :, used]
            return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, out))

        self._basis = np.ascontiguousarray(weight(BASIS, (2 * _BINS, 1, _FRAME))[:, 0, :].T)
        # The last frame: samples 192..287, then 32 reflected ones (padded sample 288 + j
        # is sample 286 - j), whose rows of the basis are added to those samples' rows.
        tail = _INPUT - _HOP * (_FRAMES - 1)
        last = self._basis[:tail].copy()
        reflected = _PADDED - _INPUT
        last[tail - 1 - reflected : tail - 1] += self._basis[tail:][::-1]
        self._basis_last = last
        self._w0 = taps("encoder.0.reparam_conv", 128, _BINS, slice(0, 3))
        self._b0 = weight("encoder.0.reparam_conv.bias", (128,))
        self._w1 = taps("encoder.1.reparam_conv", 64, 128, slice(0, 3))
        self._b1 = weight("encoder.1.reparam_conv.bias", (64,))
        # one output frame from 2 (stride 2, padding 1): the first tap meets the padding
        self._w2 = taps("encoder.2.reparam_conv", 64, 64, slice(1, 3))
        self._b2 = weight("encoder.2.reparam_conv.bias", (64,))
        # one frame in, one out: only the middle tap meets a sample
        self._w3 = taps("encoder.3.reparam_conv", 128, 64, slice(1, 2))
        self._b3 = weight("encoder.3.reparam_conv.bias", (128,))
        gates = 4 * _HIDDEN
        # PyTorch's gate order (input, forget, cell, output) made (input, forget, output,
        # cell): the three sigmoids in one call
        order = np.r_[0 : 2 * _HIDDEN, 3 * _HIDDEN : 4 * _HIDDEN, 2 * _HIDDEN : 3 * _HIDDEN]
        # The gates come out negated, the cell gate's doubled (-z, -z, -z, -2g): the
        # sigmoids are 1 / (1 + exp(-z)) and tanh(g) = 2 / (1 + exp(-2g)) - 1, one exp over
        # all four (numpy's float32 tanh costs twice its exp)
        scale = np.r_[np.full(3 * _HIDDEN, -1.0), np.full(_HIDDEN, -2.0)].astype(np.float32)
        self._w_lstm = np.ascontiguousarray(
            np.concatenate(
                [
                    weight("decoder.rnn.weight_ih", (gates, _HIDDEN)),
                    weight("decoder.rnn.weight_hh", (gates, _HIDDEN)),
                ],
                axis=1,
            )[order].T
            * scale
        )
        self._b_lstm = (
            weight("decoder.rnn.bias_ih", (gates,)) + weight("decoder.rnn.bias_hh", (gates,))
        )[order] * scale
        self._w_out = np.ascontiguousarray(weight("decoder.decoder.2.weight", (1, _HIDDEN, 1))[0])
        self._b_out = weight("decoder.decoder.2.bias", (1,))

    def run(self, samples: _F32, state: _F32) -> tuple[_F32, _F32]:
        """Step ``samples`` (batch x 288: context + chunk, floats) from ``state``
        (2 x batch x 128); the speech probabilities (batch) and the new state.

        Every product reads its rows as views of the layer before (no column copied into
        place: a frame's taps are side by side in the layer's output already) and writes
        into the layer's output, taps that meet only padding left out."""
        batch = samples.shape[0]
        f32 = np.float32
        relu = np.maximum
        # STFT: frame t is samples 64t..64t+128 of the padded chunk; the last one's 32
        # reflected samples are folded into its basis (self._basis_last)
        spectrum = np.empty((batch, _FRAMES, 2 * _BINS), f32)
        for t in range(_FRAMES - 1):
            np.matmul(samples[:, _HOP * t : _HOP * t + _FRAME], self._basis, out=spectrum[:, t])
        np.matmul(samples[:, _HOP * (_FRAMES - 1) :], self._basis_last, out=spectrum[:, -1])
        spectrum *= spectrum
        magnitude = np.add(spectrum[:, :, :_BINS], spectrum[:, :, _BINS:])
        np.sqrt(magnitude, out=magnitude)

        # 65 -> 128, 4 frames, padding 1: frame t takes frames t-1, t, t+1 (side by side
        # in ``magnitude``); the first and last leave out the tap on the padding
        x = np.empty((batch, _FRAMES, 128), f32)
        w0, bins = self._w0, _BINS
        np.matmul(magnitude[:, 0:2].reshape(batch, 2 * bins), w0[bins:], out=x[:, 0])
        for t in (1, 2):
            np.matmul(magnitude[:, t - 1 : t + 2].reshape(batch, 3 * bins), w0, out=x[:, t])
        np.matmul(magnitude[:, 2:4].reshape(batch, 2 * bins), w0[: 2 * bins], out=x[:, 3])
        x += self._b0
        relu(x, 0, out=x)

        # 128 -> 64, stride 2: frame 0 takes (padding, 0, 1), frame 1 takes (1, 2, 3)
        y = np.empty((batch, 2, 64), f32)
        np.matmul(x[:, 0:2].reshape(batch, 256), self._w1[128:], out=y[:, 0])
        np.matmul(x[:, 1:4].reshape(batch, 384), self._w1, out=y[:, 1])
        y += self._b1
        relu(y, 0, out=y)

        x = y.reshape(batch, 128) @ self._w2  # 64 -> 64, stride 2: (padding, 0, 1)
        x += self._b2
        relu(x, 0, out=x)
        # 64 -> 128 on one frame, into the LSTM's input beside the hidden state
        h = _HIDDEN
        joined = np.empty((batch, 2 * h), f32)
        encoded = joined[:, :h]
        np.matmul(x, self._w3, out=encoded)
        encoded += self._b3
        relu(encoded, 0, out=encoded)
        joined[:, h:] = state[0]

        gates = joined @ self._w_lstm  # negated, the cell gate's doubled (see __init__)
        gates += self._b_lstm
        # clamped: exp overflows float32 from 88.7 (a gate that low is 0 all the same)
        np.minimum(gates, np.float32(_EXP_LIMIT), out=gates)
        np.exp(gates, out=gates)
        gates += np.float32(1.0)
        sigmoids = np.reciprocal(gates, out=gates)  # input, forget, output; the cell's
        tanh_gate = sigmoids[:, 3 * h :]
        tanh_gate *= np.float32(2.0)
        tanh_gate -= np.float32(1.0)  # tanh of the cell gate
        new_state = np.empty((2, batch, h), f32)
        hidden, cell = new_state[0], new_state[1]
        np.multiply(sigmoids[:, h : 2 * h], state[1], out=cell)
        tanh_gate *= sigmoids[:, :h]
        cell += tanh_gate
        np.tanh(cell, out=hidden)
        hidden *= sigmoids[:, 2 * h : 3 * h]
        out = relu(hidden, 0) @ self._w_out
        out += self._b_out
        return _sigmoid_inplace(out[:, 0]), new_state
