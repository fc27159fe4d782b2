"""Reading an ONNX file's constants from its protobuf bytes (media/voice/onnx_constants.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from sipgw.media.voice.onnx_constants import OnnxFormatError, constants


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def tensor(name: str, array: np.ndarray, *, raw: bool = True) -> bytes:
    dims = b"".join(field(1, d) for d in array.shape)  # unpacked dims
    dtype = {np.dtype("float32"): 1, np.dtype("int64"): 7}[array.dtype]
    if raw:
        data = field(9, array.astype(array.dtype.newbyteorder("<")).tobytes())
    elif dtype == 1:
        data = field(4, struct.pack(f"<{array.size}f", *array.ravel()))  # packed floats
    else:
        data = field(7, b"".join(varint(int(v)) for v in array.ravel()))  # packed int64
    return dims + field(2, dtype) + field(8, name.encode()) + data


def constant_node(output: str, array: np.ndarray, *, raw: bool = True) -> bytes:
    attribute = field(1, b"value") + field(5, tensor("", array, raw=raw)) + field(20, 4)
    return field(2, output.encode()) + field(4, b"Constant") + field(5, attribute)


def if_node(then_graph: bytes, else_graph: bytes) -> bytes:
    attributes = field(5, field(1, b"then_branch") + field(6, then_graph) + field(20, 5))
    attributes += field(5, field(1, b"else_branch") + field(6, else_graph) + field(20, 5))
    return field(1, b"cond") + field(2, b"out") + field(4, b"If") + attributes


def test_initializers_constants_and_branches_are_read(tmp_path: Path) -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    bias = np.array([-1.5, 2.25], dtype=np.float32)
    ints = np.array([-9223372036854775807, 3, -1], dtype=np.int64)
    inner = field(1, constant_node("branch.weight", weight * 2))
    other = field(5, tensor("other.bias", bias + 1))
    graph = (
        field(1, constant_node("bias", bias, raw=False))
        + field(1, constant_node("ints", ints, raw=False))
        + field(1, if_node(inner, other))
        + field(5, tensor("weight", weight))
        + field(5, field(2, 8) + field(8, b"text"))  # a string tensor: skipped
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(field(1, 8) + field(7, graph))  # ir_version, graph
    found = constants(path)
    assert np.array_equal(found["weight"], weight)
    assert np.array_equal(found["bias"], bias)
    assert np.array_equal(found["ints"], ints)
    assert np.array_equal(found["branch.weight"], weight * 2)
    assert np.array_equal(found["other.bias"], bias + 1)
    assert found["weight"].dtype == np.float32 and found["ints"].dtype == np.int64
    assert set(found) == {"weight", "bias", "ints", "branch.weight", "other.bias"}


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model at all")
    with pytest.raises(OnnxFormatError):
        constants(path)
    good = field(7, field(5, tensor("w", np.ones(4, np.float32))))
    path.write_bytes(good[:-3])  # cut inside the tensor's data
    with pytest.raises(OnnxFormatError):
        constants(path)
    wrong = tensor("w", np.ones(4, np.float32)).replace(field(1, 4), field(1, 5))
    path.write_bytes(field(7, field(5, wrong)))  # dims say 5, the data has 4
    with pytest.raises(OnnxFormatError, match="dims"):
        constants(path)


def test_the_silero_files_two_branches_are_found() -> None:
    from sipgw.media.voice.silero import ModelMissing, model_path

    try:
        path = model_path()
    except ModelMissing:  # pragma: no cover - depends on the install
        pytest.skip("the noise extra (silero-vad)")
    found = constants(path)
    bases = {k: v.shape for k, v in found.items() if k.endswith("stft.forward_basis_buffer")}
    assert sorted(bases.values()) == [(130, 1, 128), (258, 1, 256)]  # 8 kHz and 16 kHz
    lstm = [v for k, v in found.items() if k.endswith("decoder.rnn.weight_hh")]
    assert [a.shape for a in lstm] == [(512, 128), (512, 128)]
