"""Fixtures for the app's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SIPGW_ variables, no .env (a clean working directory), os.environ restored
    afterwards: settings come only from what the test sets."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    for name in [*os.environ]:
        if name.startswith("SIPGW_"):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)
