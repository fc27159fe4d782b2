"""Smoke test of bench.concealment: a tiny run through the relay and the in-process gateway.

No level target is asserted (the full run's figure is in docs/quality.md); only that the
script runs end to end and reports both paths, the relay's impairments and the
micro-benchmark, with the readable table printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def test_concealment_bench_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "concealment.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.concealment", "--seconds", "3", "--seeds", "1",
         "--micro-packets", "500", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=80,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "% within 3 dB" in proc.stdout and "JSON:" in proc.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["cpu_model"] and data["params"]["loss"] == 0.05
    (run,) = data["runs"]
    assert run["relay"]["received"] > 100  # 3 s of 20 ms packets reached the relay
    for path in ("agent", "stt"):
        figures = data["summary"][path]
        assert figures["windows"] == 20  # (3 s - 1 s) in 100 ms windows
        assert 0.0 <= figures["share_within_3db"] <= 1.0
    micro = data["micro"]
    assert micro["good_path_us_per_packet"] > 0 and micro["concealed"] > 0
