"""``python -m bench.attacks``: see :mod:`bench.attacks`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench._harness import format_table, log, machine_info, write_json
from bench.attacks import callers, connections, default_serve, guessing, media, signalling

ATTACKS: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "amplification": lambda a: signalling.amplification(settle=a.settle),
    "default_serve": lambda a: default_serve.default_serve(settle=a.settle),
    "state": lambda a: asyncio.to_thread(signalling.state, a.invites),
    "victim": lambda a: media.victim(window=a.window),
    "hold_rtcp": lambda a: media.hold_rtcp(),
    "bleed": lambda a: media.bleed(),
    "ports": lambda a: media.ports(),
    "tcp_limits": lambda a: signalling.tcp_limits(),
    "lockout": lambda a: connections.lockout(),
    "tls_handshakes": lambda a: connections.tls_handshakes(),
    "crlf_keepalive": lambda a: connections.crlf_keepalive(),
    "closed_default": lambda a: callers.closed_default(),
    "max_calls": lambda a: callers.max_calls(),
    "callback_injection": lambda a: callers.callback_injection(),
    "orders": lambda a: callers.orders(),
    "dtmf_sequence": lambda a: callers.dtmf_sequence(),
    "secret_files": lambda a: callers.secret_files(),
    "guessing": lambda a: guessing.guessing(a.guess_seconds),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.attacks", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(ATTACKS), help="attacks to run")
    parser.add_argument(
        "--settle",
        type=float,
        default=34.0,
        help="seconds to count responses to refused INVITEs (34: past Timer H)",
    )
    parser.add_argument(
        "--window", type=float, default=40.0, help="seconds to watch the RTP aimed at victims (40)"
    )
    parser.add_argument(
        "--invites",
        type=int,
        default=20_000,
        help="forged INVITEs into the core for 'state' (20000)",
    )
    parser.add_argument(
        "--guess-seconds",
        type=float,
        default=30.0,
        help="seconds each live password-guessing run lasts, for 'guessing' (30)",
    )
    parser.add_argument("--json", metavar="PATH", help="report path ('-' = stdout)")
    return parser  # fmt: skip


def _rows(name: str, figures: dict[str, Any], prefix: str = "") -> list[list[str]]:
    rows = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows += _rows(name, value, f"{prefix}{key}.")
        else:
            rows.append([name, f"{prefix}{key}", str(value)])
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every chosen attack in turn; figures by attack name."""
    results: dict[str, Any] = {}
    for name in args.only or ATTACKS:
        log(f"attack: {name}")
        results[name] = await ATTACKS[name](args)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write the JSON."""
    args = build_parser().parse_args(argv)
    results = asyncio.run(run(args))
    rows = [row for name, figures in results.items() for row in _rows(name, figures)]
    print(format_table(["attack", "figure", "value"], rows))
    report = {
        "tool": "attacks",
        "params": {"settle_s": args.settle, "window_s": args.window, "invites": args.invites},
        "machine": machine_info(),
        "figures": results,
    }
    print(f"JSON: {write_json(report, args.json, 'attacks')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
