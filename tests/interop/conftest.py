"""Fixtures for real-peer (interop) tests.

Everything collected under ``tests/interop`` is marked ``interop`` (by ``tests/conftest.py``,
which also keeps real-peer tests one at a time under xdist). When such a test fails, the
tails of the logs of every peer and gateway it started are appended to the report. Missing
programs make tests fail (naming the Debian package), never skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import write_tone
from sipgw.app.evaluation.process import LOGS, running_processes


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("interop"):
        LOGS.prune()  # forget logs of peers that have finished (earlier tests)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and item.get_closest_marker("interop"):
        for title, text in LOGS.report_sections():
            report.sections.append((f"{title} [{report.when}]", text))
    return report


@pytest.fixture
def nothing_left_running() -> Iterator[None]:
    """Fails the test when a peer or gateway it started is still running at its end (and
    kills those left). Use it with ``pytest.mark.usefixtures("nothing_left_running")``."""
    yield
    left = running_processes()
    for p in left:
        p.kill()
    assert not left, f"processes left running: {[p.argv for p in left]}"


@pytest.fixture
def tmp_workdir(tmp_path: Path) -> Path:
    """Per-test directory for peer configs, recordings and logs."""
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def tone_wav(tmp_workdir: Path) -> Callable[..., Path]:
    """Factory: ``tone_wav(hz, seconds=30.0, dbfs=-9.0, lead_silence=0.0, tail_silence=0.0)``.

    Writes (once per parameter set) an 8 kHz mono s16 WAV in ``tmp_workdir/audio``. Keep it
    longer than the call: baresip hangs up when its source file ends.
    """
    made: dict[tuple[float, float, float, float, float], Path] = {}

    def make(
        hz: float,
        seconds: float = 30.0,
        dbfs: float = -9.0,
        lead_silence: float = 0.0,
        tail_silence: float = 0.0,
    ) -> Path:
        key = (hz, seconds, dbfs, lead_silence, tail_silence)
        if key not in made:
            name = f"tone_{hz:g}hz_{seconds:g}s_{dbfs:g}dB_{lead_silence:g}_{tail_silence:g}.wav"
            made[key] = write_tone(
                tmp_workdir / "audio" / name, hz, seconds, dbfs, lead_silence, tail_silence
            )
        return made[key]

    return make


@pytest.fixture
def peer_stack() -> Iterator[contextlib.ExitStack]:
    """An ExitStack closed at teardown: ``b = peer_stack.enter_context(Baresip(...))``."""
    with contextlib.ExitStack() as stack:
        yield stack
