"""What the factories of the built-in AI agents share: both kinds of agent (the assistant and
the speech-to-speech agents) take their prompt, greeting and call records from an
:class:`~sipgw.agent.conversation.settings.AssistantSettings`, so both answer the gateway's two
questions about a call the same way: where its record goes
(:class:`sipgw.agent.record.KeepsRecords`) and which ``{name}`` variables it lacks
(:class:`sipgw.agent.variables.VariablesCheck`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sipgw.agent.base import Direction
from sipgw.agent.conversation.opening import missing_variables
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.record import CallRecord

__all__ = ["PromptedFactory"]


class _WithSettings(Protocol):
    @property
    def settings(self) -> AssistantSettings: ...


class PromptedFactory:
    """A factory whose ``resources`` carry the agents' :class:`AssistantSettings`."""

    resources: _WithSettings

    def new_record(self, call_id: str) -> CallRecord | None:
        """A record in its agents' directory, redacted as theirs
        (:class:`sipgw.agent.record.KeepsRecords`); None without a directory."""
        settings = self.resources.settings
        if settings.record_dir is None:
            return None
        return CallRecord(settings.record_dir, call_id, settings.redactor)

    def missing_variables(
        self, variables: Mapping[str, str], direction: Direction
    ) -> tuple[str, ...]:
        """The variables the prompt and greeting of such a call use that ``variables`` lacks."""
        return missing_variables(self.resources.settings, direction, variables)
