"""The fake AI services for interop tests of the assistant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sipgw.app.evaluation.process import running_processes
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads


@contextmanager
def fake_services(workdir: Path, tones: Mapping[str, float]) -> Iterator[ThreadedFakes]:
    """The fakes (:func:`~tests.toolkit.fakes.threaded.fakes_in_threads`, TTS text with a key
    of ``tones`` spoken as that tone); on the way out, whatever a failed test left running is
    killed before they stop, so no gateway outlives the services it talks to."""
    with fakes_in_threads(workdir, tones) as fakes:
        try:
            yield fakes
        finally:
            for leftover in running_processes():
                leftover.kill()
