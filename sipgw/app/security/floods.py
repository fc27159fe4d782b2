"""Rate limits, wired: the ``floods`` settings become the SIP core's flood guard and call limits.

The sans-IO limits are :mod:`sipgw.sip.ratelimit`; here the settings
(:class:`~sipgw.app.security.settings.RateLimitSection`) are turned into a :class:`FloodSettings`
(:meth:`FloodSettings.of`), from which the gateway builds a fresh
:class:`~sipgw.sip.ratelimit.FloodGuard` and :class:`~sipgw.sip.ratelimit.CallRateLimiter`
at start. See docs/security.md, "Floods and scanners".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipgw.app.security.settings import UNLIMITED, RateLimitSection
from sipgw.sip.ratelimit import (
    SCANNER_USER_AGENTS,
    CallRateConfig,
    CallRateLimiter,
    FloodConfig,
    FloodGuard,
)

__all__ = ["FloodSettings"]


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
