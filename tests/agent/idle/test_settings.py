"""The idle section (agent/idle/settings.py): what the routes file or the environment sets."""

from __future__ import annotations

import pytest

from sipgw.agent.idle.policy import DEFAULT_IDLE_GOODBYE, IdleSettings
from sipgw.agent.idle.settings import IdleSection, idle_settings
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_defaults_check_twice_after_15_seconds() -> None:
    assert idle_settings(load(IdleSection, Sources({}, {}))) == IdleSettings()


def test_zero_turns_it_off_and_an_empty_line_is_the_models() -> None:
    env = {"SIPGW_IDLE_AFTER": "0", "SIPGW_IDLE_LINE": "", "SIPGW_IDLE_GOODBYE": " "}
    settings = idle_settings(load(IdleSection, Sources(env, {})))
    assert settings.after is None and settings.check_line == ""
    assert settings.goodbye_line == DEFAULT_IDLE_GOODBYE


@pytest.mark.parametrize(
    ("variable", "value"), [("SIPGW_IDLE_AFTER", "-1"), ("SIPGW_IDLE_CHECKS", "11")]
)
def test_bad_values_are_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable}={value}"):
        load(IdleSection, Sources({variable: value}, {}))
