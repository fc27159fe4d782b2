"""The soak's command line."""

from __future__ import annotations

import argparse

from bench._harness import add_run_options

__all__ = ["build_parser", "line_calls"]


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Echo and assistant calls together on one gateway for a long time, with "
        "the vendors failing, the webhook receiver and the database restarted: does "
        "anything grow, is any call event lost, is any call stuck?",
    )
    load = p.add_argument_group("load")
    load.add_argument(
        "--calls", type=int, help="concurrent calls of both lines together (default 40)"
    )
    load.add_argument(
        "--capacity",
        type=int,
        help="the gateway's measured capacity (bench.capacity's largest step that held): "
        "--calls is then --load times it",
    )
    load.add_argument("--load", type=float, default=0.6, help="share of --capacity (0.6)")
    load.add_argument(
        "--assistant-share", type=float, default=0.5, help="share of calls on the assistant (0.5)"
    )
    load.add_argument("--hold", type=float, default=30.0, help="mean call length, s (30)")
    load.add_argument("--duration", type=float, default=3600.0, help="soak after the ramp, s")
    load.add_argument("--rate", type=float, default=5.0, help="new calls per second in the ramp")
    load.add_argument(
        "--warmup", type=float, help="s after the ramp left out of the fits (default duration/10)"
    )
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--fault-every", type=float, default=20.0, help="a vendor fault every S s (0 = none)"
    )
    faults.add_argument("--fault-stall", type=float, default=5.0, help="a stall's length, s")
    faults.add_argument(
        "--receiver-restart-at",
        type=float,
        default=1 / 3,
        help="when the webhook receiver is killed, as a share of --duration (0 = never)",
    )
    faults.add_argument(
        "--receiver-down", type=float, default=20.0, help="s it stays down before it restarts"
    )
    faults.add_argument(
        "--database-restart-at",
        type=float,
        default=2 / 3,
        help="when PostgreSQL restarts (fast shutdown), as a share of --duration (0 = never)",
    )
    checks = p.add_argument_group("checks")
    checks.add_argument(
        "--sample-interval", type=float, default=10.0, help="s between two looks (10)"
    )
    checks.add_argument(
        "--stuck-after",
        type=float,
        help="a call up longer than this is stuck (default 1.5 × --hold + 60 s)",
    )
    checks.add_argument(
        "--settle", type=float, default=180.0, help="s to wait for the last events after the load"
    )
    checks.add_argument(
        "--growth-report-only",
        action="store_true",
        help="report the growth fits without failing on them (a run too short to fit)",
    )
    checks.add_argument(
        "--keep-logs", metavar="DIR", help="copy the processes' logs and the calls' lines here"
    )
    add_run_options(p, stats_help="s between the gateway's stats lines (default 5)")
    return p


def line_calls(args: argparse.Namespace) -> tuple[int, int]:
    """(echo calls, assistant calls) from --calls or --capacity × --load."""
    total = args.calls
    if total is None:
        total = round(args.capacity * args.load) if args.capacity else 40
    assistant = round(total * args.assistant_share)
    return total - assistant, assistant
