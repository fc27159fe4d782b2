"""The admin section: off by default, loopback unless a token is set, the token kept secret."""

from __future__ import annotations

import pytest

from sipgw.app.admin.settings import AdminSettings
from sipgw.foundation.settings import ConfigError, Sources, load, validate
from tests.toolkit.canaries import ADMIN_TOKEN


def test_off_by_default_and_empty_means_off() -> None:
    assert load(AdminSettings, Sources()) == AdminSettings() and not AdminSettings().enabled
    assert load(AdminSettings, Sources({"SIPGW_ADMIN_PORT": ""})).port == 0
    assert load(AdminSettings, Sources({}, {"--admin-port": "8081"})).enabled


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "::"])
def test_beyond_loopback_a_token_is_required(bind: str) -> None:
    env = {"SIPGW_ADMIN_PORT": "8081", "SIPGW_ADMIN_BIND": bind}
    required = f"^--admin-token/SIPGW_ADMIN_TOKEN: required when .* on {bind} "
    with pytest.raises(ConfigError, match=required):
        load(AdminSettings, Sources(env))
    with pytest.raises(ConfigError, match="^SIPGW_ADMIN_TOKEN: required"):
        validate(AdminSettings(port=8081, bind=bind))  # built by hand, as the server checks
    load(AdminSettings, Sources({"SIPGW_ADMIN_BIND": bind}))  # off: nothing to refuse
    settings = load(AdminSettings, Sources({**env, "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN}))
    assert settings.enabled and settings.bind == bind and ADMIN_TOKEN not in repr(settings)


def test_the_bind_address_is_an_address() -> None:
    with pytest.raises(ConfigError, match="^--admin-bind localhost: must be an IPv4 or IPv6"):
        load(AdminSettings, Sources({}, {"--admin-bind": "localhost"}))


@pytest.mark.parametrize("token", ["x", "fifteen-chars-x"])
def test_a_short_token_is_refused_naming_the_setting_not_the_value(token: str) -> None:
    """Issue 21 (audit): a one-character SIPGW_ADMIN_TOKEN was accepted."""
    short = rf"^SIPGW_ADMIN_TOKEN: at least 16 characters \(it has {len(token)}\): "
    with pytest.raises(ConfigError, match=short) as refused:
        load(AdminSettings, Sources({"SIPGW_ADMIN_TOKEN": token}))
    assert len(token) == 1 or token not in str(refused.value)  # a secret: never repeated
    flag = r"^--admin-token: at least 16 characters"
    with pytest.raises(ConfigError, match=flag):
        load(AdminSettings, Sources({}, {"--admin-token": token}))
    assert load(AdminSettings, Sources({"SIPGW_ADMIN_TOKEN": "s" * 16})).token == "s" * 16
    assert load(AdminSettings, Sources({"SIPGW_ADMIN_TOKEN": ""})).token == ""  # none: fine


def test_trusted_proxies_are_addresses_or_cidrs_and_need_a_token() -> None:
    """Without a token a request that came through a proxy is refused (docs/security.md),
    so naming trusted proxies without one is a contradiction, refused at start."""
    env = {"SIPGW_ADMIN_PORT": "8081", "SIPGW_ADMIN_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16"}
    refused = r"^SIPGW_ADMIN_TRUSTED_PROXIES=.10.0.0.5, 10.1.0.0/16.: set, but "
    with pytest.raises(ConfigError, match=refused):
        load(AdminSettings, Sources(env))
    settings = load(AdminSettings, Sources({**env, "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN}))
    assert settings.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
    with pytest.raises(ConfigError, match="'proxy.example' is not an IP address or a CIDR"):
        load(AdminSettings, Sources({"SIPGW_ADMIN_TRUSTED_PROXIES": "proxy.example"}))
    assert load(AdminSettings, Sources()).login_tries_total == 60
