"""The constant tensors of an ONNX file, read from its protobuf bytes (no ``onnx`` package).

An ONNX model is a protobuf ``ModelProto``; its weights are ``TensorProto`` messages,
either the graph's initializers or the ``value`` of ``Constant`` nodes, and an ``If``
node's branches are graphs of their own. This reader walks the wire format (varints and
length-delimited fields, the only two kinds those messages use for what is read here)
and returns every float32 or int64 tensor it finds by name, in every subgraph, as numpy
arrays (copies, so the file's bytes can go). It is enough to take the weights of a
model that ships as ONNX and run its graph some other way (:mod:`sipgw.media.voice.silero_math`);
it is not a general ONNX parser (no external data, no other element types).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np

__all__ = ["OnnxFormatError", "constants"]

# Field numbers of onnx.proto (onnx/onnx.proto3).
_MODEL_GRAPH: Final = 7
_GRAPH_NODE: Final = 1
_GRAPH_INITIALIZER: Final = 5
_NODE_OP_TYPE: Final = 4
_NODE_ATTRIBUTE: Final = 5
_NODE_OUTPUT: Final = 2
_ATTR_NAME: Final = 1
_ATTR_TENSOR: Final = 5
_ATTR_GRAPH: Final = 6
_ATTR_GRAPHS: Final = 11
_TENSOR_DIMS: Final = 1
_TENSOR_DATA_TYPE: Final = 2
_TENSOR_FLOAT_DATA: Final = 4
_TENSOR_INT64_DATA: Final = 7
_TENSOR_NAME: Final = 8
_TENSOR_RAW_DATA: Final = 9
_FLOAT: Final = 1
_INT64: Final = 7
_DTYPES: Final[dict[int, np.dtype[Any]]] = {_FLOAT: np.dtype("<f4"), _INT64: np.dtype("<i8")}

_VARINT: Final = 0
_FIXED64: Final = 1
_BYTES: Final = 2
_FIXED32: Final = 5


class OnnxFormatError(ValueError):
    """The bytes are not an ONNX model this reader understands."""


def _varint(data: memoryview, i: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if i >= len(data):
            raise OnnxFormatError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: memoryview) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for varints, bytes' view otherwise."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == _VARINT:
            value, i = _varint(data, i)
        elif wire == _BYTES:
            length, i = _varint(data, i)
            value = data[i : i + length]
            if len(value) != length:
                raise OnnxFormatError("truncated field")
            i += length
        elif wire == _FIXED64:
            value = data[i : i + 8]
            i += 8
        elif wire == _FIXED32:
            value = data[i : i + 4]
            i += 4
        else:
            raise OnnxFormatError(f"wire type {wire} (field {number})")
        out.append((number, wire, value))
    return out


def _packed_varints(value: Any, wire: int) -> list[int]:
    if wire == _VARINT:
        return [int(value)]
    values = []
    i = 0
    while i < len(value):
        v, i = _varint(value, i)
        values.append(v)
    return values


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _tensor(data: memoryview) -> tuple[str, np.ndarray[Any, Any] | None]:
    dims: list[int] = []
    dtype = 0
    name = ""
    raw: bytes | None = None
    floats: list[bytes] = []
    ints: list[int] = []
    for number, wire, value in _fields(data):
        if number == _TENSOR_DIMS:
            dims.extend(_signed(v) for v in _packed_varints(value, wire))
        elif number == _TENSOR_DATA_TYPE:
            dtype = int(value)
        elif number == _TENSOR_NAME:
            name = bytes(value).decode()
        elif number == _TENSOR_RAW_DATA:
            raw = bytes(value)
        elif number == _TENSOR_FLOAT_DATA:
            floats.append(bytes(value))
        elif number == _TENSOR_INT64_DATA:
            ints.extend(_signed(v) for v in _packed_varints(value, wire))
    if dtype not in _DTYPES:
        return name, None
    if raw is not None:
        array = np.frombuffer(raw, dtype=_DTYPES[dtype]).copy()
    elif dtype == _FLOAT:
        array = np.frombuffer(b"".join(floats), dtype="<f4").copy()
    else:
        array = np.array(ints, dtype=np.int64)
    if array.size != int(np.prod(dims, dtype=np.int64)):
        raise OnnxFormatError(f"tensor {name!r}: {array.size} values for dims {dims}")
    return name, array.reshape(dims)


def _graph(data: memoryview, found: dict[str, np.ndarray[Any, Any]]) -> None:
    for number, _, value in _fields(data):
        if number == _GRAPH_INITIALIZER:
            name, array = _tensor(value)
            if array is not None:
                found[name] = array
        elif number == _GRAPH_NODE:
            _node(value, found)


def _node(data: memoryview, found: dict[str, np.ndarray[Any, Any]]) -> None:
    fields = _fields(data)
    op = next((bytes(v).decode() for n, _, v in fields if n == _NODE_OP_TYPE), "")
    outputs = [bytes(v).decode() for n, _, v in fields if n == _NODE_OUTPUT]
    for number, _, value in fields:
        if number != _NODE_ATTRIBUTE:
            continue
        for attr_number, _, attr_value in _fields(value):
            if attr_number in (_ATTR_GRAPH, _ATTR_GRAPHS):
                _graph(attr_value, found)
            elif attr_number == _ATTR_TENSOR and op == "Constant" and outputs:
                _, array = _tensor(attr_value)
                if array is not None:
                    found[outputs[0]] = array


def constants(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Every float32 and int64 constant of the ONNX model at ``path`` (initializers and
    ``Constant`` nodes' values, by name; a ``Constant`` by its output's name), from every
    subgraph.

    Raises:
        OnnxFormatError: the file is not an ONNX model, or a tensor is malformed.
    """
    data = memoryview(path.read_bytes())
    graphs = [v for n, w, v in _fields(data) if n == _MODEL_GRAPH and w == _BYTES]
    if len(graphs) != 1:
        raise OnnxFormatError(f"{path}: not an ONNX model (no graph)")
    found: dict[str, np.ndarray[Any, Any]] = {}
    _graph(graphs[0], found)
    return found
