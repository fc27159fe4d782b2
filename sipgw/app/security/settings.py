"""The security settings sections: who may call (``access``), rate limits (``floods``), bounds
on hostile input (``limits``), what logs mask (``privacy``) and what agents may dial
(``dial``).

Each section is turned into what the gateway uses beside it: :mod:`~sipgw.app.security.access`
(the access policy), :mod:`~sipgw.app.security.floods` (the flood guard and call limits),
:mod:`~sipgw.app.security.privacy` (the log redactor); the ``limits`` section is applied by
the SIP core (:class:`sipgw.sip.limits.MessageLimits`) and the TCP/TLS adapter
(:class:`sipgw.aio.stream.StreamPool`); see docs/security.md. :func:`dial_policy` joins the
dial allow-list with the transfer target and the callback numbers of the assistant's sections
into the :class:`~sipgw.sip.dialpolicy.DialPolicy` the gateway enforces on every REFER, INVITE
and DTMF an agent asks for, and which it hands every agent plug-in
(:class:`sipgw.agent.capabilities.GatewayServices`) so that tools refuse early; it reads
targets with the SIP core's URI parser, which the agent layer does not import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.agent.conversation.sections import BuiltinToolsSection, CallbackSection
from sipgw.app.upstream.mediaranges import media_networks
from sipgw.foundation.settings import InvalidSettings, SettingError, section, setting
from sipgw.foundation.settings.parsers import (
    choice,
    float_range,
    int_at_least,
    int_range,
    non_negative,
    on_off,
    optional_file,
    positive,
    text,
    verbatim,
)
from sipgw.sip.access import parse_network
from sipgw.sip.dialpolicy import DialPolicy, parse_call_template
from sipgw.sip.limits import MessageLimits
from sipgw.sip.ratelimit import CallRateConfig, FloodConfig, LimitAction, Rate

__all__ = [
    "ANY",
    "UNLIMITED",
    "AccessSection",
    "DialSection",
    "LimitsConfig",
    "PrivacySection",
    "RateLimitSection",
    "allow_from",
    "dial_allow",
    "dial_policy",
    "digest_algorithm",
    "limit_action",
    "rate",
    "redact_pattern",
    "user_agent_fragments",
]

ANY = "any"
"""The ``--allow-from`` value that admits everyone."""

_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def allow_from(value: str) -> tuple[str, ...]:
    """``any``, or comma-separated IP addresses, CIDRs and host names; "" = automatic."""
    entries = tuple(entry.strip() for entry in value.split(",") if entry.strip())
    if any(entry.lower() == ANY for entry in entries):
        if len(entries) > 1:
            raise ValueError("'any' admits everyone: list nothing else with it")
        return (ANY,)
    for entry in entries:
        try:
            parse_network(entry)
        except ValueError:
            if not _HOST_NAME.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not an IP address, a CIDR such as 10.0.0.0/8, or a host name"
                ) from None
    return entries


def digest_algorithm(value: str) -> str:
    """``MD5`` or ``SHA-256`` (any case)."""
    name = value.strip().upper()
    if name not in ("MD5", "SHA-256"):
        raise ValueError("must be MD5 or SHA-256")
    return name


@section(
    "access",
    title="Who may call",
    intro="Which INVITEs may start a call; see docs/security.md. Every one is also a flag of "
    "`sipgw serve`.",
)
@dataclass(frozen=True)
class AccessSection:
    """Who is admitted without credentials, and the inbound digest users."""

    allow_from: tuple[str, ...] = setting(
        (), env="SIPGW_ALLOW_FROM", flag="--allow-from", metavar="LIST", parse=allow_from,
        default_text="", default_doc="auto", first=True,
        help="Sources admitted without credentials: comma-separated IP addresses, CIDRs (IPv4 "
        "or IPv6) and host names (resolved at start), or 'any'. Empty: the registrar's and "
        "outbound proxy's addresses when an account or proxy is configured, else nobody "
        "(with the echo agent, which spends nothing: loopback and private networks, RFC "
        "1918 and RFC 4193). Others get 401 (with inbound credentials) or 403.",
    )  # fmt: skip
    media_networks: tuple[str, ...] = setting(
        (), env="SIPGW_MEDIA_NETWORKS", flag="--media-networks", metavar="LIST",
        parse=media_networks, default_text="",
        help="Where the RTP of calls from sources admitted by address (--allow-from, else the "
        "registrar/proxy) may go: comma-separated IP addresses and CIDRs, e.g. the media "
        "ranges your provider publishes; an SDP naming another gets 488. Empty = any unicast "
        "address. An account may have its own (media_networks in the accounts file).",
    )  # fmt: skip
    inbound_username: str = setting(
        "", env="SIPGW_INBOUND_USERNAME", flag="--inbound-username", metavar="NAME", parse=text,
        help="User name a caller from elsewhere authenticates with (digest, RFC 8760); needs "
        "SIPGW_INBOUND_PASSWORD.",
    )  # fmt: skip
    inbound_password: str = setting(
        "", env="SIPGW_INBOUND_PASSWORD", flag="--inbound-password", metavar="SECRET",
        parse=verbatim, secret=True,
        help="That user's password (prefer the environment or .env to the flag, which other "
        "local users can see).",
    )  # fmt: skip
    inbound_users_file: str = setting(
        "", env="SIPGW_INBOUND_USERS_FILE", flag="--inbound-users-file", metavar="PATH",
        parse=text,
        help="File of inbound users, one 'name:password' per line ('#' starts a comment), in "
        "addition to SIPGW_INBOUND_USERNAME.",
    )  # fmt: skip
    inbound_realm: str = setting(
        "sip", env="SIPGW_INBOUND_REALM", flag="--inbound-realm", metavar="REALM", parse=text,
        help="The digest realm callers see in the challenge (a softphone's 'domain' or 'realm' "
        "field); the default names no software.",
    )  # fmt: skip
    inbound_algorithm: str = setting(
        "MD5", env="SIPGW_INBOUND_ALGORITHM", flag="--inbound-algorithm", metavar="NAME",
        parse=digest_algorithm,
        help="Digest algorithm of the challenge: MD5 (every phone) or SHA-256 (RFC 8760).",
    )  # fmt: skip
    stir_ca_file: str = setting(
        "", env="SIPGW_STIR_CA_FILE", flag="--stir-ca-file", metavar="PATH",
        parse=optional_file,
        help="CA bundle (PEM) of the STIR/SHAKEN certificate authorities (STI-CA roots) "
        "whose certificates the gateway trusts: with it, the PASSporT in an incoming "
        "INVITE's Identity header (from a source in the allow list) is checked, its "
        "certificate fetched from its x5u (https), and the call's signature is verified, "
        "failed or unverified (docs/security.md). Empty: every signature is unverified.",
    )  # fmt: skip
    stir_max_age: float = setting(
        60.0, env="SIPGW_STIR_MAX_AGE", flag="--stir-max-age", metavar="SECONDS",
        parse=float_range(1, 3600, "s"),
        help="How old (or how far ahead) a PASSporT's iat may be when it is checked "
        "(RFC 8224 6.2.1: 60 s).",
    )  # fmt: skip

    def check(self) -> None:
        """A user name needs a password, and a password a user name.

        Raises:
            InvalidSettings: one is set without the other.
        """
        if self.inbound_username and not self.inbound_password:
            raise InvalidSettings("{inbound_username} is set: {inbound_password} is needed too")
        if self.inbound_password and not self.inbound_username:
            raise InvalidSettings("{inbound_password} is set: {inbound_username} is needed too")


UNLIMITED = Rate(0, 0)
_FLOOD = FloodConfig()
_CALLS = CallRateConfig()


def rate(value: str) -> Rate:
    """``RATE:BURST`` (e.g. ``5:10``), or ``RATE`` (burst twice the rate), or ``0`` = off."""
    text = value.strip()
    head, sep, tail = text.partition(":")
    try:
        per_second = float(head)
        burst = float(tail) if sep else 2 * per_second
    except ValueError:
        raise ValueError("must be RATE:BURST, e.g. 5:10 (or 0 = no limit)") from None
    if per_second < 0 or burst < 0 or per_second != per_second or burst != burst:
        raise ValueError("rate and burst must not be negative")
    if per_second == 0:
        return UNLIMITED
    if burst < 1:
        raise ValueError("burst must be at least 1 (or the rate 0 = no limit)")
    return Rate(per_second, burst)


def limit_action(value: str) -> LimitAction:
    """``503`` or ``drop``."""
    text = value.strip().lower()
    for action in LimitAction:
        if action.value == text:
            return action
    raise ValueError("must be 503 or drop")


def user_agent_fragments(value: str) -> tuple[str, ...]:
    """Comma-separated User-Agent fragments, lower case."""
    return tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))


@section(
    "floods",
    title="Rate limits",
    intro="Floods and scanners: per-source limits checked before a request creates anything, "
    "and limits on new calls; see docs/security.md. Rates are RATE:BURST (per second, and how "
    "many at once after a quiet spell); 0 = no limit. Every one is also a flag of "
    "`sipgw serve`.",
)
@dataclass(frozen=True)
class RateLimitSection:
    """Per-source request rates, new-call rates and the scanner filter."""

    rate_invite: Rate = setting(
        _FLOOD.invite, env="SIPGW_RATE_INVITE", flag="--rate-invite", metavar="RATE:BURST",
        parse=rate, default_text="5:10", help="INVITEs per second from one source address.",
    )  # fmt: skip
    rate_register: Rate = setting(
        _FLOOD.register, env="SIPGW_RATE_REGISTER", flag="--rate-register", metavar="RATE:BURST",
        parse=rate, default_text="2:5", help="REGISTERs per second from one source address.",
    )  # fmt: skip
    rate_options: Rate = setting(
        _FLOOD.options, env="SIPGW_RATE_OPTIONS", flag="--rate-options", metavar="RATE:BURST",
        parse=rate, default_text="5:10", help="OPTIONS per second from one source address.",
    )  # fmt: skip
    rate_other: Rate = setting(
        _FLOOD.other, env="SIPGW_RATE_OTHER", flag="--rate-other", metavar="RATE:BURST",
        parse=rate, default_text="20:40",
        help="Other requests (BYE, CANCEL, INFO, unparsable ones...) per second from one source "
        "address.",
    )  # fmt: skip
    rate_limit_action: LimitAction = setting(
        _FLOOD.action, env="SIPGW_RATE_LIMIT_ACTION", flag="--rate-limit-action",
        metavar="503|drop", parse=limit_action, default_text="503",
        help="What a request over its source's limit gets: '503' (503 with Retry-After, at "
        "most once per Retry-After period per source, later ones dropped) or 'drop' (nothing).",
    )  # fmt: skip
    retry_after: int = setting(
        _FLOOD.retry_after, env="SIPGW_RETRY_AFTER", flag="--retry-after", metavar="S",
        parse=int_at_least(1),
        help="Seconds in the Retry-After of a rate-limit 503.",
    )  # fmt: skip
    rate_sources: int = setting(
        _FLOOD.max_sources, env="SIPGW_RATE_SOURCES", flag="--rate-sources", metavar="N",
        parse=int_at_least(1),
        help="Sources tracked at most (least recently seen forgotten first): bounds "
        "memory under a forged-source flood.",
    )  # fmt: skip
    rate_ipv4_prefix: int = setting(
        _FLOOD.ipv4_prefix, env="SIPGW_RATE_IPV4_PREFIX", flag="--rate-ipv4-prefix",
        metavar="BITS", parse=int_range(16, 32),
        help="IPv4 sources share their rate limits per network of this prefix length (32 = "
        "each address its own).",
    )  # fmt: skip
    rate_ipv6_prefix: int = setting(
        _FLOOD.ipv6_prefix, env="SIPGW_RATE_IPV6_PREFIX", flag="--rate-ipv6-prefix",
        metavar="BITS", parse=int_range(32, 128),
        help="IPv6 sources share their rate limits per network of this prefix length (64 = "
        "each /64 one source: one host holds a whole /64).",
    )  # fmt: skip
    calls_per_second: Rate = setting(
        _CALLS.global_rate, env="SIPGW_CALLS_PER_SECOND", flag="--calls-per-second",
        metavar="RATE:BURST", parse=rate, default_text="10:20",
        help="New calls per second over the whole gateway, every leg together (SIP after the "
        "access check, browser and Twilio calls); more get 503 with Retry-After (a browser "
        "429, Twilio <Reject>).",
    )  # fmt: skip
    calls_per_caller: Rate = setting(
        _CALLS.per_caller_per_minute, env="SIPGW_CALLS_PER_CALLER", flag="--calls-per-caller",
        metavar="RATE:BURST", parse=rate, default_text="10:5",
        help="New calls per MINUTE from one caller (SIP: the From URI's user@host; a browser: "
        "its address; Twilio: the webhook's From; anonymous callers only count against the "
        "global rate).",
    )  # fmt: skip
    drop_scanners: bool = setting(
        True, env="SIPGW_DROP_SCANNERS", flag="--drop-scanners", metavar="on|off", parse=on_off,
        default_text="on",
        help="Drop requests from known SIP scanners (User-Agent containing friendly-scanner, "
        "sipvicious, sipcli, ...) without an answer: 'on' or 'off'.",
    )  # fmt: skip
    scanner_user_agents: tuple[str, ...] = setting(
        (), env="SIPGW_SCANNER_USER_AGENTS", flag="--scanner-user-agents", metavar="LIST",
        parse=user_agent_fragments, default_text="",
        help="More User-Agent fragments to drop, comma-separated, case-insensitive (added to "
        "the built-in list).",
    )  # fmt: skip


@section(
    "limits",
    title="Limits",
    intro="Bounds on what one peer can make the gateway parse, buffer or hold open (hostile "
    "input; see docs/security.md). Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class LimitsConfig:
    """Message bounds (the SIP core) and connection bounds (the TCP/TLS adapter)."""

    max_message_size: int = setting(
        65535, env="SIPGW_MAX_MESSAGE_SIZE", flag="--max-message-size", metavar="N",
        parse=int_range(1024, 1 << 20),
        help="The largest SIP message parsed, in octets (1024-1048576); a larger request gets "
        "513 Message Too Large. UDP datagrams over 65535 octets are dropped unread.",
    )  # fmt: skip
    max_body_size: int = setting(
        32768, env="SIPGW_MAX_BODY_SIZE", flag="--max-body-size", metavar="N",
        parse=int_at_least(0),
        help="The largest SIP body, in octets; a request with a larger one gets 413 (over "
        "TCP/TLS the connection is then closed).",
    )  # fmt: skip
    max_header_fields: int = setting(
        256, env="SIPGW_MAX_HEADER_FIELDS", flag="--max-header-fields", metavar="N",
        parse=int_at_least(16),
        help="The most header lines in one SIP message; a request with more gets 513.",
    )  # fmt: skip
    tcp_message_timeout: float = setting(
        10.0, env="SIPGW_TCP_MESSAGE_TIMEOUT", flag="--tcp-message-timeout", metavar="S",
        parse=non_negative,
        help="Close a TCP or TLS connection whose message has not arrived whole this many "
        "seconds after its first octet (a slow sender); 0 = no limit.",
    )  # fmt: skip
    tls_handshake_timeout: float = setting(
        10.0, env="SIPGW_TLS_HANDSHAKE_TIMEOUT", flag="--tls-handshake-timeout", metavar="S",
        parse=positive,
        help="Close a TLS connection whose handshake has not finished after this many seconds.",
    )  # fmt: skip
    tcp_max_per_source: int = setting(
        32, env="SIPGW_TCP_MAX_PER_SOURCE", flag="--tcp-max-per-source", metavar="N",
        parse=int_at_least(0),
        help="TCP and TLS connections one IP address may have open to us; more are closed at "
        "once. 0 = no limit.",
    )  # fmt: skip
    tcp_max_connections: int = setting(
        1024, env="SIPGW_TCP_MAX_CONNECTIONS", flag="--tcp-max-connections", metavar="N",
        parse=int_at_least(0),
        help="TCP and TLS connections peers may have open to us in all; more are closed at "
        "once. 0 = no limit.",
    )  # fmt: skip

    tcp_reserved_for_allowed: int = setting(
        256, env="SIPGW_TCP_RESERVED_FOR_ALLOWED", flag="--tcp-reserved-for-allowed",
        metavar="N", parse=int_at_least(0),
        help="Of SIPGW_TCP_MAX_CONNECTIONS, how many only sources allowed by address (the "
        "trunk, the PBX, --allow-from) may take: strangers cannot lock them out.",
    )  # fmt: skip

    def check(self) -> None:
        """A body cannot be larger than the message that carries it, nor the reserve larger
        than the connections in all.

        Raises:
            InvalidSettings: it is.
        """
        if self.max_body_size > self.max_message_size:
            raise InvalidSettings("{max_body_size} must not exceed {max_message_size}")
        if self.tcp_max_connections and self.tcp_reserved_for_allowed > self.tcp_max_connections:
            raise InvalidSettings(
                "{tcp_reserved_for_allowed} must not exceed {tcp_max_connections}"
            )

    @property
    def message_limits(self) -> MessageLimits:
        """The bounds the SIP core parses with."""
        default = MessageLimits()
        return MessageLimits(
            max_message_size=self.max_message_size,
            max_header_size=min(default.max_header_size, self.max_message_size),
            max_header_fields=self.max_header_fields,
            max_line_length=default.max_line_length,
            max_uri_length=default.max_uri_length,
            max_body_size=self.max_body_size,
        )


def redact_pattern(value: str) -> str:
    """ "" or a regular expression that compiles (Python ``re`` syntax)."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"must be a regular expression ({exc})") from None
    return value


@section(
    "privacy",
    title="Secrets and privacy",
    intro="What is masked in logs and call records; see docs/security.md. API keys and "
    "passwords are always masked; every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class PrivacySection:
    """Card numbers and patterns of your own, masked in logs and call records."""

    redact: str = setting(
        "cards", env="SIPGW_REDACT", flag="--redact", metavar="WHAT",
        parse=choice("cards", "off"),
        help="'cards': card numbers (13-19 digits passing the Luhn check, also spoken digit by "
        "digit) are replaced by [card ****1234] in call records and logs; 'off': kept.",
    )  # fmt: skip
    redact_patterns: str = setting(
        "", env="SIPGW_REDACT_PATTERNS", flag="--redact-patterns", metavar="REGEX",
        parse=redact_pattern,
        help="A regular expression whose matches are replaced by [redacted] in call records "
        "and logs (several: join them with |), e.g. \\b\\d{3}-\\d{2}-\\d{4}\\b; empty = none.",
    )  # fmt: skip


def dial_allow(value: str) -> tuple[str, ...]:
    """``SIPGW_DIAL_ALLOW``: comma-separated SIP URIs and number patterns (sipgw.sip.dialpolicy)."""
    return DialPolicy.parse(value).entries


@section(
    "dial",
    title="What the agent may dial",
    intro="Against toll fraud and prompt injection: the only targets an agent may transfer to, "
    "call (callbacks) or send DTMF to, whatever the caller says; see docs/security.md. "
    "`sipgw call` by the operator is not restricted.",
)
@dataclass(frozen=True)
class DialSection:
    """The operator's allow-list for what agents dial."""

    dial_allow: tuple[str, ...] = setting(
        (), env="SIPGW_DIAL_ALLOW", parse=dial_allow, default_text="",
        help="Comma-separated allow-list: exact SIP URIs (sip:support@pbx.example.com), any user "
        "at a host (sip:*@pbx.example.com), numbers (+15550100), digit sets (+1555010[0-9]) and "
        "prefixes (+1800*); keypad sequences (12#) for DTMF, judged with everything the call "
        "keyed. Empty = nothing beyond SIPGW_TRANSFER_TARGET (transfers) and "
        "SIPGW_CALLBACK_ALLOWED_PREFIXES (callbacks).",
    )  # fmt: skip


def dial_policy(
    dial: DialSection, tools: BuiltinToolsSection, callbacks: CallbackSection
) -> DialPolicy:
    """What agents may reach: ``SIPGW_DIAL_ALLOW`` for every action, plus each feature's own
    setting for that feature only: ``SIPGW_TRANSFER_TARGET`` (transfers),
    ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_URI`` (calls).

    Raises:
        SettingError: ``SIPGW_CALLBACK_URI`` is no SIP URI (named as the user gave it).
        ValueError: an allow-list entry does not parse.
    """
    transfer = tools.transfer_target
    if callbacks.callback_uri:
        try:
            parse_call_template(callbacks.callback_uri)
        except ValueError as exc:
            raise SettingError("{callback_uri}: {why}", CallbackSection, why=exc) from None
    return DialPolicy(
        dial.dial_allow,
        per_action={
            "transfer": (transfer,) if transfer else (),
            "call": tuple(f"{prefix}*" for prefix in callbacks.callback_allowed_prefixes),
        },
        call_templates=(callbacks.callback_uri,),
    )
