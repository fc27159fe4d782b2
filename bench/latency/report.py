"""The report of the latency benchmark: each configuration's JSON section and its tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench._harness import Gateway, fmt, format_table

from .analysis import BREAKDOWN, FIGURES, GATEWAY_VIEW, Analysis, check_targets, stats
from .caller import BenchConfig, BenchParams, CallTrace

STATS_KEYS = ("calls", "tick_late_p99_ms", "tick_late_max_ms", "jb_lost", "jb_late", "early_sends")
"""The fields of the gateway's stats lines kept in the JSON."""


def config_section(
    config: BenchConfig,
    traces: Sequence[CallTrace],
    analysis: Analysis,
    gateway: Gateway,
    load: dict[str, Any],
    started_wall: float,
    elapsed: float,
    log_kept: bool,
) -> dict[str, Any]:
    """The JSON section of one configuration."""
    s = analysis.samples
    figures = {name: stats(s.figures.get(name, [])) for name in FIGURES}
    stats_lines = [line.data for line in gateway.stats]
    return {
        "name": config.name,
        "settings": {
            "ASSEMBLYAI_CHUNK_MS": config.chunk_ms,
            "--jitter-min-ms": config.jitter_min_ms,
            "SIPGW_BARGE_IN_START_MS": config.barge_in_start_ms,
            "SIPGW_PREEMPTIVE": "on" if config.preemptive else "off",
            "SIPGW_SPECULATIVE_SPEECH": "on" if config.speculative else "off",
            "SIPGW_PREEMPTIVE_DURING_SPEECH": "on" if config.speech_partials else "off",
            "SIPGW_EARLY_TURN_END": "off",
        },
        "duration_s": round(elapsed, 1),
        "load": load,
        "calls": {
            "conversation": sum(t.kind == "conversation" for t in traces),
            "greeting_only": sum(t.kind == "greeting" for t in traces),
            "failed": sum(t.error is not None for t in traces),
        },
        "figures": figures,
        "targets": check_targets(figures),
        "breakdown": {name: stats(s.breakdown.get(name, [])) for name in BREAKDOWN},
        "gateway_view": {name: stats(s.gateway.get(name, [])) for name in GATEWAY_VIEW},
        "diagnostics": {
            **{name: stats(values) for name, values in s.diagnostics.items()},
            "kernel_rx_timestamps": all(t.phone.rtp.kernel_stamps for t in traces),
            "gateway_tick_late_p99_ms_max": max(
                (d.get("tick_late_p99_ms", 0.0) for d in stats_lines), default=None
            ),
            "gateway_tick_late_max_ms": max(
                (d.get("tick_late_max_ms", 0.0) for d in stats_lines), default=None
            ),
            "gateway_last_stats": stats_lines[-1] if stats_lines else None,
            "gateway_errors": gateway.errors[-20:],
            "gateway_tracebacks": gateway.tracebacks(),
            "gateway_log": str(gateway.log_path) if log_kept else None,
        },
        "anomalies": dict(s.anomalies),
        "per_call": [c for c in analysis.calls if c["kind"] == "conversation"],
        "gateway_stats": [
            {"t": round(line.t - started_wall, 1), **{k: line.data.get(k) for k in STATS_KEYS}}
            for line in gateway.stats
        ],
        "samples": {
            name: [round(v, 3) for v in s.figures.get(name, [])]
            for name in FIGURES
            if not name.startswith("ingress")
        },
    }


def preemptive_counts(records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Preemptive LLM requests and speculative speech in the gateway's call records.

    Requests started, used, wasted (and per turn; and by the partial's ``source``, pause
    or speech); characters the agent said (``assistant`` lines and the greeting), held
    clauses used and discarded, and the discarded share of those said; and, from each
    call's ``end`` line (the budget's own counts), the share over all the calls, which
    the gateway keeps within SIPGW_SPECULATIVE_MAX_WASTE_PERCENT at every moment, and the
    largest share of one call (not bounded by itself).
    """
    counts = {"started": 0, "used": 0, "wasted": 0}
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    turns = spoken = held_used = held_wasted = 0
    worst_share: float | None = None
    ledger_spoken = ledger_wasted = 0
    for lines in records.values():
        source = "pause"
        for line in lines:
            kind = line.get("type")
            if kind == "preemptive" and line.get("outcome") in counts:
                outcome = line["outcome"]
                counts[outcome] += 1
                if outcome == "started":
                    source = str(line.get("source", "pause"))
                by_source[source][outcome] += 1
                held = line.get("held_chars") or 0
                if outcome == "used":
                    held_used += held
                elif outcome == "wasted":
                    held_wasted += held
            elif kind == "end" and isinstance(line.get("speculation"), dict):
                call = line["speculation"]
                ledger_spoken += call.get("spoken_chars", 0)
                ledger_wasted += call.get("wasted_chars", 0)
                if call.get("spoken_chars"):
                    share = call.get("wasted_chars", 0) / call["spoken_chars"]
                    worst_share = share if worst_share is None else max(worst_share, share)
            elif kind == "turn_metrics":
                turns += 1
            elif kind == "assistant":
                spoken += len(str(line.get("text") or ""))
            elif kind == "greeting":
                spoken += len(str(line.get("text") or ""))
    started = counts["started"]
    return {
        **counts,
        "turns": turns,
        "wasted_rate": round(counts["wasted"] / started, 3) if started else None,
        "wasted_per_turn": round(counts["wasted"] / turns, 3) if turns else None,
        "spoken_chars": spoken,
        "held_chars_used": held_used,
        "held_chars_wasted": held_wasted,
        "wasted_chars_share": round(held_wasted / spoken, 4) if spoken else None,
        "wasted_chars_per_turn": round(held_wasted / turns, 1) if turns else None,
        "by_source": {name: dict(c) for name, c in sorted(by_source.items())},
        "calls_wasted_chars_share": (
            round(ledger_wasted / ledger_spoken, 4) if ledger_spoken else None
        ),
        "worst_call_wasted_chars_share": None if worst_share is None else round(worst_share, 4),
    }


MODES = ("off", "preemptive", "speech", "speculative")
"""The configurations ``--preemptive all`` (and ``speech``) compare, by :func:`mode_of`."""


def mode_of(section: dict[str, Any]) -> str:
    """``off``, ``preemptive`` (the LLM starts early), ``speech`` (also on partials heard
    during speech) or ``speculative`` (and TTS holds)."""
    settings = section["settings"]
    if settings["SIPGW_PREEMPTIVE"] != "on":
        return "off"
    if settings.get("SIPGW_SPECULATIVE_SPEECH") == "on":
        return "speculative"
    return "speech" if settings.get("SIPGW_PREEMPTIVE_DURING_SPEECH") == "on" else "preemptive"


def preemptive_comparison(sections: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """End of speech -> first agent audio per mode (off, preemptive, speech, speculative),
    the savings against the first of them at p50 (off, or preemptive without off), and
    each mode's waste."""
    by_mode = {mode_of(s): s for s in sections}
    if len(by_mode) < 2 or not {"off", "preemptive"} & set(by_mode):
        return None
    base = "off" if "off" in by_mode else "preemptive"

    def p50(section: dict[str, Any]) -> float | None:
        value = section["figures"]["end_of_turn_raw_ms"]["p50"]
        return value if isinstance(value, int | float) else None

    reference = p50(by_mode[base])
    modes = [m for m in MODES if m in by_mode]
    return {
        "modes": modes,
        "baseline": base,
        "wire_end_of_speech_to_first_audio_ms": {
            m: by_mode[m]["figures"]["end_of_turn_raw_ms"] for m in modes
        },
        "gateway_end_of_speech_to_first_rtp_ms": {
            m: by_mode[m]["gateway_view"]["end_of_speech_to_first_rtp_ms"] for m in modes
        },
        "saving_p50_ms": {
            m: (
                round(reference - v, 1)
                if reference is not None and (v := p50(by_mode[m])) is not None
                else None
            )
            for m in modes
            if m != base
        },  # fmt: skip
        "waste": {m: by_mode[m].get("preemptive") for m in modes if m != "off"},
    }


def preemptive_report(comparison: dict[str, Any]) -> str:
    """The table of the modes side by side, their savings and their waste."""
    rows = []
    figures = (
        ("wire: end of speech -> first agent audio", "wire_end_of_speech_to_first_audio_ms"),
        ("gateway: end of speech -> first RTP", "gateway_end_of_speech_to_first_rtp_ms"),
    )
    for label, key in figures:
        for mode in comparison["modes"]:
            f = comparison[key][mode]
            rows.append([f"{label} ({mode})", str(f["n"]), _cell(f["p50"]), _cell(f["p95"]),
                         _cell(f["max"])])  # fmt: skip
    out = [
        "end of speech -> first agent audio by mode (same calls, same fakes; ms)",
        format_table(["figure", "n", "p50", "p95", "max"], rows),
    ]
    base = comparison.get("baseline", "off")
    for mode, saving in comparison["saving_p50_ms"].items():
        c = comparison["waste"].get(mode) or {}
        out.append(
            f"{mode}: saving at p50 against {base} {_cell(saving)} ms; LLM requests started "
            f"{c.get('started')} (by source {c.get('by_source')}), "
            f"used {c.get('used')}, wasted {c.get('wasted')} ({c.get('wasted_per_turn')} per "
            f"turn over {c.get('turns')} turns); TTS characters held and used "
            f"{c.get('held_chars_used')}, held and wasted {c.get('held_chars_wasted')} "
            f"({c.get('wasted_chars_per_turn')} per turn, {_share(c.get('wasted_chars_share'))} "
            f"of the {c.get('spoken_chars')} spoken; by the gateway's own count "
            f"{_share(c.get('calls_wasted_chars_share'))}, worst call "
            f"{_share(c.get('worst_call_wasted_chars_share'))})"
        )
    return "\n".join(out)


def _share(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _cell(value: Any) -> str:
    return fmt(value, ".1f")


def config_report(section: dict[str, Any], params: BenchParams) -> str:
    """The tables of one configuration."""
    settings = ", ".join(f"{k}={v}" for k, v in section["settings"].items())
    out = [f"== {section['name']} ({settings}); {section['duration_s']} s"]
    limits: dict[str, list[str]] = defaultdict(list)
    for target in section["targets"]:
        verdict = "-" if target["met"] is None else ("ok" if target["met"] else "MISSED")
        limits[target["figure"]].append(f"{target['statistic']}<={target['limit_ms']:g} {verdict}")
    rows = [
        [name, str(f["n"]), _cell(f["p50"]), _cell(f["p95"]), _cell(f["p99"]), _cell(f["max"]),
         "; ".join(limits.get(name, []))]
        for name, f in section["figures"].items()
    ]  # fmt: skip
    out.append("wire-side figures (ms, caller's clock)")
    out.append(format_table(["figure", "n", "p50", "p95", "p99", "max", "target"], rows))
    nominal = {
        "caller_silence_ms": params.stt_end_of_turn_ms,
        "fake_stt_final_ms": params.stt_final_latency_ms,
        "fake_llm_first_token_ms": params.llm_first_token_ms,
        "fake_tts_first_byte_ms": params.tts_first_byte_ms,
    }
    rows = [
        [name, _cell(nominal.get(name)), str(b["n"]), _cell(b["p50"]), _cell(b["p95"]),
         _cell(b["max"])]
        for name, b in section["breakdown"].items()
    ]  # fmt: skip
    out.append("end of turn, hop by hop (ms; gw_* = gateway, fake_* = injected delays)")
    out.append(format_table(["hop", "nominal", "n", "p50", "p95", "max"], rows))
    rows = [
        [name, str(g["n"]), _cell(g["p50"]), _cell(g["p95"]), _cell(g["p99"]), _cell(g["max"])]
        for name, g in section["gateway_view"].items()
    ]
    out.append("the gateway's own call records (ms, its event loop's clock)")
    out.append(format_table(["metric", "n", "p50", "p95", "p99", "max"], rows))
    diagnostics = section["diagnostics"]
    notes = [
        f"kernel rx timestamps: {diagnostics['kernel_rx_timestamps']}",
        f"gateway tick lateness p99 (worst 5 s window): "
        f"{_cell(diagnostics['gateway_tick_late_p99_ms_max'])} ms, "
        f"max {_cell(diagnostics['gateway_tick_late_max_ms'])} ms",
    ]
    load = section["load"]
    notes.append(
        f"CPU (% of a core): gateway {_cell(load['gateway_cpu_pct'])}, benchmark "
        f"{_cell(load['bench_cpu_pct'])}, other processes {_cell(load['other_processes_cpu_pct'])}"
        f"; cores busy {load['core_busy_pct']}; load average {load['loadavg_end']}"
    )
    for name in (
        "caller_send_interval_error_ms",
        "caller_rx_wakeup_ms",
        "caller_to_stt_no_fill_per_call_ms",
    ):
        if name in diagnostics:
            d = diagnostics[name]
            notes.append(f"{name}: p50 {_cell(d['p50'])}, p99 {_cell(d['p99'])}, "
                         f"max {_cell(d['max'])}")  # fmt: skip
    if section["anomalies"]:
        notes.append(f"anomalies: {section['anomalies']}")
    if diagnostics["gateway_errors"]:
        notes.append(f"gateway errors ({len(diagnostics['gateway_errors'])} lines), log: "
                     f"{diagnostics['gateway_log']}")  # fmt: skip
        for text in diagnostics["gateway_tracebacks"][:2]:
            notes.append(text)
    out.extend(notes)
    return "\n".join(out)


def matrix_report(sections: Sequence[dict[str, Any]]) -> str:
    """The key figures of every configuration side by side."""
    rows: list[list[str]] = []
    keys = [
        ("reply_path_ms", "p50"), ("reply_path_ms", "p99"),
        ("end_of_turn_overhead_ms", "p50"), ("end_of_turn_overhead_ms", "mean"),
        ("end_of_turn_overhead_ms", "p95"), ("end_of_turn_gateway_ms", "p50"),
        ("barge_in_ms", "p50"), ("barge_in_ms", "p95"),
        ("greeting_overhead_ms", "p50"), ("greeting_overhead_ms", "p95"),
        ("ingress_incl_fill_ms", "p50"), ("ingress_excl_fill_ms", "p50"),
    ]  # fmt: skip
    for figure, statistic in keys:
        rows.append(
            [f"{figure} {statistic}"] + [_cell(s["figures"][figure][statistic]) for s in sections]
        )
    for hop in ("gw_caller_to_stt_ms", "gw_chunk_fill_ms", "gw_stt_final_to_llm_request_ms",
                "gw_llm_token_to_tts_request_ms"):  # fmt: skip
        rows.append([f"{hop} p50"] + [_cell(s["breakdown"][hop]["p50"]) for s in sections])
    rows.append(
        ["gw_chunk_fill_ms mean"] + [_cell(s["breakdown"]["gw_chunk_fill_ms"]["mean"])
                                     for s in sections]
    )  # fmt: skip
    rows.append(
        ["caller_to_stt_no_fill_per_call_ms p50"]
        + [_cell(s["diagnostics"].get("caller_to_stt_no_fill_per_call_ms", {}).get("p50"))
           for s in sections]
    )  # fmt: skip
    for metric in ("end_of_speech_to_first_rtp_ms", "barge_in_reaction_ms"):
        rows.append(
            [f"gateway {metric} p50"] + [_cell(s["gateway_view"][metric]["p50"]) for s in sections]
        )
    headers = ["ms"] + [s["name"] for s in sections]
    return "matrix (same calls, same fakes)\n" + format_table(headers, rows)
