"""The latency report's counts (bench/latency/report.py): preemptive requests by source,
the call records' own waste share, the comparison's baseline."""

from __future__ import annotations

from typing import Any

from bench.latency.report import preemptive_comparison, preemptive_counts


def test_requests_are_counted_by_the_source_of_their_partial() -> None:
    records: dict[str, list[dict[str, Any]]] = {
        "a.jsonl": [
            {"type": "preemptive", "outcome": "started", "source": "speech"},
            {"type": "preemptive", "outcome": "wasted", "held_chars": 0},
            {"type": "preemptive", "outcome": "started", "source": "pause"},
            {"type": "preemptive", "outcome": "used", "held_chars": 20},
            {"type": "turn_metrics"},
            {"type": "end", "speculation": {"spoken_chars": 400, "wasted_chars": 30}},
        ],
        "b.jsonl": [
            {"type": "preemptive", "outcome": "started"},  # an older record: no source
            {"type": "preemptive", "outcome": "used"},
            {"type": "end", "speculation": {"spoken_chars": 0, "wasted_chars": 0}},
        ],
    }
    counts = preemptive_counts(records)
    assert (counts["started"], counts["used"], counts["wasted"]) == (3, 2, 1)
    assert counts["by_source"] == {
        "pause": {"started": 2, "used": 2, "wasted": 0},
        "speech": {"started": 1, "used": 0, "wasted": 1},
    }
    assert counts["worst_call_wasted_chars_share"] == 0.075
    assert counts["calls_wasted_chars_share"] == 0.075  # 30 of 400 over both calls


def section(mode: dict[str, str], p50: float) -> dict[str, Any]:
    return {
        "settings": {"SIPGW_PREEMPTIVE": "on", **mode},
        "figures": {"end_of_turn_raw_ms": {"p50": p50, "n": 4}},
        "gateway_view": {"end_of_speech_to_first_rtp_ms": {"p50": p50, "n": 4}},
        "preemptive": {},
    }


def test_without_an_off_run_the_savings_are_against_preemptive_replies() -> None:
    runs = [section({}, 750.0), section({"SIPGW_PREEMPTIVE_DURING_SPEECH": "on"}, 640.0)]
    comparison = preemptive_comparison(runs)
    assert comparison is not None
    assert (
        comparison["modes"] == ["preemptive", "speech"] and comparison["baseline"] == "preemptive"
    )
    assert comparison["saving_p50_ms"] == {"speech": 110.0}
