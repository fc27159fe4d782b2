"""Time from ``sipgw serve`` starting to its being ready to take calls, in phases.

    python -m bench.startup [--runs 5] [--agent echo --agent assistant] [--tree DIR ...]
                            [--voice-detector energy|model] [--json PATH]

Each run starts a gateway as the real-peer tests do (:class:`GatewayProcess`: a fresh
working directory, ``--sip-port 0``), the assistant's pointed at the fakes of the
AI services in threads of this process (:func:`tests.toolkit.fakes.threaded.fakes_in_threads`,
the tests' own: a fake TTS that takes 5 ms a character), and times, from just before the
process is started, the lines it prints:

* ``first_log``: its first log line (Python started, sipgw and the agent's modules
  imported, the settings read, the agents built; nothing is logged before);
* ``fallback_lines``: ``fallback lines of ...``, the fallback lines synthesized (the
  assistant only; none on disk: each run has a fresh directory, as each test has);
* ``ready``: ``listening on udp:...``, the line the tests and the supervisor wait for
  (printed once the start-up work is done: the warm-up, or its bound).

Each phase also has the CPU seconds the gateway had used by then (all its threads, from
/proc): on a shared machine the wall clock moves with the others' load, the CPU less so.

Runs alternate the agents (and the trees) round by round; medians are reported, and the
fastest start (the nearest to a quiet machine's). Then one
more run of each under ``python -X importtime`` gives the import profile: the modules
imported, and the self time of the packages that cost most (``-X importtime`` inflates
every figure about twofold: read them as shares, not as seconds).

``--tree DIR`` (repeatable) runs the gateway from another checkout of sipgw (its
``PYTHONPATH`` first), for a before/after comparison in one run (``git archive main |
tar -x -C DIR``). ``--voice-detector``: ``energy`` (what the tests of tone callers pin,
the default here) or ``model`` (the gateway's default, whose weights load at start).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from bench._harness import REPO, fmt, format_table, log, machine_info, read_proc, write_json
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.fakes.threaded import fakes_in_threads

PHASES: dict[str, re.Pattern[str]] = {
    "first_log": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ +[A-Z]+ "),
    "fallback_lines": re.compile(r"fallback lines of "),
    "ready": re.compile(r"^listening on (?:udp|tcp):"),
}
"""Phase -> the first line that ends it."""
IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
TOP_PACKAGES = 12


@contextmanager
def _services(workdir: Path, agents: list[str], detector: str) -> Iterator[dict[str, str]]:
    """The environment each gateway gets: the fakes' (when an assistant runs)."""
    if "assistant" not in agents:
        yield {}
        return
    caller: Literal["tone", "speech"] = "tone" if detector == "energy" else "speech"
    with fakes_in_threads(workdir, {}, caller=caller) as fakes:  # "speech": the default detector
        yield dict(fakes.env)


def start_once(
    workdir: Path, agent: str, env: Mapping[str, str], tree: Path, import_time: bool = False
) -> tuple[dict[str, float | None], list[str]]:
    """Start one gateway, wait until it is ready, stop it; the phases' end times (s after
    the start), the CPU seconds it had used by each (``<phase>_cpu``: all its threads, a
    figure another process's load moves less than the wall clock), and its output."""
    lines: list[str] = []
    phases: dict[str, float | None] = {}
    for phase in PHASES:
        phases[phase] = phases[f"{phase}_cpu"] = None
    started = 0.0

    def on_line(t: float, line: str) -> None:
        lines.append(line)
        for phase, pattern in PHASES.items():
            if phases[phase] is None and pattern.search(line):
                sample = read_proc(gateway.pid)
                phases[phase] = round(t - started, 3)
                phases[f"{phase}_cpu"] = sample.cpu_s if sample is not None else None

    program = [sys.executable, *(["-X", "importtime"] if import_time else []), "-m", "sipgw"]
    gateway = GatewayProcess(
        workdir, agent=agent, allow_from="127.0.0.0/8", program=program,
        extra_env={**env, "PYTHONPATH": str(tree)}, on_line=on_line, start_timeout=60.0,
        lifetime=None,  # no timeout(1) in front: its pid is the gateway's own
    )  # fmt: skip
    started = time.time()
    with gateway:
        pass
    return phases, lines


def import_profile(output: list[str]) -> dict[str, Any]:
    """The modules ``-X importtime`` listed, and the self time of the costliest packages."""
    by_package: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for line in output:
        match = IMPORT_RE.match(line)
        if match:
            package = match[4].split(".")[0]
            by_package[package] += int(match[1])
            modules[package] += 1
    total = sum(by_package.values())
    return {
        "modules": sum(modules.values()),
        "self_ms_total": round(total / 1000, 1),
        "top": [
            {
                "package": name,
                "modules": modules[name],
                "self_ms": round(us / 1000, 1),
                "share": round(us / total, 3) if total else None,
            }  # fmt: skip
            for name, us in by_package.most_common(TOP_PACKAGES)
        ],
    }


def _python_floor(runs: int) -> float:
    """Median seconds for the interpreter alone to start and exit (``python -c pass``)."""
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        took.append(time.perf_counter() - started)
    return round(statistics.median(took), 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    agents: list[str] = args.agent or ["echo", "assistant"]
    trees = [Path(t).resolve() for t in (args.tree or [str(REPO)])]
    machine = machine_info()
    cases = [(str(tree), agent) for tree in trees for agent in agents]
    runs: dict[tuple[str, str], list[dict[str, float | None]]] = {case: [] for case in cases}
    profiles: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sipgw-startup-") as tmp:
        root = Path(tmp)
        with _services(root, agents, args.voice_detector) as env:
            for n in range(args.runs):
                for c, (tree, agent) in enumerate(cases):
                    workdir = root / f"run{n}-case{c}"
                    times, _ = start_once(workdir, agent, env, Path(tree))
                    runs[(tree, agent)].append(times)
                    log(f"run {n + 1}/{args.runs} {agent} ({tree}): {times}")
            if args.import_profile:
                for c, (tree, agent) in enumerate(cases):
                    workdir = root / f"importtime-case{c}"
                    _, output = start_once(workdir, agent, env, Path(tree), import_time=True)
                    profiles[(tree, agent)] = import_profile(output)
    results = []
    for (tree, agent), phases in runs.items():
        keys = [key for phase in PHASES for key in (phase, f"{phase}_cpu")]
        medians = {key: _median([v for p in phases if (v := p[key]) is not None]) for key in keys}
        ready = [v for p in phases if (v := p["ready"]) is not None]
        results.append({
            "tree": tree, "agent": agent, "runs": phases, "median_s": medians,
            "fastest_ready_s": min(ready) if ready else None,
            "import_profile": profiles.get((tree, agent)),
        })  # fmt: skip
    return {
        "machine": {**machine, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": {
            "runs": args.runs,
            "agents": agents,
            "trees": [str(t) for t in trees],
            "voice_detector": args.voice_detector,
            "import_profile": args.import_profile,
        },  # fmt: skip
        "python_floor_s": _python_floor(3),
        "results": results,
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def table(result: Mapping[str, Any]) -> str:
    machine = result["machine"]
    head = (
        f"CPU {machine['cpu_model']} ({machine['cores']} cores), load "
        f"{machine['loadavg_at_start']} at start, {machine['loadavg_at_end']} at end; "
        f"python -c pass: {result['python_floor_s']:.3f} s"
    )
    rows = []
    for entry in result["results"]:
        m = entry["median_s"]
        profile = entry["import_profile"] or {}
        top = ", ".join(
            f"{p['package']} {p['share']:.0%}" for p in profile.get("top", [])[:4] if p["share"]
        )
        fallback = m["fallback_lines"]
        lines_s = fallback - m["first_log"] if fallback and m["first_log"] else None
        rows.append([
            entry["agent"], Path(entry["tree"]).name, str(len(entry["runs"])),
            fmt(m["first_log"], ".2f"), fmt(lines_s, ".2f"), fmt(m["ready"], ".2f"),
            fmt(entry["fastest_ready_s"], ".2f"), fmt(m["ready_cpu"], ".2f"),
            fmt(profile.get("modules")), top or "-",
        ])  # fmt: skip
    headers = [
        "agent", "tree", "runs", "first log (s)", "lines (s)", "ready (s)", "fastest (s)",
        "CPU to ready (s)", "modules", "import self time, top packages",
    ]  # fmt: skip
    return head + "\n" + format_table(headers, rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="starts of each agent (median taken)")
    p.add_argument("--agent", action="append", choices=["echo", "assistant"],
                   help="agent to start (repeatable; default both)")  # fmt: skip
    p.add_argument("--tree", action="append",
                   help="the checkout the gateway runs (repeatable; default: this)")  # fmt: skip
    p.add_argument("--voice-detector", choices=["energy", "model"], default="energy")
    p.add_argument("--no-import-profile", dest="import_profile", action="store_false",
                   help="skip the -X importtime run")  # fmt: skip
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.runs = max(1, args.runs)
    result = run(args)
    print(table(result))
    print(f"JSON: {write_json(result, args.json, 'startup')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
