"""Smoke test of ``bench.speech_to_speech``: one short call per agent, the JSON's fields.

No figure is asserted beyond what must hold whatever the machine: every agent
answered every turn, and the first audio never came before the fakes' stated delays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.speech_to_speech import AGENTS
from tests.bench.test_smoke import run_bench

pytestmark = pytest.mark.timeout(180)

FRAME_MS = 20


def test_the_side_by_side_bench_runs_every_agent(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "speech_to_speech", "--calls", "1", "--rounds", "1", "--model-ms", "300",
        timeout=150,
    )  # fmt: skip
    assert data["bench"] == "speech_to_speech" and data["params"]["model_ms"] == 300
    assert set(data["agents"]) == set(AGENTS)
    for name, agent in data["agents"].items():
        assert agent["failures"] == [], name
        for figure in ("first_audio_ms", "tool_turn_ms", "barge_in_ms", "tool_round_trip_ms"):
            assert agent[figure]["count"] == 1, (name, figure, agent)
        # The turn silence and the model's delay are floors no agent can beat, within a
        # frame: the end of speech is when the caller's last loud packet was sent, which a
        # loaded machine sends late against its 20 ms deadline, while the silence that
        # ends the turn is counted in the stream's own frames (a pure-path run of the
        # suite saw the voice agent's first audio 1.5 ms under its 600 ms floor).
        for figure, floor in (("first_audio_ms", "stated_first_audio_ms"),
                              ("tool_turn_ms", "stated_tool_turn_ms")):  # fmt: skip
            assert agent[figure]["p50"] >= agent[floor] - FRAME_MS, (name, figure, agent)
