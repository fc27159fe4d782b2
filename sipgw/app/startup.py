"""What ``sipgw serve`` (or ``call``) runs with: every section loaded, the agents built.

:func:`build_startup` loads each section of the catalogue it needs from the sources
(flags, environment, ``.env``), builds the chosen agent's factory (and those of accounts
answered by another agent), and turns the sections into the objects the gateway takes.
Errors are :class:`~sipgw.foundation.settings.ConfigError` s naming what the user wrote: a
:class:`~sipgw.foundation.settings.SettingError` raised while the sections become objects (a
prompt file that cannot be read) is named here by the sources
(:meth:`~sipgw.foundation.settings.Sources.explain`), and :attr:`Startup.sources` names those
the gateway raises later (a recording directory that cannot be created).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw.agent.capabilities import PluginFactory
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.agents import AgentPlugin, find_agent
from sipgw.app.agentstart import agents_may_dial, check_capabilities, gateway_services
from sipgw.app.calls.callbacks import CallbackSetup, callback_setup
from sipgw.app.calls.settings import CallHeadersSection
from sipgw.app.campaigns.settings import CampaignSection
from sipgw.app.cluster.settings import ClusterSection
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.lines.settings import RoutesSection
from sipgw.app.operations.settings import OverloadConfig
from sipgw.app.sections import (
    SECTIONS,
    AmdSection,
    BreakerSection,
    BuiltinToolsSection,
    CallbackSection,
    DeclaredToolsSection,
    check_names,
)
from sipgw.app.security.access import AccessConfig, access_config, upstream_hosts
from sipgw.app.security.floods import FloodSettings
from sipgw.app.security.privacy import Redactor, startup_secrets
from sipgw.app.security.settings import AccessSection, DialSection, LimitsConfig, RateLimitSection
from sipgw.app.settings import GatewayConfig, NetworkSection, WorkersSection
from sipgw.app.summary.runner import summaries_wanted, summary_llm
from sipgw.app.summary.settings import SummarySection
from sipgw.app.twilio.api.account import rest_account
from sipgw.app.twilio.api.linestatus import line_check as status_line_check
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.app.upstream.accounts import RegistrationSettings, registration_settings
from sipgw.app.upstream.dialout import OutboundConfig, account_config
from sipgw.app.upstream.settings import AccountSection, DnsSection, OutboundSection
from sipgw.app.webhooks.settings import WebhookSection, line_check
from sipgw.foundation.settings import ConfigError, SettingError, Sources, load, setting_of
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.identity import IdentityHeader
from sipgw.sip.reliable import Reliability
from sipgw.sip.uri import SipUri

if TYPE_CHECKING:
    from sipgw.agent.services.llm.base import ChatLLM
    from sipgw.app.cluster.service import SharedState

__all__ = ["Startup", "build_startup", "detect_public_ip", "old_files", "outbound_config"]


@dataclasses.dataclass(frozen=True, slots=True)
class Startup:
    """What ``sipgw serve`` (or ``call``) runs: the gateway's configuration, who may call,
    the accounts, how calls are placed, and the agent."""

    config: GatewayConfig
    agent: str
    """The agent's name or plug-in spec."""
    agent_factory: PluginFactory
    access: AccessConfig = AccessConfig()
    registration: RegistrationSettings = RegistrationSettings()
    """The accounts to register."""
    account_agents: dict[str, PluginFactory] = dataclasses.field(default_factory=dict)
    """Factories by account name, for accounts answered by another agent."""
    outbound: OutboundConfig = dataclasses.field(default_factory=OutboundConfig)
    """How calls are placed."""
    callbacks: CallbackSetup | None = None
    """The stored callbacks to dial (the assistant's ``schedule_callback``)."""
    limits: LimitsConfig = LimitsConfig()
    """Bounds on hostile input."""
    dial_policy: DialPolicy = dataclasses.field(default_factory=DialPolicy)
    """What agents may transfer to, call and key (``SIPGW_DIAL_ALLOW`` and friends)."""
    floods: FloodSettings = dataclasses.field(default_factory=FloodSettings)
    """Rate limits and the scanner filter."""
    redactor: Redactor = dataclasses.field(default_factory=Redactor)
    """What every log line is redacted with (secrets, card numbers, patterns)."""
    admin: AdminSettings = AdminSettings()
    """The admin HTTP server (off unless a port is set)."""
    overload: OverloadConfig = OverloadConfig()
    """When new calls are refused for overload."""
    workers: int = 1
    """Worker processes ``serve`` runs (1 = this process only)."""
    breakers: BreakerSection = BreakerSection()
    """When new calls are turned away because an AI service is down for everyone."""
    headers: CallHeadersSection = CallHeadersSection()
    """The X- headers agents see, and whether transfers carry a summary."""
    agent_factories: dict[str, PluginFactory] = dataclasses.field(default_factory=dict)
    """Every agent built at start, by the name it was started with (a placed call may
    name one: ``agent`` of ``POST /api/calls``)."""
    lines: Lines | None = None
    """The lines of the settings file (or of a routes file, ``--routes``); None = none."""
    webhooks: WebhookSection = WebhookSection()
    """Where call events are posted, and how."""
    summary: SummarySection = SummarySection()
    """The post-call summary's settings."""
    summary_llm: Callable[[], ChatLLM] | None = None
    """Makes the summaries' chat model; None when no call is summarized."""
    dns: DnsSection = DnsSection()
    """Which DNS servers find a trunk's servers (RFC 3263)."""
    legs: LegsSettings = LegsSettings()
    """The browser and Twilio legs (served by the admin server)."""
    twilio_api: TwilioApiSection = TwilioApiSection()
    """Twilio's REST subset (served by the admin server), with its account in effect."""
    campaigns: CampaignSection = CampaignSection()
    """Where campaigns are kept and their bounds (docs/campaigns.md)."""
    secret_files: tuple[tuple[str, str], ...] = ()
    """``(setting, path)`` of the files that hold secrets, each setting named as the user
    gave it (checked at start: :mod:`sipgw.app.security.filemodes`)."""
    sources: Sources = dataclasses.field(default=Sources(), repr=False)
    """Where the settings came from: names the settings in a later error
    (:meth:`~sipgw.foundation.settings.Sources.explain`); left out of the repr (secrets)."""
    cluster: ClusterSection = ClusterSection()
    """The shared database and this gateway's name in the cluster."""
    shared: SharedState | None = None
    """The shared database's stores (``SIPGW_DATABASE_URL``, migrated); None = SQLite."""
    warnings: tuple[str, ...] = ()
    """What the start-up log warns of (deprecated settings and files still taken)."""


def build_startup(plugin: AgentPlugin, sources: Sources) -> Startup:
    """Load every section ``serve`` needs and build the agent factories.

    Args:
        plugin: the chosen agent (``--agent``).
        sources: the flags given and the environment (``.env`` loaded into it).

    Raises:
        ConfigError: a value is bad, a required one is missing, or an agent does not load;
            the settings it is about named as the user gave them.
    """
    try:
        return _build(plugin, sources)
    except SettingError as exc:
        raise ConfigError(sources.explain(exc)) from None


def _build(plugin: AgentPlugin, sources: Sources) -> Startup:
    config = load(GatewayConfig, sources)
    if not config.public_ip:
        wildcard = config.bind in ("0.0.0.0", "::")
        config = dataclasses.replace(
            config, public_ip=detect_public_ip() if wildcard else config.bind
        )
    accounts = load(AccountSection, sources)
    placing = load(OutboundSection, sources)
    registration = registration_settings(accounts, placing.outbound_proxy)
    amd = load(AmdSection, sources).mode
    check_capabilities(plugin.capabilities, sources, f"the {plugin.spec} agent", amd, main=True)
    plugins = {plugin.spec: plugin}
    account_specs: dict[str, str] = {}
    for account in registration.accounts:
        if account.agent and account.agent != plugin.spec:
            if account.agent not in plugins:
                other = find_agent(account.agent, f"{account.origin}: agent {account.agent}")
                check_names(other.sections, other.who)
                check_capabilities(other.capabilities, sources, other.who, amd, main=False)
                plugins[account.agent] = other
            account_specs[account.name] = account.agent
    upstreams = upstream_hosts(registration.accounts, placing.outbound_proxy)
    routes = load(RoutesSection, sources).routes
    file_lines = "lines" in sources.file_keys  # the settings file's [lines.NAME] tables
    # Every agent that answers spends nothing (its capabilities say ``paid=False``: echo):
    # the gateway's and the accounts' (a routes file's lines may name any agent, and it can
    # be reloaded: never free). With only these, a gateway with nothing configured about who
    # may call takes calls from this host and private networks (a lab:
    # :data:`sipgw.app.security.access.LAB_NETWORKS`).
    free = not any(p.capabilities.paid for p in plugins.values()) and not (routes or file_lines)
    access_section = load(AccessSection, sources)
    access = access_config(
        access_section, upstreams, free_agents=free, accounts=registration.accounts
    )
    plugin_sections = [info for p in plugins.values() for info in p.sections]
    policy = agents_may_dial(sources)
    secrets = startup_secrets(registration, access)
    cluster = load(ClusterSection, sources)
    shared = _shared_state(cluster, sources)
    services = gateway_services(
        sources, policy, (*SECTIONS, *plugin_sections), secrets,
        shared.callbacks if shared else None, shared.messages if shared else None,
    )  # fmt: skip
    factories = {spec: p.build(sources, services) for spec, p in plugins.items()}
    account_agents = {name: factories[spec] for name, spec in account_specs.items()}
    webhooks = load(WebhookSection, sources)
    lines = None
    if routes or file_lines:
        base = LineBase(
            sources, plugin.spec, factories[plugin.spec],
            accounts=tuple(account.name for account in registration.accounts),
            recording=bool(config.record_dir), dial_policy=policy,
            amd=amd, catalogue=SECTIONS,
            checks=(
                line_check(webhooks, sources), _status_line_check(sources),
                _tls_line_check(config, sources),
            ),
        )  # fmt: skip
        path = Path(routes or sources.file_path)
        document = None if routes else sources.document  # the settings file, read once
        lines = Lines(path, base, settings_file=not routes, document=document)
        services.redactor.add_secrets(
            s for line in lines.table.lines.values() if (s := line.spec.webhook_secret)
        )
    summary = load(SummarySection, sources)
    twilio_api, twilio_warnings = rest_account(sources)
    llm = summary_llm(sources) if summaries_wanted(summary, lines) else None
    return Startup(
        config,
        plugin.spec,
        factories[plugin.spec],
        access,
        registration,
        account_agents,
        dataclasses.replace(outbound_config(placing, accounts, registration), amd=amd),
        _callbacks(sources, shared) if plugin.capabilities.callbacks else None,
        load(LimitsConfig, sources),
        policy,
        FloodSettings.of(load(RateLimitSection, sources)),
        services.redactor,
        load(AdminSettings, sources),
        load(OverloadConfig, sources),
        load(WorkersSection, sources).workers,
        load(BreakerSection, sources),
        load(CallHeadersSection, sources),
        factories,
        lines,
        webhooks,
        summary,
        llm,
        load(DnsSection, sources),
        load(LegsSettings, sources),
        twilio_api,
        load(CampaignSection, sources),
        (
            (sources.label(AccountSection, "accounts"), accounts.accounts),
            (sources.label(AccessSection, "inbound_users_file"), access_section.inbound_users_file),
            (sources.label(GatewayConfig, "tls_key"), config.tls_key),
        ),
        sources,
        cluster,
        shared,
        (*twilio_warnings, *old_files(sources)),
    )


def old_files(sources: Sources) -> list[str]:
    """The warnings for a routes file or a tools file of its own (still read): their
    tables now go in the settings file, and ``sipgw config convert`` moves them there."""
    warnings = []
    routes = sources.find(setting_of(RoutesSection, "routes"))
    tools = sources.find(setting_of(DeclaredToolsSection, "tools_file"))
    in_file = tools.origin == "file" and tools.key in ("http_tools", "mcp_servers")
    old = [(found, flag) for found, flag in ((routes, "--routes"), (tools, "--tools"))
           if found.text.strip() and not (found is tools and in_file)]  # fmt: skip
    for found, _ in old:
        what = "routes file" if found is routes else "tools file"
        warnings.append(
            f"{found.label} {found.text.strip()}: a {what} of its own is deprecated (still "
            "read): its tables go in the settings file (sipgw.toml, docs/configuration.md)"
        )
    if old:
        command = " ".join(f"{flag} {found.text.strip()}" for found, flag in old)
        warnings.append(f"sipgw config convert {command} writes them as settings-file tables")
    return warnings


def _tls_line_check(config: GatewayConfig, sources: Sources) -> Callable[[LineSpec], None]:
    """A line's ``tls_peer_names`` needs peers asked for certificates (``SIPGW_TLS_PEER_CA``)."""
    label = sources.labels(NetworkSection)["tls_peer_ca"]

    def check(line: LineSpec) -> None:
        if line.tls_peer_names and not config.tls_peer_ca:
            raise ConfigError(
                f"{line.where}: tls_peer_names needs {label}: peers are asked for a "
                "certificate only when a CA is set for them"
            )

    return check


def _status_line_check(sources: Sources) -> Callable[[LineSpec], None]:
    """A line's ``status_callback`` needs the REST subset and the admin server."""
    api, _ = rest_account(sources)
    label = sources.labels(TwilioApiSection, AdminSettings)
    needs = f"{label['twilio_api']}=on and {label['port']}"
    return status_line_check(api.enabled, load(AdminSettings, sources).enabled, needs)


def _callbacks(sources: Sources, shared: SharedState | None) -> CallbackSetup:
    """The dialing of stored callbacks, for an agent that stores them."""
    tools, callbacks = load(BuiltinToolsSection, sources), load(CallbackSection, sources)
    setup = callback_setup(tools, callbacks, load(DialSection, sources))
    return setup if shared is None else dataclasses.replace(setup, shared=shared.callbacks)


def _shared_state(cluster: ClusterSection, sources: Sources) -> SharedState | None:
    """The shared database, migrated, when ``SIPGW_DATABASE_URL`` names one.

    Raises:
        ConfigError: psycopg is not installed, or the database cannot be reached or
            migrated (the message names the setting, never the password).
    """
    if not cluster.database_url:
        return None
    label = sources.label(ClusterSection, "database_url")
    try:
        from sipgw.app.cluster.service import open_shared_state
    except ImportError as exc:
        raise ConfigError(f"{label} needs psycopg: pip install 'sipgw[postgres]' ({exc})") from None
    from sipgw.app.cluster.database import redacted_url

    try:  # before the gateway's loop runs: the migrations on a loop of their own
        return asyncio.run(open_shared_state(cluster.database_url))
    except Exception as exc:  # psycopg's errors, a schema newer than ours
        why = str(exc).replace(cluster.database_url, redacted_url(cluster.database_url))
        raise ConfigError(f"{label}: {redacted_url(cluster.database_url)}: {why.strip()}") from None


def reliability(value: str) -> Reliability:
    """``SIPGW_100REL``'s or an account's ``100rel`` (checked when read) as the SIP core's."""
    if value == "required":
        return "required"
    return "off" if value == "off" else "supported"


def outbound_config(
    settings: OutboundSection,
    accounts: AccountSection,
    registration: RegistrationSettings | None = None,
) -> OutboundConfig:
    """How calls are placed: the ``outbound`` section, and the AOR and credentials of the
    ``accounts`` section; each account of the accounts file its own way
    (:func:`~sipgw.app.upstream.dialout.account_config`)."""
    base = OutboundConfig(
        proxy=settings.outbound_proxy,
        caller_id=settings.caller_id,
        ring_timeout=settings.ring_timeout,
        redirect_hops=settings.redirect_hops,
        reliable=reliability(settings.reliable_1xx),
        aor=accounts.register,
        username=accounts.auth_username
        or (_aor_user(accounts.register) if accounts.auth_password else ""),
        password=accounts.auth_password,
        identity=IdentityHeader(settings.caller_id_header),
        withhold=settings.caller_id_privacy == "id",
    )
    named = {
        account.name: account_config(
            base,
            aor=account.aor,
            username=account.auth_username or account.user,
            password=account.auth_password,
            proxy=account.outbound_proxy,
            caller_id=account.caller_id,
            identity=IdentityHeader(account.caller_id_header),
            withhold=account.caller_id_privacy == "id",
            codecs=account.codecs,
            inband_dtmf=account.inband_dtmf,
            reliable=None if account.reliable is None else reliability(account.reliable),
        )
        for account in (registration.accounts if registration else ())
        if account.name != "register"
    }
    return dataclasses.replace(base, accounts=named)


def _aor_user(aor: str) -> str:
    """The user part of ``aor`` ("" for none): the digest user name when none is set."""
    return (SipUri.parse(aor).user or "") if aor else ""


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
