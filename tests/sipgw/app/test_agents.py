"""Agents as plug-ins: names and specs, finding the factory, checking and loading its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.echo.plugin import echo_agent
from sipgw.agent.echo.settings import EchoSection
from sipgw.app.agents import find_agent
from sipgw.app.settings import BUILTIN_AGENTS, AgentSection, agent_spec
from sipgw.foundation.settings import ConfigError, Sources, load, section_info
from tests.sipgw.app import tone_agent

TONE = "tests.sipgw.app.tone_agent:make"
_NAMES = list(BUILTIN_AGENTS)
BUILTINS = f"{', '.join(_NAMES[:-1])} or {_NAMES[-1]}"
"""How a refusal names the built-ins (every one registered: a new built-in edits no test)."""


class Call:
    call_id = caller = called = ""
    hung_up = False
    details = CallDetails()

    def hangup(self) -> None:
        self.hung_up = True


@pytest.mark.parametrize(
    ("given", "spec"),
    [("echo", "echo"), (" Assistant ", "assistant"), (TONE, TONE), ("./my agent.py:make",
     "./my agent.py:make"), ("C:/agents/x.py:make", "C:/agents/x.py:make")],
)  # fmt: skip
def test_an_agent_is_a_builtin_name_or_module_colon_factory(given: str, spec: str) -> None:
    assert agent_spec(given) == spec


@pytest.mark.parametrize("given", ["robot", "pkg.mod", ":make", "pkg.mod:", "pkg.mod:2x", ""])
def test_anything_else_says_what_is_allowed(given: str) -> None:
    with pytest.raises(
        ValueError,
        match=f"must be {BUILTINS}, or package.module:factory",
    ):
        agent_spec(given)
    with pytest.raises(ConfigError, match=f"^--agent .*: must be {BUILTINS}"):
        load(AgentSection, Sources({}, {"--agent": given}))


def test_the_builtins_are_plug_ins_found_by_name() -> None:
    echo = find_agent("echo")
    assert echo.factory is echo_agent and echo.parameters == (EchoSection,)
    assert echo.sections == (section_info(EchoSection),) and echo.who == "--agent echo"
    factory = echo.build(Sources({}, {"--echo-delay-ms": "0"}))
    agent = factory(Call())  # type: ignore[arg-type]
    assert isinstance(agent, EchoAgent)
    assert {"echo", "assistant", "voice-agent", "realtime", "twiml", "stream"} <= set(
        BUILTIN_AGENTS
    )


def test_a_plug_in_by_module_name_with_its_settings() -> None:
    plugin = find_agent(TONE)
    assert plugin.factory is tone_agent.make and plugin.parameters == (tone_agent.ToneSection,)
    agent = plugin.build(Sources({"TONE_KEY": "k", "TONE_HZ": "1000"}))(Call())  # type: ignore[arg-type]
    assert isinstance(agent, tone_agent.ToneAgent)
    assert agent.frame == tone_agent.make(tone_agent.ToneSection(hz=1000))(Call()).frame  # type: ignore[arg-type, attr-defined]


def test_a_plug_in_without_settings() -> None:
    plugin = find_agent("tests.sipgw.app.tone_agent:no_settings")
    assert plugin.parameters == () and plugin.sections == ()
    assert isinstance(plugin.build(Sources())(Call()), tone_agent.ToneAgent)  # type: ignore[arg-type]


def test_a_plug_in_by_file_path(tmp_path: Path) -> None:
    path = tmp_path / "silent.py"
    path.write_text(
        "from sipgw.app.plugin import Agent, Sources\n"
        "class Silent(Agent):\n"
        "    def on_caller_frame(self, frame): pass\n"
        "    def next_frame(self): return None\n"
        "def make(sources: Sources):\n"
        "    assert isinstance(sources, Sources)\n"
        "    return lambda call: Silent()\n"
    )
    plugin = find_agent(f"{path}:make")
    assert plugin.parameters == (Sources,)
    assert type(plugin.build(Sources())(Call())).__name__ == "Silent"  # type: ignore[arg-type]


def test_its_settings_are_loaded_checked_and_required() -> None:
    plugin = find_agent(TONE)
    with pytest.raises(ConfigError, match=f"^--agent {TONE} needs TONE_KEY .set it in"):
        plugin.build(Sources({"TONE_HZ": "1000"}))
    with pytest.raises(ConfigError, match="^--tone-hz 5: must be a whole number from 100 to 3000"):
        plugin.build(Sources({"TONE_KEY": "k"}, {"--tone-hz": "5"}))
    with pytest.raises(ConfigError, match="^TONE_HZ=1010 must be a multiple of 50 Hz$"):
        plugin.build(Sources({"TONE_KEY": "k", "TONE_HZ": "1010"}))


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("", "tests.sipgw.app.no_such_agent:make", "agent module 'tests.sipgw.app.no_such_agent' "
         "not found"),
        ("", "tests.sipgw.app.tone_agent:missing", "'missing' in 'tests.sipgw.app.tone_agent': "
         "not found"),
        ("", "tests.sipgw.app.tone_agent:ToneAgent.__doc__", f"must be {BUILTINS}"),
        ("def make(x: int):\n    return print\n", "make", "parameter 'x' must be annotated"),
        ("def make(x):\n    return print\n", "make", "parameter 'x' must be annotated"),
        ("def make(x: 'Nowhere'):\n    return print\n", "make", "cannot read its parameters"),
        ("def make():\n    return 42\n", "make", "returned int, not an agent factory"),
        ("def make():\n    raise ValueError('no good')\n", "make", "no good"),
        ("raise RuntimeError('broken')\n", "make", "failed to import: RuntimeError: broken"),
        ("make = 3\n", "make", "'make' in .*: a int, not a function"),
        ("from dataclasses import dataclass\nfrom sipgw.app.plugin import setting\n"
         "@dataclass(frozen=True)\nclass S:\n    x: int = setting(1, env='S_X', parse=int, "
         "help='x.')\ndef make(s: S):\n    return print\n", "make",
         "parameter 's' must be annotated with a settings section"),
    ],
)  # fmt: skip
def test_a_broken_plug_in_is_one_line_naming_it(
    tmp_path: Path, source: str, name: str, message: str
) -> None:
    spec = name
    if source:
        path = tmp_path / "broken.py"
        path.write_text(source)
        spec = f"{path}:{name}"
    with pytest.raises((ConfigError, ValueError), match=message) as error:
        find_agent(agent_spec(spec)).build(Sources())
    assert "\n" not in str(error.value)


def test_messages_name_where_the_agent_was_given() -> None:
    who = "accounts.toml line 9: account 'lab': agent x.y:z"
    with pytest.raises(ConfigError, match=f"^{who}: agent module 'x.y' not found"):
        find_agent("x.y:z", who)


def test_a_plug_in_may_read_the_gateways_own_sections(tmp_path: Path) -> None:
    path = tmp_path / "reader.py"
    path.write_text(
        "from sipgw.app.settings import GatewayConfig\n"
        "def make(config: GatewayConfig):\n"
        "    return lambda call: config.sip_port\n"
    )
    plugin = find_agent(f"{path}:make")
    assert [info.name for info in plugin.sections] == ["network", "calls", "operations"]
    assert plugin.build(Sources({}, {"--sip-port": "5099"}))(Call()) == 5099  # type: ignore[arg-type]


def test_what_an_agent_can_do_comes_from_its_declared_record() -> None:
    """The app reads a built-in's capabilities as a plug-in's: from the record its factory
    function declared (no name sets), and the built factory carries it."""
    echo, assistant = find_agent("echo"), find_agent("assistant")
    voice, realtime = find_agent("voice-agent"), find_agent("realtime")
    assert not echo.capabilities.paid and not echo.capabilities.callbacks
    assert all(p.capabilities.paid and p.capabilities.callbacks for p in (assistant, voice))
    assert assistant.capabilities.amd and voice.capabilities.amd
    assert not find_agent("stream").capabilities.amd
    assert realtime.capabilities == voice.capabilities
    assert assistant.capabilities.transfers == {"blind", "warm"}
    assert voice.capabilities.transfers == {"blind", "warm"}
    assert "greeting" in voice.capabilities.line_keys and not echo.capabilities.line_keys
    assert echo.build(Sources({})).capabilities is echo.capabilities
