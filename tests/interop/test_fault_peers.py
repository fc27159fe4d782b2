"""A real softphone (baresip) through every AI-service fault: something is always said.

Each fault of :data:`sipgw.testing.faults.FAULTS` is injected into the fakes of a
``sipgw serve --agent assistant`` subprocess, and baresip's recording shows what the
caller heard (each text, the fallback lines included, is a tone of its own). Where the
assistant used to leave the caller in silence, the recording has the fallback line in
the agent's voice; and no fault leaves the caller more than 2 s without hearing the
agent after they spoke (``waits``), nor more than 2 s between a reply the fault cut short
and the line that explains (``pauses``; the figures are in docs/assistant.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.testing.faults import FAULTS, Fault, run_fault
from sipgw.testing.process import running_processes

pytestmark = pytest.mark.timeout(90)

MAX_SILENCE = 2.0


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_no_fault_leaves_the_caller_in_silence(tmp_workdir: Path, fault: Fault) -> None:
    try:
        run = run_fault(tmp_workdir, fault)
    finally:
        for leftover in running_processes():
            leftover.kill()
    described = (run.summary(), run.report.describe())
    for hz in fault.hears:
        assert run.heard(hz), (hz, described)
    assert run.longest_silence <= MAX_SILENCE, described
    decisions = run.decisions()
    assert decisions[: len(fault.decisions)] == list(fault.decisions), described
    assert run.agent_hung_up == fault.hangs_up, described
