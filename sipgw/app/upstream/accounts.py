"""Accounts the gateway registers with: one from the flags, more from a TOML file.

``--register AOR`` (with ``--registrar``, ``--auth-username``,
``--auth-password``, ``--register-expires``) gives one account;
``--accounts FILE`` gives any number, one table each::

    [accounts.office]
    aor = "sip:1001@pbx.example.com"
    auth_password = "s3cret"
    # optional:
    registrar = "sip:pbx.example.com:5060"   # default: the AOR's host
    auth_username = "1001"                   # default: the AOR's user
    outbound_proxy = "sip:proxy.example.com;transport=tcp"
    transport = "tcp"                        # udp, tcp or tls; default: from the URI
    expires = 600
    agent = "assistant"                      # who answers calls to this AOR
    caller_id = "+15551234567"               # the From of calls placed through it
    caller_id_header = "pai"                 # none, pai or ppi: where else it goes
    caller_id_privacy = "none"               # id: withhold it (Privacy: id)
    media_networks = ["203.0.113.0/24"]      # where its calls' RTP may go (default: anywhere)
    codecs = ["G722", "PCMU"]                # its calls' codecs (default: G.711 first)
    inband_dtmf = "on"                       # key tones in its calls' audio: auto, on, off

The flags are the ``accounts`` section (:class:`AccountSection`); how calls are placed
through the trunk, the ``outbound`` section (:class:`OutboundSection`). A problem in the
file is a :class:`~sipgw.agent.sections.ConfigError` naming the file, the line and the
key (``accounts.toml line 7: account 'office': ...``). Passwords never appear in
reprs or errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipgw.agent.sections import ConfigError, InvalidSettings, section, setting
from sipgw.agent.sections.parsers import (
    choice,
    int_at_least,
    non_negative,
    optional_file,
    positive,
    text,
)
from sipgw.agent.sections.tomlfile import Place, read_toml
from sipgw.app.agents import agent_spec
from sipgw.app.codecs import codec_list
from sipgw.app.config import inband_dtmf_mode
from sipgw.app.upstream.mediaranges import media_networks
from sipgw.sip.errors import SipError
from sipgw.sip.uri import SipUri

if TYPE_CHECKING:
    from sipgw.sip.useragent import RegistrationConfig

__all__ = [
    "Account",
    "AccountSection",
    "OutboundSection",
    "RegistrationSettings",
    "load_accounts",
    "parse_accounts_file",
    "registration_settings",
    "sip_uri",
]

_TRANSPORTS = ("udp", "tcp", "tls")
_KEYS = frozenset(
    {
        "aor",
        "registrar",
        "auth_username",
        "auth_password",
        "outbound_proxy",
        "transport",
        "expires",
        "agent",
        "caller_id",
        "caller_id_header",
        "caller_id_privacy",
        "media_networks",
        "codecs",
        "inband_dtmf",
    }
)
_HEADERS = ("none", "pai", "ppi")
_PRIVACY = ("none", "id")


def sip_uri(value: str, need_user: bool = False) -> str:
    """A ``sip:`` or ``sips:`` URI with a host (and a user part when ``need_user``).

    Raises:
        ValueError: it is not.
    """
    try:
        uri = SipUri.parse(value.strip())
    except SipError:
        raise ValueError("must be a sip: or sips: URI, e.g. sip:1001@pbx.example.com") from None
    if not uri.host:
        raise ValueError("must be a SIP URI with a host")
    if need_user and not uri.user:
        raise ValueError("needs a user part (sip:user@host)")
    return value.strip()


def _optional_aor(value: str) -> str:
    return sip_uri(value, need_user=True) if value.strip() else ""


def _optional_uri(value: str) -> str:
    return sip_uri(value) if value.strip() else ""


@section(
    "accounts",
    title="Accounts and registration",
    intro="Registering to a trunk or PBX (RFC 3261 §10) so calls to an address of record "
    "reach us; see docs/registration.md. Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class AccountSection:
    """One account from the flags, an accounts file for more, and how they register."""

    register: str = setting(
        "", env="SIPGW_REGISTER", flag="--register", metavar="AOR", parse=_optional_aor,
        first=True,
        help="Address of record to register, e.g. sip:1001@pbx.example.com; empty = no "
        "registration.",
    )  # fmt: skip
    registrar: str = setting(
        "", env="SIPGW_REGISTRAR", flag="--registrar", metavar="URI", parse=_optional_uri,
        help="Registrar URI; empty = the AOR's host.",
    )  # fmt: skip
    auth_username: str = setting(
        "", env="SIPGW_AUTH_USERNAME", flag="--auth-username", metavar="NAME", parse=text,
        help="Digest user name for 401/407 challenges from the registrar, the outbound proxy or "
        "the callee; empty = the AOR's user.",
    )  # fmt: skip
    auth_password: str = setting(
        "", env="SIPGW_AUTH_PASSWORD", flag="--auth-password", metavar="SECRET", parse=text,
        default_doc="none", secret=True, first=True,
        help="Digest password for 401/407 challenges from the registrar, the outbound proxy or "
        "the callee (never logged or shown).",
    )  # fmt: skip
    register_expires: int = setting(
        600, env="SIPGW_REGISTER_EXPIRES", flag="--register-expires", metavar="S",
        parse=int_at_least(1),
        help="Registration expiry to ask for, seconds; refreshed at 80-90 % of what the "
        "registrar grants.",
    )  # fmt: skip
    register_retry_base: float = setting(
        30.0, env="SIPGW_REGISTER_RETRY_BASE", flag="--register-retry-base", metavar="S",
        parse=positive,
        help="Seconds before retrying a failed or unanswered registration (RFC 5626 §4.5 "
        "base-time): a random 1-2 times this after the first failure, doubling with each "
        "further one, at most 30 min.",
    )  # fmt: skip
    accounts: str = setting(
        "", env="SIPGW_ACCOUNTS", flag="--accounts", metavar="FILE", parse=optional_file,
        help="TOML file with several accounts ([accounts.NAME] tables: aor, registrar, "
        "auth_username, auth_password, outbound_proxy, transport, expires, agent, caller_id, "
        "caller_id_header, caller_id_privacy, media_networks, codecs); empty = none.",
    )  # fmt: skip
    keepalive_interval: float = setting(
        25.0, env="SIPGW_KEEPALIVE_INTERVAL", flag="--keepalive-interval", metavar="S",
        parse=non_negative,
        help="Seconds between CRLF keep-alives to each registrar while registered (RFC 5626), "
        "holding NAT bindings open; 0 = none.",
    )  # fmt: skip

    def check(self) -> None:
        """A registrar needs the AOR to register (credentials alone are for outbound calls).

        Raises:
            InvalidSettings: a registrar without an AOR.
        """
        if self.registrar and not self.register:
            raise InvalidSettings("{registrar} is set but {register} (the AOR) is not")


def _proxy(value: str) -> str:
    """An outbound proxy's SIP URI (:func:`~sipgw.app.upstream.dialout.proxy_route` takes
    it), or ""."""
    from sipgw.app.upstream.dialout import proxy_route  # at parse time only: --help stays light

    if value.strip():
        try:
            proxy_route(value)
        except ValueError as exc:
            raise ValueError(f"must be a SIP URI, e.g. sip:proxy.example.com ({exc})") from None
    return value.strip()


def _caller_id(value: str) -> str:
    """A caller id :func:`~sipgw.app.upstream.dialout.caller` takes, or ""."""
    from sipgw.app.upstream.dialout import OutboundConfig, caller  # at parse time only

    caller(OutboundConfig(caller_id=value), "127.0.0.1")
    return value.strip()


@section(
    "outbound",
    title="Placing calls",
    intro="Read by `sipgw call` and scheduled callbacks; each is also a flag of `sipgw serve` "
    "and `sipgw call`. Challenges (401/407) are answered with `SIPGW_AUTH_USERNAME` and "
    "`SIPGW_AUTH_PASSWORD`.",
)
@dataclass(frozen=True)
class OutboundSection:
    """The outbound proxy, our caller id, and how long a call may ring."""

    outbound_proxy: str = setting(
        "", env="SIPGW_OUTBOUND_PROXY", flag="--outbound-proxy", metavar="URI", parse=_proxy,
        help="SIP URI every outbound INVITE goes through (loose routing, ';lr' added), e.g. "
        "sip:proxy.example.com;transport=tcp; a phone number is sent to its host. Empty = "
        "straight to the target.",
    )  # fmt: skip
    caller_id: str = setting(
        "", env="SIPGW_CALLER_ID", flag="--caller-id", metavar="ID", parse=_caller_id,
        help="Who we call as (the From): a number (+15551234567, which trunks check: one you "
        "own at the carrier, in E.164), a SIP URI, '\"Name\" <sip:user@host>', or a user name; "
        "empty = the registered AOR (or sip:sipgw@<public address>).",
    )  # fmt: skip
    caller_id_header: str = setting(
        "none", env="SIPGW_CALLER_ID_HEADER", flag="--caller-id-header", metavar="none|pai|ppi",
        parse=choice(*_HEADERS),
        help="Where else the caller id goes, for trunks that read it there first: 'pai' "
        "(P-Asserted-Identity), 'ppi' (P-Preferred-Identity) or 'none' (the From only).",
    )  # fmt: skip
    caller_id_privacy: str = setting(
        "none", env="SIPGW_CALLER_ID_PRIVACY", flag="--caller-id-privacy", metavar="none|id",
        parse=choice(*_PRIVACY),
        help="'id' withholds the caller id from the callee (Privacy: id, an anonymous From; the "
        "number goes in P-Asserted-Identity, or the header above, for the trunk); 'none' shows "
        "it.",
    )  # fmt: skip
    ring_timeout: float = setting(
        60.0, env="SIPGW_RING_TIMEOUT", flag="--ring-timeout", metavar="S", parse=positive,
        help="Seconds an outbound call may ring before we give up (CANCEL).",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Account:
    """One account at a registrar (a trunk's credential connection, a PBX extension)."""

    name: str
    """What errors and logs call it: the TOML table name, or ``register`` for the flags."""
    aor: str
    """The address of record, e.g. ``sip:1001@pbx.example.com``."""
    registrar: str = ""
    """The registrar's URI; "" = the AOR's host."""
    auth_username: str = ""
    """The digest user name; "" = the AOR's user."""
    auth_password: str = field(default="", repr=False)
    """The digest password; "" = none (a registrar that does not challenge)."""
    outbound_proxy: str = ""
    """A URI every request of this account goes through; "" = none."""
    transport: str = ""
    """``udp``, ``tcp`` or ``tls``; "" = what the registrar's (or proxy's) URI says."""
    expires: int = 600
    """The registration expiry we ask for, seconds."""
    agent: str = ""
    """The agent that answers calls to this AOR; "" = the gateway's ``--agent``."""
    media_networks: tuple[str, ...] = ()
    """Where the RTP of its calls may go (IP addresses, CIDRs); () = anywhere
    (:mod:`sipgw.app.upstream.mediaranges`)."""
    caller_id: str = ""
    """The From of calls placed through this account; "" = its AOR."""
    codecs: tuple[str, ...] | None = None
    """Its calls' codecs, most preferred first (docs/hd-voice.md); None = the gateway's,
    G.711 first."""
    inband_dtmf: str | None = None
    """When its calls listen for key presses as tones (``auto``, ``on``, ``off``:
    ``SIPGW_INBAND_DTMF``); None = the gateway's (a line's says first)."""
    caller_id_header: str = "none"
    """``none``, ``pai`` or ``ppi``: where else the caller id goes."""
    caller_id_privacy: str = "none"
    """``id``: withhold the caller id (``Privacy: id``)."""
    origin: str = field(default="", compare=False, repr=False)
    """Where it was configured, for messages: ``--register``, ``accounts.toml line 9: ..."""

    @property
    def user(self) -> str:
        """The AOR's user part."""
        return SipUri.parse(self.aor).user or ""

    @property
    def host(self) -> str:
        """The AOR's host, lower-cased."""
        return SipUri.parse(self.aor).host.lower()

    def registration(
        self, keepalive_interval: float = 25.0, retry_base: float = 30.0
    ) -> RegistrationConfig:
        """What the user agent core needs to register this account."""
        # Imported here: the CLI reads this module for --help, the user agent core is heavy.
        from sipgw.sip.auth import Credentials
        from sipgw.sip.registration import RegistrationPolicy
        from sipgw.sip.useragent import RegistrationConfig

        credentials = None
        if self.auth_password:
            credentials = Credentials(self.auth_username or self.user, self.auth_password)
        return RegistrationConfig(
            aor=self.aor,
            registrar=self.registrar,
            credentials=credentials,
            outbound_proxy=self.outbound_proxy,
            transport=self.transport.upper(),
            policy=RegistrationPolicy(
                expires=self.expires, retry_base=retry_base, keepalive_interval=keepalive_interval
            ),
        )


def _check_uri(value: str, where: str, key: str, need_user: bool = False) -> str:
    try:
        return sip_uri(value, need_user)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key} {value!r} {exc}") from None


def _account(name: str, fields: Mapping[str, Any], place: Place) -> Account:
    unknown = sorted(set(fields) - _KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ConfigError(f"{place(unknown[0])}: unknown key {unknown[0]!r} (known: {known})")
    for key, value in fields.items():
        if key in ("media_networks", "codecs"):
            continue  # a list: checked below
        wanted = int if key == "expires" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "number" if wanted is int else "string (in quotes)"
            raise ConfigError(f"{place(key)}: {key} must be a {kind}")
    if "aor" not in fields:
        raise ConfigError(f"{place()}: aor is missing")
    aor = _check_uri(fields["aor"], place("aor"), "aor", need_user=True)
    registrar = fields.get("registrar", "")
    if registrar:
        _check_uri(registrar, place("registrar"), "registrar")
    proxy = fields.get("outbound_proxy", "")
    if proxy:
        _check_uri(proxy, place("outbound_proxy"), "outbound_proxy")
    transport = fields.get("transport", "").strip().lower()
    if transport and transport not in _TRANSPORTS:
        raise ConfigError(
            f"{place('transport')}: transport {transport!r} must be one of udp, tcp, tls"
        )
    expires = fields.get("expires", 600)
    if expires < 1:
        raise ConfigError(f"{place('expires')}: expires must be at least 1 second")
    caller_id = fields.get("caller_id", "").strip()
    if caller_id:
        try:
            _caller_id(caller_id)
        except ValueError as exc:
            raise ConfigError(f"{place('caller_id')}: caller_id {caller_id!r} {exc}") from None
    for key, allowed in (("caller_id_header", _HEADERS), ("caller_id_privacy", _PRIVACY)):
        value = fields.get(key, "none").strip().lower()
        if value not in allowed:
            raise ConfigError(f"{place(key)}: {key} {value!r} must be one of {', '.join(allowed)}")
    agent = fields.get("agent", "").strip()
    if agent:
        try:
            agent = agent_spec(agent)
        except ValueError as exc:
            raise ConfigError(f"{place('agent')}: agent {agent!r} {exc}") from None
    networks = fields.get("media_networks", [])
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise ConfigError(
            f"{place('media_networks')}: media_networks must be a list of strings, e.g. "
            '["203.0.113.0/24"]'
        )
    try:
        media = media_networks(",".join(networks))
    except ValueError as exc:
        raise ConfigError(f"{place('media_networks')}: media_networks: {exc}") from None
    codecs = None
    if "codecs" in fields:
        try:
            codecs = codec_list(fields["codecs"] if isinstance(fields["codecs"], list) else [])
        except ValueError as exc:
            raise ConfigError(
                f'{place("codecs")}: codecs (a list, e.g. ["G722", "PCMU"]) {exc}'
            ) from None
    return Account(
        codecs=codecs,
        inband_dtmf=inband_dtmf_mode(fields, place),
        name=name,
        aor=aor,
        registrar=registrar,
        auth_username=fields.get("auth_username", ""),
        auth_password=fields.get("auth_password", ""),
        outbound_proxy=proxy,
        transport=transport,
        expires=expires,
        agent=agent,
        media_networks=media,
        caller_id=caller_id,
        caller_id_header=fields.get("caller_id_header", "none").strip().lower(),
        caller_id_privacy=fields.get("caller_id_privacy", "none").strip().lower(),
        origin=place("agent" if agent else None),
    )


def parse_accounts_file(path: Path) -> tuple[Account, ...]:
    """The accounts in a TOML file (``[accounts.NAME]`` tables).

    Raises:
        ConfigError: the file cannot be read or parsed, or an account is bad; the
            message names the file and, where it can, the line.
    """
    document = read_toml(path)
    label, data = document.label, document.data
    extra = sorted(set(data) - {"accounts"})
    if extra:
        raise ConfigError(f"{label}: unknown table {extra[0]!r} (accounts go in [accounts.NAME])")
    tables = data.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{label}: no [accounts.NAME] table")
    accounts = []
    for name, fields in tables.items():
        place = document.place(document.table_line("accounts", name), f"account {name!r}")
        if not isinstance(fields, dict):
            raise ConfigError(f"{place()}: must be a table ([accounts.{name}])")
        accounts.append(_account(name, fields, place))
    return tuple(accounts)


def load_accounts(settings: AccountSection, outbound_proxy: str = "") -> tuple[Account, ...]:
    """The account of ``--register`` (and its companions) and those of ``--accounts``.

    Args:
        settings: the ``accounts`` section.
        outbound_proxy: ``--outbound-proxy``: the ``--register`` account's REGISTERs
            take the same path as our INVITEs (e.g. a TLS edge proxy).

    Raises:
        ConfigError: a bad accounts file, or the same AOR twice.
    """
    accounts: list[Account] = []
    if settings.register:
        accounts.append(
            Account(
                name="register",
                aor=settings.register,
                registrar=settings.registrar,
                auth_username=settings.auth_username,
                auth_password=settings.auth_password,
                outbound_proxy=outbound_proxy,
                expires=settings.register_expires,
                origin="--register",
            )
        )
    if settings.accounts:
        accounts.extend(parse_accounts_file(Path(settings.accounts)))
    seen: dict[tuple[str, str], str] = {}
    for account in accounts:
        key = (account.user, account.host)
        if key in seen:
            raise ConfigError(
                f"accounts {seen[key]!r} and {account.name!r} register the same AOR {account.aor}"
            )
        seen[key] = account.name
    return tuple(accounts)


@dataclass(frozen=True, slots=True)
class RegistrationSettings:
    """What the gateway registers, and how (the ``accounts`` section, resolved)."""

    accounts: tuple[Account, ...] = ()
    """Accounts to register at start-up; unregistered on shutdown."""
    keepalive_interval: float = 25.0
    """Seconds between CRLF keep-alives to each registrar; 0 = none."""
    retry_base: float = 30.0
    """RFC 5626 §4.5 base-time: the first retry after a failure waits 1-2 times this."""


def registration_settings(
    settings: AccountSection, outbound_proxy: str = ""
) -> RegistrationSettings:
    """The accounts (:func:`load_accounts`), the keep-alive interval and the retry base.

    Raises:
        ConfigError: see :func:`load_accounts`.
    """
    return RegistrationSettings(
        accounts=load_accounts(settings, outbound_proxy),
        keepalive_interval=settings.keepalive_interval,
        retry_base=settings.register_retry_base,
    )
