"""Smoke test of ``bench.relay``: one short call per agent, the JSON's fields.

No figure is asserted beyond what must hold whatever the machine: every agent answered
every turn, and no text reached an app before the STT's turn silence had passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.relay import AGENTS
from tests.bench.test_smoke import run_bench

pytestmark = pytest.mark.timeout(180)


def test_the_relay_bench_runs_both_agents(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "relay", "--calls", "1", "--rounds", "1", timeout=150)
    assert data["bench"] == "relay" and data["params"]["rounds"] == 1
    assert set(data["results"]) == set(AGENTS)
    for name, figures in data["results"].items():
        for figure in ("turn_to_text_ms", "text_to_audio_ms", "turn_to_audio_ms"):
            assert figures[figure]["count"] == 1, (name, figure, figures)
        silence = data["params"]["turn_silence_ms"]
        assert figures["turn_to_text_ms"]["p50"] >= silence - 20, (name, figures)
        assert figures["turn_to_audio_ms"]["p50"] > figures["turn_to_text_ms"]["p50"]
