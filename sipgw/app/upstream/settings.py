"""The upstream's settings sections: the accounts the gateway registers (``accounts``), how
calls are placed through them (``outbound``), and which DNS servers find a trunk's servers
(``dns``, RFC 3263).

The accounts file's own tables (``--accounts FILE``) are read by
:mod:`sipgw.app.upstream.accounts`, the servers found by :mod:`sipgw.app.upstream.trunks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import (
    choice,
    float_range,
    int_at_least,
    int_range,
    non_negative,
    optional_file,
    positive,
    text,
)
from sipgw.sip.errors import SipError
from sipgw.sip.locate import parse_nameservers
from sipgw.sip.uri import SipUri

__all__ = [
    "CALLER_ID_HEADERS",
    "CALLER_ID_PRIVACY",
    "AccountSection",
    "DnsSection",
    "OutboundSection",
    "RELIABLE_1XX",
    "parse_caller_id",
    "sip_uri",
]

RELIABLE_1XX = ("supported", "required", "off")
"""What a placed call says of reliable 1xx (``SIPGW_100REL``, an account's ``100rel``)."""
CALLER_ID_HEADERS = ("none", "pai", "ppi")
"""Where else the caller id may go (``caller_id_header``)."""
CALLER_ID_PRIVACY = ("none", "id")
"""Whether the caller id is withheld (``caller_id_privacy``)."""


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


def parse_caller_id(value: str) -> str:
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
        "", env="SIPGW_CALLER_ID", flag="--caller-id", metavar="ID", parse=parse_caller_id,
        help="Who we call as (the From): a number (+15551234567, which trunks check: one you "
        "own at the carrier, in E.164), a SIP URI, '\"Name\" <sip:user@host>', or a user name; "
        "empty = the registered AOR (or sip:sipgw@<public address>).",
    )  # fmt: skip
    caller_id_header: str = setting(
        "none", env="SIPGW_CALLER_ID_HEADER", flag="--caller-id-header", metavar="none|pai|ppi",
        parse=choice(*CALLER_ID_HEADERS),
        help="Where else the caller id goes, for trunks that read it there first: 'pai' "
        "(P-Asserted-Identity), 'ppi' (P-Preferred-Identity) or 'none' (the From only).",
    )  # fmt: skip
    caller_id_privacy: str = setting(
        "none", env="SIPGW_CALLER_ID_PRIVACY", flag="--caller-id-privacy", metavar="none|id",
        parse=choice(*CALLER_ID_PRIVACY),
        help="'id' withholds the caller id from the callee (Privacy: id, an anonymous From; the "
        "number goes in P-Asserted-Identity, or the header above, for the trunk); 'none' shows "
        "it.",
    )  # fmt: skip
    ring_timeout: float = setting(
        60.0, env="SIPGW_RING_TIMEOUT", flag="--ring-timeout", metavar="S", parse=positive,
        help="Seconds an outbound call may ring before we give up (CANCEL).",
    )  # fmt: skip
    redirect_hops: int = setting(
        3, env="SIPGW_REDIRECT_HOPS", flag="--redirect-hops", metavar="N", parse=int_range(0, 10),
        help="How many 3xx redirects one placed call follows (RFC 3261 8.1.3.4); each Contact "
        "is tried only if the dial allow-list (SIPGW_DIAL_ALLOW, or the line's) allows it, for "
        "the operator's own calls too. 0 = a 3xx ends the call.",
    )  # fmt: skip
    reliable_1xx: str = setting(
        "supported", env="SIPGW_100REL", flag="--100rel", metavar="supported|required|off",
        parse=choice(*RELIABLE_1XX),
        help="Reliable provisional responses (RFC 3262) on placed calls: 'supported' (the "
        "INVITE says Supported: 100rel; a callee's reliable 180/183 gets its PRACK), "
        "'required' (Require: 100rel, for an IMS core or SBC that wants it) or 'off'. An "
        "account of the accounts file may set its own (100rel).",
    )  # fmt: skip


@section(
    "dns",
    title="DNS (RFC 3263)",
    intro="How a trunk's servers are found: NAPTR, SRV (priority, weight), then A/AAAA, with "
    "failover to the next server (docs/transports.md).",
)
@dataclass(frozen=True)
class DnsSection:
    """Which DNS servers are asked, and how long a lookup may take."""

    dns_servers: tuple[tuple[str, int], ...] = setting(
        (), env="SIPGW_DNS_SERVERS", flag="--dns-servers", metavar="LIST", parse=parse_nameservers,
        default_text="",
        help="Comma-separated DNS servers (IP, or IP:port) for the SRV and NAPTR lookups of "
        "registrars, proxies and call targets; empty = the system's (/etc/resolv.conf).",
    )  # fmt: skip
    dns_timeout: float = setting(
        3.0, env="SIPGW_DNS_TIMEOUT", flag="--dns-timeout", metavar="S",
        parse=float_range(0.1, 30.0),
        help="Seconds one lookup may take; then the request goes to the URI's own host.",
    )  # fmt: skip
