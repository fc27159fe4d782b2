"""Smoke test of the soak (bench/soak): a short run with everything it does to the gateway,
the vendors failing, the receiver killed and the database restarted, in under a minute.

It asserts what the soak promises at any length: every call accounted for, no stuck call,
the outbox empty and the calls ended after the load, each fault and restart done, each
figure sampled; the growth fits are reported, not judged (``--growth-report-only``: 20 s
fit nothing; the hour's run judges them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.soak.report import SERIES

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIPGW_", "ASSEMBLYAI_", "OPENAI_", "ELEVENLABS_"))
    }
    env["PYTHONPATH"] = str(REPO)
    return env


def test_a_short_soak_accounts_for_every_call_through_faults_and_restarts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--calls",
            "4",
            "--hold",
            "3",
            "--duration",
            "12",
            "--rate",
            "5",
            "--warmup",
            "2",
            "--fault-every",
            "1.5",
            "--fault-stall",
            "1",
            "--receiver-restart-at",
            "0.3",
            "--receiver-down",
            "2",
            "--database-restart-at",
            "0.65",
            "--sample-interval",
            "2",
            "--stats-interval",
            "1",
            "--settle",
            "30",
            "--growth-report-only",
            "--json",
            str(out),
        ],  # fmt: skip
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert out.exists(), proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert proc.returncode == 0, (data["verdict"], data["accounting"], proc.stderr[-3000:])
    assert "verdict: OK" in proc.stdout and "JSON:" in proc.stdout
    accounting = data["accounting"]
    assert accounting["ok"] and accounting["lost"] == 0
    assert accounting["calls"] > 4  # churned
    assert set(accounting["by_line"]) == {"echo", "assistant"}
    assert accounting["events_by_type"]["call.ended"] >= accounting["answered"] > 0
    kinds = Counter(f["fault"].split(".")[0] for f in data["faults"]["applied"])
    assert set(kinds) == {"stt", "llm", "tts"}
    assert not [f for f in data["faults"]["applied"] if "error" in f]
    assert data["restarts"]["receiver_down_s"] >= 2
    assert data["restarts"]["database_restart_s"] > 0
    assert data["end"]["rows_webhook_outbox"] == 0 and data["end"]["calls"] == 0
    assert data["end"]["rows_calls_index_not_ended"] == 0  # none lost to the restart
    assert data["stuck"]["calls"] == 0
    assert set(data["growth"]) == {name for name, _, _ in SERIES}
    assert all(s["samples"] >= 3 for s in data["growth"].values()), data["growth"]
    assert data["machine"]["cpu_model"] and data["loadavg_1m"]["max"] is not None
