"""tests.toolkit.run_costs: each test's processor time, summed per lane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from tests.toolkit.run_costs import CPU_PROPERTY, LaneCosts, cpu_seconds

Phase = Literal["setup", "call", "teardown"]


def report(nodeid: str, when: Phase, wall: float, cpu: float) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid, ("f.py", 1, "t"), {}, "passed", None, when, [], duration=wall,
        start=100.0, stop=100.0 + wall, user_properties=[(CPU_PROPERTY, cpu)],
    )  # fmt: skip


def test_cpu_seconds_counts_work_done_by_this_process() -> None:
    before = cpu_seconds()
    total = 0
    while cpu_seconds() - before < 0.05:
        total += sum(range(1000))
    assert cpu_seconds() > before and total > 0


def test_each_lane_sums_its_tests_phases_and_the_file_names_each_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = LaneCosts(lambda nodeid: "peers-a" if "interop" in nodeid else "others")
    phases: tuple[Phase, ...] = ("setup", "call", "teardown")
    for when in phases:
        costs.add(report("tests/interop/test_x.py::t", when, 2.0, 0.5))
    costs.add(report("tests/media/test_y.py::t", "call", 1.0, 0.25))
    assert costs.wall == {"peers-a": 6.0, "others": 1.0}
    assert costs.cpu == {"peers-a": 1.5, "others": 0.25}
    monkeypatch.setenv("SIPGW_TEST_COSTS", str(tmp_path / "costs.json"))
    lines: list[str] = []
    costs.summary(lines.append)
    assert lines[0].startswith("processor time of all tests: 2 s")
    assert "peers-a: 6 s, processor 2 s" in lines
    written = json.loads((tmp_path / "costs.json").read_text())
    assert written["tests/interop/test_x.py::t"]["cpu"] == 1.5
    assert written["tests/media/test_y.py::t"]["worker"] == "main"
