"""Speech probability from Silero VAD (its 8 kHz weights, shipped with sipgw), sans-IO.

The model (Silero VAD v6, an ONNX graph) takes 256 samples at 8 kHz (32 ms)
with the 32 samples before them as context, and a recurrent state of 2 x 128
floats per stream; it returns the probability that the chunk is speech. The 8 kHz
branch's weights ship with sipgw (``silero_vad_8k.npz``, MIT, exported from the
``silero-vad`` wheel's ``silero_vad/data/silero_vad.onnx``:
:mod:`sipgw.media.voice.silero_weights`);
nothing is downloaded. ONNX Runtime runs the package's ONNX file itself: the package
imports torch, which the gateway does not need, so this module only reads the file from
where the package is installed (``importlib.util.find_spec``, which runs none of its code).

One :class:`SileroModel` serves every call; each call keeps its own
:class:`SileroStream` (state, context, samples not yet a whole chunk, as the μ-law
octets they came in: they are converted to floats only for a run, all of a run's chunks
in one table lookup). :meth:`SileroModel.run` takes several streams' chunks at once (the
model's batch axis), so many calls' chunks are cheaper together. By default the model
runs as numpy products over the whole batch (:mod:`sipgw.media.voice.silero_math`, on the shipped
weights): about 70-80 µs for one stream alone, 11-12 µs a stream in a batch of 42 and
9.5-10 in one of 125 (AMD EPYC, ``python -m bench.model_cost``). ONNX Runtime
(``engine="onnx"``, and the fallback where numpy's BLAS cannot be kept on one thread, when
it is installed; numpy runs all the same otherwise, and a warning says so) gives the same
probabilities within about 1e-6 at about 100 µs alone and 32 µs a stream in a batch: it
runs each convolution stream by stream. Neither
its session options nor int8 weights (``quantize_dynamic``, on the 8 kHz graph taken
out of its ``If``: 56-66 µs a stream, probabilities up to 0.27 off) made it cheaper.
:class:`SileroBatch` collects the chunks that come in from every call and runs
them in as few model calls as it can (one per chunk of the stream that has most
waiting, usually one); each stream gets its chunks' probabilities, in order, in
:attr:`SileroStream.results`: the same numbers as stepping it alone.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from sipgw.media import g711
from sipgw.media.voice import silero_weights
from sipgw.media.voice.silero_math import SileroMath, single_threaded_blas
from sipgw.media.voice.silero_weights import package_onnx

__all__ = [
    "CHUNK",
    "CONTEXT",
    "SileroBatch",
    "SileroModel",
    "SileroStream",
    "floats",
    "model_path",
    "shared_model",
]

log = logging.getLogger(__name__)

RATE: Final = 8000
CHUNK: Final = 256
"""Samples per model step at 8 kHz (32 ms)."""
CONTEXT: Final = 32
"""Samples of the previous chunk the model sees before each chunk."""
_STATE_SHAPE: Final = (2, 1, 128)
_ULAW_SILENCE: Final = b"\xff" * CHUNK  # μ-law zeros
_FIRST_CONTEXT: Final = _ULAW_SILENCE[:CONTEXT]
"""A new stream's context (this object until its first chunk)."""
_ULAW_FLOAT: Final = (
    np.frombuffer(g711.ulaw_to_linear(bytes(range(256))), dtype="<i2").astype(np.float32) / 32768.0
)
"""Each μ-law octet's sample as the model takes it (float, -1..1)."""


class ModelMissing(Exception):
    """ONNX Runtime or the ``silero-vad`` package (what ``engine="onnx"`` runs) is not
    installed; the message names the package."""


def model_path() -> Path:
    """Where the installed ``silero-vad`` package keeps its ONNX weights (what ONNX Runtime
    runs; the numpy products run on the weights sipgw ships,
    :mod:`sipgw.media.voice.silero_weights`).

    Raises:
        ModelMissing: ``silero-vad`` is not installed.
    """
    path = package_onnx()
    if path is None:
        raise ModelMissing(
            "the model voice detector's ONNX Runtime engine needs the silero-vad package "
            "(pip install 'sipgw[noise]' and silero-vad --no-deps; see docs/quality.md)"
        )
    return path


def _onnx_runtime_ready() -> bool:
    """Whether ONNX Runtime and the ``silero-vad`` ONNX file are installed."""
    return importlib.util.find_spec("onnxruntime") is not None and package_onnx() is not None


class SileroStream:
    """One call's model state: recurrent state, context and pending samples (μ-law).

    Attributes:
        probability: the latest chunk's speech probability (0 before the first).
        results: the probabilities a :class:`SileroBatch` computed for this stream's
            chunks, in order, until its owner takes them.
    """

    __slots__ = ("_context", "_pending", "probability", "results", "state")

    def __init__(self) -> None:
        self.state: np.ndarray[Any, np.dtype[np.float32]] = np.zeros(_STATE_SHAPE, np.float32)
        self._context = _FIRST_CONTEXT
        self._pending = b""
        self.probability = 0.0
        self.results: deque[float] = deque()

    def delay(self, samples: int) -> None:
        """Start the chunks ``samples`` (0 to 255) later: that many samples of silence
        before the first one fed (a no-op once samples were fed). A batch's streams that
        complete their chunks on the same ticks share its runs (:class:`SileroBatch`)."""
        if not 0 <= samples < CHUNK:
            raise ValueError(f"samples: 0 to {CHUNK - 1}, not {samples}")
        if not self._pending and self._context is _FIRST_CONTEXT:
            self._pending = _ULAW_SILENCE[:samples]

    def idle(self, count: int) -> int:
        """``count`` samples of silence (quiet audio taken as zeros), without the model: the
        chunks they complete, which are not stepped (the state stays)."""
        total = len(self._pending) + count
        chunks = total // CHUNK
        self._pending = _ULAW_SILENCE[: total % CHUNK]
        if chunks:
            self._context = _ULAW_SILENCE[:CONTEXT]
        return chunks

    def feed(self, ulaw: bytes) -> list[bytes]:
        """Add μ-law samples; the model inputs (context + chunk, μ-law) now complete."""
        pending = self._pending + ulaw
        if len(pending) < CHUNK:
            self._pending = pending
            return []
        inputs = []
        start = 0
        while len(pending) - start >= CHUNK:
            end = start + CHUNK
            inputs.append(self._context + pending[start:end])
            self._context = pending[end - CONTEXT : end]
            start = end
        self._pending = pending[start:]
        return inputs


def floats(ulaw: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    """μ-law samples as the model takes them (float, -1..1): one table lookup."""
    return _ULAW_FLOAT.take(np.frombuffer(ulaw, dtype=np.uint8))


_Forward = Callable[
    [np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]],
    tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]],
]
"""(samples, state) -> (probabilities, state): what runs the model."""


class SileroModel:
    """The model for every stream: numpy products (``engine="numpy"``, the default where
    numpy's BLAS is kept on one thread) or one ONNX Runtime session (``"onnx"``, one
    intra-op thread). Both are thread-safe and give the same probabilities within 1e-6."""

    def __init__(self, path: Path | None = None, engine: str | None = None) -> None:
        """``path``: the weights (numpy: the shipped ``.npz`` by default, or an ONNX file of
        Silero VAD; ONNX Runtime: the ``silero-vad`` package's ONNX file by default).
        ``engine`` None: numpy where its BLAS is kept on one thread; otherwise ONNX Runtime
        if it is installed with ``silero-vad``, else numpy all the same (logged: its
        products may then use more than one core)."""
        if engine is None:
            engine = "numpy"
            if not single_threaded_blas():
                if _onnx_runtime_ready():
                    engine = "onnx"
                else:
                    log.warning(
                        "the voice model runs on numpy, whose BLAS could not be kept on one "
                        "thread (its products may use several cores): set "
                        "OPENBLAS_NUM_THREADS=1, or install the noise extra and silero-vad "
                        "for ONNX Runtime (docs/quality.md)"
                    )
        elif engine == "numpy":
            single_threaded_blas()  # asked for: kept on one thread where it can be
        self.engine: Final = engine
        """``numpy`` or ``onnx``: what runs the model."""
        self._forward: _Forward
        if engine == "numpy":
            self._forward = SileroMath(silero_weights.read(path)).run
        elif engine == "onnx":
            self._forward = _onnx_forward(path or model_path())
        else:
            raise ValueError(f"engine {engine!r}: numpy or onnx")

    def step(self, stream: SileroStream, chunk: bytes) -> float:
        """One stream's chunk (context + 256 μ-law samples); updates its state; the
        probability."""
        out, state = self._forward(floats(chunk)[np.newaxis, :], stream.state)
        stream.state = state
        stream.probability = float(out[0])
        return stream.probability

    def run(self, streams: list[SileroStream], chunks: list[bytes]) -> list[float]:
        """One chunk (μ-law, context + 256 samples) for each of several streams in one model
        call (the batch axis): the samples converted in one lookup, each stream's new state
        a view of the run's."""
        # take: about half the time of indexing the table with the octets
        samples = _ULAW_FLOAT.take(np.frombuffer(b"".join(chunks), dtype=np.uint8))
        samples.shape = (len(chunks), CONTEXT + CHUNK)
        state = np.concatenate([s.state for s in streams], axis=1)
        out, state = self._forward(samples, state)
        probabilities: list[float] = out.tolist()
        for i, (stream, probability) in enumerate(zip(streams, probabilities, strict=True)):
            stream.state = state[:, i : i + 1]
            stream.probability = probability
        return probabilities


def _onnx_forward(path: Path) -> _Forward:
    """The model as one ONNX Runtime session (one intra-op thread): (samples, state) ->
    (probabilities, state)."""
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelMissing(
            "the model voice detector needs onnxruntime (pip install 'sipgw[noise]')"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    rate = np.array(RATE, dtype=np.int64)

    def forward(
        samples: np.ndarray[Any, np.dtype[np.float32]], state: np.ndarray[Any, np.dtype[np.float32]]
    ) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]]:
        out, new_state = session.run(
            None, {"input": samples, "state": np.ascontiguousarray(state), "sr": rate}
        )
        return out[:, 0], new_state

    return forward


class SileroBatch:
    """Chunks of many streams waiting for the model, run together (sans-IO).

    :meth:`submit` each stream's chunks as they complete, in order; :meth:`run`
    steps them all: round k takes the k-th waiting chunk of every stream that has
    one, in one :meth:`SileroModel.run` (a stream's next chunk needs the state its
    previous one left). Each probability is appended to the stream's ``results``.
    """

    __slots__ = ("_model", "_waiting", "runs", "steps")

    def __init__(self, model: SileroModel | None = None) -> None:
        self._model = model
        self._waiting: dict[int, tuple[SileroStream, list[bytes]]] = {}
        self.runs = 0
        """Model calls so far."""
        self.steps = 0
        """Chunks stepped so far."""

    @property
    def pending(self) -> bool:
        """Whether some chunk waits."""
        return bool(self._waiting)

    def submit(self, stream: SileroStream, chunk: bytes) -> None:
        """A stream's next chunk (context + 256 samples), for the next :meth:`run`."""
        waiting = self._waiting.get(id(stream))
        if waiting is None:
            self._waiting[id(stream)] = (stream, [chunk])
        else:
            waiting[1].append(chunk)

    def run(self) -> None:
        """Step every waiting chunk; their probabilities go to their streams' ``results``."""
        waiting = self._waiting
        if not waiting:
            return
        self._waiting = {}
        model = self._model
        if model is None:
            model = self._model = shared_model()
        entries = list(waiting.values())
        streams = [stream for stream, _ in entries]
        lists = [chunks for _, chunks in entries]
        k = 0
        while streams:
            probabilities = model.run(streams, [chunks[k] for chunks in lists])
            for stream, probability in zip(streams, probabilities, strict=True):
                stream.results.append(probability)
            self.runs += 1
            self.steps += len(streams)
            k += 1
            if any(len(chunks) > k for chunks in lists):  # rare: a stream with two chunks
                kept = [(s, c) for s, c in zip(streams, lists, strict=True) if len(c) > k]
                streams = [s for s, _ in kept]
                lists = [c for _, c in kept]
            else:
                break


_shared: SileroModel | None = None
_lock: Final = threading.Lock()


def shared_model() -> SileroModel:
    """The process's one model session, loaded on first use (about 50 ms).

    Raises:
        ModelMissing: never with the numpy engine (its weights ship with sipgw).
    """
    global _shared
    with _lock:
        if _shared is None:
            _shared = SileroModel()
        return _shared
