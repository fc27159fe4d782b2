"""Turn ends that are earlier and still right: latency against cut-offs (``--tradeoff``).

Each configuration is one pair of the STT's end-of-turn settings
(``ASSEMBLYAI_MIN_TURN_SILENCE``, ``ASSEMBLYAI_MAX_TURN_SILENCE``) with our VAD's
preemptive pause, speculative speech on, the realistic delays (LLM first token
350 ms, TTS first byte 150 ms). Every turn of every call is scripted the same way:
the caller speaks 0.6 s, pauses mid-sentence for one of :data:`PAUSES_MS` (in turn),
speaks 0.5 s more, then waits for the reply. The fake STT behaves as AssemblyAI
documents Universal-3 Pro (``docs/cloud-apis.md``): at ``min_turn_silence`` of
silence it ends the turn if the transcript ends a sentence, else sends a partial and
ends the turn at ``max_turn_silence``. The words at a mid-sentence pause end no
sentence (``turn N``, without punctuation), so the turn ends there only when the
pause reaches ``max_turn_silence``. The real model also judges a fragment that
happens to look complete; such cut-offs come on top of these and no fake can count
them.

Per turn, on the caller's clock: a *cut-off* is agent audio heard before the caller
finished the turn (the agent speaking while the caller only paused); otherwise the
*latency* is the caller's last speech packet to the first agent audio. Speculative
speech must add no cut-off: a held clause is discarded when the caller goes on, so
turns whose pause is shorter than ``max_turn_silence`` must show none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

from bench._harness import format_table

from .analysis import stats
from .caller import BenchConfig, CallTrace, PausedTurn

__all__ = ["TRADEOFF", "tradeoff_report", "tradeoff_section"]

TRADEOFF: Final = (
    BenchConfig("eot-100-300", preemptive=True, speculative=True, turn_silence=(100, 300)),
    BenchConfig("eot-100-500", preemptive=True, speculative=True, turn_silence=(100, 500)),
    BenchConfig("eot-100-700", preemptive=True, speculative=True, turn_silence=(100, 700)),
    BenchConfig("eot-100-1000", preemptive=True, speculative=True, turn_silence=(100, 1000)),
    BenchConfig("eot-200-700", preemptive=True, speculative=True, turn_silence=(200, 700)),
)
"""(min_turn_silence, max_turn_silence) pairs; 1000 is AssemblyAI's default maximum."""


def tradeoff_section(
    config: BenchConfig, traces: Sequence[CallTrace], preemptive: dict[str, Any]
) -> dict[str, Any]:
    """One configuration's figures: latency, cut-offs by pause, the waste."""
    turns = [turn for trace in traces for turn in trace.paused]
    by_pause: dict[int, list[PausedTurn]] = defaultdict(list)
    for turn in turns:
        by_pause[turn.pause_ms].append(turn)
    latencies = [t.latency_ms for t in turns if t.latency_ms is not None]
    assert config.turn_silence is not None
    min_silence, max_silence = config.turn_silence
    return {
        "name": config.name,
        "max_waste_percent": config.max_waste_percent,
        "min_turn_silence_ms": min_silence,
        "max_turn_silence_ms": max_silence,
        "turns": len(turns),
        "unanswered": sum(t.first_audio is None for t in turns),
        "latency_ms": stats(latencies),
        "cut_offs": {
            str(pause): {"cut": sum(t.cut_off for t in group), "turns": len(group)}
            for pause, group in sorted(by_pause.items())
        },
        "cut_offs_below_max": sum(t.cut_off for t in turns if t.pause_ms < max_silence),
        "preemptive": preemptive,
        "failed_calls": sum(t.error is not None for t in traces),
    }


def tradeoff_report(sections: Sequence[dict[str, Any]]) -> str:
    """The trade-off table."""
    rows = []
    for s in sections:
        waste = s["preemptive"]
        share = waste.get("wasted_chars_share")
        rows.append(
            [
                f"{s['min_turn_silence_ms']} / {s['max_turn_silence_ms']}",
                _ms(s["latency_ms"]["p50"]),
                _ms(s["latency_ms"]["p95"]),
                *(f"{c['cut']}/{c['turns']}" for c in s["cut_offs"].values()),
                str(s["cut_offs_below_max"]),
                str(waste.get("wasted_per_turn")),
                "-" if share is None else f"{100 * share:.1f} %",
            ]
        )
    pauses = [f"cut @{p} ms" for p in (sections[0]["cut_offs"] if sections else {})]
    headers = ["min / max turn silence", "p50", "p95", *pauses, "cut < max",
               "LLM wasted/turn", "TTS wasted"]  # fmt: skip
    return "\n".join(
        [
            "latency (end of speech -> first agent audio, ms, turns not cut off) vs cut-offs "
            "(agent audio before the caller finished), speculative speech on",
            format_table(headers, rows),
        ]
    )


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"
