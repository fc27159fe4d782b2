"""CPU per call against Pipecat's: the same Twilio callers, several calls at once, the same fakes.

Run from the repository root (Pipecat's venv made as ``tests/toolkit/apps/pipecat_app.py``
says)::

    .venv/bin/python -m bench.cpu_per_call                    # 10 calls at once, 4 turns
    .venv/bin/python -m bench.cpu_per_call --calls 10 --rounds 3 --json -
    .venv/bin/python -m bench.cpu_per_call --set SIPGW_VOICE_DETECTOR=energy  # a feature's cost

The set-up of :mod:`bench.turn_ends` (its fakes in threads of this process, their delays, its
espeak-ng sentences, here each said whole), each system with its defaults: Pipecat's own
Twilio example bot (Silero VAD, smart-turn v3) and ``sipgw serve --agent assistant``'s Media
Streams leg (the model voice detector, the ``words`` early end). Each round, each system in
turn (the order rotated) takes ``--calls`` calls at once from the Twilio fake: the greeting
heard out, then ``--turns`` sentences, every call saying the same sentence at the same time and
hearing its reply out. Every session of the fake STT transcribes the turn as that sentence (its
default transcript; a queue of scripted ones would be taken by the sessions from each other).

CPU: the system's process (and its children), user + system time from ``/proc``, from the
first call's start to the last one's hang-up, less what it spends idle at that rate (measured
for :data:`IDLE_S` before), over the calls and the seconds: the share of one core a call
takes. The fakes and the callers run in this process and are charged to neither. The ratio
sipgw / Pipecat is taken per round (the two measured minutes apart on the same machine) and
its median reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench.turn_ends import (
    LOUD_DBFS,
    QUIET_AFTER_S,
    SENTENCES,
    Sentence,
    agent_audio,
    assistant_gateway,
    fakes,
    loud,
    pipecat_stream,
    quiet_for,
    sentence_of,
    sipgw_stream,
    turn_audio,
)
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from tests.toolkit.apps.pipecat_app import running_bot
from tests.toolkit.fakes.twilio import FakeTwilioStream

__all__ = ["main", "run"]

IDLE_S: Final = 10.0
"""Seconds each system's idle CPU rate is measured before its calls: ``/proc`` counts 10 ms
ticks, and sipgw idles at about 1 % of a core, so over 3 s its rate was read within a third
(a 4 % spread of its calls' figure); over 10 s within a tenth."""
PAUSE_MS: Final = 0
"""The pause inside every sentence: none (each said whole)."""
STT_END_MS: Final = 400
"""The fake STT's end of turn after a sentence."""
TICKS: Final = os.sysconf("SC_CLK_TCK")
SAID: Final = tuple(words for words in SENTENCES if "four five" not in words[1])
"""The sentences of :mod:`bench.turn_ends` but the order number's: its digits' gaps end a
turn early for the ``words`` rule, where the fake's one transcript would be the whole
sentence (a real service's, the digits said by then)."""


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and its waited-for children (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS


@dataclass
class Load:
    """One system's calls of one round."""

    system: str
    round_: int
    calls: int
    seconds: float = 0.0
    cpu_s: float = 0.0
    idle_cpu_s: float = 0.0
    replies: int = 0
    turns: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def core_per_call(self) -> float | None:
        """The share of one core a call took, idle time taken out."""
        if self.seconds <= 0 or self.calls <= 0:
            return None
        return max(0.0, self.cpu_s - self.idle_cpu_s) / self.seconds / self.calls


async def idle_rate(pid: int, seconds: float = IDLE_S) -> float:
    """CPU seconds a second the process spends with no call (measured for ``seconds``)."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


async def greeting(call: FakeTwilioStream) -> None:
    """Wait for the agent's first audio."""
    await call.wait_for(lambda: bool(agent_audio(call, 0.0)), within=20)


async def answered(call: FakeTwilioStream, audio: bytes) -> bool:
    """Say ``audio``; whether a reply came after its last loud chunk (heard out)."""
    start = call.say(audio)
    chunks = [audio[i : i + 160] for i in range(0, len(audio), 160)]
    last = start + max(i for i, c in enumerate(chunks) if loud(c, LOUD_DBFS))
    await call.wait_for(lambda: len(call.sent_at) > last, within=15)
    ended = call.sent_at[last]
    try:
        await call.wait_for(lambda: bool(agent_audio(call, ended)), within=12)
    except TimeoutError:
        return False
    await quiet_for(call, QUIET_AFTER_S, within=15)
    return True


def script_turn(stt: FakeAssemblyAI, words: tuple[str, str]) -> None:
    """The transcript of every session for the turn all calls say now: the sentence, whole
    (no queue of scripted texts, which concurrent sessions would take from each other)."""
    stt.reset()
    stt.default_transcript = " ".join(words)


async def load(
    streams: Sequence[FakeTwilioStream],
    stt: FakeAssemblyAI,
    speech: Sequence[Sentence],
    turns: int,
    pid: int,
    result: Load,
    idle_s: float = IDLE_S,
) -> None:
    """The calls of ``streams`` at once, measured against ``pid``."""
    result.idle_cpu_s = await idle_rate(pid, idle_s)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        calls = [await stack.enter_async_context(stream) for stream in streams]
        greeted = await asyncio.gather(*(greeting(c) for c in calls), return_exceptions=True)
        if any(isinstance(g, BaseException) for g in greeted):
            result.errors.append("a call heard no greeting")
        await asyncio.gather(*(quiet_for(c, QUIET_AFTER_S, within=15) for c in calls))
        for n in range(turns):
            sentence, words = speech[n % len(speech)], SAID[n % len(SAID)]
            script_turn(stt, words)
            audio = turn_audio(sentence, PAUSE_MS)
            done = await asyncio.gather(*(answered(c, audio) for c in calls),
                                        return_exceptions=True)  # fmt: skip
            result.turns += len(calls)
            result.replies += sum(d is True for d in done)
            result.errors += [repr(d) for d in done if isinstance(d, BaseException)]
        await asyncio.gather(*(c.stop() for c in calls))
    result.seconds = time.monotonic() - t0
    result.cpu_s = cpu_seconds(pid) - cpu0
    result.idle_cpu_s *= result.seconds


async def run(
    rounds: int,
    calls: int,
    turns: int,
    workdir: Path,
    *,
    pipecat: bool = True,
    idle_s: float = IDLE_S,
    settings: Mapping[str, str] | None = None,
) -> list[Load]:
    """The rounds' loads; without ``pipecat``, sipgw's alone (no Pipecat venv needed);
    ``settings``: sipgw's environment on top of its defaults (what a feature costs)."""
    speech = [sentence_of(a, b, workdir, f"s{n}", kept_tune=False)
              for n, (a, b) in enumerate(SAID)]  # fmt: skip
    results: list[Load] = []
    with fakes() as services:
        services.stt.min_turn_silence_ms = STT_END_MS
        # every caller has one number here: no per-caller rate
        env = {"SIPGW_CALLS_PER_CALLER": "0", **(settings or {})}
        gw = assistant_gateway(services, workdir / "sipgw", env)
        with gw:
            admin = gw.wait_log(r"admin listening on (\S+)", 30).group(1)
            async with contextlib.AsyncExitStack() as stack:
                pids = {"sipgw": gw.pid}
                if pipecat:
                    bot = await stack.enter_async_context(
                        running_bot(services, workdir / "pipecat.log", turns="pipecat")
                    )
                    pids["pipecat"] = bot.process.pid
                systems = list(pids)
                for r in range(rounds):
                    for system in systems[r % 2 :] + systems[: r % 2]:
                        log(f"round {r + 1}/{rounds}: {calls} calls at once on {system}")
                        if system == "pipecat":
                            opened = [pipecat_stream(bot.webhook_url, bot.stream_url)
                                      for _ in range(calls)]  # fmt: skip
                        else:
                            opened = [sipgw_stream(admin) for _ in range(calls)]
                        streams = await asyncio.gather(*opened)
                        result = Load(system, r, calls)
                        await load(streams, services.stt, speech, turns, pids[system], result,
                                   idle_s)  # fmt: skip
                        results.append(result)
                        await asyncio.sleep(1.0)  # the calls' ends reach the far side
    return results


def figures(results: Sequence[Load]) -> dict[str, Any]:
    by_system: dict[str, list[Load]] = {}
    for r in results:
        by_system.setdefault(r.system, []).append(r)
    out: dict[str, Any] = {}
    for system, loads in by_system.items():
        shares = [s for r in loads if (s := r.core_per_call) is not None]
        out[system] = {
            "rounds": len(loads),
            "core_per_call_pct_median": round(100 * statistics.median(shares), 3)
            if shares
            else None,
            "core_per_call_pct": [round(100 * s, 3) for s in shares],
            "replies": sum(r.replies for r in loads),
            "turns": sum(r.turns for r in loads),
            "errors": sum(len(r.errors) for r in loads),
        }
    ratios: list[float] = []
    for number in range(max((x.round_ for x in results), default=-1) + 1):
        pair = {x.system: x.core_per_call for x in results if x.round_ == number}
        ours, theirs = pair.get("sipgw"), pair.get("pipecat")
        if ours is not None and theirs:
            ratios.append(ours / theirs)
    out["ratio"] = {
        "sipgw_over_pipecat_median": round(statistics.median(ratios), 3) if ratios else None,
        "per_round": [round(x, 3) for x in ratios],
    }
    return out


def table(data: dict[str, Any]) -> str:
    rows = []
    for system in ("pipecat", "sipgw"):
        f = data.get(system)
        if f is None:
            continue
        rows.append([system, str(f["rounds"]), fmt(f["core_per_call_pct_median"], ".2f"),
                     " ".join(f"{v:.2f}" for v in f["core_per_call_pct"]),
                     f"{f['replies']}/{f['turns']}", str(f["errors"])])  # fmt: skip
    ratio = data["ratio"]["sipgw_over_pipecat_median"]
    return (
        format_table(
            [
                "system",
                "rounds",
                "% of a core per call (median)",
                "each round",
                "replies",
                "errors",
            ],
            rows,
        )  # fmt: skip
        + f"\nsipgw / Pipecat, per call: {fmt(ratio, '.3f')} (median of the rounds' ratios)"
    )


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``--set`` values as an environment; SystemExit naming the one that is not
    ``SIPGW_NAME=VALUE``."""
    settings: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("SIPGW_") or not name[6:]:
            raise SystemExit(f"--set {pair!r}: expected SIPGW_NAME=VALUE")
        settings[name] = value
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="calls at once (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--turns", type=int, default=4, help="turns per call (default 4)")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--set", action="append", default=[], metavar="SIPGW_NAME=VALUE",
                        help="a sipgw setting on top of its defaults, repeatable "
                             "(SIPGW_VOICE_DETECTOR=energy: what the model costs)")  # fmt: skip
    args = parser.parse_args(argv)
    settings = parse_settings(args.set)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed to speak the callers' sentences")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-cpu-per-call-") as tmp:
        results = asyncio.run(
            run(args.rounds, args.calls, args.turns, Path(tmp), settings=settings)
        )
    data: dict[str, Any] = {
        "benchmark": "cpu_per_call",
        "machine": machine_info(),
        "params": {
            "calls": args.calls,
            "rounds": args.rounds,
            "turns_per_call": args.turns,
            "pause_ms": PAUSE_MS,
            "stt_end_ms": STT_END_MS,
            "idle_s": IDLE_S,
            "settings": settings,
        },  # fmt: skip
        "seconds": round(time.time() - started, 1),
        "systems": figures(results),
        "loads": [vars(r) for r in results],
    }
    print(table(data["systems"]))
    print(f"JSON: {write_json(data, args.json, 'cpu_per_call')}")


if __name__ == "__main__":
    main()
