"""The trade-off table's arithmetic (bench/latency/tradeoff.py): cut-offs and latency per turn."""

from __future__ import annotations

from typing import Any

from bench.latency.caller import BenchConfig, CallTrace, PausedTurn
from bench.latency.tradeoff import tradeoff_report, tradeoff_section


def trace(*turns: PausedTurn) -> CallTrace:
    t = CallTrace("paused", 1, "call-1", phone=None)  # type: ignore[arg-type]
    t.paused.extend(turns)
    return t


def test_agent_audio_before_the_caller_finished_is_a_cut_off_else_it_is_latency() -> None:
    late = PausedTurn(250, first_end=1.0, second_end=1.75, first_audio=2.35)
    cut = PausedTurn(400, first_end=1.0, second_end=1.9, first_audio=1.6)  # in the pause
    unanswered = PausedTurn(600, first_end=1.0, second_end=2.1, first_audio=None)
    fragment_cut = PausedTurn(300, 1.0, 1.8, first_audio=1.7, fragment=True)
    fragment_late = PausedTurn(150, 1.0, 1.65, first_audio=2.25, fragment=True)
    assert not late.cut_off and round(late.latency_ms or 0) == 600
    assert cut.cut_off and cut.latency_ms is None
    assert not unanswered.cut_off and unanswered.latency_ms is None
    config = BenchConfig("eot-100-300", preemptive=True, speculative=True, turn_silence=(100, 300),
                         preemptive_pause_ms=200)  # fmt: skip
    waste: dict[str, Any] = {"wasted_per_turn": 0.5, "wasted_chars_share": 0.02}
    turns = trace(late, cut, unanswered, fragment_cut, fragment_late)
    section = tradeoff_section(config, [turns], waste)
    assert (section["turns"], section["unanswered"]) == (5, 1)
    assert section["cut_offs"] == {
        "250": {"cut": 0, "turns": 1}, "400": {"cut": 1, "turns": 1},
        "600": {"cut": 0, "turns": 1}, "frag 150": {"cut": 0, "turns": 1},
        "frag 300": {"cut": 1, "turns": 1},
    }  # fmt: skip
    assert list(section["cut_offs"]) == ["250", "400", "600", "frag 150", "frag 300"]
    assert section["cut_offs_below_max"] == 0  # the 400 ms pause reached max_turn_silence
    assert section["latency_ms"]["n"] == 1 and round(section["latency_ms"]["p50"]) == 600
    assert round(section["fragment_latency_ms"]["p50"]) == 600  # the fragment turns' own
    assert section["preemptive_pause_ms"] == 200
    table = tradeoff_report([section])
    assert "100 / 300" in table and "cut @frag 300 ms" in table and "2.0 %" in table
    row = table.splitlines()[-1].split()
    assert row[3:5] == ["200", "600"]  # the pause, the plain turns' p50
