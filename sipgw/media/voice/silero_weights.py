"""Silero VAD's 8 kHz weights as sipgw ships them (``silero_vad_8k.npz``), and their export.

:mod:`sipgw.media.voice.silero_math` runs the 8 kHz branch of Silero VAD v6 as numpy products;
it needs 15 of that graph's constants (the STFT basis, four convolutions, the LSTM cell and
the output layer, about 236 000 float32 numbers). They ship with sipgw in
``silero_vad_8k.npz`` beside this module (``np.load``, no pickles), so the model detector
works on a plain install: nothing is fetched at run time, and the ``silero-vad`` package
(which carries the whole ONNX graph, both sample rates) is needed only for ONNX Runtime
(``engine="onnx"``) and to export the file again.

Silero VAD is MIT-licensed (the ``silero-vad`` package's metadata and its LICENSE file,
"Copyright (c) 2020-present Silero Team"); the notice ships beside the weights in
``silero_vad_8k.LICENSE``, written by the export from the installed package's own licence
file, and the export refuses a package whose metadata does not say MIT.

Export (after ``pip install --no-deps silero-vad``; writes both files)::

    python -m sipgw.media.voice.silero_weights export
    python -m sipgw.media.voice.silero_weights check   # the shipped file equals the package's

The file is written byte for byte the same from the same ONNX file (fixed member order
and timestamps), so a re-export shows in ``git diff`` only when the weights changed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np

from sipgw.media.voice.onnx_constants import constants

__all__ = [
    "LICENSE",
    "SHAPES",
    "WEIGHTS",
    "export",
    "from_onnx",
    "package_onnx",
    "read",
]

_F32: TypeAlias = "np.ndarray[Any, np.dtype[np.float32]]"

WEIGHTS: Final = Path(__file__).with_name("silero_vad_8k.npz")
"""The shipped weights."""
LICENSE: Final = Path(__file__).with_name("silero_vad_8k.LICENSE")
"""Their licence notice (MIT, Silero Team)."""
PACKAGE: Final = "silero-vad"

BASIS: Final = "stft.forward_basis_buffer"
SHAPES: Final[dict[str, tuple[int, ...]]] = {
    BASIS: (130, 1, 128),
    "encoder.0.reparam_conv.weight": (128, 65, 3),
    "encoder.0.reparam_conv.bias": (128,),
    "encoder.1.reparam_conv.weight": (64, 128, 3),
    "encoder.1.reparam_conv.bias": (64,),
    "encoder.2.reparam_conv.weight": (64, 64, 3),
    "encoder.2.reparam_conv.bias": (64,),
    "encoder.3.reparam_conv.weight": (128, 64, 3),
    "encoder.3.reparam_conv.bias": (128,),
    "decoder.rnn.weight_ih": (512, 128),
    "decoder.rnn.weight_hh": (512, 128),
    "decoder.rnn.bias_ih": (512,),
    "decoder.rnn.bias_hh": (512,),
    "decoder.decoder.2.weight": (1, 128, 1),
    "decoder.decoder.2.bias": (1,),
}
"""The constants :mod:`sipgw.media.voice.silero_math` uses, by their name in the 8 kHz branch
(without the branch's prefix), and their shapes (all float32)."""

_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


def _checked(found: Mapping[str, Any], where: object) -> dict[str, _F32]:
    out: dict[str, _F32] = {}
    for name, shape in SHAPES.items():
        array = found.get(name)
        if array is None or array.shape != shape or array.dtype != np.float32:
            raise ValueError(f"{where}: {name} is not a float32 {shape}")
        out[name] = np.ascontiguousarray(array)
    return out


def from_onnx(path: Path) -> dict[str, _F32]:
    """The 8 kHz branch's constants from Silero VAD's ONNX file (its prefix taken off).

    Raises:
        ValueError: the file has no single 8 kHz branch, or a constant is missing or
            of another shape (:class:`~sipgw.media.voice.onnx_constants.OnnxFormatError` when
            it is no ONNX model).
    """
    found = constants(path)
    prefixes = [
        name[: -len(BASIS)]
        for name, array in found.items()
        if name.endswith(BASIS) and array.shape == SHAPES[BASIS]
    ]
    if len(prefixes) != 1:
        raise ValueError(f"{path}: no single 8 kHz STFT basis ({len(prefixes)} found)")
    prefix = prefixes[0]
    return _checked({name: found.get(prefix + name) for name in SHAPES}, path)


def read(path: Path | None = None) -> dict[str, _F32]:
    """The weights :mod:`sipgw.media.voice.silero_math` runs on: the shipped file by default, or
    another ``.npz`` like it, or an ONNX file of Silero VAD (any other suffix).

    Raises:
        ValueError: the file lacks a constant or has it in another shape.
    """
    path = path or WEIGHTS
    if path.suffix != ".npz":
        return from_onnx(path)
    with np.load(path, allow_pickle=False) as npz:
        return _checked({name: npz[name] for name in npz.files}, path)


def package_onnx() -> Path | None:
    """The installed ``silero-vad`` package's ONNX file, or None (found without running any
    of the package's code, which imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "silero_vad.onnx"
    return path if path.is_file() else None


def _licence() -> tuple[str, str]:
    """The installed ``silero-vad``'s version and licence text; MIT or refused.

    Raises:
        ValueError: the package's metadata does not say MIT, or it has no licence file.
    """
    dist = importlib.metadata.distribution(PACKAGE)
    classifiers = dist.metadata.get_all("Classifier") or []
    if "License :: OSI Approved :: MIT License" not in classifiers:
        raise ValueError(f"{PACKAGE} {dist.version}: its metadata does not say MIT")
    files = [f for f in dist.files or () if f.name.upper().startswith("LICENSE")]
    text = files[0].read_text() if files else ""
    if "MIT License" not in text:
        raise ValueError(f"{PACKAGE} {dist.version}: no MIT licence file")
    return dist.version, text


def export(source: Path, target: Path = WEIGHTS, notice: Path | None = LICENSE) -> int:
    """Write the 8 kHz constants of the ONNX file ``source`` to ``target`` (a ``.npz``,
    float32, compressed, byte for byte the same each time) and, unless ``notice`` is None,
    the licence notice of the installed ``silero-vad``; the weights file's size.

    Raises:
        ValueError: ``source`` has no 8 kHz branch, or the package is not MIT.
    """
    weights = from_onnx(source)
    if notice is not None:
        version, text = _licence()
        notice.write_text(
            f"silero_vad_8k.npz: the weights of Silero VAD's 8 kHz branch, taken from\n"
            f"silero_vad/data/silero_vad.onnx of the {PACKAGE} package {version} by\n"
            "`python -m sipgw.media.voice.silero_weights export`\n"
            "(sipgw/media/voice/silero_weights.py).\n"
            f"Silero VAD is published under the MIT licence; its notice follows.\n\n{text}"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(weights):
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            array = io.BytesIO()
            np.lib.format.write_array(array, weights[name], allow_pickle=False)
            archive.writestr(member, array.getvalue())
    target.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    """``export`` the weights from the installed ``silero-vad``, or ``check`` the shipped ones."""
    parser = argparse.ArgumentParser(prog="python -m sipgw.media.voice.silero_weights")
    parser.add_argument("command", choices=("export", "check"))
    parser.add_argument("--onnx", type=Path, help="Silero VAD's ONNX file (default: the package's)")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="the .npz to write or check")
    args = parser.parse_args(argv)
    source = args.onnx or package_onnx()
    if source is None:
        print(f"{PACKAGE} is not installed: pip install --no-deps {PACKAGE}", file=sys.stderr)
        return 2
    if args.command == "export":
        size = export(source, args.out, LICENSE if args.out == WEIGHTS else None)
        print(f"{args.out}: {size} bytes from {source}")
        return 0
    theirs, ours = from_onnx(source), read(args.out)
    different = [name for name in SHAPES if not np.array_equal(theirs[name], ours[name])]
    if different:
        print(f"{args.out} differs from {source}: {', '.join(different)}", file=sys.stderr)
        return 1
    print(f"{args.out}: the same {len(SHAPES)} constants as {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
