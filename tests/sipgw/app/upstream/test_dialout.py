"""sipgw.app.upstream.dialout: where a placed call goes (targets, the proxy route) and whom it is
from."""

from __future__ import annotations

import pytest

from sipgw.app.upstream.dialout import (
    OutboundConfig,
    account_config,
    call_target,
    caller,
    proxy_route,
)
from sipgw.sip.identity import IdentityHeader

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


def test_each_account_places_calls_its_own_way() -> None:
    base = OutboundConfig(proxy="sip:proxy.example", caller_id="+15550000000", aor="sip:1@pbx")
    telnyx = account_config(
        base, aor="sip:gw-user@sip.telnyx.example", username="gw-user", password="pw",
        proxy="", caller_id="+15551230000", identity=IdentityHeader.PPI, withhold=False,
    )  # fmt: skip
    config = OutboundConfig(
        proxy=base.proxy, caller_id=base.caller_id, aor=base.aor, accounts={"telnyx": telnyx}
    )
    assert config.for_account(None) is config and config.for_account("register") is config
    chosen = config.for_account("telnyx")
    assert chosen.proxy == "sip:proxy.example"  # none of its own: the base's
    assert chosen.credentials is not None and chosen.credentials.username == "gw-user"
    assert caller(chosen, "192.0.2.1") == ("sip:+15551230000@sip.telnyx.example", None)
    assert call_target("+15557654321", chosen).uri.host == "proxy.example"
    with pytest.raises(
        ValueError, match="no account 'twilio' to call through \\(accounts: telnyx\\)"
    ):
        config.for_account("twilio")
    no_password = account_config(
        base, aor="sip:a@b", username="a", password="", proxy="", caller_id="",
        identity=IdentityHeader.NONE, withhold=False,
    )  # fmt: skip
    assert no_password.credentials is None


def test_an_e164_caller_id_is_the_from_user_at_our_address_or_the_aors_host() -> None:
    """What Twilio (error 32204) and Telnyx (403 ... D35) check: the From's user part."""
    assert caller(OutboundConfig(caller_id="+1 (555) 123-0000"), "203.0.113.10") == (
        "sip:+15551230000@203.0.113.10", None,
    )  # fmt: skip
    with_aor = OutboundConfig(caller_id="+15551230000", aor="sip:gw@sip.telnyx.com")
    assert caller(with_aor, "203.0.113.10") == ("sip:+15551230000@sip.telnyx.com", None)
