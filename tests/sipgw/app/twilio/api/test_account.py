"""One account for the REST subset and the twiml agent (sipgw/app/twilio/api/account.py)."""

from __future__ import annotations

import pytest

from sipgw.app.twilio.api.account import rest_account
from sipgw.foundation.settings import ConfigError, Sources

SID = "AC" + "a" * 32
OTHER = "AC" + "b" * 32
TOKEN = "t" * 32
ONE = {"SIPGW_TWIML_ACCOUNT_SID": SID, "SIPGW_TWIML_AUTH_TOKEN": TOKEN}
OLD = {"SIPGW_TWILIO_API_ACCOUNT_SID": SID, "SIPGW_TWILIO_API_AUTH_TOKEN": TOKEN}


def test_off_unless_asked_even_with_the_twiml_pair() -> None:
    api, warnings = rest_account(Sources(ONE))
    assert not api.enabled and warnings == []


def test_on_serves_the_twiml_agents_pair() -> None:
    api, warnings = rest_account(Sources({**ONE, "SIPGW_TWILIO_API": "on"}))
    assert api.enabled and warnings == []
    assert (api.twilio_api_account_sid, api.twilio_api_auth_token) == (SID, TOKEN)


def test_the_old_pair_still_works_with_a_warning() -> None:
    for env in (OLD, {**OLD, **ONE}):  # alone, or equal to the one pair
        api, warnings = rest_account(Sources(env))
        assert api.enabled and api.twilio_api_auth_token == TOKEN
        assert len(warnings) == 1 and "SIPGW_TWILIO_API_ACCOUNT_SID" in warnings[0]
        assert "deprecated" in warnings[0] and "SIPGW_TWIML_AUTH_TOKEN" in warnings[0]
        assert TOKEN not in warnings[0]


@pytest.mark.parametrize(
    "env",
    [
        {**OLD, **ONE, "SIPGW_TWIML_ACCOUNT_SID": OTHER},
        {**OLD, **ONE, "SIPGW_TWIML_AUTH_TOKEN": "u" * 32},
    ],
)
def test_two_different_pairs_are_refused_both_named(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        rest_account(Sources(env))
    message = str(caught.value)
    for name in (*OLD, *ONE):
        assert name in message
    assert TOKEN not in message and "u" * 32 not in message


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SIPGW_TWILIO_API": "on"}, "SIPGW_TWILIO_API=on needs SIPGW_TWIML_ACCOUNT_SID and"),
        (
            {"SIPGW_TWILIO_API": "on", "SIPGW_TWIML_ACCOUNT_SID": SID,
             "SIPGW_TWIML_AUTH_TOKEN": "short"},
            "SIPGW_TWIML_AUTH_TOKEN must be at least 16",
        ),
        ({"SIPGW_TWILIO_API": "maybe"}, "SIPGW_TWILIO_API=maybe"),
    ],
)  # fmt: skip
def test_what_is_missing_or_bad_is_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        rest_account(Sources(env))
