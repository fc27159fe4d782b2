"""An example user tools module, loaded by name with ``load_user_tools``.

A deployment adds its own tools the same way, without editing sipgw: put a
module like this one on ``PYTHONPATH`` (or in the working directory) and name
it in the configuration. Either form works; this module uses both.
"""

from __future__ import annotations

from typing import Any

from sipgw.agent.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

_HOURS = {"berlin": "9 am to 6 pm", "london": "8 am to 5 pm"}


async def store_hours(ctx: ToolContext, args: dict[str, Any]) -> object:
    """Opening hours of one store."""
    city = str(args["city"]).strip().lower()
    if city not in _HOURS:
        raise ToolError(f"no store in {args['city']}")
    return {"city": city, "hours": _HOURS[city]}


async def caller_greeting(ctx: ToolContext, args: dict[str, Any]) -> object:
    """Returns plain text: a str result goes to the model unchanged."""
    return f"The caller is {ctx.caller}."


TOOLS = [
    Tool(
        name="store_hours",
        description="Opening hours of a store, by city.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        handler=store_hours,
    )
]


def register(registry: ToolRegistry) -> None:
    """Called by load_user_tools after TOOLS are registered."""
    registry.register(
        Tool(
            name="caller_greeting",
            description="Who is calling.",
            parameters={"type": "object", "properties": {}},
            handler=caller_greeting,
            timeout=1.0,
        )
    )
