"""The LIMITS settings: defaults, range checks, and what reaches the SIP core."""

from __future__ import annotations

from dataclasses import fields

import pytest

from sipgw.app.limits import LimitsConfig, load_limits_config
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import LIMITS, resolve_settings
from sipgw.limits import MessageLimits


def test_defaults_and_one_field_per_setting():
    assert load_limits_config(resolve_settings({})) == LimitsConfig()
    assert {f"SIPGW_{f.name.upper()}" for f in fields(LimitsConfig)} == {
        s.env for s in LIMITS.settings
    }
    assert LimitsConfig().message_limits == MessageLimits()


def test_values_reach_the_message_limits():
    config = load_limits_config(
        resolve_settings(
            {
                "SIPGW_MAX_MESSAGE_SIZE": "4096",
                "SIPGW_MAX_BODY_SIZE": "2048",
                "SIPGW_MAX_HEADER_FIELDS": "40",
                "SIPGW_TCP_MAX_PER_SOURCE": "4",
            }
        )
    )
    limits = config.message_limits
    assert (limits.max_message_size, limits.max_body_size) == (4096, 2048)
    assert (limits.max_header_size, limits.max_header_fields) == (4096, 40)
    assert config.tcp_max_per_source == 4


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SIPGW_MAX_MESSAGE_SIZE": "100"}, "SIPGW_MAX_MESSAGE_SIZE"),
        ({"SIPGW_MAX_MESSAGE_SIZE": "2000000"}, "SIPGW_MAX_MESSAGE_SIZE"),
        ({"SIPGW_MAX_HEADER_FIELDS": "3"}, "SIPGW_MAX_HEADER_FIELDS"),
        ({"SIPGW_TLS_HANDSHAKE_TIMEOUT": "0"}, "SIPGW_TLS_HANDSHAKE_TIMEOUT"),
        ({"SIPGW_TCP_MAX_PER_SOURCE": "-1"}, "SIPGW_TCP_MAX_PER_SOURCE"),
        ({"SIPGW_MAX_MESSAGE_SIZE": "2048", "SIPGW_MAX_BODY_SIZE": "4096"}, "SIPGW_MAX_BODY"),
    ],
)
def test_bad_values_name_the_setting(env, name):
    with pytest.raises(ConfigError, match=name):
        load_limits_config(resolve_settings(env))
