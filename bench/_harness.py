"""What only the benchmarks need: the gateway under test with its stats lines, /proc sampling,
the load generator's runs, percentiles, machine info, tables and JSON.

Everything here runs in the orchestrating script (``bench.capacity``,
``bench.pacing``, ``bench.soak``, ``bench.latency``), never in the measured
processes. Processes, phones, ports, audio and the fakes come from
:mod:`tests.toolkit`. Child output is read by threads that stamp every line with
the wall clock (``time.time()``), the clock the load generator also reports its
phases in, so gateway stats lines and /proc samples can be cut to the exact
window a load step held.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import PortRange, undrawn_range
from sipgw.app.evaluation.process import ManagedProcess, PeerError, child_env

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# -------------------------------------------------------------------- numbers


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """count, mean, p50, p90, p99 and max of ``values`` (None fields when empty)."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {
        "count": len(values),
        "mean": r(sum(values) / len(values)) if values else None,
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)) if values else None,
    }


def median(values: Iterable[float]) -> float | None:
    """The median, or None for no values."""
    return percentile(list(values), 50)


def hist_percentile(counts: Sequence[int], width: float, q: float) -> float | None:
    """Percentile of a histogram whose bucket ``i`` holds values in ``[i*w, (i+1)*w)``.

    Returns the bucket's upper edge (a conservative figure); None when empty.
    """
    total = sum(counts)
    if total == 0:
        return None
    target = math.ceil(total * q / 100.0)
    running = 0
    for i, count in enumerate(counts):
        running += count
        if running >= max(target, 1):
            return (i + 1) * width
    return len(counts) * width


# -------------------------------------------------------------------- machine


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def sipp_version() -> str | None:
    """``SIPp v3.6.1-...`` from ``sipp -v``, or None when SIPp is not installed."""
    if shutil.which("sipp") is None:
        return None
    try:
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if "SIPp v" in line:
            return line.strip()
    return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, kernel, Python, uvloop and sipgw versions, load, git state."""
    try:
        import sipgw

        sipgw_version: str | None = sipgw.__version__
    except ImportError:
        sipgw_version = None
    status = _git("status", "--porcelain")
    mem = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "cpus_online": _read_text("/sys/devices/system/cpu/online"),
        "mem_total_kb": int(mem.split()[0]) if mem else None,
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "uvloop": _version("uvloop"),
        "sipgw": sipgw_version,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "clk_tck": CLK_TCK,
    }


# -------------------------------------------------------------------- CPU and waiting


def add_run_options(p: argparse.ArgumentParser, stats_help: str | None = None) -> None:
    """The options every gateway-plus-load script takes: CPUs, stats interval, report path."""
    p.add_argument("--gateway-cpu", type=int, default=0)
    p.add_argument("--loadgen-cpu", type=int, default=1)
    p.add_argument("--stats-interval", type=float, default=5.0, help=stats_help)
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")


def pin_self(cpu: int | None) -> bool:
    """Pin this process to one CPU (if it exists); True when pinned."""
    if cpu is None or cpu not in os.sched_getaffinity(0):
        return False
    os.sched_setaffinity(0, {cpu})
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# -------------------------------------------------------------------- /proc sampling


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One look at a process: wall time, CPU seconds (all threads), RSS, fds, threads."""

    t: float
    cpu_s: float
    rss_kb: int
    fds: int | None
    threads: int


def read_proc(pid: int) -> ProcSample | None:
    """Sample ``pid`` from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            raw = handle.read()
        t = time.time()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, threads 20, rss 24
    cpu_s = (int(fields[11]) + int(fields[12])) / CLK_TCK
    threads = int(fields[17])
    rss_kb = int(fields[21]) * PAGE_KB
    try:
        fds: int | None = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = None
    return ProcSample(t, cpu_s, rss_kb, fds, threads)


class _SamplerThread:
    """Calls :meth:`_sample` every ``interval`` s in a daemon thread until it returns False."""

    def __init__(self, name: str, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set() and self._sample():
            self._stop.wait(self.interval)

    def _sample(self) -> bool:
        raise NotImplementedError


class ProcSampler(_SamplerThread):
    """Samples a pid every ``interval`` seconds in a daemon thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(f"proc-{pid}", interval)
        self.pid = pid
        self.samples: list[ProcSample] = []

    def _sample(self) -> bool:
        sample = read_proc(self.pid)
        if sample is None:
            return False  # the process is gone
        self.samples.append(sample)
        return True

    def window(self, t0: float, t1: float) -> list[ProcSample]:
        """The samples taken in ``[t0, t1]``."""
        return [s for s in self.samples if t0 <= s.t <= t1]

    def cpu_percent(self, t0: float, t1: float) -> float | None:
        """CPU use over ``[t0, t1]`` in % of one core (first and last sample inside)."""
        inside = self.window(t0, t1)
        if len(inside) < 2 or inside[-1].t - inside[0].t <= 0:
            return None
        first, last = inside[0], inside[-1]
        return (last.cpu_s - first.cpu_s) / (last.t - first.t) * 100.0

    def rss_kb(self, t0: float, t1: float) -> float | None:
        """Median RSS over ``[t0, t1]``."""
        return median(s.rss_kb for s in self.window(t0, t1))


def read_cpu_times() -> dict[int, tuple[float, float, float]]:
    """Per CPU from /proc/stat: (busy, total, steal) in seconds; busy includes steal."""
    out: dict[int, tuple[float, float, float]] = {}
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *values = line.split()
                ticks = [int(v) for v in values[:8]]
                idle = ticks[3] + ticks[4]  # idle + iowait
                total = sum(ticks)
                steal = ticks[7] if len(ticks) > 7 else 0
                out[int(name[3:])] = ((total - idle) / CLK_TCK, total / CLK_TCK, steal / CLK_TCK)
    except OSError:
        pass
    return out


class CpuSampler(_SamplerThread):
    """Samples every CPU's busy time (all processes) in a daemon thread.

    The machine is shared: the busy share of the gateway's CPU minus the
    gateway's own CPU use is what *other* work took from it during a window.
    """

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__("cpu-sampler", interval)
        self.samples: list[tuple[float, dict[int, tuple[float, float, float]]]] = []

    def _sample(self) -> bool:
        self.samples.append((time.time(), read_cpu_times()))
        return True

    def busy_percent(self, cpu: int, t0: float, t1: float, field: int = 0) -> float | None:
        """How busy ``cpu`` was over ``[t0, t1]`` (all processes), in %.

        ``field=2`` gives the steal time instead: the hypervisor running someone else.
        """
        inside = [(t, c) for t, c in self.samples if t0 <= t <= t1 and cpu in c]
        if len(inside) < 2:
            return None
        (_, first), (_, last) = inside[0], inside[-1]
        total = last[cpu][1] - first[cpu][1]
        if total <= 0:
            return None
        return (last[cpu][field] - first[cpu][field]) / total * 100.0


def process_window(
    sampler: ProcSampler | None, cpus: CpuSampler | None, cpu: int | None, t0: float, t1: float
) -> dict[str, Any]:
    """A sampled process over ``[t0, t1]``: its CPU, RSS and open files, and what other
    processes took from its ``cpu`` (busy minus its own share, and the hypervisor's steal)."""
    out: dict[str, Any] = {"window_s": round(t1 - t0, 2), "cpu_percent": None, "rss_kb": None}
    if sampler is not None:
        used = sampler.cpu_percent(t0, t1)
        out["cpu_percent"] = None if used is None else round(used, 1)
        out["rss_kb"] = sampler.rss_kb(t0, t1)
        fds = [s.fds for s in sampler.window(t0, t1) if s.fds is not None]
        out["open_files"] = max(fds) if fds else None
    if cpus is not None and cpu is not None:
        busy = cpus.busy_percent(cpu, t0, t1)
        steal = cpus.busy_percent(cpu, t0, t1, field=2)
        out["cpu_busy_percent"] = None if busy is None else round(busy, 1)
        out["steal_percent"] = None if steal is None else round(steal, 1)
        if busy is not None and out["cpu_percent"] is not None:
            out["others_on_cpu_percent"] = round(max(0.0, busy - out["cpu_percent"]), 1)
    return out


# -------------------------------------------------------------------- the gateway under test


@dataclass
class StatsLine:
    """A gateway ``stats {json}`` line and when we read it (wall clock)."""

    t: float
    data: dict[str, Any]


GC_PROBE = """\
# Written by bench._harness for --gc-probe: logs the gateway's garbage-collector pauses.
import gc, sys, time

_start = [0.0]


def _probe(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _start[0]) * 1000
    if info["generation"] == 2:  # what a full collection leaves alive: the live heap
        live = len(gc.get_objects())
        sys.stderr.write("GCPROBE 2 %.3f %.3f %d\\n" % (ms, time.time(), live))
    elif ms >= 1.0:
        sys.stderr.write("GCPROBE %d %.3f %.3f\\n" % (info["generation"], ms, time.time()))


gc.callbacks.append(_probe)
"""


MEM_PROBE = """\
# Written by bench._harness for --mem-probe: Python-level allocation counts, to tell a
# leak (live objects grow) from allocator behaviour (RSS grows, live objects do not).
import gc, sys, threading, time


def _mem_probe():
    while True:
        time.sleep(%(interval)s)
        blocks, objects = sys.getallocatedblocks(), len(gc.get_objects())
        sys.stderr.write("MEMPROBE %%.3f %%d %%d\\n" %% (time.time(), blocks, objects))


threading.Thread(target=_mem_probe, name="mem-probe", daemon=True).start()
"""


@dataclass
class MemSample:
    """The gateway's live pymalloc blocks and gc-tracked objects at a time (wall clock)."""

    t: float
    blocks: int
    objects: int


@dataclass
class GcPause:
    """One garbage collection the probe saw: generation, pause, when (wall clock)."""

    t: float
    generation: int
    ms: float
    live_objects: int | None = None  # after a full collection


BENCH_NO_RATE_LIMITS = (
    "--rate-invite", "0", "--rate-other", "0", "--rate-options", "0",
    "--calls-per-second", "0", "--calls-per-caller", "0", "--max-call-seconds", "0",
    "--max-calls", "0",
)  # fmt: skip
"""Flags that lift the per-source, call-rate and concurrent-call limits (docs/security.md)
for a benchmark."""

BENCH_CALLERS = ("--allow-from", "127.0.0.0/8")
"""Who may call the gateway under test: the load generators on loopback (with nothing
configured, any agent but echo refuses every caller)."""


def bench_rtp_ports() -> PortRange:
    """10000 ports below the ones tests draw free ports from (10000-19999 on a default
    Linux): the smoke tests run the benchmarks beside peers given free ports, and a port
    in the gateway's range that it bound for a call could be one a peer was about to bind.
    On a machine whose ephemeral range leaves no room below them, 10000-19999."""
    try:
        return undrawn_range(10000)
    except ValueError:
        return PortRange(10000, 19999)


@dataclass
class GatewayOptions:
    """How to run the gateway under test."""

    agent: str = "echo"
    cpu: int | None = 0
    rtp_ports: tuple[int, int] = field(default_factory=bench_rtp_ports)
    stats_interval: float = 5.0
    log_level: str = "INFO"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    gc_probe: bool = False
    mem_probe: float = 0.0  # seconds between samples; 0 = off


class Gateway:
    """The gateway under test: a :class:`GatewayProcess`, pinned, with no time bound, its
    ``stats {json}`` lines and probe lines parsed, and /proc samplers while it runs.

    ``workdir`` (default: a temporary directory, removed at :meth:`stop`) holds its log.
    """

    def __init__(self, options: GatewayOptions, workdir: Path | None = None) -> None:
        self.options = options
        self.stats: list[StatsLine] = []
        self.gc_pauses: list[GcPause] = []
        self.mem_samples: list[MemSample] = []
        self.errors: list[str] = []
        self.sampler: ProcSampler | None = None
        self.cpus: CpuSampler | None = None
        o = options
        self.process = GatewayProcess(
            workdir,
            agent=o.agent,
            rtp_ports=PortRange(*o.rtp_ports),
            extra_args=[
                "--rtp-timeout",
                "0",
                "--stats-interval",
                f"{o.stats_interval:g}",
                "--log-level",
                o.log_level,
                # one load generator places every call: the flood limits would stop it
                *BENCH_NO_RATE_LIMITS,
                *BENCH_CALLERS,
                *o.extra_args,
            ],  # fmt: skip
            env=child_env(o.env),
            cpu=o.cpu,
            on_line=self._on_line,
            start_timeout=30.0,
            lifetime=None,
        )
        self.log_path = self.process.log_path

    @property
    def command(self) -> list[str]:
        """The exact command line."""
        return self.process.command

    def _on_line(self, t: float, line: str) -> None:
        if line.startswith("MEMPROBE "):
            with contextlib.suppress(ValueError, IndexError):
                _, when, blocks, objects = line.split()
                self.mem_samples.append(MemSample(float(when), int(blocks), int(objects)))
            return
        if line.startswith("GCPROBE "):
            with contextlib.suppress(ValueError, IndexError):
                _, gen, ms, when, *live = line.split()
                alive = int(live[0]) if live else None
                self.gc_pauses.append(GcPause(float(when), int(gen), float(ms), alive))
            return
        marker = line.find(" stats {")
        if marker >= 0:
            try:
                self.stats.append(StatsLine(t, json.loads(line[marker + 7 :])))
            except ValueError:
                pass
        elif " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback"):
            self.errors.append(line)

    def start(self) -> tuple[str, int]:
        """Start it and wait for its ready line; returns the SIP address."""
        if self.options.gc_probe or self.options.mem_probe > 0:
            probe = self.process.workdir / "probe"
            probe.mkdir(parents=True)
            code = GC_PROBE if self.options.gc_probe else ""
            if self.options.mem_probe > 0:
                code += MEM_PROBE % {"interval": repr(self.options.mem_probe)}
            (probe / "sitecustomize.py").write_text(code)
            env = self.process.env
            env["PYTHONPATH"] = f"{probe}{os.pathsep}{env['PYTHONPATH']}"
        try:
            self.process.start()
        except PeerError as exc:
            raise RuntimeError(f"gateway did not start: {exc}") from None
        self.sampler = ProcSampler(self.pid).start()
        self.cpus = CpuSampler().start()
        return self.process.address

    @property
    def pid(self) -> int:
        """The gateway's pid."""
        return self.process.pid

    def stop(self) -> int | None:
        """SIGTERM (BYE to every call), wait, clean up; returns the exit status."""
        code = None
        if self.sampler is not None:
            self.sampler.stop()
        if self.cpus is not None:
            self.cpus.stop()
        if self.process.process is not None:
            # the first SIGTERM drains, the second ends every call at once
            self.process.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(PeerError):  # still running after 20 s: killed
                code = self.process.stop(signal.SIGTERM, timeout=20)
        self.process.close()
        return code

    def tracebacks(self) -> list[str]:
        """The first tracebacks the gateway printed."""
        return self.process.tracebacks()

    def stats_between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """Stats lines read in ``[t0, t1]``."""
        return [s.data for s in self.stats if t0 <= s.t <= t1]

    def stats_after(self, t: float) -> list[StatsLine]:
        """Stats lines read after ``t``."""
        return [s for s in self.stats if s.t > t]

    def wait_stats(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        """Wait for a new stats line that satisfies ``predicate``."""
        since = time.time()
        return wait_until(lambda: any(predicate(s.data) for s in self.stats_after(since)), timeout)

    def window_figures(self, t0: float, t1: float) -> dict[str, Any]:
        """Gateway-side figures over ``[t0, t1]``: CPU, RSS, tick lateness, RTP counters."""
        lines = [s for s in self.stats if t0 <= s.t <= t1]
        # A stats line covers the interval before it: skip one that began before t0.
        inside = [s.data for s in lines if s.t - self.options.stats_interval >= t0 - 0.25]
        if not inside:  # a window shorter than the interval: take the line that ends it
            later = [s.data for s in self.stats if s.t >= t1 - 0.25]
            inside = later[:1]
        before = [s.data for s in self.stats if s.t <= t0]
        out = process_window(self.sampler, self.cpus, self.options.cpu, t0, t1)
        out["stats_lines"] = len(inside)
        if self.options.gc_probe:
            pauses = [p for p in self.gc_pauses if t0 <= p.t <= t1]
            out["gc_collections_gen2"] = sum(p.generation == 2 for p in pauses)
            out["gc_pause_max_ms"] = round(max((p.ms for p in pauses), default=0.0), 2)
            out["gc_pause_total_ms"] = round(sum(p.ms for p in pauses), 2)
        if inside:
            p99s = [d["tick_late_p99_ms"] for d in inside]
            out["tick_late_p50_ms"] = median(d["tick_late_p50_ms"] for d in inside)
            out["tick_late_p99_ms"] = median(p99s)
            out["tick_late_p99_worst_ms"] = max(p99s)
            out["tick_late_max_ms"] = max(d["tick_late_max_ms"] for d in inside)
            out["calls_min"] = min(d["calls"] for d in inside)
            out["calls_max"] = max(d["calls"] for d in inside)
            out["tasks"] = inside[-1]["tasks"]
            ref = before[-1] if before else inside[0]
            last = inside[-1]
            keys = (
                "ticks",
                "ticks_skipped",
                "rtp_in",
                "rtp_out",
                "jb_lost",
                "jb_late",
                "early_sends",
            )
            for key in keys:
                if key in last and key in ref:
                    out[f"{key}_delta"] = last[key] - ref[key]
        return out


# -------------------------------------------------------------------- the load generator


@dataclass
class LoadgenRun:
    """A finished load generator run: its JSON report, events and command."""

    report: dict[str, Any]
    events: list[dict[str, Any]]
    command: list[str]
    returncode: int


def run_loadgen(args: Sequence[str], *, cpu: int | None, timeout: float) -> LoadgenRun:
    """Run ``python -m bench.loadgen ARGS`` (pinned, at most ``timeout`` s) and read its report.

    Its ``loadgen-event {json}`` lines are collected; lines that look like errors are
    passed on to our stderr.
    """
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-loadgen-"))
    report_path = workdir / "report.json"
    cmd = [PYTHON, "-m", "bench.loadgen", *args, "--json", str(report_path)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    events: list[dict[str, Any]] = []

    def on_line(t: float, line: str) -> None:
        if line.startswith("loadgen-event "):
            events.append(json.loads(line.removeprefix("loadgen-event ")))
        elif "Traceback" in line or "Error" in line:
            print(f"[loadgen] {line}", file=sys.stderr, flush=True)

    child = ManagedProcess(
        "loadgen", cmd, log_path=workdir / "loadgen.log", lifetime=timeout, kill_after=15,
        cwd=REPO, env=child_env(), capture="lines", foreground=True, on_line=on_line,
    )  # fmt: skip
    try:
        child.start()
        code = child.wait(timeout + 20)
        if code is None or code == 124:  # timeout(1) stopped it
            raise RuntimeError(f"load generator timed out:\n{child.log_tail()}")
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            raise RuntimeError(
                f"load generator failed (exit {code}):\n{child.log_tail()}"
            ) from None
    finally:
        child.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return LoadgenRun(report, events, cmd, code)


# -------------------------------------------------------------------- output


def utc_stamp() -> str:
    """``20250101T120000Z``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def default_json_path(name: str) -> Path:
    """``bench/results/<name>-<UTC timestamp>.json`` (the directory ignores itself in git)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# benchmark outputs: never committed\n*\n")
    return RESULTS_DIR / f"{name}-{utc_stamp()}.json"


def write_json(data: Mapping[str, Any], dest: str | None, name: str) -> str:
    """Write ``data`` to ``dest`` (``-`` = stdout, None = the default path); returns where."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    if dest == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return "stdout"
    path = Path(dest) if dest else default_json_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return str(path)


def fmt(value: Any, spec: str = "") -> str:
    """Format a table cell: ``-`` for None, ``spec`` for numbers."""
    if value is None:
        return "-"
    if isinstance(value, float) and spec:
        return format(value, spec)
    if isinstance(value, int) and not isinstance(value, bool) and spec.endswith("f"):
        return format(float(value), spec)
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain right-aligned text table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    """Progress to stderr (stdout carries the tables)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
