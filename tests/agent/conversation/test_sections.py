"""The assistant's sections: each value checked where it is read, the variable named."""

from __future__ import annotations

import re
import shlex

import pytest

from sipgw.agent.conversation.sections import (
    AssistantSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
)
from sipgw.foundation.settings import ConfigError, Sources, load


@pytest.mark.parametrize(
    ("section", "name", "value", "message"),
    [
        (AssistantSection, "SIPGW_MAX_TOOL_ROUNDS", "x", "must be a whole number >= 0"),
        (AssistantSection, "SIPGW_STT", "whisper", "must be 'assemblyai'"),
        (AssistantSection, "SIPGW_BARGE_IN_COMMIT_MS", "-1", "must be a whole number >= 0"),
        (AssistantSection, "SIPGW_FILLER_LINES", " | ", "give at least one line"),
        (AssistantSection, "SIPGW_ACTION_LINE_TIMEOUT_MS", "soon", "must be a whole number >= 0"),
        (PreemptiveSection, "SIPGW_PREEMPTIVE", "maybe", "must be 'on' or 'off'"),
        (CallbackSection, "SIPGW_CALLBACK_ALLOWED_PREFIXES", "+1,abc", "'abc' is not a number"),
        (CallbackSection, "SIPGW_CALLBACK_URI", "sip:pbx", "must be a sip: or sips: URI with"),
        (CallbackSection, "SIPGW_CALLBACK_TIMEZONE", "Mars/Base", "unknown time zone"),
        (CallbackSection, "SIPGW_CALLBACK_ATTEMPTS", "0", "must be a whole number >= 1"),
        (CallerContextSection, "SIPGW_CALLER_CONTEXT_TIMEOUT", "0", "must be a number > 0"),
    ],
)
def test_bad_values_name_the_variable(section: type, name: str, value: str, message: str) -> None:
    written = re.escape(f"{name}={shlex.quote(value)}: {message}")
    with pytest.raises(ConfigError, match=f"^{written}"):
        load(section, Sources({name: value}))


@pytest.mark.parametrize(
    "value", ["sip:{number}@pbx", "sips:9{number}@pbx.example.com;user=phone", ""]
)
def test_a_callback_uri_has_the_number_in_its_user_part(value: str) -> None:
    assert load(CallbackSection, Sources({"SIPGW_CALLBACK_URI": value})).callback_uri == value


@pytest.mark.parametrize(
    "value", ["tel:{number}", "sip:pbx@{number}", "sip:{number}{number}@pbx", "sip:{number}@"]
)
def test_a_callback_uri_of_another_shape_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="must be a sip: or sips: URI with {number}"):
        load(CallbackSection, Sources({"SIPGW_CALLBACK_URI": value}))
