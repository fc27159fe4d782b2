"""What the built-in AI agents' factories share (sipgw.agent.conversation.prompted): a call's record
and the template variables it lacks, both read from the agents' settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sipgw.agent.assistant.agent import AssistantFactory
from sipgw.agent.conversation.prompted import PromptedFactory
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.record import KeepsRecords
from sipgw.agent.s2s.factories import S2sFactory
from sipgw.agent.variables import VariablesCheck


@dataclass
class Resources:
    settings: AssistantSettings


class Factory(PromptedFactory):
    def __init__(self, settings: AssistantSettings) -> None:
        self.resources = Resources(settings)


def test_a_record_goes_to_the_agents_directory_redacted_as_theirs(tmp_path: Path) -> None:
    settings = AssistantSettings(record_dir=tmp_path / "calls")
    factory = Factory(settings)
    assert isinstance(factory, KeepsRecords)
    record = factory.new_record("refused@call")
    assert record is not None and record.path is not None
    assert record.path.parent == tmp_path / "calls" and record.redactor is settings.redactor
    record.close()
    assert Factory(AssistantSettings(record_dir=None)).new_record("x@call") is None


def test_the_variables_a_call_lacks_are_its_direction_s() -> None:
    settings = AssistantSettings(
        record_dir=None,
        system_prompt="You remind {first_name} of appointments.",
        outbound_greeting="Hi {first_name}, about {appointment}.",
    )
    factory = Factory(settings)
    assert isinstance(factory, VariablesCheck)
    assert factory.missing_variables({"first_name": "Ada"}, "outbound") == ("appointment",)
    assert factory.missing_variables({}, "inbound") == ("first_name",)
    assert factory.missing_variables({"first_name": "Ada"}, "inbound") == ()


def test_both_built_in_factories_share_it() -> None:
    assert issubclass(AssistantFactory, PromptedFactory) and issubclass(S2sFactory, PromptedFactory)
