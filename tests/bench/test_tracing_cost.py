"""bench.tracing_cost's figures: CPU per call traced over untraced, by medians and by round;
and its comparison of checkouts (``--tree``), run small end to end."""

from __future__ import annotations

from pathlib import Path

from bench.tracing_cost import THIS, cost
from tests.bench.test_smoke import REPO, run_bench


def row(round_: int, traced: bool, cpu: float | None) -> dict[str, object]:
    return {"round": round_, "way": "on" if traced else "off", "cpu_per_call_percent": cpu}


def test_the_ratio_of_medians_and_the_median_of_the_rounds_ratios() -> None:
    rows = [row(1, False, 1.00), row(1, True, 1.01), row(2, True, 1.40), row(2, False, 1.36),
            row(3, False, 0.98), row(3, True, 1.00)]  # fmt: skip
    figures = cost(rows)
    assert figures["median_off"] == 1.0 and figures["median_on"] == 1.01
    assert figures["ratio_of_medians"] == 1.01
    assert figures["round_ratios"] == [1.01, round(1.40 / 1.36, 4), round(1.00 / 0.98, 4)]
    assert figures["median_of_ratios"] == round(1.00 / 0.98, 4)


def test_a_step_without_a_figure_is_left_out_and_one_side_alone_gives_none() -> None:
    figures = cost([row(1, False, 1.0), row(1, True, None), row(2, True, 1.1), row(2, False, 1.0)])
    assert figures["round_ratios"] == [1.1] and figures["ratio_of_medians"] == 1.1
    assert cost([row(1, False, 1.0)])["ratio_of_medians"] is None


def test_any_two_ways_compare() -> None:
    rows = [{"round": 1, "way": THIS, "cpu_per_call_percent": 0.5},
            {"round": 1, "way": "/tmp/before", "cpu_per_call_percent": 0.55}]  # fmt: skip
    figures = cost(rows, "/tmp/before", THIS)
    assert figures[f"median_{THIS}"] == 0.5 and figures["median_/tmp/before"] == 0.55
    assert figures["ratio_of_medians"] == 1.1


def test_checkouts_compared_in_whole_calls(tmp_path: Path) -> None:
    """Two assistant calls a step, this checkout against itself named as another tree: each
    side's CPU per call, the ratio, and what the fakes were asked for in each step."""
    data = run_bench(
        tmp_path, "tracing_cost", "--calls", "2", "--hold", "3", "--rounds", "1",
        "--settle", "0.5", "--stats-interval", "1", "--tree", str(REPO),
        timeout=240,
    )  # fmt: skip
    assert [step["way"] for step in data["steps"]] == [THIS, str(REPO)]
    for step in data["steps"]:
        assert step["answered"] == 2 and step["cpu_per_call_percent"] > 0
        assert step["fakes_tally"]["stt_messages"] > 0 and not step["traced"]
    figures = data["trees"][str(REPO)]
    assert figures["ratio_of_medians"] > 0 and len(figures["round_ratios"]) == 1
    assert "micro" not in data and data["loadavg_at_end"]
