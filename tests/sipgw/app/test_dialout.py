"""sipgw.app.dialout: where a placed call goes (targets, the proxy route) and whom it is from."""

from __future__ import annotations

import pytest

from sipgw.app.dialout import OutboundConfig, call_target, caller, proxy_route

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
