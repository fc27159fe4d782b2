"""The soak's run: start everything, carry the load, restart what fails, then judge."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    LoadgenRun,
    log,
    machine_info,
    pin_self,
    run_loadgen,
    wait_until,
    write_json,
)
from bench.soak.accounting import account
from bench.soak.options import build_parser, line_calls
from bench.soak.peers import (
    ASSISTANT_USER,
    ECHO_USER,
    FakeServicesProcess,
    database_figures,
    new_secret,
    postgres,
    receiver,
    settings_file,
)
from bench.soak.report import fit_series, loadavg_range, print_report
from bench.soak.sampler import Sampler, admin_calls
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.webhook_receiver import ExampleReceiver

__all__ = ["main"]


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Load:
    """One line's load generator, run in a thread (``run_loadgen`` blocks)."""

    def __init__(self, user: str, calls: int, args: argparse.Namespace, workdir: Path) -> None:
        self.user = user
        self.calls = calls
        self.args = args
        self.calls_log = workdir / f"calls-{user}.jsonl"
        self.run: LoadgenRun | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._go, name=f"loadgen-{user}", daemon=True)
        self.target = ""

    def start(self, target: str) -> None:
        self.target = target
        if self.calls > 0:
            self._thread.start()

    def _go(self) -> None:
        a = self.args
        lg = [
            "--target", self.target, "--calls", str(self.calls), "--rate", f"{a.rate:g}",
            "--hold", f"{a.hold:g}", "--churn", "--duration", f"{a.duration:g}",
            "--user", self.user, "--calls-log", str(self.calls_log),
        ]  # fmt: skip
        if self.user == ASSISTANT_USER:
            lg += ["--talk", "0.8/6"]  # a caller who says something every 6 s
        try:
            self.run = run_loadgen(
                lg, cpu=a.loadgen_cpu, timeout=self.calls / a.rate + a.duration + 180
            )
        except Exception as exc:  # reported in the verdict
            self.error = f"{type(exc).__name__}: {exc}"

    def join(self) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()

    def calls_made(self) -> list[dict[str, Any]]:
        return _read_lines(self.calls_log)


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def _restart_receiver(rx: ExampleReceiver, down: float) -> dict[str, Any]:
    log(f"webhook receiver: killed, back in {down:g} s")
    killed = time.time()
    rx.stop()
    time.sleep(down)
    rx.start()
    back = time.time()
    log("webhook receiver: back")
    return {
        "receiver_killed_at": killed,
        "receiver_back_at": back,
        "receiver_down_s": back - killed,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when the verdict holds, 1 when it does not."""
    args = build_parser().parse_args(argv)
    echo_calls, assistant_calls = line_calls(args)
    warmup = args.warmup if args.warmup is not None else args.duration / 10
    stuck_after = args.stuck_after or 1.5 * args.hold + 60
    pin_self(args.loadgen_cpu)
    data: dict[str, Any] = {
        "tool": "soak",
        "params": {k: v for k, v in vars(args).items() if k != "json"}
        | {"warmup": warmup, "stuck_after": stuck_after},
        "machine": machine_info(),
        "load": {"echo_calls": echo_calls, "assistant_calls": assistant_calls},
    }
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-soak-"))
    restarts: dict[str, Any] = {}
    loads = [
        Load(ECHO_USER, echo_calls, args, workdir),
        Load(ASSISTANT_USER, assistant_calls, args, workdir),
    ]
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        server, database_url = stack.enter_context(postgres())
        secret = new_secret()
        rx = stack.enter_context(receiver(workdir / "receiver", secret))
        fakes = FakeServicesProcess(args.fault_every, args.fault_stall, args.loadgen_cpu)
        stack.enter_context(fakes.running())
        admin_port, token = free_port(), secrets.token_urlsafe(24)
        env = {
            **fakes.env,
            "SIPGW_IDLE_AFTER": "0",  # the callers' silences are on purpose
            # The assistant's callers talk in tone bursts: a speech model hears no voice in one.
            "SIPGW_VOICE_DETECTOR": "energy",
            "SIPGW_WEBHOOK_URL": rx.url,
            "SIPGW_WEBHOOK_SECRET": secret,
            "SIPGW_DATABASE_URL": database_url,
            "SIPGW_ADMIN_PORT": str(admin_port),
            "SIPGW_ADMIN_TOKEN": token,
        }
        gw = Gateway(
            GatewayOptions(
                agent="assistant",
                cpu=args.gateway_cpu,
                stats_interval=args.stats_interval,
                env=env,
                mem_probe=args.sample_interval,
            )
        )
        settings_file(gw.process.workdir)
        address = gw.start()
        stack.callback(gw.stop)
        data["gateway_command"] = gw.command
        admin_url = f"http://127.0.0.1:{admin_port}"
        log(f"gateway pid {gw.pid} on {address[0]}:{address[1]}, admin {admin_url}")
        sampler = Sampler(
            gw, admin_url, token, database_url, args.sample_interval, stuck_after,
            outcomes=lambda: _outcomes(rx),
        ).start()  # fmt: skip
        stack.callback(sampler.stop)
        t_start = time.time()
        ramp = max(echo_calls, assistant_calls) / args.rate
        for load in loads:
            load.start(f"{address[0]}:{address[1]}")
        log(
            f"load: {echo_calls} echo + {assistant_calls} assistant calls, hold {args.hold:g} s, "
            f"{args.duration:g} s; faults every {args.fault_every:g} s"
        )
        if args.receiver_restart_at > 0:
            _sleep_until(t_start + ramp + args.duration * args.receiver_restart_at)
            try:
                restarts.update(_restart_receiver(rx, args.receiver_down))
            except Exception as exc:  # reported: the verdict wants the restart done
                restarts["receiver_error"] = f"{type(exc).__name__}: {exc}"
        if args.database_restart_at > 0:
            _sleep_until(t_start + ramp + args.duration * args.database_restart_at)
            log("database: restarting (fast shutdown)")
            restarts["database_restart_at"] = time.time()
            try:
                restarts["database_restart_s"] = server.restart()
                log(f"database: back after {restarts['database_restart_s']:.1f} s")
            except Exception as exc:
                restarts["database_error"] = f"{type(exc).__name__}: {exc}"
        for load in loads:
            load.join()
        t_load_end = time.time()
        log("load over: waiting for the gateway's calls to end and the last events")
        wait_until(lambda: _calls_up(admin_url, token) == 0, 60, step=1.0)
        made = [c for load in loads for c in load.calls_made()]
        wait_until(lambda: not account(made, rx.deliveries).lost, args.settle, step=1.0)
        wait_until(lambda: _written(database_figures(database_url)), 30, step=1.0)
        sampler.stop()
        end = database_figures(database_url) | {"calls": _calls_up(admin_url, token)}
        data["gateway_errors"] = {"count": len(gw.errors), "first": gw.errors[:20]}
        data["gateway_tracebacks"] = gw.tracebacks()
        if args.keep_logs:
            _keep_logs(Path(args.keep_logs), gw, fakes, workdir)
    accounting = account(made, rx.deliveries)
    reports = {load.user: load.run.report for load in loads if load.run is not None}
    # the fits: from the warm-up's end after the ramp to the hang-ups at the end
    window_start = max([t_start + ramp, *(r["times"]["measure_start"] for r in reports.values())])
    window_start += warmup
    window_end = min([t_load_end, *(r["times"]["measure_end"] for r in reports.values())])
    looks = sampler.looks
    growth = fit_series(looks, window_start, window_end)
    stuck = [dict(s, at=look.t) for look in looks for s in look.stuck]
    data.update(
        {
            "window": {
                "start": window_start,
                "end": window_end,
                "span_s": window_end - window_start,
                "warmup_s": warmup,
            },
            "growth": growth,
            "accounting": accounting.as_dict(),
            "stuck": {"calls": len({s["id"] for s in stuck}), "first": stuck[:20]},
            "faults": {"applied": fakes.faults},
            "restarts": restarts,
            "end": end,
            "loadavg_1m": loadavg_range(looks),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "loadgen": {
                user: {k: r[k] for k in ("calls", "setup_ms", "rtp_rx", "pacing_ms", "loadgen")}
                for user, r in reports.items()
            },
            "loadgen_errors": {load.user: load.error for load in loads if load.error},
            "looks": [
                {"t": look.t, **look.figures, "stuck": len(look.stuck), "errors": look.errors}
                for look in looks
            ],
        }
    )
    grew = [name for name, s in growth.items() if s["ok"] is False]
    verdict: dict[str, Any] = {
        "no_growth": not grew if not args.growth_report_only else None,
        "every_call_accounted": accounting.ok,
        "no_stuck_call": not stuck,
        "calls_all_ended": end.get("calls") == 0,
        "outbox_empty": end.get("rows_webhook_outbox") == 0,
        "index_all_ended": end.get("rows_calls_index_not_ended") == 0,
        "faults_applied": bool(fakes.faults) or args.fault_every <= 0,
        "restarts_done": (args.receiver_restart_at <= 0 or "receiver_down_s" in restarts)
        and (args.database_restart_at <= 0 or "database_restart_s" in restarts),
        "load_generators_ran": not data["loadgen_errors"]
        and len(reports) == sum(load.calls > 0 for load in loads),
    }
    verdict["ok"] = all(v is not False for v in verdict.values())
    data["verdict"] = verdict
    where = write_json(data, args.json, "soak")
    if args.json != "-":
        print_report(data, where)
    return 0 if verdict["ok"] else 1


def _calls_up(admin_url: str, token: str) -> int | None:
    try:
        return len(admin_calls(admin_url, token))
    except (OSError, ValueError, KeyError):
        return None


def _written(figures: dict[str, Any]) -> bool:
    """Every event out of the outbox, every call's end in the index."""
    return (
        figures.get("rows_webhook_outbox") == 0 and figures.get("rows_calls_index_not_ended") == 0
    )


def _keep_logs(dest: Path, gw: Gateway, fakes: FakeServicesProcess, workdir: Path) -> None:
    """Copy the gateway's, the fakes' and the receiver's logs and the calls' lines to
    ``dest`` (the work directories go at the end)."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = [gw.log_path, *workdir.glob("calls-*.jsonl"), *workdir.glob("receiver/*.log")]
    if fakes.process is not None:
        sources.append(fakes.process.log_path)
    for source in sources:
        with contextlib.suppress(OSError):
            shutil.copy(source, dest / source.name)


def _outcomes(rx: ExampleReceiver) -> dict[str, int]:
    """The calls' outcomes the receiver heard of so far: ``events_call_ended``, ..."""
    kinds = Counter(
        str(d.get("event", {}).get("type")) for d in list(rx.deliveries) if not d.get("repeat")
    )
    return {
        "events": sum(kinds.values()),
        "events_call_ended": kinds["call.ended"],
        "events_call_failed": kinds["call.failed"],
    }
