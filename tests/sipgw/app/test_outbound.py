"""The app side of placing calls: targets, the proxy route, the From, outcomes, settings."""

from __future__ import annotations

import pytest

from sipgw.app.outbound import (
    CallOutcome,
    OutboundConfig,
    call_target,
    caller,
    load_outbound_config,
    proxy_route,
)
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import resolve_settings

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
def test_call_target(target: str, config: OutboundConfig, uri: str) -> None:
    assert str(call_target(target, config).uri) == uri


@pytest.mark.parametrize("target", ["+15551234567", "hello", "tel:+15551234567"])
def test_targets_we_cannot_call(target: str) -> None:
    with pytest.raises(ValueError):
        call_target(target, OutboundConfig())


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
    with pytest.raises(ConfigError, match="SIPGW_OUTBOUND_PROXY"):
        load_outbound_config(resolve_settings({"SIPGW_OUTBOUND_PROXY": "pbx"}))
    with pytest.raises(ConfigError, match="SIPGW_CALLER_ID"):
        load_outbound_config(resolve_settings({"SIPGW_CALLER_ID": "who?"}))
    with pytest.raises(ConfigError, match="SIPGW_RING_TIMEOUT"):
        load_outbound_config(resolve_settings({"SIPGW_RING_TIMEOUT": "0"}))
    config = load_outbound_config(resolve_settings({"SIPGW_RING_TIMEOUT": "15"}))
    assert config.ring_timeout == 15.0 and config.credentials is None
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
