"""An evaluation's report: per turn timings, transcript and tool calls; each goal met or not.

The caller's side (end of speech, first agent audio) comes from the phone; the rest from
the gateway's call record (``SIPGW_CALL_RECORD_DIR``): ``user`` lines (the transcript),
``tool_call`` lines (name, arguments, ok), ``assistant`` lines (what the agent said),
``barge_in`` lines and ``turn_metrics`` (the STT/LLM/TTS stage times, the same figures
``bench.latency`` and the dashboard show).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.caller import CallResult
from sipgw.app.evaluation.scenario import ExpectedTool, Scenario

__all__ = ["build_report", "read_call_records", "scenario_report", "table"]

STAGES = (
    "stt_end_of_turn_ms",
    "llm_first_token_ms",
    "tts_first_byte_ms",
    "first_rtp_after_tts_ms",
    "end_of_speech_to_first_rtp_ms",
)


def read_call_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every call record in ``directory`` (one file per call): its lines, by the call's id.

    The id is the first line's (``type: call``); later lines need not repeat it.
    """
    calls: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                lines.append(record)
        if lines:
            calls[str(lines[0].get("call_id"))] = lines
    return calls


def _words(text: str) -> str:
    """Lower case, punctuation to spaces, single-spaced (for phrase matching)."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return _words(expected) == _words(actual)
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {"_raw": raw}
    return dict(raw) if isinstance(raw, Mapping) else {"_raw": raw}


def _tool_matches(expected: ExpectedTool, call: Mapping[str, Any]) -> bool:
    return (
        call["name"] == expected.name
        and _same(dict(expected.arguments), call["arguments"])
        and (not expected.ok or bool(call["ok"]))
    )


def scenario_report(
    scenario: Scenario, call: CallResult, records: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """One scenario's section of the report."""
    turns: list[dict[str, Any]] = []
    metrics: list[Mapping[str, Any]] = []
    greeting: list[str] = []
    for record in records:
        kind = record.get("type")
        if kind == "user":
            turns.append(
                {
                    "transcript": record.get("text", ""),
                    "agent": [],
                    "tools": [],
                    "interrupted": False,
                    "barge_in": False,
                }
            )
        elif kind == "turn_metrics":
            metrics.append(record)
        elif not turns:
            if kind == "assistant" and record.get("text"):
                greeting.append(str(record["text"]))
        elif kind == "assistant":
            if record.get("text"):
                turns[-1]["agent"].append(str(record["text"]))
            turns[-1]["interrupted"] |= bool(record.get("interrupted"))
        elif kind == "tool_call":
            turns[-1]["tools"].append(
                {
                    "name": record.get("name"),
                    "arguments": _arguments(record.get("arguments")),
                    "ok": bool(record.get("ok")),
                    "elapsed_ms": round(float(record.get("elapsed") or 0) * 1000, 1),
                }
            )
        elif kind == "barge_in":
            turns[-1]["barge_in"] = True
    by_turn = {int(m["turn"]): m for m in metrics if isinstance(m.get("turn"), int)}
    for n, turn in enumerate(turns):
        timing = call.turns[n] if n < len(call.turns) else None
        wire = None
        if timing is not None and timing.first_audio is not None:
            wire = round((timing.first_audio - timing.speech_end) * 1000, 1)
        turn["end_of_speech_to_first_audio_ms"] = wire
        stages = by_turn.get(n + 1, {})  # turn_metrics count the caller's turns from 1
        turn["stages_ms"] = {k: stages.get(k) for k in STAGES}
        turn["agent"] = " ".join(turn["agent"])
    calls = [tool for turn in turns for tool in turn["tools"]]
    said = _words(" ".join([*greeting, *(t["agent"] for t in turns)]))
    tool_goals = [
        {
            "name": e.name,
            "arguments": dict(e.arguments),
            "met": any(_tool_matches(e, c) for c in calls),
        }
        for e in scenario.goal.tools
    ]
    word_goals = [{"words": w, "met": f" {_words(w)} " in f" {said} "} for w in scenario.goal.words]
    problems = []
    if call.error:
        problems.append(call.error)
    if len(turns) < len(scenario.turns) and not call.hung_up_by_agent:
        problems.append(f"{len(turns)} of {len(scenario.turns)} turns reached the agent")
    met = all(g["met"] for g in [*tool_goals, *word_goals]) and not call.error
    return {
        "scenario": scenario.name,
        "file": str(scenario.path),
        "call_id": call.call_id,
        "goal_met": met,
        "goals": {"tools": tool_goals, "words": word_goals},
        "greeting": " ".join(greeting),
        "turns": turns,
        "tool_calls": calls,
        "hung_up_by_agent": call.hung_up_by_agent,
        "problems": problems,
    }


def build_report(mode: str, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole report."""
    return {
        "evaluation": mode,
        "scenarios": sections,
        "passed": sum(1 for s in sections if s["goal_met"]),
        "failed": sum(1 for s in sections if not s["goal_met"]),
    }


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(report: Mapping[str, Any]) -> str:
    """The report as text: one block per scenario, a line per turn."""
    lines = []
    head = f"{'turn':>4} {'e2e':>6} {'stt':>5} {'llm':>5} {'tts':>5}  caller / agent / tools"
    for s in report["scenarios"]:
        verdict = "PASS" if s["goal_met"] else "FAIL"
        lines += [f"{verdict}  {s['scenario']}  ({s['file']})", head]
        for n, t in enumerate(s["turns"], 1):
            st = t["stages_ms"]
            lines.append(
                f"{n:>4} {_ms(t['end_of_speech_to_first_audio_ms']):>6} "
                f"{_ms(st['stt_end_of_turn_ms']):>5} {_ms(st['llm_first_token_ms']):>5} "
                f"{_ms(st['tts_first_byte_ms']):>5}  caller: {_clip(t['transcript'], 60)}"
            )
            for tool in t["tools"]:
                args = json.dumps(tool["arguments"], ensure_ascii=False)
                ok = "ok" if tool["ok"] else "FAILED"
                lines.append(f"{'':>29}tool:   {tool['name']}({_clip(args, 50)}) {ok}")
            if t["agent"]:
                cut = " [talked over]" if t["interrupted"] or t["barge_in"] else ""
                lines.append(f"{'':>29}agent:  {_clip(t['agent'], 60)}{cut}")
        for g in s["goals"]["tools"]:
            args = json.dumps(g["arguments"], ensure_ascii=False)
            lines.append(f"  goal {'met' if g['met'] else 'NOT MET'}: {g['name']}({args})")
        for g in s["goals"]["words"]:
            lines.append(f"  goal {'met' if g['met'] else 'NOT MET'}: says {g['words']!r}")
        lines += [f"  problem: {p}" for p in s["problems"]]
        lines.append("")
    lines.append(
        f"{report['passed']} passed, {report['failed']} failed  "
        "(ms: e2e = caller's end of speech to the agent's first audio at the phone; "
        "stt/llm/tts = the gateway's turn_metrics stages)"
    )
    return "\n".join(lines)
