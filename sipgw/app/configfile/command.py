"""``sipgw config check|show|convert``: the settings file's commands.

::

    sipgw config check [--config FILE] [--env-file PATH] [--agent NAME]
    sipgw config show [--config FILE] [--env-file PATH] [--agent NAME] [--changed]
    sipgw config convert [--routes FILE] [--tools FILE] [--output FILE]

Exit statuses: 0 when all is well; 1 when ``check`` found a mistake (each printed on its
own line, naming the file, the line and the key) or ``show``/``convert`` could not read
what they were given; 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sipgw.app.configfile.check import check
from sipgw.app.configfile.convert import convert
from sipgw.app.configfile.read import choose_agent, read_files
from sipgw.app.configfile.show import show, tables
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import ConfigError

__all__ = ["build_parser", "main"]


def _files(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--config", metavar="FILE",
        help="the settings file (default: $SIPGW_CONFIG, else ./sipgw.toml if it exists)",
    )  # fmt: skip
    command.add_argument(
        "--env-file", metavar="PATH", help="variables file (default: ./.env if it exists)"
    )
    command.add_argument("--agent", metavar="NAME", help="the agent (default: as the settings say)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``sipgw config``."""
    parser = argparse.ArgumentParser(
        prog="sipgw config",
        description="The settings file (sipgw.toml): check it, show the settings in effect, "
        "or convert a routes file and a tools file into its tables (docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    checking = commands.add_parser(
        "check",
        help="check every setting, line and tool; name each mistake's file, line and key",
    )
    _files(checking)
    showing = commands.add_parser(
        "show", help="the settings in effect and where each came from (secrets masked)"
    )
    _files(showing)
    showing.add_argument(
        "--changed", action="store_true", help="only the settings not at their default"
    )
    converting = commands.add_parser(
        "convert", help="a routes file and a tools file as settings-file tables"
    )
    converting.add_argument("--routes", metavar="FILE", type=Path, help="the routes file")
    converting.add_argument("--tools", metavar="FILE", type=Path, help="the tools file")
    converting.add_argument(
        "--output", metavar="FILE", type=Path,
        help="write a new settings file (refused if it exists); default: print the tables",
    )  # fmt: skip
    return parser


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` command line whose files and agent ``args`` name."""
    argv = ["serve"]
    for flag, value in (("--config", args.config), ("--env-file", args.env_file)):
        if value:
            argv += [flag, value]
    if args.agent:
        argv += ["--agent", args.agent]
    return argv


def _check(args: argparse.Namespace) -> int:
    argv = _serve_argv(args)
    found = check(argv, {"--agent": args.agent} if args.agent else {})
    for message in found.errors:
        print(message, file=sys.stderr)
    what = found.file or "no settings file (the environment only)"
    if found.errors:
        print(f"{what}: {_count(len(found.errors), 'mistake')}", file=sys.stderr)
        return 1
    counts = [(found.settings if found.file else 0, "setting"), (found.lines, "line")]
    parts = [_count(n, what) for n, what in (*counts, (found.tools, "tool")) if n]
    print(f"{what}: OK" + (f" ({', '.join(parts)})" if parts else ""))
    return 0


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


def _show(args: argparse.Namespace) -> int:
    argv = _serve_argv(args)
    try:
        files = read_files(argv)
        plugin = choose_agent(argv, files)
        sections = (*SECTIONS, *(s for s in plugin.sections if s not in SECTIONS))
        sources = files.sources({"--agent": args.agent} if args.agent else {}, sections)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(show(sources, sections, changed=args.changed))
    if files.config is not None:
        sys.stdout.write(tables(files.config[1]))
    return 0


def _convert(args: argparse.Namespace) -> int:
    output: Path | None = args.output
    if output is not None and output.exists():
        print(f"sipgw: error: --output {output}: exists (it is not overwritten)", file=sys.stderr)
        return 1
    folder = output.parent if output is not None else Path.cwd()
    try:
        text = convert(args.routes, args.tools, folder)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 1
    if output is None:
        sys.stdout.write(text)
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str]) -> int:
    """``sipgw config ARGV``; returns the exit status."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a bad command line (2)
        return exc.code if isinstance(exc.code, int) else 2
    run = {"check": _check, "show": _show, "convert": _convert}[args.command]
    return run(args)
