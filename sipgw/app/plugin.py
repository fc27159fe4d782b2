"""What an agent plug-in imports: the agent interface and the settings declarations.

::

    from sipgw.app.plugin import (
        Agent, AgentCapabilities, AgentFactory, CallControl, declare, section, setting
    )

    @section("beep", title="Beep agent", intro="Read when `--agent myagent:make`.")
    @dataclass(frozen=True)
    class BeepSection:
        hz: int = setting(440, env="BEEP_HZ", flag="--beep-hz", metavar="HZ",
                          parse=parsers.int_range(100, 3000), help="The beep's pitch.")

    @declare(AgentCapabilities(callbacks=True))  # what its agents can do (optional)
    def make(settings: BeepSection) -> AgentFactory: ...

``sipgw serve --agent myagent:make`` then reads ``--beep-hz``/``BEEP_HZ`` like any setting of
sipgw's (flags, environment, ``.env``; ``--help``; errors that name what the user wrote). A
parameter annotated ``GatewayServices`` gets what the gateway hands every agent (what it may
dial, the log redactor); a program embedding the gateway loads a plug-in with
``find_agent(spec).build(sources)``, its record with it. See docs/writing-an-agent.md. These
names stay importable from here whatever moves inside sipgw.
"""

from __future__ import annotations

from sipgw.agent.base import FRAME_BYTES, Agent, AgentFactory, CallControl, CallPurpose
from sipgw.agent.capabilities import AgentCapabilities, GatewayServices, declare
from sipgw.app.agents import find_agent
from sipgw.foundation.settings import (
    ConfigError,
    InvalidSettings,
    Sources,
    parsers,
    section,
    setting,
)

__all__ = [
    "FRAME_BYTES",
    "Agent",
    "AgentCapabilities",
    "AgentFactory",
    "CallControl",
    "CallPurpose",
    "ConfigError",
    "GatewayServices",
    "InvalidSettings",
    "Sources",
    "declare",
    "find_agent",
    "parsers",
    "section",
    "setting",
]
