"""The admin server's settings (:class:`AdminSettings`), and where ``sipgw call`` finds one.

:class:`CallCommandSection` is read by ``sipgw call`` only: a running gateway's admin URL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sipgw.app.admin.forwarded import trusted_proxies
from sipgw.app.admin.throttle import MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH
from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import (
    int_at_least,
    ip_address,
    optional_port,
    positive,
    text,
    verbatim,
)

__all__ = ["AdminSettings", "CallCommandSection"]


@section(
    "admin",
    title="Admin server",
    intro="The admin HTTP server of `sipgw serve` (JSON API under /api/, /metrics); off unless "
    "SIPGW_ADMIN_PORT is set. See docs/operations.md.",
)
@dataclass(frozen=True)
class AdminSettings:
    """Where the admin server listens and the token it wants; ``port`` 0 = off."""

    port: int = setting(
        0, env="SIPGW_ADMIN_PORT", flag="--admin-port", metavar="N", parse=optional_port,
        first=True, help="TCP port of the admin HTTP server; 0 or empty = no admin server.",
    )  # fmt: skip
    bind: str = setting(
        "127.0.0.1", env="SIPGW_ADMIN_BIND", flag="--admin-bind", metavar="ADDR",
        parse=ip_address,
        help="Local address of the admin server; any address but loopback requires "
        "SIPGW_ADMIN_TOKEN.",
    )  # fmt: skip
    token: str = setting(
        "", env="SIPGW_ADMIN_TOKEN", flag="--admin-token", metavar="TOKEN", parse=verbatim,
        secret=True,
        help="Bearer token every admin request must carry (Authorization: Bearer TOKEN), "
        "16 to 256 characters (e.g. python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(24))'); empty = none (loopback only).",
    )  # fmt: skip

    login_tries: int = setting(
        5, env="SIPGW_ADMIN_LOGIN_TRIES", flag="--admin-login-tries", metavar="N",
        parse=int_at_least(1),
        help="Wrong admin tokens (API or dashboard login) one address may send before its "
        "wrong ones get 429 with Retry-After instead of 401; the right token is always let "
        "in.",
    )  # fmt: skip
    login_wait: float = setting(
        12.0, env="SIPGW_ADMIN_LOGIN_WAIT", flag="--admin-login-wait", metavar="S",
        parse=positive,
        help="Seconds that give an address one more try once it has used them up.",
    )  # fmt: skip
    login_tries_total: int = setting(
        60, env="SIPGW_ADMIN_LOGIN_TRIES_TOTAL", flag="--admin-login-tries-total", metavar="N",
        parse=int_at_least(1),
        help="Wrong admin tokens all addresses together may send per minute (a burst of N, "
        "refilled at N a minute); beyond it every wrong one gets 429. The right token is "
        "always let in.",
    )  # fmt: skip
    trusted_proxies: tuple[str, ...] = setting(
        (), env="SIPGW_ADMIN_TRUSTED_PROXIES", flag="--admin-trusted-proxies", metavar="LIST",
        parse=trusted_proxies, default_text="",
        help="Reverse proxies in front of the admin server (comma-separated addresses and "
        "CIDRs): from them the client's address is read from X-Forwarded-For (the right-most "
        "one that is not a listed proxy), for the wrong-token limits; from anyone else the "
        "header is ignored. Needs SIPGW_ADMIN_TOKEN. Empty = none.",
    )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """Whether ``sipgw serve`` starts the admin server."""
        return self.port != 0

    def check(self) -> None:
        """Refuse a server that listens beyond loopback without a token or names trusted
        proxies without one (when it is on), and a token too short to resist guessing or
        too long to check.

        Raises:
            InvalidSettings: ``bind`` is not a loopback address and ``token`` is empty,
                trusted proxies are named without a token, or
                the token is shorter than MIN_TOKEN_LENGTH or longer than
                MAX_TOKEN_LENGTH characters (the message gives its length, never its value).
        """
        if len(self.token) > MAX_TOKEN_LENGTH:
            raise InvalidSettings(
                "{token}: at most {most} characters (it has {length})",
                most=MAX_TOKEN_LENGTH,
                length=len(self.token),
            )
        if self.token and len(self.token) < MIN_TOKEN_LENGTH:
            raise InvalidSettings(
                "{token}: at least {least} characters (it has {length}): a short token can "
                "be guessed; make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'",
                least=MIN_TOKEN_LENGTH,
                length=len(self.token),
            )
        if self.enabled and not self.token and self.trusted_proxies:
            raise InvalidSettings(
                "{trusted_proxies}: set, but {token} is not: without a token a request that "
                "came through a proxy is refused (docs/security.md)"
            )
        if self.enabled and not self.token and not ipaddress.ip_address(self.bind).is_loopback:
            raise InvalidSettings(
                "{token}: required when the admin server listens on {address} (not a "
                "loopback address): anyone who reaches the port could hang up calls and place "
                "new ones",
                address=self.bind,
            )


@section(
    "call-command",
    title="sipgw call",
    intro="Read by `sipgw call` only (its flags are not `sipgw serve`'s): which running "
    "gateway places the call (docs/outbound.md).",
)
@dataclass(frozen=True)
class CallCommandSection:
    """Where a running gateway's admin server is."""

    admin_url: str = setting(
        "", env="SIPGW_ADMIN_URL", flag="--admin-url", metavar="URL", parse=text, first=True,
        default_doc="the admin address the settings give, if any",
        help="A running gateway's admin server, which places the call (e.g. "
        "http://127.0.0.1:8080); when none answers, the call is placed from here on "
        "ephemeral ports.",
    )  # fmt: skip
