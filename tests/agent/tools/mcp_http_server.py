"""A streamable-HTTP MCP server on the mcp SDK's MCPServer (mcp 1's FastMCP), for the tests:
``python -m tests.agent.tools.mcp_http_server PORT``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("billing")


@server.tool()
async def invoice_status(number: str) -> dict[str, str]:
    """The status of an invoice, by its number."""
    return {"number": number, "status": "paid"}


@server.tool()
async def slow_lookup(seconds: float) -> str:
    """Answers after ``seconds`` (touching the file ``$MCP_TEST_MARK`` names as it starts)."""
    mark = os.environ.get("MCP_TEST_MARK")
    if mark:
        Path(mark).touch()  # noqa: ASYNC240 - a test server; one empty file
    await asyncio.sleep(seconds)
    return "found it"


@server.tool()
async def trace_context(ctx: Context) -> str:
    """The W3C traceparent in the request's ``_meta`` ("" without one)."""
    meta = ctx.request_context.meta or {}
    return str(dict(meta).get("traceparent", ""))


@server.tool()
async def delete_everything() -> str:
    """Not on the gateway's allow-list."""
    return "deleted"


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
