"""Turn ends that are earlier and still right: latency against cut-offs (``--tradeoff``).

Each configuration is one pair of the STT's end-of-turn settings
(``ASSEMBLYAI_MIN_TURN_SILENCE``, ``ASSEMBLYAI_MAX_TURN_SILENCE``) with our VAD's
preemptive pause (``SIPGW_PREEMPTIVE_PAUSE_MS``), speculative speech on, the realistic
delays (LLM first token 350 ms, TTS first byte 150 ms). Every call's turns are scripted
the same way (:data:`~.caller.PAUSED_TURNS`): the caller speaks 0.6 s, pauses, speaks
0.5 s more, then waits for the reply. In the first four turns the words at the pause end
no sentence (``turn N``, without punctuation) and the pause is 250, 400, 600 or 800 ms;
the fake STT behaves as AssemblyAI documents Universal-3 Pro (``docs/cloud-apis.md``): at
``min_turn_silence`` of silence it ends the turn if the transcript ends a sentence, else
sends a partial and ends the turn at ``max_turn_silence``, so such a turn ends in the pause
only when the pause reaches ``max_turn_silence``. In the last two the words at the pause
are a *punctuated fragment* ("Turn N.") and the pause 150 or 300 ms: there the STT ends
the turn once ``min_turn_silence`` has passed, which is what that setting trades. The real
model also judges fragments by their words; no fake can count those cut-offs.

Per turn, on the caller's clock: a *cut-off* is agent audio heard before the caller
finished the turn (the agent speaking while the caller only paused); otherwise the
*latency* is the caller's last speech packet to the first agent audio (plain turns and
fragment turns apart: a fragment turn that was not cut off ends at ``min_turn_silence``).
Speculative speech must add no cut-off: a held clause is discarded when the caller goes
on, so plain turns whose pause is shorter than ``max_turn_silence`` must show none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

from bench._harness import format_table

from .analysis import stats
from .caller import BenchConfig, CallTrace, PausedTurn

__all__ = ["TRADEOFF", "tradeoff_report", "tradeoff_section"]


def _eot(low: int, high: int, pause: int | None = None) -> BenchConfig:
    name = f"eot-{low}-{high}" + ("" if pause is None else f"-pause-{pause}")
    return BenchConfig(name, preemptive=True, speculative=True, turn_silence=(low, high),
                       preemptive_pause_ms=pause)  # fmt: skip


TRADEOFF: Final = (
    _eot(100, 300),
    _eot(100, 500),
    _eot(100, 700),
    _eot(100, 1000),
    _eot(200, 700),
    _eot(400, 700),
    _eot(100, 700, pause=50),
    _eot(100, 700, pause=200),
    _eot(100, 700, pause=400),
)
"""(min_turn_silence, max_turn_silence) pairs, and SIPGW_PREEMPTIVE_PAUSE_MS (100 unless
named); 1000 is AssemblyAI's default maximum, 100 its default minimum."""


def tradeoff_section(
    config: BenchConfig, traces: Sequence[CallTrace], preemptive: dict[str, Any]
) -> dict[str, Any]:
    """One configuration's figures: latency, cut-offs by pause, the waste."""
    turns = [turn for trace in traces for turn in trace.paused]
    by_pause: dict[str, list[PausedTurn]] = defaultdict(list)
    for turn in sorted(turns, key=lambda t: (t.fragment, t.pause_ms)):
        by_pause[_column(turn)].append(turn)
    plain = [t for t in turns if not t.fragment]
    fragments = [t for t in turns if t.fragment]
    assert config.turn_silence is not None
    min_silence, max_silence = config.turn_silence
    return {
        "name": config.name,
        "max_waste_percent": config.max_waste_percent,
        "min_turn_silence_ms": min_silence,
        "max_turn_silence_ms": max_silence,
        "preemptive_pause_ms": config.preemptive_pause_ms or DEFAULT_PAUSE_MS,
        "turns": len(turns),
        "unanswered": sum(t.first_audio is None for t in turns),
        "latency_ms": stats([t.latency_ms for t in plain if t.latency_ms is not None]),
        "fragment_latency_ms": stats([t.latency_ms for t in fragments if t.latency_ms is not None]),
        "cut_offs": {
            column: {"cut": sum(t.cut_off for t in group), "turns": len(group)}
            for column, group in by_pause.items()
        },
        "cut_offs_below_max": sum(t.cut_off for t in plain if t.pause_ms < max_silence),
        "preemptive": preemptive,
        "failed_calls": sum(t.error is not None for t in traces),
    }


DEFAULT_PAUSE_MS: Final = 100
"""The gateway's SIPGW_PREEMPTIVE_PAUSE_MS when a configuration does not set it."""


def _column(turn: PausedTurn) -> str:
    return f"frag {turn.pause_ms}" if turn.fragment else str(turn.pause_ms)


def tradeoff_report(sections: Sequence[dict[str, Any]]) -> str:
    """The trade-off table."""
    rows = []
    for s in sections:
        waste = s["preemptive"]
        share = waste.get("wasted_chars_share")
        own = waste.get("calls_wasted_chars_share")
        rows.append(
            [
                f"{s['min_turn_silence_ms']} / {s['max_turn_silence_ms']}",
                str(s.get("preemptive_pause_ms", DEFAULT_PAUSE_MS)),
                _ms(s["latency_ms"]["p50"]),
                _ms(s["latency_ms"]["p95"]),
                *(f"{c['cut']}/{c['turns']}" for c in s["cut_offs"].values()),
                str(s["cut_offs_below_max"]),
                _ms(s.get("fragment_latency_ms", {}).get("p50")),
                str(waste.get("wasted_per_turn")),
                "-" if share is None else f"{100 * share:.1f} %",
                "-" if own is None else f"{100 * own:.1f} %",
            ]
        )
    columns = sections[0]["cut_offs"] if sections else {}
    pauses = [f"cut @{p} ms" for p in columns]
    headers = ["min / max turn silence", "pause", "p50", "p95", *pauses, "cut < max",
               "frag p50", "LLM wasted/turn", "TTS wasted", "(gateway's count)"]  # fmt: skip
    return "\n".join(
        [
            "latency (end of speech -> first agent audio, ms, plain turns not cut off) vs "
            "cut-offs (agent audio before the caller finished), speculative speech on; "
            "pause = SIPGW_PREEMPTIVE_PAUSE_MS; frag = after a punctuated fragment; TTS "
            "wasted: of the characters the records say were spoken, and by the budget's count",
            format_table(headers, rows),
        ]
    )


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"
