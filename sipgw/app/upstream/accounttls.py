"""Mutual TLS per account: the certificate an account presents to its servers, the CAs and
names it trusts them by.

An account with any of ``tls_cert``/``tls_key``/``tls_ca``/``tls_peer_names``
(:class:`~sipgw.app.upstream.accounts.AccountTls`) gets a client profile of its own
(:class:`~sipgw.aio.tlsfiles.TlsClientProfile`; what it leaves out comes from
``SIPGW_TLS_CERT``/``SIPGW_TLS_KEY``/``SIPGW_TLS_CA``). It is bound to the host of the
account's next hop (its outbound proxy, else its registrar) and to every TLS server DNS finds
for it (RFC 3263), so the registration's connection, and the calls that go through it,
present the account's certificate. The files are loaded at start (a bad one stops it, naming
the account) and again whenever they change.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

from sipgw.aio.tlsfiles import ClientTls, TlsClientProfile, client_profile
from sipgw.app.upstream.accounts import Account
from sipgw.foundation.settings import ConfigError
from sipgw.sip.addressing import Flow
from sipgw.sip.errors import LocalProtocolError
from sipgw.sip.usages.register import next_hop

__all__ = ["AccountServers"]


class AccountServers:
    """The client TLS profile of each account that has its own, and the servers it is for.

    Args:
        accounts: every account; those without TLS keys keep the gateway's profile.
        ca, cert, key: the gateway's own files (``SIPGW_TLS_CA``, ``_CERT``, ``_KEY``).
    """

    def __init__(self, accounts: Iterable[Account], ca: str, cert: str, key: str) -> None:
        self._accounts = tuple(accounts)
        self._defaults = (ca, cert, key)
        self.profiles: dict[str, TlsClientProfile] = {}
        """AOR -> its profile (once loaded)."""
        self._hops: dict[str, tuple[str, int | None]] = {}
        self._client: ClientTls | None = None

    def load(self) -> None:
        """Make each account's profile, reading its files now.

        Raises:
            ConfigError: an account's files do not load (named with the account), or two
                accounts reach the same server with different TLS.
        """
        ca, cert, key = self._defaults
        owners: dict[tuple[str, int | None], Account] = {}
        for account in self._accounts:
            tls = account.tls
            if tls is None:
                continue
            own_cert = bool(tls.cert)
            profile = client_profile(
                tls.ca or ca,
                tls.cert if own_cert else cert,
                tls.key if own_cert else key,
                what=f"account {account.name!r}",
                peer_names=tls.peer_names,
            )
            try:
                profile.context.get()
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"{account.origin or account.name}: its TLS files do not load: {exc}"
                ) from None
            hop = _hop(account)
            other = owners.get(hop)
            if other is not None:
                raise ConfigError(
                    f"accounts {other.name!r} and {account.name!r} both have TLS settings of "
                    f"their own for {hop[0]}: a server gets one certificate from us"
                )
            owners[hop] = account
            self.profiles[account.aor] = profile
            self._hops[account.aor] = hop

    def attach(self, client: ClientTls | None) -> None:
        """Bind each account's profile to its next hop's host (the gateway has started)."""
        self._client = client
        if client is None:
            return
        for aor, (host, port) in self._hops.items():
            client.bind(host, port, self.profiles[aor])

    def targets(self, aor: str, flows: Iterable[Flow]) -> None:
        """DNS found these servers for ``aor``'s registrations: its TLS ones get its profile."""
        profile = self.profiles.get(aor)
        client = self._client
        if profile is None or client is None:
            return
        for flow in flows:
            if flow.transport == "TLS":
                client.bind(flow.address[0], flow.address[1], profile)


def _hop(account: Account) -> tuple[str, int | None]:
    """The host (and port, if the URI names one) of the account's first server."""
    try:
        uri = next_hop(account.registration())
    except LocalProtocolError as exc:  # the accounts file's checks catch these first
        raise ConfigError(f"{account.origin or account.name}: {exc}") from None
    return uri.params.get("maddr") or uri.host.lower(), uri.port
