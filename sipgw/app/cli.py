"""Command line: ``sipgw serve`` runs the gateway; ``sipgw call TARGET`` places one call.

Settings come from the registry (:mod:`sipgw.app.settings_registry`): a flag
wins over the environment, which wins over the ``.env`` file (loaded into
``os.environ`` without overriding what is set, so a user's tools module can
read its own variables there too), which wins over the default.

Exit statuses of ``serve``: 0 after a clean stop (SIGINT/SIGTERM), 1 when the
SIP port cannot be bound, 2 for a bad command line or setting (the message
names it), 130 when interrupted during start-up. ``call`` takes the same
options and exits 0 only when the call was answered (see :data:`CALL_EXIT`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import load_dotenv

from agent.base import AgentFactory
from sipgw import __version__
from sipgw.app.access import AccessConfig, account_upstreams, load_access_config
from sipgw.app.accounts import RegistrationSettings, load_registration_settings
from sipgw.app.admin.settings import AdminSettings, load_admin_settings
from sipgw.app.agents import AGENTS, make_agent_factory
from sipgw.app.assistant_settings import load_dial_policy
from sipgw.app.callbacks import CallbackSetup, load_callback_setup, start_callbacks
from sipgw.app.config import GatewayConfig, load_gateway_config
from sipgw.app.floods import FloodSettings, load_flood_config
from sipgw.app.limits import LimitsConfig, load_limits_config
from sipgw.app.logformat import configure_logging
from sipgw.app.outbound import OutboundConfig, load_outbound_config
from sipgw.app.overload import OverloadConfig, load_overload_config
from sipgw.app.privacy import (
    LogRedaction,
    Redactor,
    install_log_redaction,
    load_redactor,
    startup_secrets,
)
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import AGENT_NAMES, SETTINGS, resolve_settings
from sipgw.app.workers import STOP_MARGIN, Supervisor, load_worker_count, plan_workers
from sipgw.dialpolicy import DialPolicy

if TYPE_CHECKING:  # imported when a command runs: --help stays fast
    from sipgw.app.admin.server import AdminServer
    from sipgw.app.gateway import Gateway

__all__ = ["CALL_EXIT", "Startup", "build_parser", "load_env_file", "main", "prepare"]

log = logging.getLogger("sipgw")

CALL_EXIT: dict[str, int] = {
    "answered": 0,
    "busy": 3,
    "declined": 4,
    "no-answer": 5,
    "unreachable": 6,
    "failed": 7,
}
"""``sipgw call`` exit status by outcome kind (1, 2 and 130 mean what they mean for serve)."""


def _add_settings(command: argparse.ArgumentParser) -> None:
    """``--env-file`` and one flag per setting of the registry."""
    command.add_argument(
        "--env-file",
        metavar="PATH",
        help="read settings from this file (default: ./.env if it exists)",
    )
    for setting in SETTINGS:
        if setting.flag:
            default = setting.default_doc or setting.default
            command.add_argument(
                setting.flag,
                dest=setting.env,
                metavar=setting.metavar,
                help=f"{setting.help.replace('%', '%%')} [env {setting.env}, default {default}]",
            )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags come from :data:`sipgw.app.settings_registry.SETTINGS`)."""
    parser = argparse.ArgumentParser(
        prog="sipgw", description="SIP/RTP gateway for AI voice agents."
    )
    parser.add_argument("--version", action="version", version=f"sipgw {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="answer SIP calls",
        description="Answer SIP calls with the chosen agent. Every option can also be "
        "set with its environment variable or in the .env file; see docs/configuration.md.",
    )
    _add_settings(serve)
    # Set by the --workers parent on each worker's command line (sipgw.app.workers).
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    call = commands.add_parser(
        "call",
        help="place one call",
        description="Call TARGET (a phone number or a SIP URI) with the chosen agent, print "
        "how the call ended, and exit 0 only if it was answered (3 busy, 4 declined, "
        "5 no answer, 6 unreachable, 7 failed). The call lasts until the agent or the far "
        "end hangs up, or --max-call-seconds. Options as for serve; see docs/outbound.md.",
    )
    call.add_argument("target", metavar="TARGET", help="phone number (+15551234567) or SIP URI")
    _add_settings(call)
    # Listed for --help only: main() hands `sipgw eval ...` to the harness before parsing.
    commands.add_parser(
        "eval",
        help="play scripted callers into the assistant and report (sipgw eval --help)",
        add_help=False,
    )
    return parser


EVALUATION_MODULE = "sipgw.testing.evaluation"
"""The evaluation harness (docs/evaluation.md). It drives the test phone and the AI-service
fakes, which production code does not import, so `sipgw eval` runs it as a child process."""


def _evaluate(args: Sequence[str]) -> int:
    """``sipgw eval ARGS``: the same as ``sipgw-eval ARGS``; returns its exit status."""
    command = [sys.executable, "-m", EVALUATION_MODULE, *args]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


def load_env_file(env_file: str | None) -> None:
    """Load ``env_file`` (default ``./.env`` if it exists) into ``os.environ``.

    Variables already in the environment keep their values.

    Raises:
        ConfigError: ``env_file`` was named but does not exist.
    """
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    if path.is_file():
        load_dotenv(path, override=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Startup:
    """What ``sipgw serve`` (or ``call``) runs: the gateway's configuration, who may call,
    the accounts, how calls are placed, and the agent."""

    config: GatewayConfig
    agent: str
    agent_factory: AgentFactory
    access: AccessConfig = AccessConfig()
    registration: RegistrationSettings = RegistrationSettings()
    """The accounts to register."""
    account_agents: dict[str, AgentFactory] = dataclasses.field(default_factory=dict)
    """Factories by account name, for accounts answered by another agent."""
    outbound: OutboundConfig = dataclasses.field(default_factory=OutboundConfig)
    """How calls are placed."""
    callbacks: CallbackSetup | None = None
    """The stored callbacks to dial (the assistant's ``schedule_callback``)."""
    limits: LimitsConfig = LimitsConfig()
    """Bounds on hostile input (``LIMITS``)."""
    dial_policy: DialPolicy = dataclasses.field(default_factory=DialPolicy)
    """What agents may transfer to, call and key (``SIPGW_DIAL_ALLOW`` and friends)."""
    floods: FloodSettings = dataclasses.field(default_factory=FloodSettings)
    """Rate limits and the scanner filter."""
    redactor: Redactor = dataclasses.field(default_factory=Redactor)
    """What every log line is redacted with (secrets, card numbers, patterns)."""
    admin: AdminSettings = AdminSettings()
    """The admin HTTP server (``ADMIN``; off unless a port is set)."""
    overload: OverloadConfig = OverloadConfig()
    """When new calls are refused for overload (``OVERLOAD``)."""
    workers: int = 1
    """Worker processes ``serve`` runs (``SIPGW_WORKERS``; 1 = this process only)."""


def prepare(args: argparse.Namespace) -> Startup:
    """Resolve every setting ``serve`` needs and build the agent factory.

    Raises:
        ConfigError: a value is bad or a required one is missing.
    """
    load_env_file(args.env_file)
    flags = {s.env: getattr(args, s.env, None) for s in SETTINGS if s.flag}
    values = resolve_settings(os.environ, flags)
    config = load_gateway_config(values)
    if not config.public_ip:
        wildcard = config.bind in ("0.0.0.0", "::")
        config = dataclasses.replace(
            config, public_ip=detect_public_ip() if wildcard else config.bind
        )
    registration = load_registration_settings(values, AGENT_NAMES)
    agent = values["SIPGW_AGENT"]
    factories = {agent: make_agent_factory(values)}
    account_agents: dict[str, AgentFactory] = {}
    for account in registration.accounts:
        if account.agent and account.agent != agent:
            if account.agent not in factories:
                factories[account.agent] = AGENTS[account.agent](values)
            account_agents[account.name] = factories[account.agent]
    upstreams = [
        host
        for account in registration.accounts
        for host in account_upstreams(account.aor, account.registrar, account.outbound_proxy)
    ]
    access = load_access_config(values, upstreams=upstreams)
    outbound = load_outbound_config(values)
    redactor = load_redactor(values, startup_secrets(registration, access))
    return Startup(
        config,
        agent,
        factories[agent],
        access,
        registration,
        account_agents,
        outbound,
        load_callback_setup(values),
        load_limits_config(values),
        load_dial_policy(values),
        load_flood_config(values),
        redactor,
        load_admin_settings(values),
        load_overload_config(values),
        load_worker_count(values),
    )


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        return _evaluate(argv[1:])
    args = parser.parse_args(argv)
    if args.command not in ("serve", "call"):
        parser.print_help(sys.stderr)
        return 2
    # Key shapes are masked from the start (a tools module may log while it is
    # imported); the configured secrets and card numbers once they are read.
    redaction = install_log_redaction(Redactor(cards=False))
    try:
        return _run(args, redaction, argv)
    finally:
        redaction.uninstall()


def _run(args: argparse.Namespace, redaction: LogRedaction, argv: list[str]) -> int:
    try:
        startup = prepare(args)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    redaction.redactor = startup.redactor
    raise_open_file_limit()
    worker = getattr(args, "worker_index", 0)
    config = startup.config
    configure_logging(config.log_level, config.log_format, sys.stderr, worker=worker)
    if args.command == "serve" and startup.workers > 1:
        return _supervise(startup, argv)
    try:
        import uvloop
    except ImportError:  # not on Linux: the default loop works, only slower
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        if args.command == "call":
            return runner(_call(startup, args.target))
        return runner(_serve(startup, worker))
    except KeyboardInterrupt:
        return 130


async def _start(gateway: Gateway) -> int | None:
    """Start the gateway; on failure print why and return the exit status."""
    config = gateway.config
    try:
        await gateway.start()
    except ConfigError as exc:  # an --allow-from name that does not resolve
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # ssl.SSLError too: a TLS certificate or key that does not load
        wanted = ", ".join(
            f"{name.lower()}:{config.bind}:{config.tls_port if name == 'TLS' else config.sip_port}"
            for name in config.transports
        )
        print(f"sipgw: error: cannot listen on {wanted}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return None


async def _start_admin(gateway: Gateway, settings: AdminSettings) -> AdminServer | int | None:
    """Start the admin server when configured; on failure print why and return the exit status."""
    if not settings.enabled:
        return None
    from sipgw.app.admin.server import AdminServer

    admin = AdminServer(gateway, settings)
    try:
        await admin.start()
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{settings.bind}:{settings.port}"
        print(f"sipgw: error: admin server cannot listen on {where}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"admin listening on {admin.url}", flush=True)
    return admin


async def _call(startup: Startup, target: str) -> int:
    from sipgw.app.gateway import Gateway

    config = startup.config
    # One call needs no registration: the proxy or registrar takes our INVITE
    # with the account's credentials.
    gateway = Gateway(
        config,
        startup.agent_factory,
        access=startup.access,
        outbound=startup.outbound,
        limits=startup.limits,
        floods=startup.floods,
    )
    loop = asyncio.get_running_loop()
    failed = await _start(gateway)
    if failed is not None:
        return failed
    placing = loop.create_task(gateway.place_call(target))
    for sig in (signal.SIGINT, signal.SIGTERM):  # hang up (CANCEL or BYE), then report
        loop.add_signal_handler(sig, lambda: gateway.sip.act(gateway.ua.shutdown))
    try:
        outcome = await placing
    finally:
        await gateway.stop()
    print(f"{outcome.target}: {outcome.describe()}", flush=True)
    return CALL_EXIT[outcome.kind]


def _supervise(startup: Startup, argv: list[str]) -> int:
    """``serve --workers N``: run N workers of this command line (:mod:`sipgw.app.workers`)."""
    try:
        plans = plan_workers(startup.workers, startup.config, startup.admin)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    log.info("running %d workers", len(plans))
    stop_timeout = startup.config.drain_seconds + STOP_MARGIN
    return Supervisor(
        [sys.executable, "-m", "sipgw", *argv], plans, stop_timeout=stop_timeout
    ).run()


async def _serve(startup: Startup, worker: int = 0) -> int:
    from sipgw.app.gateway import Gateway

    config = startup.config
    gateway = Gateway(
        config,
        startup.agent_factory,
        access=startup.access,
        registration=startup.registration,
        account_agents=startup.account_agents,
        outbound=startup.outbound,
        limits=startup.limits,
        dial_policy=startup.dial_policy,
        floods=startup.floods,
        overload=startup.overload,
    )
    drain = gateway.drain_request  # the first SIGTERM/SIGINT (or POST /api/drain): drain;
    loop = asyncio.get_running_loop()  # the second signal: end at once
    for sig in (signal.SIGINT, signal.SIGTERM):  # before we announce readiness
        loop.add_signal_handler(sig, drain.signal)
    failed = await _start(gateway)
    if failed is not None:
        return failed
    # Move everything start-up allocated (imported modules, SDKs) out of the
    # collector's reach: full collections over ~100k such objects stalled the
    # event loop (and with it the 20 ms ticker) for 60-130 ms.
    gc.collect()
    gc.freeze()
    tag = f"worker {worker}: " if worker else ""
    for name, address, bound in gateway.sip.listening:
        print(f"{tag}listening on {name.lower()}:{address}:{bound}", flush=True)
    where = [f"{name.lower()} {address}:{bound}" for name, address, bound in gateway.sip.listening]
    log.info("SIP listening on %s", ", ".join(where))
    log.info(
        "agent %s, public address %s, RTP ports %d-%d",
        startup.agent, config.public_ip, *config.rtp_ports,
    )  # fmt: skip
    admin = await _start_admin(gateway, startup.admin)
    if isinstance(admin, int):
        await gateway.stop()
        return admin
    callbacks = None
    if startup.callbacks is not None:
        callbacks = start_callbacks(startup.callbacks, gateway, startup.agent_factory)
    await drain.requested.wait()
    if callbacks is not None:
        await callbacks.stop_polling()
    if drain.seconds > 0 and gateway.handles:
        log.info(
            "draining: new calls get 503, accounts unregister; waiting up to %gs for %d "
            "call(s) to end (started by %s; signal again to end them now)",
            drain.seconds, len(gateway.handles), drain.source,
        )  # fmt: skip
        await gateway.drain(drain.seconds, drain.now)
    log.info("shutting down: ending %d call(s)", len(gateway.handles))
    if admin is not None:
        await admin.stop()
    await gateway.stop()
    if callbacks is not None:
        await callbacks.stop(grace=2.0)  # the callbacks just hung up record their outcome
    log.info("stopped")
    return 0
