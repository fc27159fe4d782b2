"""AMD settings: the defaults keep the issue's budgets; nonsense is refused by name."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.settings import AMD_VAD, AmdConfig, AmdMode

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
