"""bench.tracing_cost's figures: CPU per call traced over untraced, by medians and by round."""

from __future__ import annotations

from bench.tracing_cost import cost


def row(round_: int, traced: bool, cpu: float | None) -> dict[str, object]:
    return {"round": round_, "traced": traced, "cpu_per_call_percent": cpu}


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
