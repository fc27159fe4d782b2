"""A user tools module whose tools take their target from the model (and so from the caller).

Written the way a careless deployment might: the model names the number to
transfer to or the digits to key. The gateway's dial allow-list must still stop
anything the operator did not allow (tests/agent/assistant/test_prompt_injection.py).
"""

from __future__ import annotations

from typing import Any

from sipgw.agent.tools.registry import Tool, ToolContext


async def transfer_to(ctx: ToolContext, args: dict[str, Any]) -> object:
    """Refer the caller to whatever target the model gives."""
    return {"transferred": await ctx.transfer(str(args["target"]))}


async def press_keys(ctx: ToolContext, args: dict[str, Any]) -> object:
    """Key whatever digits the model gives (e.g. to dial out through a PBX)."""
    ctx.send_dtmf(str(args["digits"]))
    return {"sent": True}


TOOLS = [
    Tool(
        name="transfer_to",
        description="Transfer the caller to a number or SIP address.",
        parameters={
            "type": "object",
            "properties": {"target": {"type": "string", "maxLength": 100}},
            "required": ["target"],
            "additionalProperties": False,
        },
        handler=transfer_to,
    ),
    Tool(
        name="press_keys",
        description="Send keypad digits on the line.",
        parameters={
            "type": "object",
            "properties": {"digits": {"type": "string", "pattern": "^[0-9*#]{1,32}$"}},
            "required": ["digits"],
            "additionalProperties": False,
        },
        handler=press_keys,
    ),
]
