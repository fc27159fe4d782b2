"""The ``twilio_api`` section (sipgw/app/twilio/api/settings.py)."""

from __future__ import annotations

import pytest

from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.foundation.settings import ConfigError, Sources, load

SID = "AC" + "a" * 32


def test_off_by_default_on_with_both() -> None:
    assert not load(TwilioApiSection, Sources({})).enabled
    on = load(TwilioApiSection, Sources({"SIPGW_TWILIO_API_ACCOUNT_SID": SID,
                                         "SIPGW_TWILIO_API_AUTH_TOKEN": "t" * 32}))  # fmt: skip
    assert on.enabled and "t" * 32 not in repr(on)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SIPGW_TWILIO_API_ACCOUNT_SID": "AC12"}, "SIPGW_TWILIO_API_ACCOUNT_SID=AC12: must be AC"),
        ({"SIPGW_TWILIO_API_ACCOUNT_SID": SID}, "go together"),
        ({"SIPGW_TWILIO_API_AUTH_TOKEN": "t" * 32}, "go together"),
        (
            {"SIPGW_TWILIO_API_ACCOUNT_SID": SID, "SIPGW_TWILIO_API_AUTH_TOKEN": "short"},
            "at least 16 characters",
        ),
    ],
)
def test_bad_values_are_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load(TwilioApiSection, Sources(env))
