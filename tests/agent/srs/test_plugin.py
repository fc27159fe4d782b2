"""The ``srs`` plug-in: its speech-to-text's settings required, what it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.capabilities import GatewayServices, capabilities_of
from sipgw.agent.srs.plugin import SRS_CAPABILITIES, srs_agent
from sipgw.agent.srs.settings import SrsSection
from sipgw.agent.srs.transcriber import RecordedStreams, SrsAgent
from sipgw.app.agents import find_agent
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.agent.parts import FakeCall


def test_it_makes_transcribers_of_recorded_streams_with_its_stt() -> None:
    sources = Sources({"ASSEMBLYAI_API_KEY": "stt-key", "SIPGW_SRS_RECORD_DIR": ""})
    make = srs_agent(load(SrsSection, sources), sources, GatewayServices())
    agent = make(FakeCall())
    assert isinstance(agent, SrsAgent) and isinstance(agent, RecordedStreams)
    assert agent.record.path is None  # no directory: kept in memory
    assert agent.next_frame() is None


def test_without_the_stts_key_it_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="ASSEMBLYAI_API_KEY"):
        find_agent("srs").build(Sources({}))


def test_it_declares_recording_sessions_and_nothing_a_conversation_needs() -> None:
    assert capabilities_of(srs_agent) is SRS_CAPABILITIES
    assert SRS_CAPABILITIES.recording_sessions and SRS_CAPABILITIES.paid
    assert not SRS_CAPABILITIES.amd and not SRS_CAPABILITIES.keypad
    assert SRS_CAPABILITIES.legs == frozenset({"sip"})


def test_an_assist_prompt_needs_the_chat_models_key_and_gives_each_call_an_advisor(
    tmp_path: Path,
) -> None:
    prompt = tmp_path / "assist.txt"
    prompt.write_text("Suggest the agent's next step, or answer -.\n")
    env = {"ASSEMBLYAI_API_KEY": "stt-key", "SIPGW_SRS_RECORD_DIR": "",
           "SIPGW_SRS_ASSIST_PROMPT_FILE": str(prompt)}  # fmt: skip
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        find_agent("srs").build(Sources(env))
    sources = Sources({**env, "OPENAI_API_KEY": "llm-key"})
    agent = srs_agent(load(SrsSection, sources), sources, GatewayServices())(FakeCall())
    assert isinstance(agent, SrsAgent) and agent.advisor is not None
    assert agent.advisor.prompt == "Suggest the agent's next step, or answer -."
