"""Silero VAD's 8 kHz weights as sipgw ships them (media/voice/silero_weights.py).

scripts/test installs silero-vad (--no-deps): these tests compare the shipped file with
that package's ONNX file, and skip nothing.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from sipgw.media.voice import silero_weights
from sipgw.media.voice.silero_weights import LICENSE, SHAPES, WEIGHTS, export, from_onnx, read


def package_file() -> Path:
    path = silero_weights.package_onnx()
    assert path is not None, "silero-vad is not installed (scripts/test installs it)"
    return path


def test_the_shipped_weights_are_the_packages_8_khz_constants() -> None:
    shipped, theirs = read(), from_onnx(package_file())
    assert sorted(shipped) == sorted(theirs) == sorted(SHAPES)
    for name, shape in SHAPES.items():
        assert shipped[name].dtype == np.float32 and shipped[name].shape == shape
        assert np.array_equal(shipped[name], theirs[name]), name
    assert silero_weights.main(["check"]) == 0


def test_the_file_holds_only_those_constants_and_no_pickles() -> None:
    with zipfile.ZipFile(WEIGHTS) as archive:
        assert sorted(archive.namelist()) == sorted(f"{name}.npy" for name in SHAPES)
    with np.load(WEIGHTS, allow_pickle=False) as npz:
        assert all(npz[name].dtype == np.float32 for name in npz.files)
    assert WEIGHTS.stat().st_size < 1_000_000


def test_the_mit_notice_ships_beside_them() -> None:
    notice = LICENSE.read_text()
    assert "MIT License" in notice and "Silero Team" in notice
    assert "Permission is hereby granted, free of charge" in notice
    assert "silero-vad package" in notice


def test_an_export_is_the_same_bytes_each_time(tmp_path: Path) -> None:
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    size = export(package_file(), first, notice=None)
    export(package_file(), second, notice=None)
    assert size == first.stat().st_size
    assert first.read_bytes() == second.read_bytes() == WEIGHTS.read_bytes()


def test_a_file_without_the_8_khz_branch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"\x3a\x00")  # a model whose graph is empty
    with pytest.raises(ValueError, match="8 kHz"):
        read(path)


def test_a_constant_missing_from_the_file_is_named(tmp_path: Path) -> None:
    weights = read()
    del weights["decoder.rnn.bias_hh"]
    path = tmp_path / "short.npz"
    np.savez(path, **cast(dict[str, Any], weights))  # the stubs type every keyword as bool
    with pytest.raises(ValueError, match="decoder.rnn.bias_hh"):
        read(path)
