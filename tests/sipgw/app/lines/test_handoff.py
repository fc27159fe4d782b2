"""Hand-offs between lines built from a routes file (sipgw/app/lines/handoff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.assistant.agent import AssistantAgent, AssistantFactory
from sipgw.agent.sections import ConfigError
from sipgw.app.lines.handoff import LineDirectory
from tests.agent.parts import FakeCall
from tests.sipgw.app.lines.test_build import KEYS, base, build

ROUTES = """\
[lines.front]
agent = "assistant"
voice = "front-voice"
hand_off_to = "billing"

[lines.billing]
agent = "assistant"
voice = "billing-voice"
prompt_file = "billing.txt"
hand_off_history = "full"
hand_off_to = ["front"]

[lines.plain]
agent = "assistant"
"""


async def test_a_line_that_hands_off_reaches_its_targets_through_the_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "billing.txt").write_text("You are billing.")
    gateway = base({**KEYS, "SIPGW_CALL_RECORD_DIR": ""}, agent="assistant")
    table = build(tmp_path, ROUTES, gateway)
    front = table.lines["front"].factory.make
    assert isinstance(front, AssistantFactory)
    settings = front.resources.hand_off
    assert settings is not None and (settings.line, settings.targets) == ("front", ("billing",))
    assert isinstance(settings.lines, LineDirectory)
    target = settings.lines.target("billing")
    assert target is not None and target.history == "full" and target.targets == ("front",)
    assert target.settings.system_prompt.startswith("You are billing.")
    assert target.new_tts().settings.voice_id == "billing-voice"  # type: ignore[attr-defined]
    assert settings.lines.target("nope") is None
    # A line that names none shares nothing new: no hand-off settings, no tool.
    plain = table.lines["plain"].factory.make
    assert isinstance(plain, AssistantFactory) and plain.resources.hand_off is None
    agent = table.lines["front"].factory(FakeCall())
    assert isinstance(agent, AssistantAgent)
    assert "hand_off" in agent.conversation.tools and "hand_off" not in front.resources.tools
    await agent.close()


def test_a_hand_off_target_must_be_another_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"line 3: line 'x': hand_off_to 'nope' is not a \[lines.NAME\]"
    ):
        build(tmp_path, '[lines.x]\nagent = "assistant"\nhand_off_to = ["nope"]\n', base(KEYS))
    with pytest.raises(ConfigError, match=r"line 2: line 'x': hand_off_to 'x' is the line itself"):
        build(tmp_path, '[lines.x]\nhand_off_to = "x"\n', base(KEYS))
    with pytest.raises(ConfigError, match=r'hand_off_history must be "summary" or "full", not'):
        build(tmp_path, '[lines.x]\nhand_off_history = "all"\n', base(KEYS))


def test_both_ends_of_a_hand_off_run_the_assistant(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hand_off_to needs the assistant agent \(line 'x' runs"):
        build(
            tmp_path, '[lines.x]\nhand_off_to = "y"\n[lines.y]\nagent = "assistant"\n', base(KEYS)
        )
    with pytest.raises(
        ConfigError, match=r"hand_off_to 'y': that line runs agent echo, and a call"
    ):
        build(
            tmp_path, '[lines.x]\nagent = "assistant"\nhand_off_to = "y"\n[lines.y]\n', base(KEYS)
        )
