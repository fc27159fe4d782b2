"""Hand-offs between lines built from a routes file (sipgw/app/lines/handoff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.assistant.agent import AssistantAgent, AssistantFactory
from sipgw.agent.s2s.agent import SpeechToSpeechAgent
from sipgw.agent.s2s.factories import S2sFactory
from sipgw.app.lines.handoff import LineDirectory, same_stt, takes_over
from sipgw.foundation.settings import ConfigError
from tests.agent.parts import FakeCall
from tests.sipgw.app.lines.test_build import KEYS, base, build

ROUTES = """\
[lines.front]
agent = "assistant"
voice = "front-voice"
hand_off_to = ["billing", "night"]

[lines.billing]
agent = "assistant"
voice = "billing-voice"
prompt_file = "billing.txt"
hand_off_history = "full"
hand_off_to = ["front"]

[lines.plain]
agent = "assistant"
voice = "plain-voice"

[lines.keyed]
agent = "assistant"
keyterms = "refund"

[lines.night]
agent = "realtime"
hand_off_to = "front"
"""


async def test_a_line_that_hands_off_gets_the_tool_and_the_tables_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "billing.txt").write_text("You are billing.")
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""}, agent="assistant")
    table = build(tmp_path, ROUTES, gateway)
    front = table.lines["front"]
    made = front.factory.make
    assert isinstance(made, AssistantFactory)
    settings = made.resources.hand_off
    assert settings is not None and (settings.line, settings.targets) == (
        "front", ("billing", "night"),
    )  # fmt: skip
    directory = front.directory
    assert isinstance(directory, LineDirectory) and table.lines["billing"].directory is directory
    # The directory sees the lines as finally built (billing's own hand-off factory).
    assert directory.line("billing") is table.lines["billing"] and directory.line("no") is None
    # A line that names none shares nothing new: no hand-off settings, no tool, no directory.
    plain = table.lines["plain"]
    assert isinstance(plain.factory.make, AssistantFactory) and plain.directory is None
    assert plain.factory.make.resources.hand_off is None
    agent = front.factory(FakeCall())
    assert isinstance(agent, AssistantAgent)
    assert "hand_off" not in made.resources.tools
    tool = agent.conversation.tools.get("hand_off")
    assert tool is not None
    assert tool.parameters["properties"]["line"]["enum"] == ["billing", "night"]  # type: ignore[index]
    await agent.close()
    # A speech-to-speech line hands off too: its model gets the tool.
    night = table.lines["night"]
    assert isinstance(night.factory.make, S2sFactory) and takes_over(night) is not None
    s2s = night.factory(FakeCall())
    assert isinstance(s2s, SpeechToSpeechAgent) and "hand_off" in s2s.tools
    await s2s.close()


def test_lines_with_the_same_speech_to_text_settings_share_the_session(tmp_path: Path) -> None:
    (tmp_path / "billing.txt").write_text("You are billing.")
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""}, agent="assistant")
    table = build(tmp_path, ROUTES, gateway)
    front, billing, keyed, night = (table.lines[n] for n in ("front", "billing", "keyed", "night"))
    assert same_stt(front, billing)  # other voices and prompts, the same STT settings
    assert not same_stt(front, keyed)  # its own keyterms
    assert not same_stt(front, night)  # a speech-to-speech line has no STT of ours


def test_a_hand_off_target_must_be_another_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"line 3: line 'x': hand_off_to 'nope' is not a \[lines.NAME\]"
    ):
        build(tmp_path, '[lines.x]\nagent = "assistant"\nhand_off_to = ["nope"]\n', base(KEYS))
    with pytest.raises(ConfigError, match=r"line 2: line 'x': hand_off_to 'x' is the line itself"):
        build(tmp_path, '[lines.x]\nhand_off_to = "x"\n', base(KEYS))
    with pytest.raises(ConfigError, match=r'hand_off_history must be "summary" or "full", not'):
        build(tmp_path, '[lines.x]\nhand_off_history = "all"\n', base(KEYS))


def test_both_ends_of_a_hand_off_run_an_agent_that_takes_calls_over(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hand_off_to needs the assistant or a speech-to-spe"):
        build(
            tmp_path, '[lines.x]\nhand_off_to = "y"\n[lines.y]\nagent = "assistant"\n', base(KEYS)
        )
    with pytest.raises(
        ConfigError, match=r"hand_off_to 'y': that line runs agent echo, and a call"
    ):
        build(
            tmp_path, '[lines.x]\nagent = "assistant"\nhand_off_to = "y"\n[lines.y]\n', base(KEYS)
        )
