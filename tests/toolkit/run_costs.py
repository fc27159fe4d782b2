"""What each test costs the machine, summed per lane at the end of a whole run.

Wall time in a loaded run says more about the machine than about the test: seven workers
share two cores, so a test's seconds grow with whatever runs beside it. The processor time a
test takes (its worker's user and system time, plus its child processes' once they have been
waited for: gateways, peers, ``pip``) is the cost it adds to everyone's wall time, and the
figure to cut when the suite is over its ten minutes. Each phase's figure travels to the
controller in the report's ``user_properties``; the summary names each lane's time and
processor time and its costliest tests, and ``SIPGW_TEST_COSTS=path`` writes every test's
figures as JSON, with when it started and ended and on which worker (docs/testing.md,
"Where the time goes").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

CPU_PROPERTY = "cpu_seconds"
_PHASE_START = pytest.StashKey[float]()


def cpu_seconds() -> float:
    """This process's and its waited-for children's user and system time."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def phase_start(item: pytest.Item) -> None:
    item.stash[_PHASE_START] = cpu_seconds()


def phase_cost(item: pytest.Item, report: pytest.TestReport) -> None:
    """Puts the processor time since :func:`phase_start` on the phase's report."""
    started = item.stash.get(_PHASE_START, None)
    if started is not None:
        report.user_properties.append((CPU_PROPERTY, cpu_seconds() - started))


class LaneCosts:
    """The controller's tally of each lane's wall and processor seconds, and each test's."""

    def __init__(self, lane_of: Callable[[str], str]) -> None:
        self.lane_of = lane_of
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.tests: dict[str, dict[str, float | str]] = {}

    def add(self, report: pytest.TestReport) -> None:
        lane = self.lane_of(report.nodeid)
        cpu = 0.0
        for key, value in report.user_properties:
            if key == CPU_PROPERTY and isinstance(value, float):
                cpu += value
        self.wall[lane] = self.wall.get(lane, 0.0) + report.duration
        self.cpu[lane] = self.cpu.get(lane, 0.0) + cpu
        node = getattr(report, "node", None)  # xdist's worker, on the controller
        worker = str(node.gateway.id) if node is not None else "main"
        test = self.tests.setdefault(
            report.nodeid, {"wall": 0.0, "cpu": 0.0, "start": report.start, "worker": worker}
        )
        test["wall"] = float(test["wall"]) + report.duration
        test["cpu"] = float(test["cpu"]) + cpu
        test["stop"] = report.stop

    def summary(self, write: Callable[[str], None], top: int = 15) -> None:
        total_cpu = sum(self.cpu.values())
        write(f"processor time of all tests: {total_cpu:.0f} s (user and system, with children)")
        for lane, seconds in sorted(self.wall.items(), key=lambda kv: -kv[1]):
            write(f"{lane}: {seconds:.0f} s, processor {self.cpu.get(lane, 0.0):.0f} s")
            mine = [
                (float(t["wall"]), float(t["cpu"]), n)
                for n, t in self.tests.items()
                if self.lane_of(n) == lane
            ]
            for wall, cpu, nodeid in sorted(mine, reverse=True)[:top]:
                write(f"    {wall:6.1f} s  cpu {cpu:5.1f} s  {nodeid}")
        write("costliest in processor time:")
        costliest = sorted(self.tests.items(), key=lambda kv: -float(kv[1]["cpu"]))[:top]
        for nodeid, test in costliest:
            write(f"    cpu {float(test['cpu']):5.1f} s  {float(test['wall']):6.1f} s  {nodeid}")
        path = os.environ.get("SIPGW_TEST_COSTS")
        if path:
            Path(path).write_text(json.dumps(self.tests, indent=0, sort_keys=True))
