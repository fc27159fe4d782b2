"""Who may call, wired: the ``access`` settings, host names resolved, refusals logged.

The sans-IO policy (:mod:`sipgw.sip.access`) knows addresses only. Here the settings
(:class:`~sipgw.app.security.settings.AccessSection`) and the upstream hosts of the
accounts (:func:`upstream_hosts`) become an :class:`AccessConfig` (:func:`access_config`), and at
start-up :func:`build_access_policy` resolves its host names and decides who
is admitted:

* ``--allow-from any``: anyone (the start-up line says so at WARNING);
* ``--allow-from LIST``: those addresses, networks and (resolved) names;
* nothing set, but an account or outbound proxy configured: their resolved
  addresses, since calls from a trunk or PBX come through them;
* nothing set, only inbound credentials: nobody without credentials;
* nothing at all: nobody (closed by default: every call of an agent that
  spends money is a paid AI session), and the start-up line says, at WARNING,
  what to add; only when every agent that answers spends nothing (the echo
  line check, :attr:`AccessConfig.free_agents`) this host and private networks
  (:data:`LAB_NETWORKS`), as a lab: a stranger on the internet is refused like any
  other, so a forged INVITE cannot make the lab answer, ring and retransmit at a
  victim.

Inbound credentials, when configured, admit anyone else who authenticates.
:class:`RefusalLog` logs refused requests at most once per source address
per minute, and counts them for the stats line; when nothing is configured its
lines say which ``--allow-from`` would admit the source.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw.aio.sourcelog import SourceLog
from sipgw.app.security.passports import read_trust_anchors
from sipgw.app.security.settings import ANY, AccessSection
from sipgw.app.upstream.mediaranges import TrunkMedia, trunk_media
from sipgw.foundation.settings import ConfigError, SettingError
from sipgw.sip.access import AccessPolicy, AllowList, Network, Refusal, parse_network
from sipgw.sip.auth import DigestServer
from sipgw.sip.errors import SipError
from sipgw.sip.passportcheck import TrustAnchors
from sipgw.sip.uri import SipUri

if TYPE_CHECKING:
    from sipgw.app.upstream.accounts import Account
    from sipgw.sip.events import RequestRefused

__all__ = [
    "CLOSED_BY_DEFAULT",
    "LAB_LINE",
    "LAB_NETWORKS",
    "AccessConfig",
    "RefusalLog",
    "Resolver",
    "access_config",
    "account_upstreams",
    "admits_nobody",
    "build_access_policy",
    "closed_line",
    "read_users_file",
    "resolve_host",
    "startup_line",
    "summary_level",
    "upstream_hosts",
]

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""Host name to its IP addresses (all of them, IPv4 and IPv6)."""


@dataclass(frozen=True, slots=True)
class AccessConfig:
    """Who may call, as configured (host names not yet resolved)."""

    allow_from: tuple[str, ...] = ()
    """``--allow-from`` entries; ``("any",)`` for anyone, () for automatic."""
    upstreams: tuple[str, ...] = ()
    """Hosts of the registrars and outbound proxies (names or addresses)."""
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """Inbound digest users, ``(name, password)``; kept out of repr and logs."""
    realm: str = "sip"
    """The digest realm of our challenges."""
    algorithm: str = "MD5"
    """The digest algorithm of our challenges."""
    media_ranges: tuple[TrunkMedia, ...] = ()
    """Where each trunk's media may go (:mod:`sipgw.app.upstream.mediaranges`)."""
    free_agents: bool = False
    """Every agent that answers spends nothing per call (the echo line check): with
    nothing else configured this host and private networks may call, as in a lab
    (:data:`LAB_NETWORKS`). Otherwise (the assistant, any plug-in) nothing configured
    admits nobody."""
    stir_anchors: TrustAnchors | None = field(default=None, repr=False)
    """The STI-CA roots PASSporT certificates must chain to (``SIPGW_STIR_CA_FILE``;
    None = none trusted, or no ``cryptography`` library)."""
    stir_max_age: float = 60.0
    """Seconds a PASSporT's ``iat`` may be from the time it is checked."""

    @property
    def unconfigured(self) -> bool:
        """Whether nothing says who may call: no ``--allow-from``, account, proxy or user."""
        return not (self.allow_from or self.upstreams or self.users)

    @property
    def closed_by_default(self) -> bool:
        """Nothing configured, and the agents spend money: nobody is admitted."""
        return self.unconfigured and not self.free_agents


def read_users_file(path: Path) -> list[tuple[str, str]]:
    """``name:password`` lines; blank lines and ``#`` comments skipped.

    The name is trimmed; the password is everything after the first colon.

    Raises:
        ConfigError: the file cannot be read or a line has no name or password
            (the message gives the file and line number, never the line's text).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise SettingError(
            "{inbound_users_file}: cannot read {path}: {why}", AccessSection,
            path=path, why=why or exc,
        ) from None  # fmt: skip
    users: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, password = line.partition(":")  # the password verbatim, to the line end
        if not colon or not name.strip() or not password:
            raise ConfigError(f"{path} line {number} is not name:password (the inbound users file)")
        users.append((name.strip(), password))
    return users


def account_upstreams(aor: str, registrar: str = "", outbound_proxy: str = "") -> tuple[str, ...]:
    """The hosts an account's calls come through: its registrar (else its AOR's host) and proxy.

    Raises:
        ConfigError: a value is not a SIP URI or host.
    """
    hosts = [_uri_host(registrar, "registrar") if registrar else _uri_host(aor, "AOR")]
    if outbound_proxy:
        hosts.append(_uri_host(outbound_proxy, "outbound proxy"))
    return tuple(dict.fromkeys(hosts))


def upstream_hosts(accounts: Iterable[Account], outbound_proxy: str = "") -> tuple[str, ...]:
    """The hosts calls come through: each account's (:func:`account_upstreams`), then the
    outbound proxy's (``--outbound-proxy``).

    Raises:
        ConfigError: a value is not a SIP URI or host.
    """
    hosts = [
        host
        for account in accounts
        for host in account_upstreams(account.aor, account.registrar, account.outbound_proxy)
    ]
    if outbound_proxy:
        hosts.append(_uri_host(outbound_proxy, "outbound proxy"))
    return tuple(dict.fromkeys(hosts))


def _uri_host(text: str, what: str) -> str:
    uri = text if text.lower().startswith(("sip:", "sips:")) else f"sip:{text}"
    try:
        return SipUri.parse(uri).host
    except SipError:
        raise ConfigError(f"{what}={text!r}: not a SIP URI") from None


def _stir_anchors(path: str) -> TrustAnchors | None:
    try:
        return read_trust_anchors(path)
    except ValueError as exc:
        raise ConfigError(f"SIPGW_STIR_CA_FILE: {exc}") from None


def access_config(
    settings: AccessSection,
    upstreams: Iterable[str] = (),
    free_agents: bool = False,
    accounts: Iterable[Account] = (),
) -> AccessConfig:
    """Who may call: the ``access`` settings and the upstream hosts (:func:`upstream_hosts`);
    ``free_agents``: every agent that answers spends nothing (see :class:`AccessConfig`);
    ``accounts``: those whose own ``media_networks`` apply to their calls.

    Raises:
        ConfigError: an unreadable users file, or one user defined twice.
    """
    hosts = tuple(dict.fromkeys(upstreams))
    users: list[tuple[str, str]] = []
    if settings.inbound_username:
        users.append((settings.inbound_username, settings.inbound_password))
    if settings.inbound_users_file:
        users.extend(read_users_file(Path(settings.inbound_users_file)))
    names = [name for name, _ in users]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"inbound user {duplicates[0]!r} is defined twice")
    return AccessConfig(
        allow_from=settings.allow_from,
        upstreams=hosts,
        users=tuple(users),
        realm=settings.inbound_realm or "sip",
        algorithm=settings.inbound_algorithm,
        free_agents=free_agents,
        media_ranges=trunk_media(
            settings.allow_from,
            hosts,
            settings.media_networks,
            [
                (
                    account.name,
                    account_upstreams(account.aor, account.registrar, account.outbound_proxy),
                    account.media_networks,
                )
                for account in accounts
            ],  # fmt: skip
        ),
        stir_anchors=_stir_anchors(settings.stir_ca_file),
        stir_max_age=settings.stir_max_age,
    )


# -- start-up: resolve, decide ----------------------------------------------------------


async def resolve_host(host: str) -> list[str]:
    """Every IPv4 and IPv6 address of ``host`` (an IP literal is returned as is).

    Raises:
        OSError: the name does not resolve.
    """
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _networks(
    hosts: Iterable[str], resolve: Resolver, log: logging.Logger, strict: bool
) -> list[Network]:
    """``hosts`` as networks, in their order; the host names are resolved at the same time
    (a slow DNS server is waited for once at start, not once per name).

    Raises:
        SettingError: ``strict`` and a host name does not resolve (the first such, in order).
    """
    hosts = list(hosts)
    literal: dict[str, Network] = {}
    for host in hosts:
        try:
            literal[host] = parse_network(host)
        except ValueError:
            pass
    names = [host for host in dict.fromkeys(hosts) if host not in literal]
    answers = await asyncio.gather(*(resolve(name) for name in names), return_exceptions=True)
    resolved = dict(zip(names, answers, strict=True))
    networks: list[Network] = []
    for host in hosts:
        if host in literal:
            networks.append(literal[host])
            continue
        addresses = resolved[host]
        if isinstance(addresses, OSError):
            if strict:
                raise SettingError(
                    "{allow_from}: cannot resolve {host!r} ({why})", AccessSection,
                    host=host, why=addresses.strerror or addresses,
                ) from None  # fmt: skip
            log.warning("access: cannot resolve %s (%s): calls through it are refused", host,
                        addresses)  # fmt: skip
            continue
        if isinstance(addresses, BaseException):
            raise addresses
        networks.extend(parse_network(address) for address in addresses)
    return networks


async def build_access_policy(
    config: AccessConfig, resolve: Resolver = resolve_host, log: logging.Logger | None = None
) -> tuple[AccessPolicy, str]:
    """The policy for ``config``, and the one line the start-up log shows about it.

    Raises:
        ConfigError: an ``--allow-from`` host name does not resolve.
    """
    log = log or logging.getLogger("sipgw")
    digest = None
    if config.users:
        digest = DigestServer(
            config.realm, dict(config.users), secrets.SystemRandom(), algorithm=config.algorithm
        )
    if config.allow_from == (ANY,):
        return AccessPolicy.open(), (
            "access: --allow-from any: calls accepted from anyone (every call of an agent that "
            "spends money is a paid session; see docs/security.md)"
        )
    if config.allow_from:
        allow = AllowList(await _networks(config.allow_from, resolve, log, strict=True))
        policy = AccessPolicy(allow, digest)
        return policy, f"access: {policy.describe()}"
    if config.upstreams:
        allow = AllowList(await _networks(config.upstreams, resolve, log, strict=False))
        policy = AccessPolicy(allow, digest)
        upstreams = ", ".join(config.upstreams)
        return policy, f"access: {policy.describe()} (the registrar/proxy: {upstreams})"
    if digest is not None:
        policy = AccessPolicy(AllowList(), digest)
        return policy, f"access: {policy.describe()}"
    if config.free_agents:
        lab = AllowList.parse(LAB_NETWORKS)
        return AccessPolicy(lab, named=False), LAB_LINE
    return AccessPolicy(AllowList()), CLOSED_BY_DEFAULT


LAB_NETWORKS = (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
)  # fmt: skip
"""What a lab admits (nothing configured, only agents that spend nothing answer): this
host (loopback) and private networks, RFC 1918 for IPv4 and RFC 4193 unique local
addresses for IPv6. Not link-local, nor carrier-grade NAT space (RFC 6598, shared with a
carrier's other customers), nor the rest of the internet, whose scanners would otherwise
get a call (200, its retransmissions, a BYE) for each INVITE from a forged source."""

LAB_LINE = (
    "access: no --allow-from, account, proxy or inbound credentials configured: the agent "
    "(it spends nothing) answers calls from this host and private networks only "
    f"({', '.join(LAB_NETWORKS)}); calls from elsewhere get 403. To take them, add "
    "--allow-from with their addresses or networks (each refused call's log line names "
    "its address), or --allow-from any to take calls from anyone (see docs/security.md)"
)
"""The start-up line when nothing says who may call and the agents spend nothing."""


def closed_line(other_legs: Sequence[str] = ()) -> str:
    """The start-up line when nothing says who may call over SIP and the agent spends
    money: every SIP call is refused, and what the other legs (``other_legs``, each named
    with what admits its calls: :meth:`LegsSettings.taking_calls
    <sipgw.app.legs.settings.LegsSettings.taking_calls>`) still take, or that none does."""
    if other_legs:
        legs = " and ".join(other_legs)
        others = f"; {legs} {'take' if len(other_legs) > 1 else 'takes'} calls all the same"
    else:
        others = "; no other leg takes calls (no browser or Twilio leg is on)"
    return (
        "access: no --allow-from, account, proxy or inbound credentials configured, and the "
        f"agent costs money per call: every SIP call is refused (403){others}. To take SIP "
        "calls, add --allow-from with the addresses of your phones or trunk (e.g. "
        "--allow-from 192.168.1.0/24; each refused call's log line names its address), or "
        "--allow-from any to take calls from anyone (see docs/security.md)"
    )


CLOSED_BY_DEFAULT = closed_line()
"""The start-up line when nothing says who may call over SIP, the agent spends money and
no other leg is on."""


def startup_line(policy: AccessPolicy, line: str, other_legs: Sequence[str]) -> str:
    """The start-up line about ``policy`` (``line``: :func:`build_access_policy`'s) when
    ``other_legs`` take calls besides SIP: the access policy judges SIP sources only, so a
    policy that admits nobody over SIP says which legs still admit calls."""
    if admits_nobody(policy) and line == CLOSED_BY_DEFAULT:
        return closed_line(other_legs)
    return line


def admits_nobody(policy: AccessPolicy) -> bool:
    """Whether ``policy`` refuses every SIP call (no source, no credentials)."""
    return not policy.allow and policy.digest is None


def summary_level(policy: AccessPolicy) -> int:
    """The log level of the start-up line about ``policy``: WARNING when it admits anyone
    (the internet's scanners included) or nobody at all (every SIP call refused), else INFO."""
    return logging.WARNING if policy.allow.admits_anyone or admits_nobody(policy) else logging.INFO


# -- refusals: counted, logged without flooding ----------------------------------------


class RefusalLog:
    """Counts refused requests and logs each source address at most once per ``interval``.

    The line-per-address rule is :class:`~sipgw.aio.sourcelog.SourceLog`'s: the next
    line logged for an address says how many were not logged since, and beyond
    ``max_sources`` addresses (a scan from many addresses) one line per
    ``interval`` sums up the rest.

    Args:
        log: where the lines go.
        interval: seconds between two lines about the same address.
        max_sources: addresses tracked at once.
    """

    def __init__(
        self, log: logging.Logger, interval: float = 60.0, max_sources: int = 4096
    ) -> None:
        self.log = log
        self.hint = False
        """Say in each line which ``--allow-from`` admits the source (set when nothing
        says who may call: someone trying the gateway out needs to know)."""
        self.refused = 0
        """Requests answered 403."""
        self.challenged = 0
        """Requests answered 401 (a challenge: normal for a phone that authenticates)."""
        self.unchecked = 0
        """Of the 403s, answers not checked: their user was in backoff (someone guesses)."""
        self._lines = SourceLog(
            log,
            interval,
            max_sources,
            "access: refused requests from more than %(max_sources)d addresses "
            "(%(count)d not logged)",
        )

    def record(self, event: RequestRefused, now: float) -> None:
        """Count one refusal; log it unless its source was logged in the last ``interval``."""
        if event.refusal is Refusal.CHALLENGED:
            self.challenged += 1
            self.log.debug("access: challenged %s from %s", event.method, _where(event))
            return
        self.refused += 1
        self.unchecked += event.refusal is Refusal.BACKOFF
        user = f", user {event.username!r}" if event.username else ""
        hint = ""
        if self.hint and event.refusal is Refusal.NOT_ALLOWED:
            hint = f" (to take calls from there: --allow-from {event.source[0]})"
        self._lines.warn(
            event.source[0], now, "access: refused %s from %s (From %s%s): %s, 403%s",
            event.method, _where(event), event.caller, user, event.refusal.value, hint,
        )  # fmt: skip


def _where(event: RequestRefused) -> str:
    host, port = event.source
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
