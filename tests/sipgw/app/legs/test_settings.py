"""The legs section: the call page on, Twilio off until its token (and our public URL) is set."""

from __future__ import annotations

import pytest

from sipgw.app.legs.settings import LegsSettings
from sipgw.foundation.settings import ConfigError, Sources, load

TOKEN = "twilio-auth-token-for-tests"


def test_the_call_page_is_on_and_twilio_off_by_default() -> None:
    settings = load(LegsSettings, Sources())
    assert settings == LegsSettings() and settings.browser_calls and not settings.twilio
    assert not load(LegsSettings, Sources({"SIPGW_BROWSER_CALLS": "off"})).browser_calls


def test_twilio_needs_our_public_https_address() -> None:
    needs = "SIPGW_TWILIO_AUTH_TOKEN needs --public-url/SIPGW_PUBLIC_URL: Twilio signs"
    with pytest.raises(ConfigError, match=needs):
        load(LegsSettings, Sources({"SIPGW_TWILIO_AUTH_TOKEN": TOKEN}))
    settings = load(LegsSettings, Sources({
        "SIPGW_TWILIO_AUTH_TOKEN": TOKEN, "SIPGW_PUBLIC_URL": "https://gw.example.com/sipgw/",
    }))  # fmt: skip
    assert settings.twilio and TOKEN not in repr(settings)
    assert settings.webhook_url == "https://gw.example.com/sipgw/twilio/voice"
    assert settings.stream_url == "wss://gw.example.com/sipgw/twilio/stream"


@pytest.mark.parametrize(
    "url", ["http://gw.example.com", "gw.example.com", "https://gw.example.com/?x=1", "https://"]
)
def test_the_public_url_is_https_without_a_query(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^--public-url '?\S+'?: must be the https:// address"):
        load(LegsSettings, Sources({}, {"--public-url": url}))


def test_ice_servers_are_stun_and_turn_urls_and_turn_needs_credentials() -> None:
    given = "stun:stun.example.com:3478, turn:turn.example.com?transport=tcp"
    with pytest.raises(ConfigError, match="TURN server: set --turn-username/SIPGW_TURN_USERN"):
        load(LegsSettings, Sources({"SIPGW_ICE_SERVERS": given}))
    settings = load(LegsSettings, Sources({
        "SIPGW_ICE_SERVERS": given, "SIPGW_TURN_USERNAME": "ann", "SIPGW_TURN_PASSWORD": "pw",
    }))  # fmt: skip
    assert settings.ice_servers == ("stun:stun.example.com:3478",
                                    "turn:turn.example.com?transport=tcp")  # fmt: skip


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("https://stun.example.com", "must be stun:HOST"),
        ("turn:user:pw@turn.example.com", "credentials go in SIPGW_TURN_USERNAME"),
        ("stun:stun.example.com?transport=sctp", "only query allowed"),
    ],
)
def test_a_wrong_ice_server_says_what_is_allowed(given: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load(LegsSettings, Sources({"SIPGW_ICE_SERVERS": given}))


def test_the_legs_taking_calls_are_named_only_with_the_admin_server() -> None:
    """What the start-up access line names besides SIP (sipgw.app.security.access.startup_line)."""
    both = LegsSettings(twilio_auth_token=TOKEN, public_url="https://gw.example.com")
    assert [leg.split(" (")[0] for leg in both.taking_calls(admin=True)] == [
        "the Twilio leg", "the browser leg"]  # fmt: skip
    assert both.taking_calls(admin=False) == ()
    assert LegsSettings(browser_calls=False).taking_calls(admin=True) == ()
    own = LegsSettings(twilio_auth_token=TOKEN, public_url="https://gw.example.com",
                       twilio_own_twiml=True, browser_calls=False)  # fmt: skip
    assert own.taking_calls(admin=True) == ("the Twilio leg (signed by Twilio; streams without "
        "our webhook's one-time token too: SIPGW_TWILIO_OWN_TWIML=on)",)  # fmt: skip
    assert not load(LegsSettings, Sources()).twilio_own_twiml  # closed by default
    assert load(LegsSettings, Sources({"SIPGW_TWILIO_OWN_TWIML": "on"})).twilio_own_twiml
