"""The ``srs`` section: its speech-to-text and record directory, checked where read."""

from __future__ import annotations

import pytest

from sipgw.agent.srs.settings import SrsSection
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_defaults_transcribe_with_assemblyai_and_keep_records() -> None:
    section = load(SrsSection, Sources({}))
    assert section.stt == "assemblyai" and section.record_dir.endswith("calls")


def test_an_unknown_speech_to_text_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="SIPGW_SRS_STT"):
        load(SrsSection, Sources({"SIPGW_SRS_STT": "whisper"}))


def test_an_assist_prompt_file_must_exist() -> None:
    with pytest.raises(ConfigError, match="SIPGW_SRS_ASSIST_PROMPT_FILE"):
        load(SrsSection, Sources({"SIPGW_SRS_ASSIST_PROMPT_FILE": "/nonexistent/prompt.txt"}))
    assert load(SrsSection, Sources({})).assist_prompt_file == ""
