"""The twiml, stream and twilio_app sections: values checked where they are read, secrets kept
out of reprs."""

from __future__ import annotations

import pytest

from sipgw.agent.twiml.settings import StreamSection, TwilioAppSection, TwimlSection
from sipgw.foundation.settings import ConfigError, Sources, load

GOOD = {"SIPGW_TWIML_ACCOUNT_SID": "AC" + "0" * 32, "SIPGW_TWIML_AUTH_TOKEN": "secret-token"}


def test_values_are_read() -> None:
    app = load(TwilioAppSection, Sources({**GOOD, "SIPGW_TWIML_FALLBACK": "hangup"}))
    assert (app.account_sid, app.auth_token, app.fallback) == (
        "AC" + "0" * 32,
        "secret-token",
        "hangup",
    )
    assert "secret-token" not in repr(app)
    assert load(TwimlSection, Sources({"SIPGW_TWIML_URL": "https://b.example/twiml"})).url
    assert load(StreamSection, Sources({"SIPGW_STREAM_URL": "wss://b.example/m"})).url


@pytest.mark.parametrize(
    ("section", "env", "says"),
    [
        (TwimlSection, {"SIPGW_TWIML_URL": "ftp://b.example/x"}, "http:// or https://"),
        (StreamSection, {"SIPGW_STREAM_URL": "https://b.example/x"}, "wss://"),
        (TwilioAppSection, {**GOOD, "SIPGW_TWIML_ACCOUNT_SID": "AC123"}, "AC and 32 hex"),
        (TwilioAppSection, {**GOOD, "SIPGW_TWIML_TIMEOUT_MS": "9000"}, "SIPGW_TWIML_TIMEOUT_MS"),
        (TwilioAppSection, {**GOOD, "SIPGW_TWIML_FALLBACK": "sing"}, "SIPGW_TWIML_FALLBACK"),
    ],
)
def test_bad_values_name_the_variable(section: type, env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load(section, Sources(env))
