"""Command line: ``sipgw serve`` runs the gateway; ``sipgw --version``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dotenv import dotenv_values

from agent.base import AgentFactory
from sipgw import __version__
from sipgw.app.config import SETTINGS, ConfigError, GatewayConfig, load_config

__all__ = ["ASSISTANT_REQUIRED", "build_parser", "main"]

ASSISTANT_REQUIRED = ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY")
"""Settings the assistant agent cannot start without."""

log = logging.getLogger("sipgw")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags come from :data:`sipgw.app.config.SETTINGS`)."""
    parser = argparse.ArgumentParser(
        prog="sipgw", description="SIP/RTP gateway for AI voice agents."
    )
    parser.add_argument("--version", action="version", version=f"sipgw {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="answer SIP calls",
        description="Answer SIP calls with the chosen agent. Every option can also be "
        "set with its environment variable or in the .env file.",
    )
    serve.add_argument(
        "--env-file",
        metavar="PATH",
        help="read settings from this file (default: ./.env if it exists)",
    )
    for setting in SETTINGS:
        if setting.flag:
            serve.add_argument(
                setting.flag,
                dest=setting.attr,
                metavar=setting.metavar,
                help=f"{setting.help} [env {setting.env}, default {setting.default or 'auto'}]",
            )
    return parser


def _environment(env_file: str | None) -> Mapping[str, str]:
    """The process environment over the .env file."""
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return merged


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit: each call holds two UDP sockets."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted


def detect_public_ip() -> str:
    """The local address of the default route (no packet is sent), else 127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only used to pick a route
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sipgw`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        environ = _environment(args.env_file)
        flags = {s.attr: getattr(args, s.attr, None) for s in SETTINGS}
        config = load_config(flags, environ)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    if not config.public_ip:
        wildcard = config.bind in ("0.0.0.0", "::")
        config = dataclasses.replace(
            config, public_ip=detect_public_ip() if wildcard else config.bind
        )
    if config.agent == "assistant":
        missing = [name for name in ASSISTANT_REQUIRED if not config.env.get(name)]
        if missing:
            print(
                f"sipgw: error: --agent assistant needs {', '.join(missing)} "
                "(set them in the environment or in .env; see .env.example)",
                file=sys.stderr,
            )
            return 2
    try:
        from sipgw.app.agents import make_agent_factory

        factory = make_agent_factory(config)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop
    except ImportError:  # not on Linux: the default loop works, only slower
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        return runner(_serve(config, factory))
    except KeyboardInterrupt:
        return 130


async def _serve(config: GatewayConfig, factory: AgentFactory) -> int:
    from sipgw.app.gateway import Gateway

    gateway = Gateway(config, factory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before we announce readiness
        loop.add_signal_handler(sig, stop.set)
    try:
        host, port = await gateway.start()
    except OSError as exc:
        print(
            f"sipgw: error: cannot listen on udp:{config.bind}:{config.sip_port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    # Move everything start-up allocated (imported modules, SDKs) out of the
    # collector's reach: full collections over ~100k such objects stalled the
    # event loop (and with it the 20 ms ticker) for 60-130 ms.
    gc.collect()
    gc.freeze()
    print(f"listening on udp:{host}:{port}", flush=True)
    log.info(
        "agent %s, public address %s, RTP ports %d-%d",
        config.agent, config.public_ip, *config.rtp_ports,
    )  # fmt: skip
    await stop.wait()
    log.info("shutting down: ending %d call(s)", len(gateway.handles))
    await gateway.stop()
    log.info("stopped")
    return 0
