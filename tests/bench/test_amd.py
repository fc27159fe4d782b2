"""Smoke test of bench.amd: one sample per group of the labelled set, end to end.

No accuracy target is asserted here (the full run's figures are in docs/amd.md); only
that the script builds the set, replays it, and reports every class, group and figure,
with the readable tables printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sipgw.testing.amdset.labelled import GROUPS

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def test_amd_bench_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "amd.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.amd", "--per-group", "1", "--seed", "2",
         "--set", "human_silence=0.3", "--quick-sweep", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "people recognized with <= 300 ms added" in proc.stdout and "JSON:" in proc.stdout
    data = json.loads(out.read_text())
    assert data["config"]["human_silence"] == 0.3 and data["params"]["seed"] == 2
    assert len(data["samples"]) == len(GROUPS)
    assert set(data["classes"]) == {
        "human", "voicemail", "announcement", "screener", "human (hard: long pickup)",
    }  # fmt: skip
    assert set(data["groups"]) == {f"{label}/{group}" for label, group in GROUPS}
    for row in data["samples"]:
        assert row["decisions"], row["name"]  # every sample got a decision
        assert row["first_at"] <= 4.0 + 1e-6  # never after the deadline
    people = data["classes"]["human"]
    assert 0.0 <= people["recognized"] <= 1.0 and people["added_delay"]["p50"] is not None
    assert 0.0 <= data["targets"]["machines_at_deadline"] <= 1.0
    sweep = data["beep_sweep"]
    assert set(sweep) == {"10", "15", "25", "40"}
    assert all(0 <= f["found"] <= f["beeps"] for f in sweep.values())
    cost = data["cost_per_frame"]
    assert cost["frames"] > 1000 and 0 < cost["beep_us"] and 0 < cost["detector_us"]
