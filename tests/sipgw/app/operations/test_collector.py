"""The garbage collector as the gateway sets it (sipgw.app.operations.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sipgw.app.operations import collector


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored")
def test_start_ups_objects_are_frozen_and_collections_are_rare() -> None:
    gc.unfreeze()
    collector.settle()
    assert gc.get_freeze_count() > 1000  # the modules imported so far, out of reach
    assert gc.get_threshold() == collector.THRESHOLDS
    assert collector.THRESHOLDS[0] > 700  # rarer than Python's default
