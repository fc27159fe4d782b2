"""bench.amd: a smoke test of the script end to end (one sample per group and split), and
the issue's targets checked on small runs of both splits of the labelled set: the held-out
split (kept for measuring only: other generators, voices and wording, seed 13) and a fixed
subset of the tuning split (six samples per group, seed 2).

The targets: people decided as people >= 95 %, recognized within 300 ms of their
greeting's end >= 90 %; machines decided as machines by 4 s >= 95 %; screeners never taken
for people. On a sample of a few dozen, each share is held to the fewest successes a true
rate at the target still gives 5 % of the time (``bench.amd.binomial_floor``): fewer would
say the rate is below it. The long pickups (``human/long``:
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

from bench.amd import HARD_GROUP, binomial_floor, judge, replay, summarize, targets
from sipgw.agent.amd import AmdConfig
from tests.toolkit.amdset.labelled import GROUPS, build

pytestmark = pytest.mark.timeout(400)

REPO = Path(__file__).resolve().parents[2]


def test_amd_bench_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "amd.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.amd", "--per-group", "1", "--seed", "2",
         "--heldout-seed", "13", "--set", "human_silence=0.3", "--quick-sweep",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the targets, per split:" in proc.stdout and "JSON:" in proc.stdout
    assert "split heldout (seed 13" in proc.stdout and "split tune (seed 2" in proc.stdout
    data = json.loads(out.read_text())
    assert data["config"]["human_silence"] == 0.3 and data["params"]["seed"] == 2
    assert set(data["splits"]) == {"tune", "heldout"}
    voices = {}
    for name, split in data["splits"].items():
        assert len(split["samples"]) == len(GROUPS)
        assert set(split["classes"]) == {
            "human", "voicemail", "announcement", "screener", "human, short pickup",
            "human, long pickup (hard)",
        }  # fmt: skip
        assert set(split["groups"]) == {f"{label}/{group}" for label, group in GROUPS}
        # by the deadline, or, for a greeting still spoken then, once it pauses (at the
        # latest hold_past_deadline later: docs/amd.md, "Length is held for the words")
        latest = data["config"]["deadline"] + data["config"]["hold_past_deadline"]
        for row in split["samples"]:
            assert row["decisions"], row["name"]  # every sample got a decision
            assert row["first_at"] <= latest + 1e-6
        people = split["classes"]["human"]
        assert 0.0 <= people["recognized"] <= 1.0 and people["added_delay"]["p50"] is not None
        assert 0.0 <= split["targets"]["machines_at_deadline"] <= 1.0
        voices[name] = {r["conditions"]["voice"] for r in split["samples"]}
    assert not voices["tune"] & voices["heldout"]  # no voice in common
    sweep = data["beep_sweep"]
    assert set(sweep) == {"10", "15", "25", "40"}
    assert all(0 <= f["found"] <= f["beeps"] for f in sweep.values())
    cost = data["cost_per_frame"]
    assert cost["frames"] > 1000 and 0 < cost["beep_us"] and 0 < cost["detector_us"]


def test_binomial_floor() -> None:
    assert binomial_floor(42, 0.95) == 37 and binomial_floor(36, 0.95) == 32
    assert binomial_floor(100, 0.9) == 85 and binomial_floor(0, 0.9) == 0


def test_the_targets_on_the_held_out_split(tmp_path: Path) -> None:
    """bench.amd on four samples per group of the split never tuned on (seed 13, festival,
    flite and espeak-ng voices the rules never heard, its own wording): the issue's targets,
    met outright (docs/amd.md, "The figures"): people decided as people >= 95 % (27 of 28 at
    least), within 300 ms >= 90 %, machines by 4 s >= 95 % (23 of 24 at least), screeners
    never taken for people."""
    out = tmp_path / "heldout.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.amd", "--split", "heldout", "--heldout-seed", "13",
         "--per-group", "4", "--quick-sweep", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=380,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["splits"]) == {"heldout"} and data["params"]["heldout_seed"] == 13
    split = data["splits"]["heldout"]
    assert split["engines"] == ["espeak-ng", "festival", "flite"]
    goals = split["targets"]
    assert goals["humans"] == 28 and goals["machines"] == 24 and goals["screeners"] == 8
    assert goals["screeners_taken_for_people"] == 0, goals
    assert goals["humans_decided"] >= goals["humans_target"], goals
    assert goals["humans_recognized"] >= goals["humans_in_time_target"], goals
    assert goals["machines_at_deadline"] >= goals["machines_target"], goals
    assert goals["met"], goals
    config = data["config"]
    limit = config["deadline"] + config["hold_past_deadline"]
    machines = [r for r in split["samples"] if r["label"] != "human"]
    assert all(r["first_at"] <= limit + 1e-6 for r in machines)


def test_the_targets_on_a_fixed_subset_of_the_tuning_split() -> None:
    config = AmdConfig()
    rows = [judge(s, replay(s, config), config) for s in build(2, per_group=6)]
    goals = targets(rows)
    assert goals["machines"] == 36 and goals["humans"] == 42
    # machines: recognized as a machine by the decision in force at 4 s (carrier
    # greetings whose first sentence runs past 4 s are held for their words)
    assert goals["met_within_margin"], goals
    assert goals["screeners_taken_for_people"] == 0, goals
    machines = [r for r in rows if r["label"] != "human"]
    limit = config.deadline + config.hold_past_deadline
    assert all(r["first_at"] <= limit + 1e-6 for r in machines)
    # people who pick up briefly: recognized within 300 ms, never taken for a machine; one
    # the VAD does not hear (a quiet "Hello?" in noise) on their words, the recognizer's
    # latency after them (at most 0.4 s: docs/amd.md, "The transcripts are simulated")
    short = [r for r in rows if r["label"] == "human" and (r["label"], r["group"]) != HARD_GROUP]
    assert goals["humans_recognized_without_long_pickups"] >= goals["humans_target"], goals
    heard = [r for r in short if r["decisions"][0][2] == "short greeting"]
    added = summarize(heard)["added_delay"]
    assert added["max"] is not None and added["max"] <= 0.3, added
    worded = [r["added_delay"] for r in short if r not in heard]
    assert all(delay is not None and delay <= 0.4 for delay in worded), worded
    # people whose pickup is long: never taken for a voicemail on its length before their
    # words come (a person who pauses after "Hello," is, once they go on); their words
    # ("how can I help") make them a person once they arrive, ~0.3 s after they stop
    long = [r for r in rows if (r["label"], r["group"]) == HARD_GROUP]
    assert all(r["last"] == "human" for r in long), [r["decisions"] for r in long]
    assert all(r["decisions"][0][0] == "human" for r in long), [r["decisions"] for r in long]
    assert all(r["agent_after"] is not None and r["agent_after"] <= 0.45 for r in long), [
        r["agent_after"] for r in long
    ]
    # the targets over every person of the subset, the long pickups counted
    people = short + long
    assert goals["humans"] == len(people)
    assert goals["humans_decided"] >= goals["humans_target"], goals
    assert goals["humans_recognized"] >= goals["humans_in_time_target"], goals
    # and the agent begins for good within 300 ms of their words for as many
    assert goals["humans_agent_in_time"] >= goals["humans_in_time_target"], goals
