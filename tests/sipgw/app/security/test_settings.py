"""What agents may dial: the gateway's allow-list joined with each feature's own setting."""

from __future__ import annotations

import pytest

from sipgw.agent.assistant_sections import BuiltinToolsSection, CallbackSection
from sipgw.agent.sections import ConfigError, SettingError, Sources, load
from sipgw.app.security.settings import DialSection, dial_policy


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
