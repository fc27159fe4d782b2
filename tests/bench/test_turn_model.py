"""bench.turn_model: the scores it reports, the candidates' decisions, and a tiny run end to
end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.turn_model import CANDIDATES, decisions, scores

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]


def test_scores_count_the_two_errors_apart() -> None:
    results = [(True, True, 1.0), (True, False, 3.0), (False, True, None), (False, False, 2.0),
               (False, False, None)]  # fmt: skip
    got = scores(results)
    assert got == {
        "n": 5, "accuracy": 0.6, "false_finished": round(1 / 3, 4), "false_not_yet": 0.5,
        "cpu_ms_median": 2.0,
    }  # fmt: skip


def row(words: str, finished: bool) -> dict[str, object]:
    return {"key": words, "condition": "g712/clean", "finished": finished, "words": words,
            "audio": [0.0] * 11, "features_cpu_ms": 1.0}  # fmt: skip


def test_the_rules_decide_as_sipgw_does() -> None:
    rows = [row("a table for", False), row("a table for two", True)]
    got = decisions(rows)
    assert [said for _, said, _ in got["vad"]] == [True, True]
    assert [said for _, said, _ in got["vad+text"]] == [False, True]
    assert all(ms is not None and ms >= 1.0 for _, _, ms in got["model/audio"])


def test_a_tiny_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "turn_model.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.turn_model", "--limit", "4", "--conditions",
         "g712/clean,wide/babble5", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JSON:" in proc.stdout and "false finished" in proc.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["cpu_model"] and data["params"]["samples"] == 8
    assert set(data["candidates"]) == set(CANDIDATES)
    for by_condition in data["candidates"].values():
        assert set(by_condition) == {"g712/clean", "wide/babble5", "all"}
        assert by_condition["all"]["n"] == 8
    assert data["candidates"]["vad"]["all"]["false_finished"] == 1.0
    assert data["candidates"]["model/audio"]["all"]["cpu_ms_median"] > 0
    # the gateway's path: the deciding frame and the quiet frames before it are measured
    assert data["candidates"]["model/wired"]["all"]["cpu_ms_median"] is not None
    assert data["wired_quiet_frame_cpu_ms"]["median"] > 0
    assert "costliest quiet frame" in proc.stdout
    # the graded wait: per wait, what it ends by then; a longer wait ends no fewer
    for by_wait in data["graded_wait"].values():
        ended = [w["finished_ended"] for w in by_wait.values()]
        cut = [w["false_finished"] for w in by_wait.values()]
        assert ended == sorted(ended) and cut == sorted(cut) and len(by_wait) >= 2
    assert "The graded wait" in proc.stdout
