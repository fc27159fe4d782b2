"""A real softphone (baresip) through the AI-service faults: something is always said.

A fault of each behaviour (:data:`tests.toolkit.faults.ONE_PER_BEHAVIOUR`; the others take
the same path, by a rule of their client's tested without a call: ``LIKE`` there) is
injected into the fakes of a
``sipgw serve`` subprocess (``--agent assistant``, ``voice-agent`` or ``realtime``), and
baresip's recording shows what the caller heard (each text, the fallback lines included,
is a tone of its own). Where the agent used to leave the caller in silence, the recording
has the fallback line in the agent's voice; and no fault leaves the caller more than 2 s
without hearing the agent after they spoke (``waits``), nor more than 2 s between a reply
the fault cut short and the line that explains (``pauses``; the figures are in
docs/assistant.md). The failure policy decides exactly the expected decisions, as the call
record says and as ``/metrics`` counts them.

One :class:`~tests.toolkit.faults.FaultBench` serves the module: a gateway per agent and
settings, one baresip, the fakes reset between calls (every fault is still a real call).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from sipgw.app.evaluation.process import running_processes
from tests.toolkit.faults import ONE_PER_BEHAVIOUR, SPEECH_SECONDS, Fault, FaultBench

pytestmark = pytest.mark.timeout(120)

MAX_SILENCE = 2.0


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultBench]:
    with FaultBench(tmp_path_factory.mktemp("faults")) as bench:
        yield bench
    for leftover in running_processes():
        leftover.kill()


@pytest.mark.parametrize("fault", ONE_PER_BEHAVIOUR, ids=[f.name for f in ONE_PER_BEHAVIOUR])
def test_no_fault_leaves_the_caller_in_silence(bench: FaultBench, fault: Fault) -> None:
    run = bench.run(fault)
    described = (run.summary(), run.report.describe())
    for hz in fault.hears:
        assert run.heard_after_fault(hz), (hz, described)
    for hz, seconds in fault.heard_for:
        assert run.heard_seconds(hz) >= seconds, (hz, run.heard(hz), described)
    if fault.first_heard is not None:
        first, at = run.first_after_turn()
        assert first == fault.first_heard, (first, at, described)
        assert at is not None and at - (fault.turns[0] + SPEECH_SECONDS) <= MAX_SILENCE
    assert run.longest_silence <= MAX_SILENCE, described
    assert run.decisions() == list(fault.decisions), described
    assert run.metric_decisions == dict(Counter(fault.decisions)), described
    assert run.agent_hung_up == fault.hangs_up, described
