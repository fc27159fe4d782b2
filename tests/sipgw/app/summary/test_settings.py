"""The summary settings section (sipgw/app/summary/settings.py): off by default, bounded."""

from __future__ import annotations

import pytest

from sipgw.app.summary.settings import DEFAULT_SUMMARY_PROMPT, SummarySection
from sipgw.foundation.settings import ConfigError, Sources, load


def test_off_by_default_with_bounds() -> None:
    settings = load(SummarySection, Sources({}))
    assert not settings.summary and settings.summary_prompt == DEFAULT_SUMMARY_PROMPT
    assert settings.summary_timeout == 20.0 and settings.summary_max_chars == 12000
    assert load(SummarySection, Sources({"SIPGW_SUMMARY": "on"})).summary
    with pytest.raises(ConfigError, match="SIPGW_SUMMARY_MAX_CHARS=10: must be"):
        load(SummarySection, Sources({"SIPGW_SUMMARY_MAX_CHARS": "10"}))
