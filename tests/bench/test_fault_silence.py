"""Smoke test of bench.fault_silence: one fault through a real softphone, the table printed.

The figures of every fault are in docs/assistant.md; tests/interop/test_fault_peers.py
asserts on them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def test_fault_silence_bench_one_fault(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fault_silence", "--only", "llm-429-long-retry-after",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=80,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| longest wait (s) |" in proc.stdout and "JSON:" in proc.stdout
    (row,) = json.loads(out.read_text())["faults"]
    assert row["fault"] == "llm-429-long-retry-after" and row["decisions"] == ["llm_apology"]
    assert 0 <= row["longest_wait_s"] <= 2.0 and row["longest_pause_s"] == 0.0


def test_an_unknown_fault_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fault_silence", "--only", "meteor"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2 and "unknown fault(s): meteor" in proc.stderr
