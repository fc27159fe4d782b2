"""Command line: ``sipgw serve`` runs the gateway; ``sipgw call TARGET`` places one call.

Every flag is a setting of a section (:mod:`sipgw.app.sections`, and the chosen plug-in
agent's): a flag wins over the environment, which wins over the ``.env`` file (loaded
into ``os.environ`` without overriding what is set, so a user's tools module can read
its own variables there too), which wins over the default. The agent is found first
(``--agent`` or ``SIPGW_AGENT``, after ``.env`` is loaded), so that a plug-in's own
settings are flags and help like the rest.

Exit statuses of ``serve``: 0 after a clean stop (SIGINT/SIGTERM), 1 when the
SIP port cannot be bound, 2 for a bad command line or setting (the message
names it), 130 when interrupted during start-up. ``call`` takes the same
options and exits 0 only when the call was answered (see :data:`CALL_EXIT`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw import __version__
from sipgw.app.agents import AgentPlugin
from sipgw.app.callcmd import CALL_EXIT, add_call_options
from sipgw.app.callcmd import run as run_call
from sipgw.app.configfile.read import SettingsFiles, choose_agent, read_files
from sipgw.app.configfile.removed import removed_settings
from sipgw.app.listen import gateway_of, start_gateway
from sipgw.app.operations import collector, dataclass_code
from sipgw.app.operations.logformat import configure_logging
from sipgw.app.sections import SECTIONS, check_names, serve_sections
from sipgw.app.security.filemodes import check_secret_files
from sipgw.app.security.privacy import LogRedaction, Redactor, install_log_redaction
from sipgw.foundation.settings import ConfigError, SectionInfo, Sources, state_dir
from sipgw.foundation.settings.flags import add_flags, flags_given

if TYPE_CHECKING:  # imported when a command runs: --help stays fast
    from sipgw.app.admin.server import AdminServer
    from sipgw.app.campaigns.service import Campaigns
    from sipgw.app.cluster.service import ClusterMember
    from sipgw.app.gateway import Gateway
    from sipgw.app.startup import Startup
    from sipgw.app.summary.runner import PostCallSummaries
    from sipgw.app.webhooks.service import Webhooks

__all__ = ["CALL_EXIT", "Invocation", "build_parser", "main", "parse", "prepare"]

log = logging.getLogger("sipgw")


COMMANDS = ("serve", "call")
"""The commands that take settings."""


def _sections(plugin: AgentPlugin | None) -> tuple[SectionInfo, ...]:
    """The catalogue's sections and the plug-in's own (after the built-in agents')."""
    extra = [] if plugin is None else [s for s in plugin.sections if s not in SECTIONS]
    return (*SECTIONS, *extra)


def _add_settings(command: argparse.ArgumentParser, sections: Sequence[SectionInfo]) -> None:
    """``--config``, ``--env-file``, ``-h`` and one flag per setting, in help groups by
    section."""
    config = {"metavar": "FILE", "help": "the settings file: a table per section, the lines, "
              "the tools (default: $SIPGW_CONFIG, else ./sipgw.toml if it exists); the "
              "environment and the flags win over it"}  # fmt: skip
    env_file = {"metavar": "PATH", "help": "read variables from this file (default: ./.env if "
                "it exists); the environment wins over it"}  # fmt: skip
    add_flags(command, sections, [("--config", config), ("--env-file", env_file)])


_EPILOG = (
    "The assistant (--agent assistant) and its speech-to-text, LLM and text-to-speech "
    "vendors are set with environment variables (or .env lines) only: see "
    "docs/configuration.md or .env.example."
)


def build_parser(plugin: AgentPlugin | None = None) -> argparse.ArgumentParser:
    """The argument parser: each section's flags in a help group, a plug-in's included.

    Raises:
        ConfigError: a plug-in's flag is one of sipgw's own.
    """
    parser = argparse.ArgumentParser(
        prog="sipgw", description="SIP/RTP gateway for AI voice agents."
    )
    parser.add_argument("--version", action="version", version=f"sipgw {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sections = _sections(plugin)
    if plugin is not None:
        check_names(plugin.sections, plugin.who)
    serve = commands.add_parser(
        "serve",
        help="answer SIP calls",
        usage="%(prog)s [OPTION ...]",
        add_help=False,
        description="Answer SIP calls with the chosen agent. Every option can also be set "
        "with its environment variable (in brackets) or in the .env file; see "
        "docs/configuration.md. The options most setups need come first.",
        epilog=_EPILOG,
    )
    _add_settings(serve, serve_sections(sections))
    # Set by the --workers parent on each worker's command line (sipgw.app.workers).
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    call = commands.add_parser(
        "call",
        help="place one call",
        usage="%(prog)s TARGET [OPTION ...]",
        add_help=False,
        description="Call TARGET (a phone number or a SIP URI) with the chosen agent, print "
        "how the call ended, and exit 0 only if it was answered (3 busy, 4 declined, "
        "5 no answer, 6 unreachable, 7 failed). A running sipgw serve places it when its "
        "admin server answers (--admin-url); else the call is placed from here, on ephemeral "
        "SIP ports. The call lasts until the agent or the far end hangs up, or "
        "--max-call-seconds. Options as for serve; see docs/outbound.md.",
        epilog=_EPILOG,
    )
    call.add_argument("target", metavar="TARGET", help="phone number (+15551234567) or SIP URI")
    add_call_options(call)
    _add_settings(call, sections)
    # Listed for --help only: main() hands `sipgw config ...` and `sipgw eval ...` on
    # before parsing.
    commands.add_parser(
        "config",
        help="check, show or convert the settings (sipgw config --help)",
        add_help=False,
    )
    commands.add_parser(
        "eval",
        help="play scripted callers into the assistant and report (sipgw eval --help)",
        add_help=False,
    )
    return parser


EVALUATION_MODULE = "sipgw.app.evaluation"
"""The evaluation harness (docs/evaluation.md). It drives a scripted phone and the AI-service
fakes, which the gateway never imports, so `sipgw eval` runs it as a child process."""


def _evaluate(args: Sequence[str]) -> int:
    """``sipgw eval ARGS``: the same as ``sipgw-eval ARGS``; returns its exit status."""
    command = [sys.executable, "-m", EVALUATION_MODULE, *args]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


@dataclass(frozen=True, slots=True)
class Invocation:
    """A parsed command line: its arguments, the chosen agent, where settings come from."""

    args: argparse.Namespace
    plugin: AgentPlugin | None
    """The agent (None for a command that takes no settings)."""
    sources: Sources


def parse(argv: Sequence[str]) -> Invocation:
    """Parse ``argv`` (without the program name); ``--help`` exits as argparse does.

    Raises:
        ConfigError: see :func:`read_files` and :func:`choose_agent`; the settings file's
            mistakes; or a plug-in's flag that is sipgw's.
    """
    plugin: AgentPlugin | None = None
    files = SettingsFiles({}, None)
    if argv[:1] and argv[0] in COMMANDS:
        try:
            files = read_files(argv)
            plugin = choose_agent(argv, files)
        except ConfigError as exc:
            if "-h" not in argv and "--help" not in argv:
                raise
            print(f"sipgw: note: {exc} (its options are not shown)", file=sys.stderr)
    args = build_parser(plugin).parse_args(argv)
    sections = _sections(plugin)
    return Invocation(args, plugin, files.sources(flags_given(args, sections), sections))


def prepare(argv: Sequence[str]) -> Startup:
    """Everything ``sipgw serve ARGS`` (or ``call``) would run with, built from ``argv``.

    Raises:
        ConfigError: a value is bad or a required one is missing.
    """
    from sipgw.app.startup import build_startup

    invocation = parse(argv)
    if invocation.plugin is None:
        raise ConfigError(f"{' '.join(argv[:1]) or 'sipgw'}: not a command that takes settings")
    return build_startup(invocation.plugin, invocation.sources)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sipgw`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["serve"]:  # a gateway turns it back on once started (_serve)
        collector.release()
    if argv[:1] == ["eval"]:
        return _evaluate(argv[1:])
    if argv[:1] == ["config"]:
        from sipgw.app.configfile.command import main as config_main

        return config_main(argv[1:])
    # Key shapes are masked from the start (a plug-in or tools module may log while it
    # is imported); the configured secrets and card numbers once they are read.
    redaction = install_log_redaction(Redactor(cards=False))
    try:
        return _run(argv, redaction)
    finally:
        redaction.uninstall()


def _run(argv: list[str], redaction: LogRedaction) -> int:
    try:
        invocation = parse(argv)
        if invocation.plugin is None:
            build_parser().print_help(sys.stderr)
            return 2
        from sipgw.app.startup import build_startup  # not for --help: it imports the runtime

        startup = build_startup(invocation.plugin, invocation.sources)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    args = invocation.args
    redaction.redactor = startup.redactor
    raise_open_file_limit()
    worker = getattr(args, "worker_index", 0)
    config = startup.config
    configure_logging(config.log_level, config.log_format, sys.stderr, worker=worker)
    env_file = getattr(args, "env_file", None)
    settings_file = ("--env-file", env_file) if env_file else ("the settings file", ".env")
    try:
        for warning in check_secret_files([settings_file, *startup.secret_files]):
            log.warning("%s", warning)
        for warning in startup.warnings:
            log.warning("%s", warning)
        sources = invocation.sources
        for warning in removed_settings(sources.environ, sources.env_file_lines):
            log.warning("%s", warning)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve" and startup.workers > 1:
        collector.release()  # the supervisor serves no calls: its workers start as this one
        return _supervise(startup, argv)
    try:
        import uvloop
    except ImportError:  # not on Linux: the default loop works, only slower
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        if args.command == "call":
            return runner(run_call(startup, args, invocation.sources))
        return runner(_serve(startup, worker))
    except KeyboardInterrupt:
        return 130


async def _start_admin(
    gateway: Gateway, startup: Startup, sources: Sources, campaigns: Campaigns | None = None
) -> AdminServer | int | None:
    """Start the admin server when configured; on failure print why (naming the settings
    as ``sources`` gave them) and return the exit status. Its ``admin listening on`` line
    is printed with the SIP ones, once the gateway is ready."""
    settings = startup.admin
    if not settings.enabled:
        return None
    from sipgw.app.admin.server import AdminServer

    member = _cluster_member(gateway, startup)
    admin = AdminServer(
        gateway, settings, startup.legs, startup.twilio_api, Path(startup.webhooks.webhook_db),
        cluster=member, status_outbox=startup.shared.outbox if startup.shared else None,
        campaigns=campaigns, twilio_calls=startup.shared.twilio_calls if startup.shared else None,
    )  # fmt: skip
    try:
        await admin.start()
    except ConfigError as exc:
        print(f"sipgw: error: {sources.explain(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{settings.bind}:{settings.port}"
        print(f"sipgw: error: admin server cannot listen on {where}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    if member is not None:
        if not startup.cluster.cluster_admin_url:
            host, port = admin.address or ("127.0.0.1", 0)
            if host in ("0.0.0.0", "::"):
                host = socket.gethostname()
            member.index.admin_url = (
                f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            )
        member.start()
    return admin


def _cluster_member(gateway: Gateway, startup: Startup) -> ClusterMember | None:
    """This gateway in the cluster (with a shared database): named ``SIPGW_CLUSTER_NAME`` or
    host:SIP port, reached at ``SIPGW_CLUSTER_ADMIN_URL`` or its admin address (set once the
    admin server listens)."""
    if startup.shared is None:
        return None
    from sipgw.app.cluster.members import ClusterIndex
    from sipgw.app.cluster.service import ClusterMember
    from sipgw.app.gateway import gateway_load

    cluster = startup.cluster
    host = socket.gethostname()
    sip_port = gateway.sip.listening[0][2] if gateway.sip.listening else startup.config.sip_port
    name = cluster.cluster_name or f"{host}:{sip_port}"
    index = ClusterIndex(
        startup.shared.db, name, cluster.cluster_admin_url, cluster.cluster_heartbeat
    )
    return ClusterMember(index, gateway.feed, lambda: gateway_load(gateway))


async def _start_summaries(startup: Startup, gateway: Gateway) -> PostCallSummaries | None:
    """Follow the calls for their post-call summaries when on (:mod:`sipgw.app.summary`), their
    chat model's client prepared now (its SDK imported: not during the first calls)."""
    from sipgw.agent.services.llm.base import PreparesAtStart
    from sipgw.app.summary.runner import PostCallSummaries

    if startup.summary_llm is None:
        return None
    llm = startup.summary_llm()
    if isinstance(llm, PreparesAtStart):
        await llm.prepare()
    return PostCallSummaries(gateway.feed, llm, startup.summary, startup.lines)


async def _start_webhooks(
    startup: Startup,
    gateway: Gateway,
    admin: AdminServer | None,
    summaries: PostCallSummaries | None,
) -> Webhooks | None:
    """Start the webhooks when a URL is configured (:mod:`sipgw.app.webhooks`)."""
    from sipgw.app.webhooks.service import start_webhooks, webhooks_wanted

    if not webhooks_wanted(startup.webhooks, startup.lines):
        return None
    return await start_webhooks(
        startup.webhooks, gateway.feed, lines=startup.lines, registry=gateway.metrics.registry,
        link_base=admin.url if admin is not None else "",
        summarize=summaries.result if summaries is not None else None,
        shared_outbox=startup.shared.outbox if startup.shared is not None else None,
    )  # fmt: skip


def _reload_routes(gateway: Gateway) -> None:
    """SIGHUP: reload the routes file (a bad one is logged and the old routes stay)."""
    if gateway.lines is None:
        log.info("SIGHUP: no lines to reload (the settings file's [lines.NAME], or --routes)")
        return
    try:
        gateway.lines.reload()
    except ConfigError:
        pass  # logged by Lines.reload; the routes before stay in force


def _supervise(startup: Startup, argv: list[str]) -> int:
    """``serve --workers N``: run N workers of this command line (:mod:`sipgw.app.workers`)."""
    from sipgw.app.workers import STOP_MARGIN, Supervisor, plan_workers

    try:
        plans = plan_workers(startup.workers, startup.config, startup.admin)
    except ConfigError as exc:
        print(f"sipgw: error: {startup.sources.explain(exc)}", file=sys.stderr)
        return 2
    log.info("running %d workers", len(plans))
    if startup.shared is None:  # the workers share their trust state in one file
        from sipgw.app.security.trust import TRUST_DB_ENV

        trust_db = state_dir(startup.sources) / "trust.sqlite3"
        os.environ.setdefault(TRUST_DB_ENV, str(trust_db))
    stop_timeout = startup.config.drain_seconds + STOP_MARGIN
    return Supervisor(
        [sys.executable, "-m", "sipgw", *argv], plans, stop_timeout=stop_timeout
    ).run()


async def _serve(startup: Startup, worker: int = 0) -> int:
    from sipgw.app.calls.callbacks import start_callbacks
    from sipgw.app.campaigns.service import start_campaigns
    from sipgw.app.campaigns.webhooks import CampaignWebhooks
    from sipgw.app.security.trust import share_digest, trust_store

    config = startup.config
    gateway = gateway_of(startup)
    drain = gateway.drain_request  # the first SIGTERM/SIGINT (or POST /api/drain): drain;
    loop = asyncio.get_running_loop()  # the second signal: end at once
    for sig in (signal.SIGINT, signal.SIGTERM):  # before we announce readiness
        loop.add_signal_handler(sig, drain.signal)
    loop.add_signal_handler(signal.SIGHUP, _reload_routes, gateway)
    failed = await start_gateway(gateway, startup.sources, ready=False)
    if failed is not None:
        return failed
    trust = trust_store(startup.shared.db if startup.shared else None, os.environ)
    sharing = await share_digest(trust, gateway.sip)  # None: alone, or no digest users
    stream_keys = None
    shared = startup.shared.campaigns if startup.shared is not None else None
    campaigns = start_campaigns(startup.campaigns, gateway, shared)  # a loop if any stored
    admin = await _start_admin(gateway, startup, startup.sources, campaigns)
    if isinstance(admin, int):
        await campaigns.stop()
        await gateway.stop()
        return admin
    if admin is not None and trust is not None:  # aiohttp's modules only with the admin
        from sipgw.app.admin.sharedthrottle import SharedThrottle
        from sipgw.app.twilio.sharedtokens import share_stream_tokens

        admin.throttle.shared = SharedThrottle(trust)
        if startup.legs.twilio:
            stream_keys = await share_stream_tokens(trust, admin.legs.twilio)
    summaries = await _start_summaries(startup, gateway)
    webhooks = await _start_webhooks(startup, gateway, admin, summaries)
    if campaigns is not None and webhooks is not None and startup.webhooks.webhook_url:
        campaigns.sinks.append(CampaignWebhooks(
            webhooks.delivery, startup.webhooks.webhook_url, startup.webhooks.webhook_max_bytes
        ))  # fmt: skip
    callbacks = None
    if startup.callbacks is not None:
        callbacks = start_callbacks(startup.callbacks, gateway, startup.agent_factory)
    dataclass_code.save()  # when this start compiled methods no earlier one had
    # Full collections stalled the event loop, and with it the 20 ms ticker, for
    # 60-130 ms (start-up's objects) or tens of ms (the calls'): sipgw/app/operations/collector.py.
    # Off since `python -m sipgw` began (collector.hold): on again from here.
    collector.settle()
    # Ready: every piece of start-up work is done (work that blocked the loop after
    # "listening on" would make its first ticks late); overload is judged from here on.
    gateway.ready()
    tag = f"worker {worker}: " if worker else ""
    for name, address, bound in gateway.sip.listening:
        print(f"{tag}listening on {name.lower()}:{address}:{bound}", flush=True)
    where = [f"{name.lower()} {address}:{bound}" for name, address, bound in gateway.sip.listening]
    log.info("SIP listening on %s", ", ".join(where))
    log.info(
        "agent %s, public address %s, RTP ports %d-%d",
        startup.agent, config.public_ip, *config.rtp_ports,
    )  # fmt: skip
    if startup.lines is not None:
        log.info("routes from %s: %s", startup.lines.path, startup.lines.describe_briefly())
    if startup.shared is not None:
        log.info("%s", startup.shared.describe())
    if admin is not None:
        print(f"admin listening on {admin.url}", flush=True)
    await drain.requested.wait()
    if callbacks is not None:
        await callbacks.stop_polling()
    if campaigns is not None:
        await campaigns.runner.stop_polling()
    if drain.seconds > 0 and gateway.handles:
        log.info(
            "draining: new calls get 503, accounts unregister; waiting up to %gs for %d "
            "call(s) to end (started by %s; signal again to end them now)",
            drain.seconds, len(gateway.handles), drain.source,
        )  # fmt: skip
        await gateway.drain(drain.seconds, drain.now)
    log.info("shutting down: ending %d call(s)", len(gateway.handles))
    if admin is not None:
        if admin.cluster is not None:
            await admin.cluster.member.stop()  # its heartbeat row removed: no call goes there
        await admin.stop()
    await gateway.stop()
    for task in (sharing, stream_keys):
        if task is not None:
            task.cancel()
    if callbacks is not None:
        await callbacks.stop(grace=2.0)  # the callbacks just hung up record their outcome
    if campaigns is not None:
        await campaigns.stop(grace=2.0)  # and the campaigns' calls
    if webhooks is not None:  # the calls just ended: their summaries, then their events
        await webhooks.stop(grace=startup.summary.summary_timeout + 1.0)
    if summaries is not None:
        await summaries.stop(grace=startup.summary.summary_timeout)
    log.info("stopped")
    return 0
