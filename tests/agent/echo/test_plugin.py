"""The ``echo`` plug-in beside its agent: its section read like any plug-in's, its record."""

from __future__ import annotations

from sipgw.agent.capabilities import capabilities_of
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.echo.plugin import ECHO_CAPABILITIES, echo_agent
from sipgw.agent.echo.settings import EchoSection
from sipgw.foundation.settings import Sources, load
from tests.agent.parts import FakeCall


def test_the_echo_section_sets_the_delay_of_the_agents_it_makes() -> None:
    section = load(EchoSection, Sources({"SIPGW_ECHO_DELAY_MS": "40"}))
    agent = echo_agent(section)(FakeCall())
    assert isinstance(agent, EchoAgent)
    agent.on_caller_frame(b"\x01" * 160)
    assert agent.next_frame() is None  # 40 ms: two frames behind
    agent.on_caller_frame(b"\x02" * 160)
    assert agent.next_frame() is None
    agent.on_caller_frame(b"\x03" * 160)
    assert agent.next_frame() == b"\x01" * 160


def test_it_declares_that_it_spends_nothing() -> None:
    assert capabilities_of(echo_agent) is ECHO_CAPABILITIES
    assert not ECHO_CAPABILITIES.paid and not ECHO_CAPABILITIES.callbacks
    assert not ECHO_CAPABILITIES.line_keys
