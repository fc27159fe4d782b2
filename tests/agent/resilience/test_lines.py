"""The fallback lines and where their words come from."""

from __future__ import annotations

from dataclasses import replace

from sipgw.agent.conversation.settings import (
    DEFAULT_FALLBACK_PHRASE,
    DEFAULT_GOODBYE_LINE,
    DEFAULT_TRANSFER_LINE,
    AssistantSettings,
)
from sipgw.agent.resilience.lines import (
    DEFAULT_ONE_MOMENT_LINE,
    DEFAULT_STT_DOWN_LINE,
    FallbackLine,
)


def test_every_line_has_words_by_default() -> None:
    assert AssistantSettings().fallback_texts() == {
        FallbackLine.APOLOGY: DEFAULT_FALLBACK_PHRASE,
        FallbackLine.ONE_MOMENT: DEFAULT_ONE_MOMENT_LINE,
        FallbackLine.GOODBYE: DEFAULT_GOODBYE_LINE,
        FallbackLine.TRANSFER: DEFAULT_TRANSFER_LINE,
        FallbackLine.STT_DOWN: DEFAULT_STT_DOWN_LINE,
    }


def test_the_settings_words_are_used_and_empty_lines_left_out() -> None:
    settings = replace(AssistantSettings(), fallback_phrase="  Oops, again please. ",
                       transfer_line="")  # fmt: skip
    texts = settings.fallback_texts()
    assert texts[FallbackLine.APOLOGY] == "Oops, again please."
    assert FallbackLine.TRANSFER not in texts
