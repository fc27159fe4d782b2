"""The security settings sections (sipgw/app/security/settings.py): the limits section's
defaults, ranges and what reaches the SIP core; what agents may dial, the allow-list joined
with each feature's own setting. The access, floods and privacy sections are tested with
what they become: tests/sipgw/app/security/test_access.py, test_floods.py, test_privacy.py."""

from __future__ import annotations

import pytest

from sipgw.agent.conversation.sections import BuiltinToolsSection, CallbackSection
from sipgw.app.security.settings import DialSection, LimitsConfig, dial_policy
from sipgw.foundation.settings import ConfigError, SettingError, Sources, load
from sipgw.sip.limits import MessageLimits


def test_the_dial_policy_joins_the_allow_list_and_each_features_own_setting() -> None:
    sources = Sources(
        {"SIPGW_DIAL_ALLOW": "+1800*", "SIPGW_TRANSFER_TARGET": "sip:desk@pbx.example",
         "SIPGW_CALLBACK_ALLOWED_PREFIXES": "+44", "SIPGW_CALLBACK_URI": "sip:{number}@pbx"}
    )  # fmt: skip
    policy = dial_policy(
        load(DialSection, sources),
        load(BuiltinToolsSection, sources),
        load(CallbackSection, sources),
    )
    assert policy.allows("call", "+18005550100") and policy.allows("call", "+442071234567")
    assert policy.allows("transfer", "sip:desk@pbx.example")
    assert not policy.allows("call", "sip:desk@pbx.example")


def test_an_allow_list_entry_that_is_no_target_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="^SIPGW_DIAL_ALLOW=mailto:x: 'mailto:x': "):
        load(DialSection, Sources({"SIPGW_DIAL_ALLOW": "mailto:x"}))


def test_a_callback_uri_is_parsed_by_the_sip_core() -> None:
    """The agent layer checks its shape only; the gateway parses it as a SIP URI."""
    sources = Sources({"SIPGW_CALLBACK_URI": "sip:{number}@bad host"})
    callbacks = load(CallbackSection, sources)  # the shape is right
    with pytest.raises(SettingError) as error:
        dial_policy(load(DialSection, sources), load(BuiltinToolsSection, sources), callbacks)
    assert sources.explain(error.value).startswith(
        "SIPGW_CALLBACK_URI: 'sip:{number}@bad host' is not a SIP URI"
    )


def test_defaults_are_the_sans_io_defaults():
    assert load(LimitsConfig, Sources()) == LimitsConfig()
    assert LimitsConfig().message_limits == MessageLimits()


def test_values_reach_the_message_limits():
    config = load(
        LimitsConfig,
        Sources(
            {
                "SIPGW_MAX_MESSAGE_SIZE": "4096",
                "SIPGW_MAX_BODY_SIZE": "2048",
                "SIPGW_MAX_HEADER_FIELDS": "40",
                "SIPGW_TCP_MAX_PER_SOURCE": "4",
            }
        ),
    )
    limits = config.message_limits
    assert (limits.max_message_size, limits.max_body_size) == (4096, 2048)
    assert (limits.max_header_size, limits.max_header_fields) == (4096, 40)
    assert config.tcp_max_per_source == 4


def test_the_reserve_for_allowed_sources_reaches_the_transports():
    """Part A's reserve (a quarter of the connections, for the trunk) is a setting now."""
    from sipgw.app.gateway import _transports
    from sipgw.app.settings import GatewayConfig

    config = load(LimitsConfig, Sources({"SIPGW_TCP_RESERVED_FOR_ALLOWED": "40"}))
    assert LimitsConfig().tcp_reserved_for_allowed == 256
    assert _transports(GatewayConfig(), config).reserved_for_allowed == 40


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIPGW_MAX_MESSAGE_SIZE": "100"}, "SIPGW_MAX_MESSAGE_SIZE=100: must be a whole number "
         "from 1024 to 1048576"),
        ({"SIPGW_MAX_MESSAGE_SIZE": "2000000"}, "SIPGW_MAX_MESSAGE_SIZE=2000000"),
        ({"SIPGW_MAX_HEADER_FIELDS": "3"}, "SIPGW_MAX_HEADER_FIELDS=3: must be a whole number "
         ">= 16"),
        ({"SIPGW_TLS_HANDSHAKE_TIMEOUT": "0"}, "SIPGW_TLS_HANDSHAKE_TIMEOUT=0: must be a number "
         "> 0"),
        ({"SIPGW_TCP_MAX_PER_SOURCE": "-1"}, "SIPGW_TCP_MAX_PER_SOURCE=-1"),
        ({"SIPGW_MAX_MESSAGE_SIZE": "2048", "SIPGW_MAX_BODY_SIZE": "4096"},
         "SIPGW_MAX_BODY_SIZE=4096 must not exceed SIPGW_MAX_MESSAGE_SIZE=2048"),
        ({"SIPGW_TCP_MAX_CONNECTIONS": "100", "SIPGW_TCP_RESERVED_FOR_ALLOWED": "101"},
         "SIPGW_TCP_RESERVED_FOR_ALLOWED=101 must not exceed SIPGW_TCP_MAX_CONNECTIONS=100"),
    ],
)  # fmt: skip
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        load(LimitsConfig, Sources(env))
