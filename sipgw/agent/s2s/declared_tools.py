"""The tools a session declares, kept in step with the MCP servers that are up.

A session is told its tools in the ``session.update`` that opens it; both services
take a ``session.update`` with new ``tools`` at any time after that (AssemblyAI's Voice
Agent events reference: "can also be sent mid-conversation to update any field";
OpenAI's Realtime reference: any field but ``voice`` and ``model``). The assistant
offers each request the tools that can be called at that moment (an MCP server's only
while it is up: :meth:`sipgw.agent.tools.registry.ToolRegistry.available`);
:class:`DeclaredTools` does the same for a session: when the caller starts a turn
(the service's or the local VAD's start of speech) and before the agent asks for a reply,
it compares the tools available now with those declared and, when they differ (a server
went down or came back), declares them again
(:meth:`~sipgw.agent.services.s2s.base.SpeechToSpeech.update_tools`) and writes a
``tools_declared`` line to the call record. A call of a tool the model still knows from
before answers it that the tool is unavailable (the registry's check).
"""

from __future__ import annotations

import logging

from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.services.s2s.base import ToolSpec
from sipgw.agent.tools.registry import ToolRegistry

__all__ = ["DeclaredTools", "tool_specs"]

log = logging.getLogger("sipgw.agent")


def tool_specs(tools: ToolRegistry) -> tuple[ToolSpec, ...]:
    """The registry's tools the model may call now, as a session declares them."""
    return tuple(ToolSpec(t.name, t.description, t.parameters) for t in tools.available())


class DeclaredTools:
    """One call's declared tools (see the module docstring).

    Args:
        scope: the call's record and its session now.
        tools: the tools the model may call.

    Attributes:
        specs: the tools declared to the session now (a new session declares these).
    """

    __slots__ = ("_names", "_scope", "_tools", "specs")

    def __init__(self, scope: SessionScope, tools: ToolRegistry) -> None:
        self._scope = scope
        self._tools = tools
        self.specs = tool_specs(tools)
        self._names = frozenset(spec.name for spec in self.specs)

    def refreshed(self) -> tuple[ToolSpec, ...]:
        """The tools available now, taken as declared (for a new session to open with)."""
        self.specs = tool_specs(self._tools)
        self._names = frozenset(spec.name for spec in self.specs)
        return self.specs

    def refresh(self) -> bool:
        """Declare the tools again if the set available changed; True when it did."""
        scope = self._scope
        if scope.closed:
            return False
        specs = tool_specs(self._tools)
        names = frozenset(spec.name for spec in specs)
        if names == self._names:
            return False
        gone, back = sorted(self._names - names), sorted(names - self._names)
        self.specs, self._names = specs, names
        scope.session.update_tools(specs)
        scope.write({"type": "tools_declared", "removed": gone, "added": back,
                     "tools": len(specs)})  # fmt: skip
        log.info("[%s] tools declared again: -%s +%s", scope.log_id, gone, back)
        return True
