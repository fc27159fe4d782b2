"""Rate limits, wired: the ``FLOODS`` settings become the SIP core's flood guard and call limits.

The sans-IO limits are :mod:`sipgw.ratelimit`; here the settings are parsed
(:func:`rate`, :func:`user_agent_fragments`) and loaded into a
:class:`FloodSettings` (:func:`load_flood_config`), from which the gateway
builds a fresh :class:`~sipgw.ratelimit.FloodGuard` and
:class:`~sipgw.ratelimit.CallRateLimiter` at start. See docs/security.md,
"Floods and scanners".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipgw.app.settings import SettingValues
from sipgw.ratelimit import (
    SCANNER_USER_AGENTS,
    CallRateConfig,
    CallRateLimiter,
    FloodConfig,
    FloodGuard,
    LimitAction,
    Rate,
)

__all__ = ["FloodSettings", "limit_action", "load_flood_config", "rate", "user_agent_fragments"]

UNLIMITED = Rate(0, 0)


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


@dataclass(frozen=True, slots=True)
class FloodSettings:
    """The resolved ``FLOODS`` settings."""

    flood: FloodConfig = field(default_factory=FloodConfig)
    """Per-source limits and scanner User-Agents."""
    calls: CallRateConfig = field(default_factory=CallRateConfig)
    """New-call rate limits."""

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
            f"{c.per_caller_per_minute}/min; {scanners}"
        )


def load_flood_config(values: SettingValues) -> FloodSettings:
    """The ``FLOODS`` settings from the registry.

    Raises:
        ConfigError: a value does not parse.
    """
    scanners: tuple[str, ...] = ()
    if values["SIPGW_DROP_SCANNERS"] == "on":
        extra = values["SIPGW_SCANNER_USER_AGENTS"]
        scanners = tuple(dict.fromkeys((*SCANNER_USER_AGENTS, *extra)))
    flood = FloodConfig(
        invite=values["SIPGW_RATE_INVITE"],
        register=values["SIPGW_RATE_REGISTER"],
        options=values["SIPGW_RATE_OPTIONS"],
        other=values["SIPGW_RATE_OTHER"],
        action=values["SIPGW_RATE_LIMIT_ACTION"],
        retry_after=values["SIPGW_RETRY_AFTER"],
        max_sources=values["SIPGW_RATE_SOURCES"],
        scanner_user_agents=scanners,
    )
    calls = CallRateConfig(
        global_rate=values["SIPGW_CALLS_PER_SECOND"],
        per_caller_per_minute=values["SIPGW_CALLS_PER_CALLER"],
    )
    return FloodSettings(flood, calls)
