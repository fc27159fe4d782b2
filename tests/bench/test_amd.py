"""bench.amd: a smoke test of the script end to end (one sample per group), and the
issue's targets checked on a fixed subset of the labelled set (six samples per group,
seed 2: the benchmark's default, held out from tuning).

The targets: at least 95 % of people recognized as people with no more than 300 ms
added before the agent speaks; at least 90 % of machines recognized, decided within 4 s.
Both are asserted over every sample of the subset, the long pickups (``human/long``:
"Hello, this is Doctor Smith's office, how can I help you?") among the people; those are
also held to what docs/amd.md ("The figures") says of them apart, so that the figures
published there stay true. The whole set's figures are the benchmark's (docs/amd.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.amd import HARD_GROUP, judge, replay, summarize, targets
from sipgw.agent.amd import AmdConfig
from tests.toolkit.amdset.labelled import GROUPS, build

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
        "human", "voicemail", "announcement", "screener", "human, short pickup",
        "human, long pickup (hard)",
    }  # fmt: skip
    assert set(data["groups"]) == {f"{label}/{group}" for label, group in GROUPS}
    # by the deadline, or, for a greeting still spoken then, once it pauses (at the latest
    # hold_past_deadline later: docs/amd.md, "Length is held for the words")
    latest = data["config"]["deadline"] + data["config"]["hold_past_deadline"]
    for row in data["samples"]:
        assert row["decisions"], row["name"]  # every sample got a decision
        assert row["first_at"] <= latest + 1e-6
    people = data["classes"]["human"]
    assert 0.0 <= people["recognized"] <= 1.0 and people["added_delay"]["p50"] is not None
    assert 0.0 <= data["targets"]["machines_at_deadline"] <= 1.0
    sweep = data["beep_sweep"]
    assert set(sweep) == {"10", "15", "25", "40"}
    assert all(0 <= f["found"] <= f["beeps"] for f in sweep.values())
    cost = data["cost_per_frame"]
    assert cost["frames"] > 1000 and 0 < cost["beep_us"] and 0 < cost["detector_us"]


def test_the_targets_on_a_fixed_subset_of_the_set() -> None:
    config = AmdConfig()
    rows = [judge(s, replay(s, config), config) for s in build(2, per_group=6)]
    goals = targets(rows)
    assert goals["machines"] == 24 and goals["humans"] == 30
    # machines: recognized as a machine by the decision in force at 4 s (two carrier
    # greetings whose first sentence runs past 4 s are held for their words: 22 of 24)
    assert goals["machines_at_deadline"] >= goals["machines_target"], goals
    machines = [r for r in rows if r["label"] != "human"]
    limit = config.deadline + config.hold_past_deadline
    assert all(r["first_at"] <= limit + 1e-6 for r in machines)
    # people who pick up briefly: recognized within 300 ms, never taken for a machine
    short = [r for r in rows if r["label"] == "human" and (r["label"], r["group"]) != HARD_GROUP]
    assert goals["humans_recognized_without_long_pickups"] >= goals["humans_target"], goals
    added = summarize(short)["added_delay"]
    assert added["max"] is not None and added["max"] <= 0.3, added
    # people whose pickup is long: never taken for a voicemail on its length before their
    # words come (a person who pauses after "Hello," is, once they go on); their words
    # ("how can I help") make them a person once they arrive, ~0.3 s after they stop
    long = [r for r in rows if (r["label"], r["group"]) == HARD_GROUP]
    assert all(r["last"] == "human" for r in long), [r["decisions"] for r in long]
    assert all(r["decisions"][0][0] == "human" for r in long), [r["decisions"] for r in long]
    assert all(r["agent_after"] is not None and r["agent_after"] <= 0.45 for r in long), [
        r["agent_after"] for r in long
    ]
    # the target over every person of the subset, the long pickups counted
    people = short + long
    assert goals["humans"] == len(people)
    assert goals["humans_recognized"] >= goals["humans_target"], goals
    assert goals["met"], goals
    # and the agent begins for good within 300 ms of their words for as many
    assert goals["humans_agent_in_time"] >= goals["humans_target"], goals
