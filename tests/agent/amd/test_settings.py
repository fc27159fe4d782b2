"""AMD settings: the detector's defaults keep the budgets and nonsense is refused by name; the
section: the default mode, the lines, the thresholds."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.settings import (
    AMD_VAD,
    AmdConfig,
    AmdMode,
    AmdSection,
    AnsweringSettings,
    answering_settings,
)
from sipgw.foundation.settings import ConfigError, Sources, load


def section(**environ: str) -> AmdSection:
    return load(AmdSection, Sources(environ))


def test_the_defaults_detect_nothing_and_are_the_agent_layers() -> None:
    amd = section()
    assert amd.mode is AmdMode.OFF
    assert answering_settings(amd) == AnsweringSettings()


def test_modes_lines_and_thresholds() -> None:
    amd = section(
        SIPGW_AMD="Leave-Message", SIPGW_AMD_MESSAGE="  Please call us back.  ",
        SIPGW_AMD_SCREENER_LINE="This is Ana from the shop.", SIPGW_AMD_HUMAN_SILENCE="0.5",
        SIPGW_AMD_DEADLINE="5", SIPGW_AMD_MAX_GREETING="20", SIPGW_AMD_SCREENER_ANSWERS="1",
        SIPGW_AMD_SCREENER_WAIT="40", SIPGW_AMD_WORDS_WAIT="0.8",
        SIPGW_AMD_HOLD_PAST_DEADLINE="0", SIPGW_AMD_ANNOUNCED_BEEP_WAIT="6",
    )  # fmt: skip
    assert amd.mode is AmdMode.LEAVE_MESSAGE
    settings = answering_settings(amd)
    assert settings.message == "Please call us back."
    assert settings.screener_line == "This is Ana from the shop."
    assert settings.detector == AmdConfig(
        deadline=5.0,
        human_silence=0.5,
        max_greeting=20.0,
        words_wait=0.8,
        hold_past_deadline=0.0,
        announced_beep_wait=6.0,
    )
    assert (settings.max_screener_answers, settings.screener_wait) == (1, 40.0)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SIPGW_AMD": "maybe"}, "SIPGW_AMD.*off, detect, leave_message, hang_up"),
        ({"SIPGW_AMD_DEADLINE": "10", "SIPGW_AMD_MAX_GREETING": "5"},
         "SIPGW_AMD_MAX_GREETING=5 must not be shorter than SIPGW_AMD_DEADLINE=10"),
        ({"SIPGW_AMD_HUMAN_SILENCE": "1.5", "SIPGW_AMD_MAX_HUMAN_GREETING": "1.0"},
         "SIPGW_AMD_MAX_HUMAN_GREETING=1.0 must be longer than SIPGW_AMD_HUMAN_SILENCE=1.5"),
        ({"SIPGW_AMD_HUMAN_SILENCE": "1.0"}, "human_silence .* must be shorter than greeting_gap"),
        ({"SIPGW_AMD_SCREENER_ANSWERS": "9"}, "SIPGW_AMD_SCREENER_ANSWERS"),
        ({"SIPGW_AMD_WORDS_WAIT": "-1"}, "SIPGW_AMD_WORDS_WAIT.*from 0 to 3 s"),
        ({"SIPGW_AMD_ANNOUNCED_BEEP_WAIT": "1.5"},
         "SIPGW_AMD_ANNOUNCED_BEEP_WAIT=1.5 must not be shorter than "
         r"SIPGW_AMD_GREETING_END_SILENCE \(default 2\)"),
    ],
)  # fmt: skip
def test_nonsense_is_refused_naming_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        section(**environ)


FRAME = 0.02


def test_the_defaults_keep_the_budgets() -> None:
    config = AmdConfig()
    assert config.deadline == 4.0  # machines decided within 4 s
    # a person's "Hello?" is decided human_silence after it, on a frame boundary
    assert config.human_silence + FRAME <= 0.3
    assert AMD_VAD.calibration_ms == 0  # a greeting may start with the first frame
    assert config.vad is AMD_VAD


def test_the_modes_are_the_settings_words() -> None:
    assert [m.value for m in AmdMode] == ["off", "detect", "leave_message", "hang_up"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deadline": 0.0}, "AMD deadline must be positive, not 0.0"),
        ({"human_silence": -0.1}, "AMD human_silence must be positive"),
        ({"machine_words": 0}, "AMD machine_words must be at least 1, not 0"),
        ({"human_silence": 1.0}, "must be shorter than greeting_gap (1.0)"),
        ({"settle": 3.0}, "AMD settle (3.0) must not be shorter than deadline (4.0)"),
    ],
)
def test_nonsense_is_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AmdConfig(**changes)  # type: ignore[arg-type]
