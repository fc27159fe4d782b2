"""What the capacity benchmarks share: targets, one step's row and verdict, load generator
arguments, overload flags and the fake AI services (bench.capacity and bench.capacity_machine
both use them)."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench._harness import (
    PYTHON,
    REPO,
    ProcSampler,
    wait_until,
)
from sipgw.app.evaluation.process import ManagedProcess, child_env

TARGET_LATE_MS = 5.0
TARGET_CALLS = 500
TARGET_SETUP_P99_MS = 20.0
TARGET_MEM_KB = 200.0


# ---------------------------------------------------------------------- helpers


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def idle_baseline(sampler: ProcSampler, seconds: float) -> dict[str, Any]:
    """RSS and CPU of an idle process over the next ``seconds``."""
    t0 = time.time()
    time.sleep(seconds)
    t1 = time.time()
    return {
        "rss_kb": sampler.rss_kb(t0, t1),
        "cpu_percent": _r(sampler.cpu_percent(t0, t1), 1),
        "window_s": round(t1 - t0, 2),
    }


def loadgen_args(
    target: tuple[str, int], calls: int, args: argparse.Namespace, extra: Sequence[str] = ()
) -> list[str]:
    """Load generator options for one step: ``args.audio`` with ``args.talk``, or the loop
    :func:`caller_audio` made (``args.audio_file``; the benches without it have none)."""
    out = [
        "--target", f"{target[0]}:{target[1]}", "--calls", str(calls), "--rate", f"{args.rate:g}",
        "--hold", f"{args.hold:g}",
    ]  # fmt: skip
    audio_file = getattr(args, "audio_file", None)
    if audio_file is not None:
        out += ["--audio-file", str(audio_file)]
    else:
        out += ["--audio", args.audio]
        if args.talk:
            out += ["--talk", args.talk]
    return out + list(extra)


def stt_script_flags(args: argparse.Namespace) -> list[str]:
    """The STT fake's flags: with noisy callers, the loop's script and ``--stt-room``; else
    none (tone and silent callers: turns on the audio's energy, one fixed transcript)."""
    script = getattr(args, "caller_script", None)
    if script is None:
        return []
    return ["--caller-script", str(script), "--stt-room", getattr(args, "stt_room", "transcribed")]


def add_stt_options(p: argparse.ArgumentParser) -> None:
    """``--stt-room``: whether the STT fake hears the noisy callers' room."""
    p.add_argument(
        "--stt-room",
        choices=("silent", "transcribed"),
        default="transcribed",
        help="--audio noisy, assistant: whether the STT fake transcribes the room's voices "
        "(babble, TV) as turns of their own",
    )


@contextlib.contextmanager
def caller_audio(args: argparse.Namespace) -> Iterator[None]:
    """With ``args.audio == "noisy"``: the noisy callers' loop (:mod:`bench.caller_audio`,
    from ``args.snr``, ``args.noise``, ``args.noisy_every``, ``args.caller_voice``) made once
    into a temporary file, named by ``args.audio_file`` while the context lasts, its script
    beside it (``args.caller_script``, for the STT fake); else nothing (both None)."""
    args.audio_file = None
    args.caller_script = None
    if args.audio != "noisy":
        yield
        return
    from bench.caller_audio import NoisyCaller, write_loop  # espeak-ng and sox

    caller = NoisyCaller(
        snr_db=args.snr,
        backgrounds=tuple(args.noise),
        every=args.noisy_every,
        voice=Path(args.caller_voice) if args.caller_voice else None,
    )
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-callers-"))
    try:
        script = workdir / "callers.json"
        args.audio_file = str(write_loop(caller, workdir / "callers.ulaw", script))
        args.caller_script = str(script)
        yield
    finally:
        args.audio_file = None
        args.caller_script = None
        shutil.rmtree(workdir, ignore_errors=True)


def voice_detector(args: argparse.Namespace) -> str:
    """The assistant's voice detector for a run: ``--voice-detector``, else the one its callers
    need: the model (the gateway's default) for noisy speech, the energy detector for a tone
    or silence (a speech model hears no voice in a tone: its talk bursts would be no turns)."""
    detector = getattr(args, "voice_detector", None)
    if detector:
        return str(detector)
    return "model" if getattr(args, "audio", "tone") == "noisy" else "energy"


def assistant_env(args: argparse.Namespace) -> dict[str, str]:
    """The assistant's settings a run sets: its voice detector (:func:`voice_detector`)."""
    return {"SIPGW_VOICE_DETECTOR": voice_detector(args)}


def loadgen_timeout(calls: int, args: argparse.Namespace) -> float:
    """Generous wall-clock bound for one load generator step."""
    return float(calls / args.rate + 8 + args.hold + calls / 200 + 10 + 60)


def step_row(
    calls: int,
    window: dict[str, Any],
    idle_rss_kb: float | None,
    report: dict[str, Any] | None,
) -> dict[str, Any]:
    """One table row from the target's window figures and the load generator's report."""
    cpu = window.get("cpu_percent")
    rss = window.get("rss_kb")
    row: dict[str, Any] = {
        "calls": calls,
        "cpu_percent": cpu,
        "cpu_per_call_percent": _r(cpu / calls, 4) if cpu is not None and calls else None,
        "rss_kb": rss,
        "mem_per_call_kb": (
            _r((rss - idle_rss_kb) / calls, 1)
            if rss is not None and idle_rss_kb is not None and calls
            else None
        ),
        "tick_late_p50_ms": window.get("tick_late_p50_ms"),
        "tick_late_p99_ms": window.get("tick_late_p99_ms"),
        "tick_late_p99_worst_ms": window.get("tick_late_p99_worst_ms"),
        "tick_late_max_ms": window.get("tick_late_max_ms"),
        "ticks_skipped": window.get("ticks_skipped_delta"),
        "others_on_cpu_percent": window.get("others_on_cpu_percent"),
        "steal_percent": window.get("steal_percent"),
        "jb_lost": window.get("jb_lost_delta"),
        "jb_late": window.get("jb_late_delta"),
    }
    if report is not None:
        rx, pacing, lg = report["rtp_rx"], report["pacing_ms"], report["loadgen"]
        row.update(
            {
                "rx_pacing_p50_ms": pacing["p50"],
                "rx_pacing_p99_ms": pacing["p99"],
                "rx_pacing_max_ms": pacing["max"],
                "loss": rx["loss"],
                "lost": rx["lost"],
                "seq_gaps": rx["gaps"],
                "duplicates": rx["duplicates"],
                "reordered": rx["reordered"],
                "ts_jumps": rx["ts_jumps"],
                "echo_audio_packets": rx["audio_packets"],
                "setup_p50_ms": report["setup_ms"]["p50"],
                "setup_p99_ms": report["setup_ms"]["p99"],
                "answered": report["calls"]["answered"],
                "failed": report["calls"]["failed"] + report["calls"]["remote_byes"],
                "failed_by_reason": report["calls"]["failed_by_reason"],
                "calls_without_rtp": report["calls"]["calls_without_rtp"],
                "loadgen_cpu_percent": lg["cpu_percent"],
                "loadgen_tick_late_p99_ms": lg["tick_late_p99_ms"],
                "loadgen_tick_late_max_ms": lg["tick_late_max_ms"],
            }
        )
    return row


def overload_flags(args: argparse.Namespace) -> list[str]:
    """The gateway's overload flags: its protection on (``--overload``), else none (off)."""
    if not args.overload:
        return []
    late, cpu = args.overload_lateness_ms, args.overload_cpu_percent
    return [  # recover below half the lateness limit and 5/6 of the CPU limit (10/5, 90/75)
        "--overload-lateness-ms", f"{late:g}", "--overload-recover-lateness-ms", f"{late / 2:g}",
        "--overload-cpu-percent", f"{cpu:g}", "--overload-recover-cpu-percent", f"{cpu * 5 / 6:g}",
    ]  # fmt: skip


def shared_port_flags(args: argparse.Namespace) -> list[str]:
    """``--shared-port N``: the gateway's calls all on that RTP port (SIPGW_RTP_SHARED_PORT)."""
    return ["--rtp-shared-port", str(args.shared_port)] if args.shared_port else []


def overload_late_ms(args: argparse.Namespace) -> float:
    """The tick lateness a step must hold: the target, or with ``--overload`` its limit."""
    if args.overload and args.overload_lateness_ms > 0:
        return float(args.overload_lateness_ms)
    return TARGET_LATE_MS


def count_refusals(row: dict[str, Any]) -> None:
    """With overload protection, a 503 is a clean refusal, not a failure: count it apart."""
    by_reason = row.get("failed_by_reason") or {}
    refused = int(by_reason.get("503", 0))
    row["refused_503"] = refused
    if row.get("failed") is not None:
        row["failed"] -= refused


def row_ok(row: dict[str, Any], late_limit_ms: float = TARGET_LATE_MS) -> bool:
    """p99 tick lateness ≤ the limit (5 ms), zero loss, zero failed calls."""
    late = row.get("tick_late_p99_ms")
    return (
        late is not None
        and late <= late_limit_ms
        and not row.get("lost")
        and not row.get("failed")
        and not row.get("calls_without_rtp")
    )


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "machine"}


# ---------------------------------------------------------------------- fake cloud services


@contextlib.contextmanager
def fake_services(
    args: argparse.Namespace, pin: bool = True
) -> Iterator[tuple[dict[str, str], ManagedProcess]]:
    """Start ``python -m bench.fake_services --json-ready`` (pinned to ``--loadgen-cpu``
    unless not ``pin``) and yield the gateway env."""
    cmd = [PYTHON, "-m", "bench.fake_services", "--json-ready"]
    for flag in ("stt_final_latency", "llm_first_token_ms", "tts_first_byte_ms"):
        value = getattr(args, flag)
        if value is not None:
            cmd += ["--" + flag.replace("_", "-"), str(value)]
    cmd += stt_script_flags(args)
    ready: list[dict[str, Any]] = []

    def on_line(t: float, line: str) -> None:
        if line.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if "tally" in parsed:
                    _TALLIES.setdefault(child.pid or 0, []).append(parsed["tally"])
                elif not ready:
                    ready.append(parsed)

    workdir = Path(tempfile.mkdtemp(prefix="sipgw-fakes-"))
    child = ManagedProcess(
        "fake_services", cmd, log_path=workdir / "fake_services.log", lifetime=None, cwd=REPO,
        env=child_env(), capture="lines", on_line=on_line,
        cpu=args.loadgen_cpu if pin else None,
    )  # fmt: skip
    try:
        child.start()
        if not wait_until(lambda: bool(ready) or not child.alive, 30):
            raise RuntimeError(f"fake services not ready:\n{child.log_tail()}")
        if not ready:
            raise RuntimeError(f"fake services exited:\n{child.log_tail()}")
        info = ready[0]
        env = dict(info.get("keys", {}))
        env.update(
            {
                "ASSEMBLYAI_STREAMING_URL": info["assemblyai_url"],
                "OPENAI_BASE_URL": info["openai_base_url"],
                "ELEVENLABS_BASE_URL": info["elevenlabs_base_url"],
                # --call-records: each call's record there (turns answered, room_speech...).
                "SIPGW_CALL_RECORD_DIR": getattr(args, "call_records", None) or "",
                "SIPGW_GREETING": "Hi.",
            }
        )
        yield env, child
    finally:
        _TALLIES.pop(child.pid or 0, None)
        child.send_signal(signal.SIGTERM)
        if child.wait(10) is None:
            child.kill()
        shutil.rmtree(workdir, ignore_errors=True)


_TALLIES: dict[int, list[dict[str, Any]]] = {}
"""The tallies each fake services process printed (by its pid), in order."""


def fakes_tally(child: ManagedProcess, timeout: float = 10.0) -> dict[str, Any] | None:
    """What the fakes of :func:`fake_services` were asked for so far (SIGUSR1 to
    ``bench.fake_services``: :mod:`sipgw.app.evaluation.fakes.tally`); None if no answer."""
    lines = _TALLIES.setdefault(child.pid or 0, [])
    seen = len(lines)
    child.send_signal(signal.SIGUSR1)
    if not wait_until(lambda: len(lines) > seen or not child.alive, timeout):
        return None
    return lines[-1] if len(lines) > seen else None


def tally_between(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """What the fakes were asked for between two tallies of :func:`fakes_tally`."""
    if before is None or after is None:
        return {}
    out: dict[str, Any] = {
        k: after[k] - before.get(k, 0) for k, v in after.items() if isinstance(v, int)
    }
    lengths = {str(ms): n - before["stt_messages_by_ms"].get(str(ms), 0)
               for ms, n in after["stt_messages_by_ms"].items()}  # fmt: skip
    out["stt_messages_by_ms"] = {ms: n for ms, n in lengths.items() if n}
    return out


# ---------------------------------------------------------------------- ramp
