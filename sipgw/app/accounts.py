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

Every problem is a :class:`~sipgw.app.settings.ConfigError` naming the
file, the account and the key. Passwords never appear in reprs or errors.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipgw.app.settings import ConfigError, SettingValues
from sipgw.auth import Credentials
from sipgw.errors import SipError
from sipgw.registration import RegistrationPolicy
from sipgw.uri import SipUri
from sipgw.useragent import RegistrationConfig

__all__ = [
    "Account",
    "RegistrationSettings",
    "load_accounts",
    "load_registration_settings",
    "parse_accounts_file",
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
    }
)


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
        uri = SipUri.parse(value.strip())
    except SipError:
        raise ConfigError(f"{where}: {key} {value!r} is not a sip: or sips: URI") from None
    if not uri.host:
        raise ConfigError(f"{where}: {key} {value!r} has no host")
    if need_user and not uri.user:
        raise ConfigError(f"{where}: {key} {value!r} needs a user part (user@host)")
    return value.strip()


def _account(name: str, fields: Mapping[str, Any], where: str, agents: tuple[str, ...]) -> Account:
    unknown = sorted(set(fields) - _KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    for key, value in fields.items():
        wanted = int if key == "expires" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be a {'number' if wanted is int else 'string'}")
    if "aor" not in fields:
        raise ConfigError(f"{where}: aor is missing")
    aor = _check_uri(fields["aor"], where, "aor", need_user=True)
    registrar = fields.get("registrar", "")
    if registrar:
        _check_uri(registrar, where, "registrar")
    proxy = fields.get("outbound_proxy", "")
    if proxy:
        _check_uri(proxy, where, "outbound_proxy")
    transport = fields.get("transport", "").strip().lower()
    if transport and transport not in _TRANSPORTS:
        raise ConfigError(f"{where}: transport {transport!r} must be one of udp, tcp, tls")
    expires = fields.get("expires", 600)
    if expires < 1:
        raise ConfigError(f"{where}: expires must be at least 1 second")
    agent = fields.get("agent", "").strip().lower()
    if agent and agent not in agents:
        raise ConfigError(f"{where}: agent {agent!r} must be one of {', '.join(agents)}")
    return Account(
        name=name,
        aor=aor,
        registrar=registrar,
        auth_username=fields.get("auth_username", ""),
        auth_password=fields.get("auth_password", ""),
        outbound_proxy=proxy,
        transport=transport,
        expires=expires,
        agent=agent,
    )


def parse_accounts_file(path: Path, agents: tuple[str, ...]) -> tuple[Account, ...]:
    """The accounts in a TOML file (``[accounts.NAME]`` tables).

    Raises:
        ConfigError: the file cannot be read or parsed, or an account is bad.
    """
    label = f"SIPGW_ACCOUNTS {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{label}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    extra = sorted(set(data) - {"accounts"})
    if extra:
        raise ConfigError(f"{label}: unknown table {extra[0]!r} (accounts go in [accounts.NAME])")
    tables = data.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{label}: no [accounts.NAME] table")
    accounts = []
    for name, fields in tables.items():
        where = f"{label}: account {name!r}"
        if not isinstance(fields, dict):
            raise ConfigError(f"{where}: must be a table ([accounts.{name}])")
        accounts.append(_account(name, fields, where, agents))
    return tuple(accounts)


def load_accounts(values: SettingValues, agents: tuple[str, ...]) -> tuple[Account, ...]:
    """The accounts of ``SIPGW_REGISTER`` (and its companions) and ``SIPGW_ACCOUNTS``.

    Raises:
        ConfigError: a bad value, a bad file, or the same AOR twice.
    """
    accounts: list[Account] = []
    aor = values["SIPGW_REGISTER"]
    expires = values["SIPGW_REGISTER_EXPIRES"]
    if aor:
        fields: dict[str, Any] = {
            "aor": aor,
            "registrar": values["SIPGW_REGISTRAR"],
            "auth_username": values["SIPGW_AUTH_USERNAME"],
            "auth_password": values["SIPGW_AUTH_PASSWORD"],
            # REGISTERs take the same path as our INVITEs (e.g. a TLS edge proxy).
            "outbound_proxy": values["SIPGW_OUTBOUND_PROXY"],
            "expires": expires,
        }
        accounts.append(_account("register", fields, "SIPGW_REGISTER", agents))
    elif values["SIPGW_REGISTRAR"]:
        # The credentials alone are fine: outbound calls answer 401/407 with them.
        raise ConfigError("SIPGW_REGISTRAR is set but SIPGW_REGISTER (the AOR) is not")
    path = values["SIPGW_ACCOUNTS"]
    if path:
        accounts.extend(parse_accounts_file(Path(path), agents))
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
    """The ``REGISTRATION`` section, resolved: what the gateway registers, and how."""

    accounts: tuple[Account, ...] = ()
    """Accounts to register at start-up; unregistered on shutdown."""
    keepalive_interval: float = 25.0
    """Seconds between CRLF keep-alives to each registrar; 0 = none."""
    retry_base: float = 30.0
    """RFC 5626 §4.5 base-time: the first retry after a failure waits 1-2 times this."""


def load_registration_settings(
    values: SettingValues, agents: tuple[str, ...]
) -> RegistrationSettings:
    """The accounts, the keep-alive interval and the retry base.

    Raises:
        ConfigError: see :func:`load_accounts`; or a bad ``SIPGW_KEEPALIVE_INTERVAL``.
    """
    return RegistrationSettings(
        accounts=load_accounts(values, agents),
        keepalive_interval=values["SIPGW_KEEPALIVE_INTERVAL"],
        retry_base=values["SIPGW_REGISTER_RETRY_BASE"],
    )
