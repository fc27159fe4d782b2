"""The assistant plug-in: its sections and its vendors' loaded at start, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.assistant.agent import AssistantAgent, AssistantFactory
from sipgw.agent.base import NO_DETAILS
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.conversation.caller_audio import LoadsVoiceModel
from sipgw.agent.factory import services_of, warm_up_of
from sipgw.agent.record import KeepsRecords
from sipgw.agent.services.openai.chat import OpenAIChatLLM
from sipgw.app.agents import find_agent
from sipgw.foundation.settings import ConfigError, Sources
from tests.toolkit.canaries import API_KEY_VARIABLES

KEYS = API_KEY_VARIABLES


class Call:
    call_id = "c"
    caller = "sip:a@b"
    called = "sip:c@d"
    direction = "inbound"
    purpose = None
    leg = "sip"
    details = NO_DETAILS

    def audio_ready(self, continuing: bool = False) -> None: ...

    def clear_audio(self) -> int:
        return 0

    def hangup(self, status: int = 480) -> None: ...

    def send_dtmf(self, digits: str) -> None: ...

    async def transfer(self, target: str, summary: str = "") -> bool:
        return False


async def test_it_builds_assistant_agents_from_the_environment(tmp_path: Path) -> None:
    record_dir = tmp_path / "calls"
    factory = find_agent("assistant").build(
        Sources({**KEYS, "SIPGW_GREETING": "Hi.", "SIPGW_CALL_RECORD_DIR": str(record_dir)})
    )
    agent = factory(Call())  # type: ignore[arg-type]
    assert isinstance(agent, AssistantAgent) and agent.settings.greeting == "Hi."
    assert agent.settings.record_dir == record_dir
    assert type(agent.stt).__name__ == "AssemblyAISTTService"
    await agent.close("test")
    assert services_of(factory) == {"stt", "llm", "tts"}  # the gateway's breakers guard them
    assert warm_up_of(factory) is not None  # the fallback lines in the TTS voice, at start
    unsynthesized = find_agent("assistant").build(
        Sources({**KEYS, "SIPGW_FALLBACK_SYNTHESIZE": "off", "SIPGW_CALL_RECORD_DIR": ""})
    )
    # the shipped recordings: the voice model to load and the chat model's client to prepare
    warm_up = warm_up_of(unsynthesized)
    assert isinstance(warm_up, LoadsVoiceModel) and warm_up.then is not None
    assert await warm_up() is None
    made = plugin_factory(unsynthesized).make
    assert isinstance(made, AssistantFactory) and isinstance(made.resources.llm, OpenAIChatLLM)
    assert made.resources.llm._wire is not None
    await made.resources.llm.close()
    # a placed call that never reached an agent is recorded beside the agents' records
    assert isinstance(factory, KeepsRecords) and isinstance(unsynthesized, KeepsRecords)
    record = factory.new_record("refused@call")
    assert record is not None and record.path is not None and record.path.parent == record_dir
    record.close()
    assert unsynthesized.new_record("refused@call") is None  # SIPGW_CALL_RECORD_DIR=""


def test_missing_keys_are_all_named() -> None:
    plugin = find_agent("assistant")
    with pytest.raises(ConfigError, match="^--agent assistant needs ASSEMBLYAI_API_KEY, EL"):
        plugin.build(Sources({"OPENAI_API_KEY": "x"}))
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY .set it"):  # blank is missing
        plugin.build(Sources({**KEYS, "OPENAI_API_KEY": " "}))


@pytest.mark.parametrize(
    ("name", "value"),
    [("ASSEMBLYAI_REGION", "mars"), ("OPENAI_TOTAL_TIMEOUT", "0"), ("SIPGW_MAX_TOOL_ROUNDS", "x"),
     ("ELEVENLABS_TRANSPORT", "carrier-pigeon"), ("SIPGW_STT", "whisper"),
     ("ASSEMBLYAI_CHUNK_MS", "20"), ("SIPGW_BARGE_IN_COMMIT_MS", "-1"),
     ("SIPGW_FILLER_LINES", " | "), ("SIPGW_FILLER_AFTER_MS", "-5"),
     ("SIPGW_ACTION_LINE_TIMEOUT_MS", "soon"), ("SIPGW_PREEMPTIVE", "sometimes"),
     ("ASSEMBLYAI_KEYTERMS", ",".join(f"term{i}" for i in range(101))),
     ("ASSEMBLYAI_KEYTERMS", "Acme, " + "x" * 51), ("ELEVENLABS_AUTO_MODE", "maybe"),
     ("SIPGW_CALLER_CONTEXT", "no_such_module_here:lookup"),
     ("SIPGW_TOOLS_MODULE", "no_such_tools_here")],
)  # fmt: skip
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    # What `sipgw serve --agent assistant` does at start: build the agent factory
    # (the assistant's own settings and the chosen vendors' settings).
    with pytest.raises(ConfigError, match=f"^{name}"):
        find_agent("assistant").build(Sources({**KEYS, name: value}))


def test_keys_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as error:
        find_agent("assistant").build(Sources({**KEYS, "ASSEMBLYAI_CHUNK_MS": "20"}))
    assert all(key not in str(error.value) for key in KEYS.values())


def test_a_backlog_shorter_than_the_stt_give_up_is_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = {**KEYS, "SIPGW_FALLBACK_SYNTHESIZE": "off", "SIPGW_CALL_RECORD_DIR": ""}
    with caplog.at_level("WARNING", logger="sipgw.agent"):
        find_agent("assistant").build(Sources(plain))  # 30 s kept, 20 s waited: fine
        assert "ASSEMBLYAI_MAX_BACKLOG_MS" not in caplog.text
        find_agent("assistant").build(Sources({**plain, "SIPGW_STT_GIVE_UP_AFTER_MS": "45000"}))
    assert (
        "ASSEMBLYAI_MAX_BACKLOG_MS=30000 is shorter than SIPGW_STT_GIVE_UP_AFTER_MS=45000"
        in caplog.text
    )


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("", []),
        ("end_call, transfer_to_human", ["end_call", "transfer_to_human"]),
    ],
)
def test_the_builtin_tools_setting_picks_what_the_model_gets(value: str, names: list[str]) -> None:
    """Issue 22: ``SIPGW_BUILTIN_TOOLS=`` (empty) gives the model no built-in tool at all, so
    a production prompt does not carry the demo's order lookup; empty is not "the default"."""
    factory = find_agent("assistant").build(
        Sources({**KEYS, "SIPGW_BUILTIN_TOOLS": value, "SIPGW_CALL_RECORD_DIR": "",
                 "SIPGW_FALLBACK_SYNTHESIZE": "off"})
    )  # fmt: skip
    assert isinstance(factory.make, AssistantFactory)
    assert sorted(factory.make.resources.tools.names) == names
