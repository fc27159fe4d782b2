"""bench.capacity --compare's ratios: each round against the same round, then the median."""

from __future__ import annotations

from bench.capacity import compare_ratios


def row(calls: int, round_: int, cpu: float, pacing: float = 1.0) -> dict[str, object]:
    return {
        "calls": calls,
        "round": round_,
        "cpu_per_call_percent": cpu,
        "rx_pacing_p99_ms": pacing,
    }


def test_one_round_is_the_plain_ratio() -> None:
    (entry,) = compare_ratios({"sipgw": [row(200, 1, 0.04)], "sipp": [row(200, 1, 0.02)]})
    assert entry["cpu_sipgw_over_sipp"] == 2.0
    assert "cpu_sipgw_over_sipp_rounds" not in entry
    assert entry["cpu_sipgw_over_pyvoip"] is None


def test_rounds_pair_with_their_own_round_and_give_the_median() -> None:
    """A noisy round (both targets slower in it) does not pair with a quiet one."""
    sipgw = [row(200, 1, 0.040), row(200, 2, 0.080), row(200, 3, 0.044), row(400, 1, 0.05)]
    sipp = [row(200, 1, 0.020), row(200, 2, 0.040), row(200, 3, 0.020), row(400, 1, 0.02)]
    by_calls = {e["calls"]: e for e in compare_ratios({"sipgw": sipgw, "sipp": sipp})}
    assert by_calls[200]["cpu_sipgw_over_sipp_rounds"] == [2.0, 2.0, 2.2]
    assert by_calls[200]["cpu_sipgw_over_sipp"] == 2.0
    assert by_calls[400]["cpu_sipgw_over_sipp"] == 2.5


def test_a_failed_step_is_left_out() -> None:
    sipgw = [row(200, 1, 0.04), row(200, 2, 0.05)]
    sipp = [row(200, 1, 0.02), {"calls": 200, "round": 2, "error": "load generator failed"}]
    (entry,) = compare_ratios({"sipgw": sipgw, "sipp": sipp})
    assert entry["cpu_sipgw_over_sipp"] == 2.0 and "cpu_sipgw_over_sipp_rounds" not in entry
