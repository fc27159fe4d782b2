"""Capacity: how many concurrent calls one gateway process carries on one core.

Ramp (default)::

    python -m bench.capacity [--steps 50,100,...,1000] [--hold 20] [--rate 50]
                             [--agent echo|assistant] [--driver loadgen|sipp]

One gateway process pinned to CPU 0 (``taskset -c 0``); the load generator
(``bench.loadgen``, or SIPp with ``--driver sipp``), this script, and in
assistant mode the fake cloud services (``bench.fake_services``) on CPU 1.
Each step places its calls at ``--rate``, holds them ``--hold`` seconds once
all are up, hangs up, and waits for the gateway to be idle again. Per step:
gateway CPU (of one core) and CPU per call, RSS and memory per call (RSS over
the idle gateway's, divided by the calls), tick lateness from the gateway's
stats lines during the hold, the receiver's pacing deviation, RTP loss, call
setup time and failed calls; then the largest count that holds p99 lateness
≤ 5 ms with zero loss and no failed call.

Callers (``--audio``, also ``--caller-audio``): a tone (the default; with ``--agent
assistant`` in talk bursts, ``--talk``), silence throughout (no bursts: a listening call
that hears nothing), or noisy speech (``noisy``: a sentence over
café babble, street, TV or music at ``--snr`` dB every ``--noisy-every`` s, made once by
``bench/caller_audio.py`` and looped by the load generator from memory), which a model voice
detector steps on every frame, where a tone's silences cost it nothing. ``--voice-detector
energy|model`` sets the assistant's ``SIPGW_VOICE_DETECTOR``; without it, tone and silence
callers run the energy detector (a speech model hears no voice in a tone) and noisy ones the
model, the gateway's default. The STT fake hears noisy callers as the service would:
it reads the loop's script, transcribes the sentence each caller said and ends the turn on
the caller's silence, per docs/cloud-apis.md §1.7 (``--stt-room transcribed|silent``:
whether the room's voices are turns of their own).

Past capacity (``--overload``): the gateway runs with its overload protection on
(``--overload-lateness-ms``, ``--overload-cpu-percent``; other settings at their
defaults; without the flag it is off, so a ramp measures how every call degrades
together). Each step then also reports the calls refused with 503 (``503``) apart from
the failed ones: past capacity the admitted calls must stay within the lateness limit
and none may fail, the rest being refused cleanly.

Side by side (``--compare``): the same load generator, the same steps
(``--compare-steps``), against sipgw's echo agent, SIPp's answering scenario
with ``-rtp_echo`` (a C++ reference for the media path: immediate echo, no
jitter buffer, no ticker) and an echo server on pyVoIP 1.6.8
(``bench/references/pyvoip_echo.py`` in ``bench/.venv-pyvoip``, created on
first use; thread-per-call, so its steps are capped at ``--pyvoip-max``),
each pinned to CPU 0 in turn; with the ratios of CPU per call and receiver
p99 pacing deviation. ``--rounds N`` runs the targets' steps N times, in turn
(sipgw, SIPp, sipgw, SIPp, ...), and gives each ratio as the median of the
rounds' ratios: on a shared machine the CPU one step costs drifts by more
than the difference measured, and a round compares runs minutes apart.

Per machine (``--machine``, in ``bench/capacity_machine.py``): for each count in
``--processes`` (default 1,2), that many gateway processes pinned one per CPU with
``taskset`` (the port plan of ``sipgw serve --workers N``), each step's calls split
between them with one load generator per process (not pinned: on a 2-core box they share
the cores), the worst process deciding whether a step held; with each process's own CPU
per call and the calls per core derived from it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._harness import (
    PYTHON,
    REPO,
    CpuSampler,
    Gateway,
    GatewayOptions,
    ProcSampler,
    add_run_options,
    fmt,
    format_table,
    log,
    machine_info,
    percentile,
    pin_self,
    process_window,
    run_loadgen,
    sipp_version,
    write_json,
)
from bench.capacity_steps import (
    TARGET_CALLS,
    TARGET_MEM_KB,
    TARGET_SETUP_P99_MS,
    _r,
    _strip,
    add_stt_options,
    assistant_env,
    caller_audio,
    count_refusals,
    fake_services,
    fakes_tally,
    idle_baseline,
    loadgen_args,
    loadgen_timeout,
    overload_flags,
    overload_late_ms,
    row_ok,
    shared_port_flags,
    step_row,
    tally_between,
    voice_detector,
)
from sipgw.app.evaluation.audio import tone_frame
from sipgw.app.evaluation.ports import free_port, wait_udp_bound
from sipgw.app.evaluation.process import ManagedProcess, child_env, tail
from tests.toolkit.peers.sipp import SippProcess, scenario, stat_count

PYVOIP_VENV = REPO / "bench" / ".venv-pyvoip"
PYVOIP_SCRIPT = REPO / "bench" / "references" / "pyvoip_echo.py"
PYVOIP_VERSION = "1.6.8"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _idle_again(taking_calls: bool, stats: dict[str, Any]) -> bool:
    """A stats line with no call left (and, with ``taking_calls``, not overloaded)."""
    return stats["calls"] == 0 and not (taking_calls and stats.get("overloaded"))


def run_ramp(args: argparse.Namespace) -> dict[str, Any]:
    """Steps against one gateway, driven by bench.loadgen or SIPp."""
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        fakes: ManagedProcess | None = None
        if args.agent == "assistant":
            env, fakes = stack.enter_context(fake_services(args))
            if args.answer_wait_ms is not None:
                env["SIPGW_ANSWER_WAIT_MS"] = f"{args.answer_wait_ms:d}"
            env["SIPGW_IDLE_AFTER"] = "0"  # callers held silent on purpose stay on the line
            env.update(assistant_env(args))
        gw = Gateway(
            GatewayOptions(
                agent=args.agent,
                cpu=args.gateway_cpu,
                stats_interval=args.stats_interval,
                env=env,
                gc_probe=args.gc_probe,
                extra_args=overload_flags(args) + shared_port_flags(args),
            )
        )
        address = gw.start()
        stack.callback(gw.stop)
        fake_sampler = None
        if fakes is not None and fakes.pid is not None:
            fake_sampler = ProcSampler(fakes.pid).start()
        if fake_sampler is not None:
            stack.callback(fake_sampler.stop)
        log(f"gateway pid {gw.pid} on {address[0]}:{address[1]} (CPU {args.gateway_cpu})")
        assert gw.sampler is not None
        idle = idle_baseline(gw.sampler, max(args.settle, 2.0))
        log(f"idle: RSS {idle['rss_kb']} kB, CPU {idle['cpu_percent']}%")
        rows: list[dict[str, Any]] = []
        for index, calls in enumerate(args.steps):
            log(f"step {calls} calls ({args.driver})")
            before = fakes_tally(fakes) if fakes is not None else None
            if args.driver == "sipp":
                row = sipp_step(gw, address, calls, args, idle["rss_kb"])
            else:
                row = loadgen_step(gw, address, calls, args, idle["rss_kb"])
            if fake_sampler is not None:
                t0, t1 = row["window"]
                row["fakes_cpu_percent"] = _r(fake_sampler.cpu_percent(t0, t1), 1)
            if args.overload:
                count_refusals(row)
            row["ok"] = row_ok(row, overload_late_ms(args))
            rows.append(row)
            log(
                f"  CPU {fmt(row['cpu_percent'], '.1f')}%  tick p99 "
                f"{fmt(row['tick_late_p99_ms'])} ms  loss {fmt(row.get('loss'))}  "
                f"failed {fmt(row.get('failed'))}  ok={row['ok']}"
            )
            # back to 0 calls; with --overload and a step to follow, also until it takes calls
            # again (the next step starts clean; after the last one nothing would)
            recover = args.overload and index < len(args.steps) - 1
            if not gw.wait_stats(functools.partial(_idle_again, recover), 60):
                log(
                    "  gateway did not return to 0 calls"
                    + (" (and not overloaded)" if recover else "")
                    + " within 60 s"
                )
            if fakes is not None:  # the step's calls are over: what they asked the fakes for
                row["fakes_tally"] = tally_between(before, fakes_tally(fakes))
                log(f"  fakes asked: {row['fakes_tally']}")
            time.sleep(args.settle)
            broken = (row.get("failed") or 0) > calls * 0.2 or (row.get("loss") or 0) > 0.2
            if broken and not args.keep_going:
                log("  step broke down (>20% failed or lost): stopping the ramp")
                break
        return {
            "gateway_command": gw.command,
            "gateway_errors": gw.errors[:20],
            "idle": idle,
            "steps": rows,
        }


def loadgen_step(
    gw: Gateway,
    address: tuple[str, int],
    calls: int,
    args: argparse.Namespace,
    idle_rss_kb: float | None,
) -> dict[str, Any]:
    """One step with bench.loadgen."""
    run = run_loadgen(
        loadgen_args(address, calls, args),
        cpu=args.loadgen_cpu,
        timeout=loadgen_timeout(calls, args),
    )
    report = run.report
    t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
    window = gw.window_figures(t0, t1)
    ramp = gw.window_figures(report["times"]["start"], t0)
    row = step_row(calls, window, idle_rss_kb, report)
    row.update(window=[t0, t1], gateway=window, gateway_ramp=ramp, loadgen=_strip(report))
    row["ramp_tick_late_max_ms"] = ramp.get("tick_late_max_ms")
    row["loadgen_ramp_tick_late_max_ms"] = report["loadgen"]["ramp_tick_late_max_ms"]
    if args.gc_probe:
        row["gc_pause_max_ms"] = window.get("gc_pause_max_ms")
        row["ramp_gc_pause_max_ms"] = ramp.get("gc_pause_max_ms")
    return row


# ---------------------------------------------------------------------- SIPp as the driver


def _sipp_rtts(workdir: Path) -> list[float]:
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            with contextlib.suppress(IndexError, ValueError):
                values.append(float(parts[1]))
    return values


def media_port_flags(port: int | None) -> list[str]:
    """SIPp's ``-mp`` for ``port``; none for None, and SippProcess draws free ports (a fixed
    port could be anyone's on a loopback shared with other tests: 40000 is ephemeral)."""
    return [] if port is None else ["-mp", str(port)]


def sipp_step(
    gw: Gateway,
    address: tuple[str, int],
    calls: int,
    args: argparse.Namespace,
    idle_rss_kb: float | None,
) -> dict[str, Any]:
    """One step driven by SIPp (uac_rtp.xml, rtp_stream of a raw μ-law tone)."""
    if shutil.which("sipp") is None:
        raise SystemExit("capacity: --driver sipp needs sipp (Debian package sip-tester)")
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-sipp-"))
    try:
        tone = tone_frame(1000.0, phase=math.pi / 2)
        (workdir / "tone1k.ulaw").write_bytes(tone * 50)  # 1 s, looped
        ramp_s = calls / args.rate
        pause_ms = int((ramp_s + args.hold + 1.0) * 1000)
        sipp = SippProcess(
            [
                f"{address[0]}:{address[1]}", "-sf", scenario("uac_rtp.xml"), "-s", "echo",
                *media_port_flags(args.sipp_media_port), "-l", str(calls), "-m", str(calls),
                "-r", f"{args.rate:g}", "-d", str(pause_ms), "-trace_rtt", "-rtt_freq", "1",
                "-timeout", f"{int(pause_ms / 1000 + ramp_s + 60)}s",
            ],
            timeout=pause_ms / 1000 + ramp_s + 120, cwd=workdir, name="sipp", traces=["stat"],
            cpu=args.loadgen_cpu,
        )  # fmt: skip
        t_start = time.time()
        with sipp:
            result = sipp.wait()
        code = result.returncode
        rtts = _sipp_rtts(workdir)
        # all calls are up from about ramp_s after the start until the first one hangs up
        t0 = t_start + ramp_s + 1.0
        t1 = t_start + ramp_s + args.hold
        window = gw.window_figures(t0, t1)
        row = step_row(calls, window, idle_rss_kb, None)
        failed = stat_count(result.stat, "FailedCall(C)")
        row.update(
            {
                "setup_p50_ms": _r(percentile(rtts, 50), 1),
                "setup_p99_ms": _r(percentile(rtts, 99), 1),
                "setup_resolution_ms": 1,
                "answered": stat_count(result.stat, "SuccessfulCall(C)"),
                "failed": failed if failed is not None else (0 if code == 0 else calls),
                "sipp_retransmissions": stat_count(result.stat, "Retransmissions(C)"),
                "sipp_exit": code,
                "sipp_command": sipp.process.command,
                "window": [t0, t1],
                "gateway": window,
                "rtp_in_per_call_per_s": (
                    _r(window["rtp_in_delta"] / calls / window["window_s"], 2)
                    if window.get("rtp_in_delta") is not None and window["window_s"]
                    else None
                ),
            }
        )
        if code not in (0, 1):
            row["sipp_tail"] = tail(result.log_path, 15)
        # the receiver's view is the gateway's jitter buffer: loss there is SIPp's stream
        row["lost"] = window.get("jb_lost_delta")
        return row
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------- side by side


def ensure_pyvoip() -> Path | None:
    """``bench/.venv-pyvoip`` with pyVoIP 1.6.8 (created on first use); None if it fails."""
    python = PYVOIP_VENV / "bin" / "python"
    probe = [str(python), "-c", "import pyVoIP,sys; sys.exit(pyVoIP.__version__ != '1.6.8')"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating {PYVOIP_VENV} with pyVoIP=={PYVOIP_VERSION}")
    try:
        subprocess.run([PYTHON, "-m", "venv", "--clear", str(PYVOIP_VENV)], check=True)
        (PYVOIP_VENV / ".gitignore").write_text("*\n")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"pyVoIP=={PYVOIP_VERSION}"],
            check=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"pyVoIP venv failed: {exc}")
        return None
    return python


class Target:
    """Something that answers calls, pinned to the target CPU."""

    name = ""
    per_step = False  # restart for every step
    command_line: list[str] = []

    def start(self, lg_sip_port: int) -> tuple[str, int]:
        """Start; returns the SIP address."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop."""

    @property
    def sampler(self) -> ProcSampler:
        """Its /proc sampler."""
        raise NotImplementedError

    cpu: int | None = None
    cpus: CpuSampler | None = None

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """Figures over a window."""
        return process_window(self.sampler, self.cpus, self.cpu, t0, t1)


class SipgwTarget(Target):
    """The gateway with the echo agent."""

    name = "sipgw"

    def __init__(self, args: argparse.Namespace) -> None:
        self.gw = Gateway(
            GatewayOptions(
                agent="echo",
                cpu=args.gateway_cpu,
                stats_interval=args.stats_interval,
                extra_args=shared_port_flags(args),
            )
        )

    def start(self, lg_sip_port: int) -> tuple[str, int]:
        self.command_line = self.gw.command
        return self.gw.start()

    def stop(self) -> None:
        self.gw.stop()

    @property
    def sampler(self) -> ProcSampler:
        assert self.gw.sampler is not None
        return self.gw.sampler

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        return self.gw.window_figures(t0, t1)


class ChildTarget(Target):
    """A reference answerer run as a child process."""

    def __init__(self, name: str, cpu: int | None) -> None:
        self.name = name
        self.cpu = cpu
        self.child: ManagedProcess | None = None
        self._sampler: ProcSampler | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"sipgw-{name}-"))

    def spawn(self, sip_port: int, lg_sip_port: int) -> ManagedProcess:
        """Start the answerer (pinned to :attr:`cpu`, without a time bound)."""
        raise NotImplementedError

    def start(self, lg_sip_port: int) -> tuple[str, int]:
        port = free_port()
        child = self.child = self.spawn(port, lg_sip_port)
        self.command_line = child.command
        if not wait_udp_bound(port, 20) or not child.alive:
            raise RuntimeError(f"{self.name} did not start:\n{child.log_tail()}")
        time.sleep(0.5)
        assert child.pid is not None
        self._sampler = ProcSampler(child.pid).start()
        self.cpus = CpuSampler().start()
        return ("127.0.0.1", port)

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        if self.cpus is not None:
            self.cpus.stop()
        if self.child is not None:
            self.child.send_signal(signal.SIGTERM)
            if self.child.wait(10) is None:
                self.child.kill()

    @property
    def sampler(self) -> ProcSampler:
        assert self._sampler is not None
        return self._sampler


class SippEchoTarget(ChildTarget):
    """``sipp -sn uas -rtp_echo``: answers and echoes RTP at once (C++)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__("sipp", args.gateway_cpu)
        self.media_port = args.sipp_media_port

    def spawn(self, sip_port: int, lg_sip_port: int) -> ManagedProcess:
        args = ["-sn", "uas", "-p", str(sip_port), *media_port_flags(self.media_port), "-rtp_echo"]
        sipp = SippProcess(args, timeout=None, cwd=self.workdir, traces=(), cpu=self.cpu)
        return sipp.start().process


class PyvoipTarget(ChildTarget):
    """``bench/references/pyvoip_echo.py`` on pyVoIP 1.6.8 (thread per call)."""

    per_step = True

    def __init__(self, args: argparse.Namespace, python: Path) -> None:
        super().__init__("pyvoip", args.gateway_cpu)
        self.python = python

    def spawn(self, sip_port: int, lg_sip_port: int) -> ManagedProcess:
        cmd = [
            str(self.python), str(PYVOIP_SCRIPT), "--bind", "127.0.0.1", "--sip-port",
            str(sip_port), "--server", f"127.0.0.1:{lg_sip_port}", "--rtp-ports", "40000-49999",
        ]  # fmt: skip
        child = ManagedProcess(
            self.name, cmd, log_path=self.workdir / "pyvoip.log", lifetime=None,
            cwd=self.workdir, env=child_env(), cpu=self.cpu,
        )  # fmt: skip
        child.start()
        return child


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    """The same load against sipgw, SIPp's echo and pyVoIP's echo."""
    targets: list[Target] = []
    notes: list[str] = []
    for name in args.targets:
        if name == "sipgw":
            targets.append(SipgwTarget(args))
        elif name == "sipp":
            if shutil.which("sipp") is None:
                notes.append("sipp: not installed (Debian package sip-tester); skipped")
            else:
                targets.append(SippEchoTarget(args))
        elif name == "pyvoip":
            python = ensure_pyvoip()
            if python is None:
                notes.append("pyvoip: could not create bench/.venv-pyvoip; skipped")
            else:
                targets.append(PyvoipTarget(args, python))
    results: dict[str, list[dict[str, Any]]] = {target.name: [] for target in targets}
    commands: dict[str, list[str]] = {}
    if "pyvoip" in results:
        skipped = [n for n in args.compare_steps if n > args.pyvoip_max]
        if skipped:
            notes.append(f"pyvoip: steps {skipped} skipped (capped at --pyvoip-max)")
    for round_ in range(1, args.rounds + 1):
        if args.rounds > 1:
            log(f"round {round_} of {args.rounds}")
        for target in targets:
            compare_target(target, args, round_, results[target.name], commands)
    return {
        "targets": results,
        "ratios": compare_ratios(results),
        "rounds": args.rounds,
        "notes": notes,
        "commands": commands,
    }


def compare_target(
    target: Target,
    args: argparse.Namespace,
    round_: int,
    rows: list[dict[str, Any]],
    commands: dict[str, list[str]],
) -> None:
    """One round of ``--compare-steps`` against one target; its rows appended to ``rows``."""
    extra = ["--spin-us", f"{args.spin_us:g}"]
    steps = list(args.compare_steps)
    if target.name == "pyvoip":
        steps = [n for n in steps if n <= args.pyvoip_max]
    started = False
    idle_rss: float | None = None
    try:
        for calls in steps:
            lg_port = free_port()
            if not started or target.per_step:
                if started:
                    target.stop()
                    time.sleep(1)
                address = target.start(lg_port)
                commands[target.name] = target.command_line
                started = True
                idle = idle_baseline(target.sampler, max(args.settle, 2.0))
                idle_rss = idle["rss_kb"]
            log(f"{target.name}: step {calls} calls")
            try:
                run = run_loadgen(
                    loadgen_args(address, calls, args, [*extra, "--sip-port", str(lg_port)]),
                    cpu=args.loadgen_cpu,
                    timeout=loadgen_timeout(calls, args),
                )
            except RuntimeError as exc:
                log(f"  load generator failed: {exc}")
                rows.append({"calls": calls, "round": round_, "error": str(exc)[-2000:]})
                break
            report = run.report
            t0, t1 = report["times"]["measure_start"], report["times"]["measure_end"]
            window = target.window(t0, t1)
            row = step_row(calls, window, idle_rss, report)
            row.update(round=round_, window=[t0, t1], target_window=window, loadgen=_strip(report))
            rows.append(row)
            log(
                f"  CPU {fmt(row['cpu_percent'], '.1f')}%  rx p99 "
                f"{fmt(row['rx_pacing_p99_ms'])} ms  loss {fmt(row['loss'])}  "
                f"failed {row['failed']}"
            )
            if isinstance(target, SipgwTarget):
                target.gw.wait_stats(lambda d: d["calls"] == 0, 60)
            time.sleep(args.settle)
    finally:
        if started:
            target.stop()


def compare_ratios(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """sipgw / SIPp and sipgw / pyVoIP per step: CPU per call and receiver p99 pacing.

    Each round's sipgw row against the same round's other row; with several rounds the
    ratio is their median, the rounds' own in ``..._rounds``.
    """

    def usable(rows: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
        return {(r["calls"], r.get("round", 1)): r for r in rows if "error" not in r}

    base = usable(results.get("sipgw", []))
    out = []
    for calls in sorted({calls for calls, _ in base}):
        entry: dict[str, Any] = {"calls": calls}
        for other in ("sipp", "pyvoip"):
            theirs = usable(results.get(other, []))
            for key, label in (("cpu_per_call_percent", "cpu"), ("rx_pacing_p99_ms", "pacing")):
                ratios = []
                for (step, round_), row in sorted(base.items()):
                    match = theirs.get((step, round_)) if step == calls else None
                    a, b = row.get(key), match.get(key) if match else None
                    if a and b:
                        ratios.append(a / b)
                name = f"{label}_sipgw_over_{other}"
                entry[name] = _r(statistics.median(ratios), 2) if ratios else None
                if len(ratios) > 1:
                    entry[f"{name}_rounds"] = [_r(r, 2) for r in ratios]
        out.append(entry)
    return out


# ---------------------------------------------------------------------- verdicts and tables


def ramp_verdict(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The largest count that held, and the targets."""
    ok_counts = [r["calls"] for r in rows if r["ok"]]
    held_up_to = None
    for r in rows:
        if not r["ok"]:
            break
        held_up_to = r["calls"]
    upto = [r for r in rows if r["calls"] <= TARGET_CALLS]
    setup_p99 = [r["setup_p99_ms"] for r in upto if r.get("setup_p99_ms") is not None]
    clean = [r for r in rows if not r.get("failed") and r.get("mem_per_call_kb") is not None]
    mem = clean[-1]["mem_per_call_kb"] if clean else None
    mem_at = clean[-1]["calls"] if clean else None
    verdict: dict[str, Any] = {
        "largest_ok_calls": max(ok_counts) if ok_counts else None,
        "held_every_step_up_to": held_up_to,
        "criteria": f"gateway p99 tick lateness <= {overload_late_ms(args):g} ms (median of the "
        "stats intervals in the hold), zero RTP loss, zero failed calls"
        + (" (503 refusals apart)" if args.overload else ""),
        "capacity_target": {
            "target": f">= {TARGET_CALLS} calls",
            "met": held_up_to is not None and held_up_to >= TARGET_CALLS,
            "tested_up_to": max((r["calls"] for r in rows), default=None),
        },
        "setup_target": {
            "target": f"setup p99 <= {TARGET_SETUP_P99_MS} ms at {args.rate:g} calls/s "
            f"(worst step up to {TARGET_CALLS} calls)",
            "worst_p99_ms": max(setup_p99) if setup_p99 else None,
            "met": bool(setup_p99) and max(setup_p99) <= TARGET_SETUP_P99_MS
            if args.rate == 50
            else None,
        },
        "memory_target": {
            "target": f"<= {TARGET_MEM_KB:g} KB per call",
            "kb_per_call": mem,
            "at_calls": mem_at,
            "met": mem is not None and mem <= TARGET_MEM_KB,
        },
    }
    if args.overload:
        verdict["overload"] = {
            "target": "past capacity: admitted calls within the lateness limit, the rest "
            "refused with 503, none failed",
            "answered": sum(r.get("answered") or 0 for r in rows),
            "refused_503": sum(r.get("refused_503") or 0 for r in rows),
            "failed": sum(r.get("failed") or 0 for r in rows),
            "met": bool(rows) and all(r["ok"] for r in rows),
        }
    return verdict


def ramp_table(rows: list[dict[str, Any]], driver: str) -> str:
    """The readable table of a ramp."""
    headers = [
        "calls", "CPU %", "CPU/call %", "RSS MB", "KB/call", "tick p99", "(worst)", "tick max",
        "rx p99", "rx max", "loss", "setup p50", "setup p99", "answered", "503", "failed",
        "LG p99", "LG CPU", "other", "ok",
    ]  # fmt: skip
    out = []
    for r in rows:
        rss = r.get("rss_kb")
        out.append(
            [
                str(r["calls"]),
                fmt(r.get("cpu_percent"), ".1f"),
                fmt(r.get("cpu_per_call_percent"), ".3f"),
                fmt(rss / 1024 if rss else None, ".1f"),
                fmt(r.get("mem_per_call_kb"), ".1f"),
                fmt(r.get("tick_late_p99_ms"), ".1f"),
                fmt(r.get("tick_late_p99_worst_ms"), ".1f"),
                fmt(r.get("tick_late_max_ms"), ".1f"),
                fmt(r.get("rx_pacing_p99_ms"), ".2f"),
                fmt(r.get("rx_pacing_max_ms"), ".1f"),
                fmt(r.get("loss"), ".4f") if driver != "sipp" else f"jb {fmt(r.get('lost'))}",
                fmt(r.get("setup_p50_ms"), ".1f"),
                fmt(r.get("setup_p99_ms"), ".1f"),
                fmt(r.get("answered")),
                fmt(r.get("refused_503")),
                fmt(r.get("failed")),
                fmt(r.get("loadgen_tick_late_p99_ms"), ".2f"),
                fmt(r.get("loadgen_cpu_percent"), ".0f"),
                fmt(r.get("others_on_cpu_percent"), ".0f"),
                "yes" if r.get("ok") else "NO",
            ]
        )
    return format_table(headers, out)


def compare_table(result: dict[str, Any]) -> str:
    """The readable side-by-side tables."""
    headers = [
        "target", "round", "calls", "CPU %", "CPU/call %", "RSS MB", "rx p50", "rx p99", "rx max",
        "loss", "setup p50", "setup p99", "failed", "LG p99", "other",
    ]  # fmt: skip
    out = []
    for name, rows in result["targets"].items():
        for r in rows:
            round_ = str(r.get("round", 1))
            if "error" in r:
                out.append([name, round_, str(r["calls"]), "error", *["-"] * (len(headers) - 4)])
                continue
            rss = r.get("rss_kb")
            out.append(
                [
                    name,
                    round_,
                    str(r["calls"]),
                    fmt(r.get("cpu_percent"), ".1f"),
                    fmt(r.get("cpu_per_call_percent"), ".3f"),
                    fmt(rss / 1024 if rss else None, ".1f"),
                    fmt(r.get("rx_pacing_p50_ms"), ".2f"),
                    fmt(r.get("rx_pacing_p99_ms"), ".2f"),
                    fmt(r.get("rx_pacing_max_ms"), ".1f"),
                    fmt(r.get("loss"), ".4f"),
                    fmt(r.get("setup_p50_ms"), ".1f"),
                    fmt(r.get("setup_p99_ms"), ".1f"),
                    fmt(r.get("failed")),
                    fmt(r.get("loadgen_tick_late_p99_ms"), ".2f"),
                    fmt(r.get("others_on_cpu_percent"), ".0f"),
                ]
            )
    text = format_table(headers, out)
    ratio_rows = [
        [
            str(e["calls"]),
            fmt(e.get("cpu_sipgw_over_sipp"), ".2f"),
            " ".join(f"{x:.2f}" for x in e.get("cpu_sipgw_over_sipp_rounds", [])) or "-",
            fmt(e.get("cpu_sipgw_over_pyvoip"), ".2f"),
            fmt(e.get("pacing_sipgw_over_sipp"), ".2f"),
            fmt(e.get("pacing_sipgw_over_pyvoip"), ".2f"),
        ]
        for e in result["ratios"]
    ]
    text += "\n\nratios (sipgw / other; CPU per call, receiver p99 pacing deviation;"
    text += " medians of the rounds):\n"
    text += format_table(
        ["calls", "CPU/SIPp", "rounds", "CPU/pyVoIP", "pacing/SIPp", "pacing/pyVoIP"],
        ratio_rows,
    )
    return text


# ---------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=_ints, default=_ints("50,100,200,300,400,500,600,800,1000"))
    p.add_argument("--hold", type=float, default=20.0, help="s held once all calls are up")
    p.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    p.add_argument("--agent", choices=("echo", "assistant"), default="echo")
    p.add_argument("--driver", choices=("loadgen", "sipp"), default="loadgen")
    p.add_argument(
        "--audio",
        "--caller-audio",
        dest="audio",
        choices=("tone", "silence", "noisy"),
        default="tone",
        help="what callers send: a 1 kHz tone (default), silence, or noisy speech: a "
        "sentence over a background every --noisy-every s, the backgrounds in turn "
        "(bench/caller_audio.py; needs espeak-ng and sox; --talk does not apply)",
    )
    p.add_argument(
        "--snr", type=float, default=10.0, help="--audio noisy: speech over background, dB"
    )
    p.add_argument(
        "--noise",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=["babble", "street", "tv", "music"],
        help="--audio noisy: the backgrounds, in turn (of babble,street,tv,music,pink)",
    )
    p.add_argument(
        "--noisy-every", type=float, default=6.0, help="--audio noisy: seconds per sentence"
    )
    add_stt_options(p)
    p.add_argument(
        "--caller-voice",
        metavar="WAV",
        help="--audio noisy: a recorded caller (8 kHz mono 16-bit WAV) for the sentences",
    )
    p.add_argument(
        "--voice-detector",
        choices=("energy", "model"),
        help="assistant: SIPGW_VOICE_DETECTOR for the gateway (default: energy for tone and "
        "silence callers, model for noisy ones)",
    )
    p.add_argument(
        "--talk",
        help="caller talk bursts of the tone ON/EVERY s (default 0.8/6 with --agent assistant "
        "and tone callers, else none; silence callers send silence throughout)",
    )
    p.add_argument("--compare", action="store_true", help="sipgw vs SIPp echo vs pyVoIP echo")
    p.add_argument("--compare-steps", type=_ints, default=_ints("50,100,200,400"))
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="--compare: the targets' steps this many times, in turn; ratios are the median",
    )
    p.add_argument(
        "--targets",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=["sipgw", "sipp", "pyvoip"],
        help="--compare targets (default sipgw,sipp,pyvoip)",
    )
    p.add_argument("--pyvoip-max", type=int, default=100, help="largest step for pyVoIP")
    p.add_argument(
        "--spin-us",
        type=float,
        default=1000.0,
        help="--compare: load generator busy-waits this long before each tick, so SIPp's "
        "immediate echo shows its own jitter rather than the load generator's timer's",
    )
    add_run_options(p, stats_help="gateway stats interval (s)")
    p.add_argument("--settle", type=float, default=3.0, help="idle seconds before/between steps")
    p.add_argument(
        "--sipp-media-port",
        type=int,
        help="SIPp's RTP port (it binds the next three too); default: free ports",
    )
    p.add_argument(
        "--shared-port",
        type=int,
        default=0,
        help="the gateway's calls all on this RTP port (SIPGW_RTP_SHARED_PORT; outside "
        "its range, 10000-19999 on a default Linux); 0 = a port pair per call",
    )
    p.add_argument("--keep-going", action="store_true", help="do not stop at a broken step")
    p.add_argument(
        "--gc-probe",
        action="store_true",
        help="log the gateway's garbage-collector pauses (a sitecustomize in its PYTHONPATH)",
    )
    p.add_argument("--stt-final-latency", type=float, help="fake services: STT final latency ms")
    p.add_argument("--llm-first-token-ms", type=float, help="fake services: LLM first token ms")
    p.add_argument("--tts-first-byte-ms", type=float, help="fake services: TTS first byte ms")
    p.add_argument(
        "--call-records",
        metavar="DIR",
        help="assistant: the gateway writes each call's record there (SIPGW_CALL_RECORD_DIR; "
        "default none)",
    )
    p.add_argument(
        "--answer-wait-ms",
        type=int,
        help="assistant: SIPGW_ANSWER_WAIT_MS (how long the 200 OK may wait for the greeting)",
    )
    p.add_argument(
        "--overload",
        action="store_true",
        help="run the gateway with overload protection on: 503s are counted as refusals",
    )
    p.add_argument("--overload-lateness-ms", type=float, default=10.0, help="with --overload")
    p.add_argument("--overload-cpu-percent", type=float, default=90.0, help="with --overload")
    p.add_argument(
        "--machine",
        action="store_true",
        help="per machine: N gateway processes, one per CPU, the calls split between them "
        "(bench/capacity_machine.py); steps are calls per machine",
    )
    p.add_argument(
        "--processes", type=_ints, default=_ints("1,2"), help="--machine: process counts to run"
    )
    return p


def callers_talk(audio: str, agent: str, talk: str | None) -> str | None:
    """The load generator's ``--talk`` for these callers: ``talk`` for tone callers, 0.8/6
    by default with the assistant; none for noisy callers (their loop talks) and silence
    callers (the bursts are the tone: a silence caller sends silence throughout). ValueError
    for ``talk`` given with either."""
    if audio == "noisy" and talk is not None:
        raise ValueError("--talk: noisy callers talk as their loop does (--noisy-every)")
    if audio == "silence" and talk is not None:
        raise ValueError("--talk: silence callers send no bursts (the bursts are the tone)")
    if audio == "tone" and talk is None and agent == "assistant":
        return "0.8/6"
    return talk


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.audio == "noisy" and args.driver == "sipp":
        parser.error("--audio noisy: with --driver loadgen (SIPp sends its tone)")
    try:
        args.talk = callers_talk(args.audio, args.agent, args.talk)
    except ValueError as exc:
        parser.error(str(exc))
    args.voice_detector = voice_detector(args)  # named in the figures, whichever the callers need
    if not args.machine:  # per machine: every process shares every CPU
        pin_self(args.loadgen_cpu)
    machine = machine_info()
    if len(os.sched_getaffinity(0)) < 1 or (os.cpu_count() or 1) < 2:
        log("warning: fewer than 2 CPUs: gateway and load generator share a core")
    params = {k: v for k, v in vars(args).items() if k != "json"}
    params["argv"] = sys.argv[1:] if argv is None else argv
    data: dict[str, Any] = {
        "tool": "capacity",
        "mode": "compare" if args.compare else "machine" if args.machine else f"ramp-{args.driver}",
        "params": params,
        "machine": machine,
        "sipp": sipp_version() if (args.compare or args.driver == "sipp") else None,
    }
    with caller_audio(args):
        return _run(args, data)


def _run(args: argparse.Namespace, data: dict[str, Any]) -> int:
    """The mode the options name, its tables and JSON."""
    if args.machine:
        from bench.capacity_machine import machine_table, machine_verdict, run_machine

        result = run_machine(args)
        data.update(result)
        table = machine_table(result)
        title = (
            f"per machine: agent {args.agent}, processes {args.processes}, one per CPU, rate "
            f"{args.rate:g}/s in total, hold {args.hold:g} s; load generators not pinned"
        )
        verdict_lines = machine_verdict(result)
    elif args.compare:
        result = run_compare(args)
        data.update(result)
        table = compare_table(result)
        title = "side by side, same load generator, target pinned to CPU " + str(args.gateway_cpu)
        verdict_lines = [f"note: {n}" for n in result["notes"]]
    else:
        result = run_ramp(args)
        data.update(result)
        verdict = ramp_verdict(result["steps"], args)
        data["verdict"] = verdict
        table = ramp_table(result["steps"], args.driver)
        title = (
            f"capacity ramp: agent {args.agent}, driver {args.driver}, rate {args.rate:g}/s, "
            f"hold {args.hold:g} s, callers {describe_callers(args)}; gateway on CPU "
            f"{args.gateway_cpu}, load on CPU {args.loadgen_cpu}"
        )
        verdict_lines = [
            "(tick: the gateway's ticker lateness from its stats lines, median of the "
            "intervals in the hold, and the worst; rx: deviation of inter-arrival from 20 ms "
            "at the receiver; LG: the load generator's own tick p99 and CPU; other: CPU % "
            "that other processes took from the gateway's core)",
            *format_verdict(verdict),
        ]
    suffix = "-compare" if args.compare else "-machine" if args.machine else ""
    where = write_json(data, args.json, "capacity" + suffix)
    if args.json != "-":
        print(title)
        print(table)
        print()
        for line in verdict_lines:
            print(line)
        print(f"\nJSON: {where}")
    return 0


def describe_callers(args: argparse.Namespace) -> str:
    """What the callers send, and the assistant's voice detector."""
    if args.audio == "noisy":
        what = f"noisy speech at {args.snr:g} dB SNR over {'/'.join(args.noise)}"
    else:
        what = args.audio + (f" in bursts {args.talk}" if args.talk else "")
    return what + f", voice detector {voice_detector(args)}"


def format_verdict(v: dict[str, Any]) -> list[str]:
    """Verdict lines against the targets."""

    def yes(met: bool | None) -> str:
        return "n/a" if met is None else ("MET" if met else "NOT MET")

    cap, setup, mem = v["capacity_target"], v["setup_target"], v["memory_target"]
    overload = v.get("overload")
    extra = []
    if overload is not None:
        extra = [
            f"overload ({overload['target']}): answered {overload['answered']}, refused "
            f"{overload['refused_503']}, failed {overload['failed']} -> {yes(overload['met'])}"
        ]
    return [
        *extra,
        f"largest step that held ({v['criteria']}): {fmt(v['largest_ok_calls'])}; "
        f"every step held up to {fmt(v['held_every_step_up_to'])}",
        f"target {cap['target']} on one core: {yes(cap['met'])} (tested up to "
        f"{fmt(cap['tested_up_to'])})",
        f"target {setup['target']}: worst {fmt(setup['worst_p99_ms'])} ms -> {yes(setup['met'])}",
        f"target {mem['target']}: {fmt(mem['kb_per_call'])} KB at {fmt(mem['at_calls'])} calls "
        f"-> {yes(mem['met'])}",
    ]


if __name__ == "__main__":
    sys.exit(main())
