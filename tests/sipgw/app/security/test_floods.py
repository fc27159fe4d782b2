"""The floods section: parsers, defaults that are the sans-IO defaults, the guard's config."""

from __future__ import annotations

import pytest

from sipgw.app.security.floods import FloodSettings
from sipgw.app.security.settings import RateLimitSection, limit_action, rate
from sipgw.foundation.settings import ConfigError, Sources, load
from sipgw.sip.ratelimit import SCANNER_USER_AGENTS, LimitAction, Rate


def test_rates() -> None:
    assert rate("5:10") == Rate(5, 10) and rate(" 2 ") == Rate(2, 4)  # burst twice the rate
    assert rate("0").unlimited and rate("0:0").unlimited
    for bad, message in (("fast", "must be RATE:BURST"), ("-1:2", "must not be negative"),
                         ("1:0.5", "burst must be at least 1")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            rate(bad)
    assert limit_action(" DROP ") is LimitAction.DROP
    with pytest.raises(ValueError, match="must be 503 or drop"):
        limit_action("reject")


def test_the_defaults_are_the_sans_io_defaults() -> None:
    assert FloodSettings.of(load(RateLimitSection, Sources())) == FloodSettings()


def test_scanners_and_limits_can_be_turned_off_or_extended() -> None:
    off = {
        "SIPGW_DROP_SCANNERS": "off",
        "SIPGW_RATE_INVITE": "0",
        "SIPGW_RATE_LIMIT_ACTION": "drop",
    }
    settings = FloodSettings.of(load(RateLimitSection, Sources(off)))
    assert settings.flood.scanner_user_agents == () and settings.flood.invite.unlimited
    assert settings.flood.action is LimitAction.DROP
    more = Sources({}, {"--scanner-user-agents": "WarDialer, sipvicious"})
    extra = FloodSettings.of(load(RateLimitSection, more)).flood.scanner_user_agents
    assert extra == (*SCANNER_USER_AGENTS, "wardialer")  # no duplicate
    calls = FloodSettings.of(load(RateLimitSection, Sources({"SIPGW_CALLS_PER_CALLER": "2:3"})))
    assert calls.calls.per_caller_per_minute == Rate(2, 3)


def test_a_bad_rate_is_named() -> None:
    with pytest.raises(ConfigError, match="^--rate-options fast: must be RATE:BURST"):
        load(RateLimitSection, Sources({}, {"--rate-options": "fast"}))


def test_off_has_no_limit_at_all() -> None:
    off = FloodSettings.off()
    assert off.flood.scanner_user_agents == () and off.calls.global_rate.unlimited
    assert "scanners not filtered" in off.describe()
