"""Silero VAD's graph as numpy products (media/voice/silero_math.py) against ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sipgw.media import g711
from sipgw.media.voice import silero_math, silero_weights
from sipgw.media.voice.silero import CHUNK, ModelMissing, SileroModel, SileroStream, model_path
from tests.toolkit.noisy_audio import background, mix, speech

pytest.importorskip("onnxruntime", reason="the noise extra")
try:
    model_path()
except ModelMissing:  # pragma: no cover - depends on the install
    pytest.skip("the noise extra (silero-vad)", allow_module_level=True)


def ulaw(samples: Sequence[int]) -> bytes:
    pcm = np.clip(np.asarray(samples), -32768, 32767).astype("<i2").tobytes()
    return g711.linear_to_ulaw(pcm)


def lines() -> list[bytes]:
    """Five callers: speech alone, over babble, music and TV, and loud noise (4 s each)."""
    sentence = speech("Sorry, can I stop you there for a second? I have a question.")
    said = (list(sentence) * 3)[: 4 * 8000]
    rng = np.random.default_rng(5)
    out = [ulaw(mix(said, [0] * len(said), 200.0))]
    for kind, snr in (("babble", 5.0), ("music", 10.0), ("tv", 0.0)):
        out.append(ulaw(mix(said, background(kind, 4.0), snr)))
    out.append(ulaw((rng.standard_normal(4 * 8000) * 12000).tolist()))
    return out


@pytest.fixture(scope="module")
def engines() -> tuple[SileroModel, SileroModel]:
    return SileroModel(engine="numpy"), SileroModel(engine="onnx")


def test_numpy_and_onnx_runtime_give_the_same_probabilities(
    engines: tuple[SileroModel, SileroModel],
) -> None:
    numpy_model, onnx_model = engines
    calls = lines()
    streams = {name: [SileroStream() for _ in calls] for name in ("numpy", "onnx")}
    chunks = [s.feed(a) for s, a in zip(streams["numpy"], calls, strict=True)]
    for stream, samples in zip(streams["onnx"], calls, strict=True):
        stream.feed(samples)
    assert {len(c) for c in chunks} == {len(calls[0]) // CHUNK}
    got: dict[str, list[list[float]]] = {"numpy": [], "onnx": []}
    for k in range(len(chunks[0])):
        column = [c[k] for c in chunks]
        got["numpy"].append(numpy_model.run(streams["numpy"], column))
        got["onnx"].append(onnx_model.run(streams["onnx"], column))
    ours, theirs = np.array(got["numpy"]), np.array(got["onnx"])
    assert np.abs(ours - theirs).max() < 1e-5
    assert ours[:, 0].max() > 0.9 and ours[:, 4].max() < 0.5  # speech heard, noise not
    for mine, theirs_ in zip(streams["numpy"], streams["onnx"], strict=True):
        assert np.allclose(mine.state, theirs_.state, rtol=1e-4, atol=1e-4)


def test_a_batch_gives_each_stream_what_it_gets_alone(
    engines: tuple[SileroModel, SileroModel],
) -> None:
    numpy_model, _ = engines
    calls = [a[: CHUNK * 40] for a in lines()]
    alone = []
    for samples in calls:
        stream = SileroStream()
        alone.append([numpy_model.step(stream, c) for c in stream.feed(samples)])
    streams = [SileroStream() for _ in calls]
    chunks = [s.feed(a) for s, a in zip(streams, calls, strict=True)]
    batched = [numpy_model.run(streams, [c[k] for c in chunks]) for k in range(40)]
    assert np.abs(np.array(batched).T - np.array(alone)).max() < 1e-5
    assert len({round(p, 3) for p in alone[0]}) > 5  # the model ran: not a constant


def test_gates_far_out_of_range_neither_overflow_nor_stray_from_onnx_runtime(
    engines: tuple[SileroModel, SileroModel],
) -> None:
    # The LSTM's sigmoids and its cell gate's tanh come from one exp over the negated gates
    # (silero_math): a state that drives them to +-thousands must not overflow it.
    rng = np.random.default_rng(7)
    samples = (rng.standard_normal((6, 288)) * 0.3).astype(np.float32)
    state = np.zeros((2, 6, 128), np.float32)
    state[0] = rng.choice(np.array([-1000.0, 1000.0], np.float32), (6, 128))
    state[1] = rng.standard_normal((6, 128)).astype(np.float32) * 50
    numpy_model, onnx_model = engines
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ours, ours_state = numpy_model._forward(samples, state)  # noqa: SLF001
    theirs, theirs_state = onnx_model._forward(samples, state)  # noqa: SLF001
    assert np.isfinite(ours_state).all()
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(ours_state, theirs_state, rtol=1e-4, atol=1e-4)
    assert np.abs(ours_state[1] - state[1]).max() > 1.0  # the gates moved the cell


def test_blas_is_kept_on_one_thread() -> None:
    libraries = silero_math._loaded_openblas()  # noqa: SLF001
    if not libraries:
        pytest.skip("numpy's BLAS is not OpenBLAS here")
    assert silero_math.single_threaded_blas()
    assert SileroModel().engine == "numpy"


def test_an_unknown_blas_is_single_threaded_only_when_the_environment_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(silero_math, "_loaded_openblas", list)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert not silero_math.single_threaded_blas()
    assert SileroModel().engine == "onnx"  # the fallback: ONNX Runtime's one thread
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert silero_math.single_threaded_blas()


def test_without_onnx_runtime_a_blas_on_many_threads_still_runs_numpy_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    from sipgw.media.voice import silero as voice_model

    monkeypatch.setattr(silero_math, "_loaded_openblas", list)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else find_spec(name)
    )
    with caplog.at_level("WARNING", logger=voice_model.__name__):
        model = SileroModel()
    assert model.engine == "numpy"
    assert "OPENBLAS_NUM_THREADS=1" in caplog.text
    stream = SileroStream()
    (chunk,) = stream.feed(lines()[0][:CHUNK])
    assert 0.0 <= model.step(stream, chunk) <= 1.0


def test_weights_of_another_shape_are_refused() -> None:
    weights = silero_weights.read()
    weights["decoder.rnn.bias_ih"] = weights["decoder.rnn.bias_ih"][:128]
    with pytest.raises(ValueError, match=r"decoder.rnn.bias_ih is not a float32 \(512,\)"):
        silero_math.SileroMath(weights)


def test_the_shipped_weights_and_the_onnx_files_give_the_same_probabilities() -> None:
    shipped, onnx_file = SileroModel(engine="numpy"), SileroModel(model_path(), engine="numpy")
    calls = lines()[:2]
    got = []
    for model in (shipped, onnx_file):
        streams = [SileroStream() for _ in calls]
        chunks = [s.feed(a[: CHUNK * 30]) for s, a in zip(streams, calls, strict=True)]
        got.append([model.run(streams, [c[k] for c in chunks]) for k in range(30)])
    assert np.array_equal(np.array(got[0]), np.array(got[1]))  # the same numbers, bit for bit
    assert max(max(row) for row in got[0]) > 0.9  # speech heard: the model ran
