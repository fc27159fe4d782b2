"""MCP servers' tools: listed, filtered, namespaced, and kept up while the gateway runs.

An :class:`McpServerSpec` (from the routes file or ``SIPGW_TOOLS_FILE``:
:mod:`sipgw.agent.tools.declared`) names a server reached over stdio (a command the gateway
starts) or streamable HTTP (a URL, with headers whose ``${VAR}`` secrets come from the
environment), through the official ``mcp`` SDK (the ``mcp`` extra). :class:`McpServer`
is its :class:`~sipgw.agent.tools.registry.ToolProvider`:

* its tools are listed when it connects (at start-up, in the agents' warm-up, and again on
  each reload of the routes file), filtered by the spec's allow-list (``tools``; ``["*"]``
  for all) and named ``server__tool``: the registry refuses a namespace that overlaps
  another's or a tool name inside it, so nothing shadows anything;
* a supervisor task pings it every :data:`PING_EVERY` seconds; a server that dies (its
  process exits, its URL stops answering, a call finds the connection gone) is restarted
  with exponential backoff (:data:`BACKOFF_FIRST` doubling to :data:`BACKOFF_MAX`), and
  meanwhile its tools are left out of what the model is offered and a call to one is
  answered "unavailable right now" (the model can say so);
* arguments are checked against the tool's own schema (``jsonschema``, which the SDK
  depends on) before the request: servers use keywords the strict subset of
  :mod:`sipgw.agent.tools.schema` refuses; a result the server marks as an error is a tool
  error.

One :class:`McpServer` runs per distinct spec in the process (:func:`mcp_server`), so a
reload that keeps a server does not start a second one; :func:`close_mcp_servers` stops
them all (the gateway's stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sipgw.agent.tools.registry import Tool, ToolContext, ToolError
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.foundation.tracing import trace_headers

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "PING_EVERY",
    "McpServer",
    "McpServerSpec",
    "close_mcp_servers",
    "mcp_server",
]

log = logging.getLogger("sipgw.agent.tools")

BACKOFF_FIRST = 0.5
"""Seconds before the first restart of a server that went down."""
BACKOFF_MAX = 30.0
"""The longest wait between restarts."""
PING_EVERY = 2.0
"""Seconds between the supervisor's pings of a connected server."""
CONNECT_WITHIN = 30.0
"""Seconds a server may take to start and answer ``initialize`` and ``tools/list``."""
STABLE_AFTER = 30.0
"""A server up this long starts the backoff afresh when it next goes down."""
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class McpServerSpec:
    """One MCP server as declared (checked by :mod:`sipgw.agent.tools.declared`)."""

    name: str
    """Its namespace: its tools are offered as ``name__tool``."""
    tools: frozenset[str]
    """The allow-list of its tool names (``*`` = all of them)."""
    command: tuple[str, ...] = ()
    """stdio: the program and its arguments."""
    env: tuple[tuple[str, str], ...] = ()
    """stdio: variables for the program (``${VAR}`` already replaced)."""
    cwd: str = ""
    """stdio: its working directory; "" = the gateway's."""
    url: str = ""
    """Streamable HTTP: the endpoint."""
    headers: tuple[tuple[str, str], ...] = ()
    """Streamable HTTP: headers (``${VAR}`` already replaced)."""
    timeout: float = 10.0
    """Seconds one tool call may take."""
    filler: str = ""
    """Said when one of its tools makes a reply wait; "" = the next filler line."""
    max_calls: int = 0
    """Calls of each of its tools per phone call; 0 = the registry's per-tool limit."""

    def __repr__(self) -> str:  # no env or header values: they hold secrets
        where = self.url or " ".join(self.command)
        return f"McpServerSpec({self.name!r}, {where!r})"

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "http" if self.url else "stdio"


class McpServer:
    """One server's tools and the task that keeps it connected (see the module docstring).

    Args:
        spec: the server.
        backoff: the first and the longest wait between restarts, in seconds.
        ping_every: seconds between pings of a connected server.
    """

    def __init__(
        self,
        spec: McpServerSpec,
        backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
        ping_every: float = PING_EVERY,
    ) -> None:
        self.spec = spec
        self._backoff = backoff
        self._ping_every = ping_every
        self._tools: list[Tool] = []
        self._session: Any = None
        self._why = "not connected yet"
        self._task: asyncio.Task[None] | None = None
        self._poke: asyncio.Event | None = None
        self._listed: asyncio.Event | None = None
        self.connects = 0
        """Times it connected (1 + its restarts that worked)."""
        self.listings = 0
        """Times its tools were listed (on each connect, and on each :meth:`ready` while up)."""

    # -- ToolProvider ----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """``name__``."""
        return f"{self.spec.name}__"

    def tools(self) -> Sequence[Tool]:
        """Its allowed tools while it is connected; none while it is down."""
        self._start_if_running()
        return [] if self._why else list(self._tools)

    def unavailable(self) -> str:
        """Why its tools cannot be called now ("" while connected)."""
        self._start_if_running()
        return f"the {self.spec.name} server is {self._why}" if self._why else ""

    # -- life ------------------------------------------------------------------------

    def _start_if_running(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.start()

    def start(self) -> None:
        """Start the supervisor (once; again after :meth:`close`)."""
        if self._task is None or self._task.done():
            self._poke = asyncio.Event()
            self._listed = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"mcp server {self.spec.name}"
            )

    async def ready(self, within: float) -> bool:
        """Start it (or list its tools again, when it runs) and wait up to ``within``
        seconds for a listing; True if its tools are listed."""
        if self._task is not None and not self._task.done() and not self._why:
            assert self._listed is not None and self._poke is not None
            self._listed.clear()
            self._poke.set()  # the supervisor lists the tools again
        self.start()
        assert self._listed is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._listed.wait()
        return not self._why

    async def close(self) -> None:
        """Stop it (a stdio server's process ends with it)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._down("stopped")

    def _down(self, why: str) -> None:
        self._why = why
        self._session = None

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        first, longest = self._backoff
        delay = first
        while True:
            since = loop.time()
            try:
                await self._connected()
                why = "disconnected"
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # an ExceptionGroup from the SDK's task groups too
                if not isinstance(exc, Exception):
                    raise
                why = f"down ({_describe(exc)})"
                forget_frames(exc)  # its frames held this one: a cycle at every restart
            self._down(why)
            if loop.time() - since > STABLE_AFTER:
                delay = first
            log.warning("MCP server %s is %s; restarting in %.1f s", self.spec.name, why, delay)
            if self._listed is not None:
                self._listed.set()  # whoever waits for a listing learns it is down
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _connected(self) -> None:
        """Connect, list the tools, and ping until the connection fails."""
        from mcp import ClientSession

        async with self._transport() as (read, write), ClientSession(read, write) as session:
            async with asyncio.timeout(CONNECT_WITHIN):
                await session.initialize()
                self._tools = await self._list(session)
            self._session, self._why = session, ""
            self.connects += 1
            self._listed_now()
            assert self._listed is not None and self._poke is not None
            self._listed.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ping_every):
                        await self._poke.wait()
                relist = self._poke.is_set() and not self._listed.is_set()
                self._poke.clear()
                async with asyncio.timeout(max(self._ping_every, 5.0)):
                    await session.send_ping()
                    if relist:
                        self._tools = await self._list(session)
                        self._listed_now()
                        self._listed.set()

    def _listed_now(self) -> None:
        self.listings += 1
        log.info("MCP server %s: %d tools (%s)", self.spec.name, len(self._tools),
                 ", ".join(t.name for t in self._tools) or "none allowed")  # fmt: skip

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        spec = self.spec
        if spec.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            async with (
                create_mcp_http_client(headers=dict(spec.headers)) as client,
                streamable_http_client(spec.url, http_client=client) as streams,
            ):
                yield streams[0], streams[1]
        else:
            from mcp import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=spec.command[0], args=list(spec.command[1:]),
                env=dict(spec.env) or None, cwd=spec.cwd or None,
            )  # fmt: skip
            async with stdio_client(params) as streams:
                yield streams[0], streams[1]

    async def _list(self, session: Any) -> list[Tool]:
        listed: list[Any] = []
        cursor: str | None = None
        from mcp.types import PaginatedRequestParams

        while True:
            page = await session.list_tools(
                params=None if cursor is None else PaginatedRequestParams(cursor=cursor)
            )
            listed += page.tools
            cursor = page.next_cursor
            if not cursor or len(listed) > 1000:
                break
        allowed = self.spec.tools
        kept = [t for t in listed if "*" in allowed or t.name in allowed]
        missing = sorted(allowed - {"*"} - {t.name for t in listed})
        if missing:
            log.warning("MCP server %s has no tool %s", self.spec.name, ", ".join(missing))
        tools = []
        for listed_tool in kept:
            tool = self._tool(listed_tool)
            if tool is not None:
                tools.append(tool)
        return tools

    def _tool(self, listed: Any) -> Tool | None:
        import jsonschema  # type: ignore[import-untyped]  # the mcp SDK's dependency

        name = self.prefix + str(listed.name)
        if not _NAME.match(name):
            log.warning("MCP server %s: tool %r left out: %s is not a function name the "
                        "model accepts", self.spec.name, listed.name, name)  # fmt: skip
            return None
        schema: dict[str, Any] = dict(listed.input_schema or {"type": "object"})
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            log.warning("MCP server %s: tool %r left out: its schema is bad: %s",
                        self.spec.name, listed.name, exc.message)  # fmt: skip
            return None
        validator = validator_class(schema)
        remote = str(listed.name)

        def check(args: dict[str, Any]) -> str | None:
            error = jsonschema.exceptions.best_match(validator.iter_errors(args))
            if error is None:
                return None
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            return f"{where}: {error.message}"

        async def call(ctx: ToolContext, args: dict[str, Any]) -> object:
            return await self._call(remote, args)

        return Tool(
            name=name,
            description=str(listed.description or listed.title or listed.name)[:1024],
            parameters=schema,
            handler=call,
            timeout=self.spec.timeout,
            source="mcp",
            filler=self.spec.filler,
            max_calls=self.spec.max_calls,
            check_arguments=check,
        )

    async def _call(self, remote: str, args: Mapping[str, Any]) -> object:
        session = self._session
        if session is None:
            raise ToolError(f"the {self.spec.name} server is {self._why}")
        try:
            # the trace context in the request's _meta (MCP's place for it), when traced
            meta: Any = trace_headers() or None
            result = await session.call_tool(remote, dict(args), meta=meta)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._poke is not None:
                self._poke.set()  # the supervisor checks the connection at once
            raise ToolError(f"the {self.spec.name} server failed: {_describe(exc)}") from None
        text = "\n".join(
            str(getattr(block, "text", "")) for block in result.content if hasattr(block, "text")
        )
        if result.is_error:
            raise ToolError(text or f"{remote} failed")
        if result.structured_content is not None:
            return result.structured_content
        try:
            return json.loads(text)
        except ValueError:
            return text


def _describe(exc: BaseException) -> str:
    """The first real error of an exception (group), briefly."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:200]


_SERVERS: dict[McpServerSpec, McpServer] = {}


def mcp_server(spec: McpServerSpec) -> McpServer:
    """The process's one :class:`McpServer` for ``spec`` (made on first use)."""
    server = _SERVERS.get(spec)
    if server is None:
        server = _SERVERS[spec] = McpServer(spec)
    return server


async def close_mcp_servers() -> None:
    """Stop every server :func:`mcp_server` made."""
    servers = list(_SERVERS.values())
    _SERVERS.clear()
    for server in servers:
        await server.close()
