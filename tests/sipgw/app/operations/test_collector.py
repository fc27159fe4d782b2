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
    gc.enable()


@pytest.mark.usefixtures("restored")
def test_start_ups_objects_are_frozen_and_collections_are_rare() -> None:
    gc.unfreeze()
    collector.settle()
    assert gc.get_freeze_count() > 1000  # the modules imported so far, out of reach
    assert gc.get_threshold() == collector.THRESHOLDS
    assert collector.THRESHOLDS[0] > 700  # rarer than Python's default


@pytest.mark.usefixtures("restored")
def test_the_collector_held_off_during_start_up_is_on_once_settled() -> None:
    collector.hold()
    assert not gc.isenabled()
    collector.settle()
    assert gc.isenabled()
    assert gc.get_threshold() == collector.THRESHOLDS


@pytest.mark.usefixtures("restored")
def test_a_command_that_serves_nothing_gets_the_collector_back_as_python_sets_it() -> None:
    collector.hold()
    collector.release()
    assert gc.isenabled()
