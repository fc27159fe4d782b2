"""The app side of placing calls: targets, the proxy route, the From, outcomes, settings."""

from __future__ import annotations

import pytest

from sipgw.app.accounts import AccountSection, OutboundSection
from sipgw.app.outbound import (
    CallOutcome,
    OutboundConfig,
    caller,
    proxy_route,
    target_uri,
)
from sipgw.app.settings import ConfigError, Sources, load
from sipgw.app.startup import outbound_config

PROXY = OutboundConfig(proxy="sip:pbx.example.com:5070;transport=tcp")
AOR = OutboundConfig(aor="sip:1001@pbx.example.com")


@pytest.mark.parametrize(
    ("target", "config", "uri"),
    [
        ("+1 (555) 123-4567", PROXY, "sip:+15551234567@pbx.example.com:5070"),
        ("0049301234", AOR, "sip:0049301234@pbx.example.com"),
        ("sip:alice@192.0.2.20:5062", OutboundConfig(), "sip:alice@192.0.2.20:5062"),
        ("alice@example.com", PROXY, "sip:alice@example.com"),
        ("sips:bob@example.com", OutboundConfig(), "sips:bob@example.com"),
    ],
)
def test_target_uri(target: str, config: OutboundConfig, uri: str) -> None:
    assert target_uri(target, config) == uri


@pytest.mark.parametrize("target", ["+15551234567", "hello", "tel:+15551234567"])
def test_targets_we_cannot_call(target: str) -> None:
    with pytest.raises(ValueError):
        target_uri(target, OutboundConfig())


def test_proxy_route_adds_loose_routing_once() -> None:
    assert (
        proxy_route("sip:pbx.example.com;transport=tcp") == "sip:pbx.example.com;transport=tcp;lr"
    )
    assert proxy_route("<sip:192.0.2.30:5060;lr>") == "sip:192.0.2.30:5060;lr"
    with pytest.raises(ValueError):
        proxy_route("pbx.example.com")


def test_caller_id_forms() -> None:
    assert caller(OutboundConfig(), "192.0.2.1") == ("sip:sipgw@192.0.2.1", None)
    assert caller(AOR, "192.0.2.1") == ("sip:1001@pbx.example.com", None)
    named = OutboundConfig(caller_id='"Support" <sip:support@example.com>')
    assert caller(named, "192.0.2.1") == ("sip:support@example.com", "Support")
    number = OutboundConfig(caller_id="+1 555 000", aor="sip:1001@pbx.example.com")
    assert caller(number, "192.0.2.1") == ("sip:+1555000@pbx.example.com", None)


def test_settings_are_checked_and_the_password_hidden() -> None:
    with pytest.raises(ConfigError, match="^SIPGW_OUTBOUND_PROXY=pbx: must be a SIP URI"):
        load(OutboundSection, Sources({"SIPGW_OUTBOUND_PROXY": "pbx"}))
    with pytest.raises(ConfigError, match="^--caller-id 'who\\?': must be a SIP URI, a name-addr"):
        load(OutboundSection, Sources({}, {"--caller-id": "who?"}))
    with pytest.raises(ConfigError, match="^SIPGW_RING_TIMEOUT=0: must be a number > 0"):
        load(OutboundSection, Sources({"SIPGW_RING_TIMEOUT": "0"}))
    sources = Sources(
        {"SIPGW_RING_TIMEOUT": "15", "SIPGW_REGISTER": "sip:1001@pbx.example.com",
         "SIPGW_AUTH_USERNAME": "1001", "SIPGW_AUTH_PASSWORD": "s3cret"}
    )  # fmt: skip
    placing = load(OutboundSection, sources)
    config = outbound_config(placing, load(AccountSection, sources))
    assert config.ring_timeout == 15.0 and config.aor == "sip:1001@pbx.example.com"
    assert config.credentials is not None and config.credentials.username == "1001"
    assert outbound_config(placing, AccountSection()).credentials is None
    secret = OutboundConfig(username="agent", password="s3cret")
    assert "s3cret" not in repr(secret) and "s3cret" not in repr(secret.credentials)


def test_outcome_lines() -> None:
    answered = CallOutcome("sip:a@h", "answered", True, 12.44, 200, "remote-bye")
    assert answered.describe() == "answered, 12.4 s, ended by remote-bye"
    assert CallOutcome("sip:a@h", "busy", False, 0, 486, "busy").describe() == "busy (SIP 486)"
    failed = CallOutcome("sip:a@h", "failed", False, 0, 407, "failed")
    assert failed.describe() == "failed (SIP 407): failed"
    local = CallOutcome("x", "failed", False, 0, None, "no free RTP port")
    assert local.describe() == "failed: no free RTP port"
