"""The agents' typed settings (agent/conversation/settings.py): safe defaults and the fallback
lines' words."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.agent.conversation.settings import (
    DEFAULT_FALLBACK_PHRASE,
    DEFAULT_GOODBYE_LINE,
    AssistantSettings,
)
from sipgw.agent.dialpolicy import NOTHING_ALLOWED, DialRefused, check_dial
from sipgw.agent.echo.settings import EchoSettings
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.tools.settings import BuiltinToolSettings


def test_settings_are_frozen() -> None:
    for settings in (EchoSettings(), BuiltinToolSettings(), AssistantSettings()):
        field = dataclasses.fields(settings)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(settings, field, None)


def test_the_built_in_tools_reach_nothing_by_default() -> None:
    tools = BuiltinToolSettings()
    assert tools.dial_policy is NOTHING_ALLOWED
    assert tools.transfer_target is None and tools.callback_allowed_prefixes == ()
    with pytest.raises(DialRefused):
        check_dial(tools.dial_policy, "transfer", "sip:support@pbx.example.com")


def test_every_fallback_line_has_words_by_default() -> None:
    texts = AssistantSettings().fallback_texts()
    assert set(texts) == set(FallbackLine)
    assert texts[FallbackLine.APOLOGY] == DEFAULT_FALLBACK_PHRASE
    assert texts[FallbackLine.GOODBYE] == DEFAULT_GOODBYE_LINE


def test_a_blank_fallback_line_is_left_out_and_the_others_are_trimmed() -> None:
    settings = AssistantSettings(goodbye_line="  ", transfer_line="  Hold on.  ")
    texts = settings.fallback_texts()
    assert FallbackLine.GOODBYE not in texts
    assert texts[FallbackLine.TRANSFER] == "Hold on."
