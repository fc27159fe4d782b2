"""TLS contexts that follow their files, and which one each server we connect to gets.

A certificate renewed on disk (certbot, cert-manager) is used without a restart:
:class:`ReloadingContext` looks at its files' size and modification time at most once a
second, when a connection needs the context, and rebuilds it when they changed. A renewal
caught half-written (a new certificate, the old key) fails to load: the context loaded before
stays in use, with one warning, until the files load again. Connections already open keep
the certificate they were made with.

:class:`ClientTls` picks the client side per server: an account may present its own
certificate to its registrar, trust its own CA and accept its own names for it
(``accounts.toml``: ``tls_cert``, ``tls_key``, ``tls_ca``, ``tls_peer_names``); every other
server gets the gateway's (``SIPGW_TLS_*``). Connections are shared per server, so one
server has one client certificate.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from sipgw.aio.tls import client_context

__all__ = ["ClientTls", "ReloadingContext", "TlsClientProfile", "client_profile"]

log = logging.getLogger("sipgw.sip")

_Stamp = tuple[tuple[int, int, int] | None, ...]


class ReloadingContext:
    """An SSL context rebuilt by ``build`` when one of ``files`` changes.

    Args:
        build: makes the context from the files (raises OSError or ssl.SSLError).
        files: the files it reads ("" entries are ignored).
        what: how messages name it, e.g. ``SIPGW_TLS_CERT`` or ``account 'office'``.
        every: seconds between two looks at the files.
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        build: Callable[[], ssl.SSLContext],
        files: Iterable[str],
        what: str,
        *,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self.files = tuple(f for f in files if f)
        self.what = what
        self._every = every
        self._clock = clock
        self._context: ssl.SSLContext | None = None
        self._built_from: _Stamp = ()
        self._failed_on: _Stamp | None = None
        self._next_look = 0.0
        self.loads = 0
        """Contexts built so far (the first included)."""

    def get(self) -> ssl.SSLContext:
        """The context, rebuilt first when the files changed since it was built.

        Raises:
            OSError, ssl.SSLError: the first build failed (later failures keep the old one).
        """
        now = self._clock()
        if self._context is not None and now < self._next_look:
            return self._context
        self._next_look = now + self._every
        stamp = self._stamp()
        if self._context is not None and stamp == self._built_from:
            return self._context
        try:
            context = self._build()
        except (OSError, ssl.SSLError) as exc:
            if self._context is None:
                raise
            if stamp != self._failed_on:
                self._failed_on = stamp
                log.warning("%s: the changed TLS files do not load (%s); new connections "
                            "still use the ones loaded before", self.what, exc)  # fmt: skip
            return self._context
        if self._context is not None:
            log.info("%s: TLS files changed; new connections use them", self.what)
        self._context, self._built_from, self._failed_on = context, stamp, None
        self.loads += 1
        return context

    def _stamp(self) -> _Stamp:
        stamps: list[tuple[int, int, int] | None] = []
        for name in self.files:
            try:
                st = os.stat(name)
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(stamps)


@dataclass(frozen=True, slots=True)
class TlsClientProfile:
    """How we open TLS connections to some servers."""

    context: ReloadingContext
    peer_names: tuple[str, ...] = ()
    """Names the server's certificate must carry one of, instead of the host we connect to
    (the context then skips its own host name check); () = the host (RFC 5922 §7.2)."""


def client_profile(
    ca: str, cert: str, key: str, *, what: str, peer_names: tuple[str, ...] = ()
) -> TlsClientProfile:
    """The profile of these files (:func:`~sipgw.aio.tls.client_context`; read at its first
    connection, then kept current) and names."""
    build = partial(client_context, ca, cert, key, check_hostname=not peer_names)
    return TlsClientProfile(ReloadingContext(build, (ca, cert, key), what), peer_names)


class ClientTls:
    """The client profile of each server: the default, or the one bound to its host."""

    def __init__(self, default: TlsClientProfile) -> None:
        self.default = default
        self._bound: dict[tuple[str, int | None], TlsClientProfile] = {}

    def bind(self, host: str, port: int | None, profile: TlsClientProfile) -> None:
        """Use ``profile`` for ``host`` (a DNS name or an IP address) on ``port`` (None:
        any port)."""
        self._bound[(host.lower(), port)] = profile

    def profile_for(self, host: str, port: int) -> TlsClientProfile:
        """The profile for a connection to ``host:port``."""
        host = host.lower()
        return self._bound.get((host, port)) or self._bound.get((host, None)) or self.default
