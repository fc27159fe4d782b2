"""The evaluation harness's scenario files: the shipped ones load, bad ones fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import write_tone, write_wav
from sipgw.app.evaluation.caller import turn_frames
from sipgw.app.evaluation.run import FakeAgent, agent_settings, main, shipped_scenarios
from sipgw.app.evaluation.scenario import ScenarioError, load_scenario, load_scenarios
from tests.toolkit import canaries

GOOD = """
name = "order"
[[turns]]
transcript = "Where is order 1234?"
[turns.fake]
tool = "get_order_status"
arguments = { order_id = "1234" }
reply = "It has shipped."
[[turns]]
transcript = "Thanks."
interrupt_after_ms = 500
[goal]
words = ["shipped"]
[[goal.tools]]
name = "get_order_status"
arguments = { order_id = "1234" }
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_scenario_loads_with_its_turns_fake_answers_and_goal(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.name == "order"
    first, second = scenario.turns
    assert first.transcript == "Where is order 1234?" and first.pause_ms == 300
    assert first.fake is not None and first.fake.tool == "get_order_status"
    assert dict(first.fake.arguments) == {"order_id": "1234"}
    assert second.interrupt_after_ms == 500 and second.fake is None
    assert scenario.goal.words == ("shipped",)
    (tool,) = scenario.goal.tools
    assert (tool.name, dict(tool.arguments), tool.ok) == (
        "get_order_status",
        {"order_id": "1234"},
        True,
    )


def test_the_shipped_scenarios_cover_the_four_cases() -> None:
    scenarios = load_scenarios([shipped_scenarios()])
    tools = {t.name for s in scenarios for t in s.goal.tools}
    assert {"get_order_status", "schedule_callback", "transfer_to_human"} <= tools
    assert any(t.interrupt_after_ms is not None for s in scenarios for t in s.turns)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[[turns]]\ntranscript", "[[turns]]\ntext"), "turns[1].text: unknown key"),
        (('transcript = "Thanks."', 'transcript = ""'), "turns[2].transcript: must not be empty"),
        (("interrupt_after_ms = 500", "interrupt_after_ms = -1"), "turns[2].interrupt_after_ms"),
        (
            ("interrupt_after_ms = 500", 'interrupt_after_ms = "soon"'),
            "must be an integer, not str",
        ),
        (("interrupt_after_ms = 500", "interrupt_after_ms = 5\npause_ms = 1"), "not both"),
        (('reply = "It has shipped."', ""), "turns[1].fake.reply: is required"),
        (('words = ["shipped"]', "words = [3]"), "goal.words[1]: must be a non-empty string"),
        (('name = "get_order_status"\narguments', "arguments"), "goal.tools[1].name: is required"),
        (("ok", "ok"), None),
    ],
)
def test_a_bad_key_is_named_with_the_file(
    tmp_path: Path, change: tuple[str, str], message: str | None
) -> None:
    text = GOOD.replace(*change)
    path = write(tmp_path, text)
    if message is None:
        load_scenario(path)
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_toml_errors_give_the_line_and_a_missing_goal_or_wav_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.toml: not valid TOML: .*line 3"):
        load_scenario(write(tmp_path, '[[turns]]\ntranscript = "a"\npause_ms = = 3\n'))
    with pytest.raises(ScenarioError, match="goal: name at least one expected tool"):
        load_scenario(write(tmp_path, '[[turns]]\ntranscript = "a"\n'))
    with pytest.raises(ScenarioError, match=r"turns\[1\]\.wav: no such file: .*missing\.wav"):
        load_scenario(
            write(tmp_path, GOOD.replace("[turns.fake]", 'wav = "missing.wav"\n[turns.fake]', 1))
        )
    with pytest.raises(ScenarioError, match=r"turns\[1\]\.interrupt_after_ms: the first turn"):
        load_scenario(
            write(
                tmp_path,
                '[[turns]]\ntranscript = "a"\ninterrupt_after_ms = 5\n[goal]\nwords = ["x"]\n',
            )
        )
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


def test_a_wav_turn_is_sent_as_its_own_audio_and_must_be_8khz(tmp_path: Path) -> None:
    write_tone(tmp_path / "voice.wav", 440.0, 0.5)
    scenario = load_scenario(
        write(tmp_path, GOOD.replace("[turns.fake]", 'wav = "voice.wav"\n[turns.fake]', 1))
    )
    frames = turn_frames(scenario.turns[0], "here")
    assert len(frames) == 25 and all(len(f) == 160 for f in frames)
    write_wav(tmp_path / "voice.wav", [0] * 8000, rate=16000)
    with pytest.raises(ScenarioError, match="16000 Hz; 8000 Hz is needed"):
        turn_frames(scenario.turns[0], "here")


def test_the_fake_agent_calls_the_tool_then_replies() -> None:
    scenario = load_scenarios([shipped_scenarios() / "order_status.toml"])
    agent = FakeAgent(scenario, first_token_s=0.0)
    user = {"role": "user", "content": "hi, where is my order 1234, the postcode is 10001"}
    first = agent({"messages": [user]})
    assert [c.name for c in first.tool_calls] == ["get_order_status"]
    second = agent({"messages": [user, {"role": "assistant"}, {"role": "tool", "content": "{}"}]})
    assert not second.tool_calls and "shipped" in "".join(second.text_deltas or [])
    assert "again" in "".join(
        agent({"messages": [{"role": "user", "content": "?"}]}).text_deltas or []
    )


def test_real_mode_passes_the_agents_settings_not_the_deployments() -> None:
    source = {
        "OPENAI_API_KEY": canaries.OPENAI_KEY,
        "ELEVENLABS_VOICE_ID": "voice",
        "SIPGW_SYSTEM_PROMPT_FILE": "prompt.txt",
        "SIPGW_TRANSFER_TARGET": "sip:desk@pbx",
        "SIPGW_REDACT": "cards",
        "SIPGW_REGISTRAR": "sip:pbx.example.com",
        "SIPGW_AUTH_USERNAME": "trunk",
        "SIPGW_ADMIN_PORT": "8080",
    }
    kept = agent_settings(source)
    assert set(kept) == {
        "OPENAI_API_KEY",
        "ELEVENLABS_VOICE_ID",
        "SIPGW_SYSTEM_PROMPT_FILE",
        "SIPGW_TRANSFER_TARGET",
        "SIPGW_REDACT",
    }


def test_real_mode_without_keys_names_them_and_prints_no_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(f"OPENAI_API_KEY={canaries.OPENAI_KEY}\n")
    voice = tmp_path / "hi.wav"
    write_tone(voice, 300.0, 0.5)
    scenario = write(tmp_path, f'[[turns]]\ntranscript = "hi"\nwav = "{voice.name}"\n'
                     '[goal]\nwords = ["hello"]\n')  # fmt: skip
    assert main(["--real", "--env-file", str(env_file), str(scenario)]) == 2
    err = capsys.readouterr().err
    assert "--real needs ASSEMBLYAI_API_KEY, ELEVENLABS_API_KEY" in err
    assert canaries.OPENAI_KEY not in err
