"""A call as the tools see it (a ToolContext that records what they did), and the built-in
tools in a registry, for the tests of the registry and of the built-in tools."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.base import Direction
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.registry import ToolRegistry, ToolResult
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.app.calls.calldetails import party_number
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.headers import NameAddr


def assistant_settings(**builtin: Any) -> AssistantSettings:
    return AssistantSettings(builtin_tools=BuiltinToolSettings(**builtin))


@dataclass
class FakeCall:
    """A ToolContext for tests: records what the tools did to the call."""

    call_id: str = "call-1@test"
    caller: str = '"Bob" <sip:+15551234567@trunk.example;user=phone>'
    direction: Direction = "inbound"
    verified_caller: str = ""
    settings: AssistantSettings = field(default_factory=assistant_settings)
    transfer_accepted: bool = True
    transfers: list[str] = field(default_factory=list)
    transfers_after_reply: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    hangups: int = 0
    answer: dict[str, Any] = field(default_factory=lambda: {"mode": "off"})

    @property
    def caller_number(self) -> str:
        """As the gateway reads it (sipgw.app.calls.calldetails.party_number)."""
        return party_number(NameAddr.parse(self.caller))

    def answered_by(self) -> dict[str, Any]:
        return self.answer

    async def transfer(self, target: str, summary: str = "") -> bool:
        self.transfers.append(target)
        return self.transfer_accepted

    def send_dtmf(self, digits: str) -> None:
        self.dtmf.append(digits)

    def hangup_after_reply(self) -> None:
        self.hangups += 1

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        self.transfers_after_reply.append(target)
        self.summaries.append(summary)


ANY_NUMBER = DialPolicy(["+*", "[0-9]*"])
"""An allow-list admitting every number, for tests about something else than toll fraud."""


def registry_for(**settings: Any) -> ToolRegistry:
    """The built-in tools; callbacks may dial any number unless the test sets their rules."""
    if "callback_allowed_prefixes" not in settings:
        settings.setdefault("dial_policy", ANY_NUMBER)
    return ToolRegistry(builtin_tools(BuiltinToolSettings(**settings)))


async def call(
    registry: ToolRegistry, name: str, args: Any, ctx: FakeCall | None = None
) -> ToolResult:
    """Call tool ``name`` with ``args`` (JSON text, or an object to encode) on ``ctx``."""
    arguments = args if isinstance(args, str) else json.dumps(args)
    return await registry.call(name, arguments, ctx or FakeCall())
