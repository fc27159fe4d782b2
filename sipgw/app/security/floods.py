"""Rate limits, wired: the ``floods`` settings become the SIP core's flood guard and call limits.

The sans-IO limits are :mod:`sipgw.sip.ratelimit`; here the settings are declared
(:class:`RateLimitSection`, parsed by :func:`rate`, :func:`limit_action` and
:func:`user_agent_fragments`) and turned into a :class:`FloodSettings`
(:meth:`FloodSettings.of`), from which the gateway builds a fresh
:class:`~sipgw.sip.ratelimit.FloodGuard` and :class:`~sipgw.sip.ratelimit.CallRateLimiter`
at start. See docs/security.md, "Floods and scanners".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipgw.agent.sections import section, setting
from sipgw.agent.sections.parsers import int_at_least, int_range, on_off
from sipgw.sip.ratelimit import (
    SCANNER_USER_AGENTS,
    CallRateConfig,
    CallRateLimiter,
    FloodConfig,
    FloodGuard,
    LimitAction,
    Rate,
)

__all__ = ["FloodSettings", "RateLimitSection", "limit_action", "rate", "user_agent_fragments"]

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


@dataclass(frozen=True, slots=True)
class FloodSettings:
    """The resolved ``FLOODS`` settings."""

    flood: FloodConfig = field(default_factory=FloodConfig)
    """Per-source limits and scanner User-Agents."""
    calls: CallRateConfig = field(default_factory=CallRateConfig)
    """New-call rate limits."""

    @classmethod
    def of(cls, section: RateLimitSection) -> FloodSettings:
        """The guard's and the call limiter's configuration from the ``floods`` settings."""
        scanners: tuple[str, ...] = ()
        if section.drop_scanners:
            scanners = tuple(dict.fromkeys((*SCANNER_USER_AGENTS, *section.scanner_user_agents)))
        flood = FloodConfig(
            invite=section.rate_invite,
            register=section.rate_register,
            options=section.rate_options,
            other=section.rate_other,
            action=section.rate_limit_action,
            retry_after=section.retry_after,
            max_sources=section.rate_sources,
            ipv4_prefix=section.rate_ipv4_prefix,
            ipv6_prefix=section.rate_ipv6_prefix,
            scanner_user_agents=scanners,
        )
        calls = CallRateConfig(section.calls_per_second, section.calls_per_caller)
        return cls(flood, calls)

    @classmethod
    def off(cls) -> FloodSettings:
        """No limit at all (benchmarks, where one load generator places every call)."""
        return cls(
            FloodConfig(UNLIMITED, UNLIMITED, UNLIMITED, UNLIMITED, scanner_user_agents=()),
            CallRateConfig(UNLIMITED, UNLIMITED),
        )

    def build(self, now: float) -> tuple[FloodGuard, CallRateLimiter]:
        """A fresh guard and call limiter for one SIP core."""
        return FloodGuard(self.flood), CallRateLimiter(self.calls, now)

    def describe(self) -> str:
        """One line for the start-up log."""
        f, c = self.flood, self.calls
        scanners = f"{len(f.scanner_user_agents)} scanner User-Agents dropped"
        if not f.scanner_user_agents:
            scanners = "scanners not filtered"
        return (
            f"rate limits per source (per second:burst, 0 = none): INVITE {f.invite}, "
            f"REGISTER {f.register}, OPTIONS {f.options}, other {f.other}, then "
            f"{f.action.value}; new calls {c.global_rate}/s, per caller "
            f"{c.per_caller_per_minute}/min; {scanners}; sources per IPv4 /{f.ipv4_prefix}, "
            f"IPv6 /{f.ipv6_prefix}"
        )
