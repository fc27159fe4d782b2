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
    100rel = "required"                      # reliable 1xx on its placed calls (RFC 3262):
                                             # supported, required, off (SIPGW_100REL)
    tls_cert = "office.crt"                  # mutual TLS: the certificate (and its key)
    tls_key = "office.key"                   # presented to its registrar/proxy over TLS
    tls_ca = "office-ca.crt"                 # CAs its server must chain to (SIPGW_TLS_CA)
    tls_peer_names = ["sbc.example.com"]     # names its server's certificate may carry
                                             # (default: the host we connect to)

Paths are relative to the accounts file's directory; the TLS files are read again when they
change (:mod:`sipgw.aio.tlsfiles`).

The flags are the ``accounts`` section (:class:`~sipgw.app.upstream.settings.AccountSection`);
how calls are placed through the trunk, the ``outbound`` section
(:class:`~sipgw.app.upstream.settings.OutboundSection`). A problem in the
file is a :class:`~sipgw.foundation.settings.ConfigError` naming the file, the line and the
key (``accounts.toml line 7: account 'office': ...``). Passwords never appear in
reprs or errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipgw.app.codecs import codec_list
from sipgw.app.settings import agent_spec, inband_dtmf_mode, peer_names
from sipgw.app.upstream.mediaranges import media_networks
from sipgw.app.upstream.settings import (
    CALLER_ID_HEADERS,
    CALLER_ID_PRIVACY,
    RELIABLE_1XX,
    AccountSection,
    parse_caller_id,
    sip_uri,
)
from sipgw.foundation.settings import ConfigError
from sipgw.foundation.settings.tomlfile import Place, TableMistakes, read_toml
from sipgw.sip.uri import SipUri

if TYPE_CHECKING:
    from sipgw.sip.useragent import RegistrationConfig

__all__ = [
    "Account",
    "AccountTls",
    "RegistrationSettings",
    "load_accounts",
    "parse_accounts_file",
    "registration_settings",
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
        "100rel",
        "tls_cert",
        "tls_key",
        "tls_ca",
        "tls_peer_names",
    }
)
_TLS_FILES = ("tls_cert", "tls_key", "tls_ca")


@dataclass(frozen=True, slots=True)
class AccountTls:
    """An account's own TLS towards its registrar (and outbound proxy): mutual TLS."""

    cert: str = ""
    """The certificate chain we present (PEM); "" = the gateway's (``SIPGW_TLS_CERT``)."""
    key: str = ""
    """Its private key (PEM)."""
    ca: str = ""
    """CAs the server's certificate must chain to (PEM); "" = ``SIPGW_TLS_CA``'s."""
    peer_names: tuple[str, ...] = ()
    """Names the server's certificate must carry one of; () = the host we connect to."""


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
    reliable: str | None = None
    """Reliable provisional responses on its placed calls (the TOML key ``100rel``:
    ``supported``, ``required``, ``off``); None = the gateway's (``SIPGW_100REL``)."""
    tls: AccountTls | None = None
    """Its own TLS files and names; None = the gateway's."""
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


def _string_list(
    given: Mapping[str, Any],
    key: str,
    example: str,
    parse: Callable[[str], tuple[str, ...]],
    place: Place,
    mistakes: TableMistakes,
) -> tuple[str, ...]:
    """A key whose value is a list of strings, each checked by ``parse`` (which takes them
    comma-separated, as the setting of the same meaning does); () when absent or wrong."""
    items = given.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        mistakes.messages.append(
            f'{place(key)}: {key} must be a list of strings, e.g. ["{example}"]'
        )
        return ()
    try:
        return parse(",".join(items))
    except ValueError as exc:
        mistakes.messages.append(f"{place(key)}: {key}: {exc}")
        return ()


def _account_tls(
    given: Mapping[str, Any], base: Path, place: Place, mistakes: TableMistakes
) -> AccountTls | None:
    """The account's TLS keys (paths resolved against ``base``), or None without any."""
    files: dict[str, str] = {}
    for key in _TLS_FILES:
        value = given.get(key, "").strip()
        if not value:
            continue
        path = base / value
        if not path.is_file():
            why = "not a file" if path.exists() else "no such file"
            mistakes.messages.append(f"{place(key)}: {key} {value!r}: {why} ({path})")
        files[key] = str(path)
    if ("tls_cert" in files) != ("tls_key" in files):
        missing = "tls_key" if "tls_cert" in files else "tls_cert"
        mistakes.messages.append(
            f"{place()}: tls_cert and tls_key go together: {missing} is missing"
        )
    names = _string_list(given, "tls_peer_names", "sbc.example.com", peer_names, place, mistakes)
    if not files and not names:
        return None
    return AccountTls(
        cert=files.get("tls_cert", ""),
        key=files.get("tls_key", ""),
        ca=files.get("tls_ca", ""),
        peer_names=names,
    )


def _account(
    name: str,
    fields: Mapping[str, Any],
    place: Place,
    mistakes: TableMistakes,
    base: Path = Path(),
) -> Account | None:
    """The account of one table, or None when it has mistakes (each kept in ``mistakes``,
    on its key's line: one run of ``sipgw config check`` names them all)."""
    before = len(mistakes.messages)
    mistakes.unknown(place, fields, _KEYS)
    given: dict[str, Any] = {}  # the known keys whose values are of the right kind
    for key, value in fields.items():
        if key not in _KEYS:
            continue  # named by unknown() above
        if key in ("media_networks", "codecs", "tls_peer_names"):
            given[key] = value  # the lists: checked below
            continue
        wanted = int if key == "expires" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "number" if wanted is int else "string (in quotes)"
            mistakes.messages.append(f"{place(key)}: {key} must be a {kind}")
        else:
            given[key] = value

    def uri(key: str, need_user: bool = False) -> str:
        value = given.get(key, "")
        return value and mistakes.keep(lambda: _check_uri(value, place(key), key, need_user), "")

    if "aor" not in fields:
        mistakes.messages.append(f"{place()}: aor is missing")
    aor = uri("aor", need_user=True)
    registrar, proxy = uri("registrar"), uri("outbound_proxy")
    transport = given.get("transport", "").strip().lower()
    if transport and transport not in _TRANSPORTS:
        mistakes.messages.append(
            f"{place('transport')}: transport {transport!r} must be one of udp, tcp, tls"
        )
    expires = given.get("expires", 600)
    if expires < 1:
        mistakes.messages.append(f"{place('expires')}: expires must be at least 1 second")
    caller_id = given.get("caller_id", "").strip()
    if caller_id:
        try:
            parse_caller_id(caller_id)
        except ValueError as exc:
            mistakes.messages.append(f"{place('caller_id')}: caller_id {caller_id!r} {exc}")
    for key, allowed, default in (
        ("caller_id_header", CALLER_ID_HEADERS, "none"),
        ("caller_id_privacy", CALLER_ID_PRIVACY, "none"),
        ("100rel", RELIABLE_1XX, RELIABLE_1XX[0]),
    ):
        value = given.get(key, default).strip().lower()
        if value not in allowed:
            mistakes.messages.append(
                f"{place(key)}: {key} {value!r} must be one of {', '.join(allowed)}"
            )
    agent = given.get("agent", "").strip()
    if agent:
        try:
            agent = agent_spec(agent)
        except ValueError as exc:
            mistakes.messages.append(f"{place('agent')}: agent {agent!r} {exc}")
    media = _string_list(given, "media_networks", "203.0.113.0/24", media_networks, place, mistakes)
    codecs = None
    if "codecs" in given:
        try:
            codecs = codec_list(given["codecs"] if isinstance(given["codecs"], list) else [])
        except ValueError as exc:
            mistakes.messages.append(
                f'{place("codecs")}: codecs (a list, e.g. ["G722", "PCMU"]) {exc}'
            )
    inband_dtmf = mistakes.keep(lambda: inband_dtmf_mode(fields, place), None)
    tls = _account_tls(given, base, place, mistakes)
    if len(mistakes.messages) > before:
        return None
    return Account(
        codecs=codecs,
        inband_dtmf=inband_dtmf,
        name=name,
        aor=aor,
        registrar=registrar,
        auth_username=given.get("auth_username", ""),
        auth_password=given.get("auth_password", ""),
        outbound_proxy=proxy,
        transport=transport,
        expires=expires,
        agent=agent,
        media_networks=media,
        caller_id=caller_id,
        caller_id_header=given.get("caller_id_header", "none").strip().lower(),
        caller_id_privacy=given.get("caller_id_privacy", "none").strip().lower(),
        reliable=given["100rel"].strip().lower() if "100rel" in given else None,
        tls=tls,
        origin=place("agent" if agent else None),
    )


def parse_accounts_file(path: Path) -> tuple[Account, ...]:
    """The accounts in a TOML file (``[accounts.NAME]`` tables).

    Raises:
        ConfigError: the file cannot be read or parsed; the message names the file.
        ConfigMistakes: every mistake of every account, each naming the file and, where
            it can, the line.
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
    base = path.resolve().parent
    mistakes = TableMistakes(document)
    for name, fields in tables.items():
        place = document.place(document.table_line("accounts", name), f"account {name!r}")
        if not isinstance(fields, dict):
            mistakes.messages.append(f"{place()}: must be a table ([accounts.{name}])")
        elif (account := _account(name, fields, place, mistakes, base)) is not None:
            accounts.append(account)
    mistakes.raise_any()
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
