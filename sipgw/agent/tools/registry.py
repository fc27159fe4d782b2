"""Tools the LLM may call: declaration, registry, safe execution, user modules.

A :class:`Tool` is a name, a description, a JSON schema for its arguments and an
async handler. :class:`ToolRegistry` turns tools into the OpenAI ``tools``
parameter and runs the calls the model makes. :meth:`ToolRegistry.call` never
raises (except ``CancelledError``): bad JSON, arguments that do not fit the
schema (checked strictly by :mod:`sipgw.agent.tools.schema` before the handler runs),
a target the operator did not allow (:class:`~sipgw.agent.dialpolicy.DialRefused`),
an unknown tool, a timeout or a crash all become a :class:`ToolResult`
with ``ok=False`` and ``{"error": "..."}`` content, which goes back to the model
so that it can tell the caller.

Users add tools without editing the package: :func:`load_user_tools` imports a
module by name (or a ``.py`` path) that defines ``TOOLS: list[Tool]`` and/or
``register(registry)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from sipgw.agent.base import Direction
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.factory import alongside
from sipgw.agent.tools.schema import SchemaError, check_schema, validate
from sipgw.foundation.redact import Redactor
from sipgw.foundation.user_modules import UserModuleError, import_user_module

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolLimits",
    "ToolLoadError",
    "ToolProvider",
    "ToolRegistry",
    "ToolResult",
    "load_user_tools",
    "with_tools",
]

log = logging.getLogger("sipgw.agent.tools")


class ToolContext(Protocol):
    """What a tool may see of and do to the call (the gateway implements it)."""

    @property
    def call_id(self) -> str:
        """The SIP Call-ID."""
        ...

    @property
    def caller(self) -> str:
        """The other party's URI or number, e.g. ``sip:+15551234567@trunk.example`` (on a
        call the gateway placed: the number it called)."""
        ...

    @property
    def caller_number(self) -> str:
        """The number (or user name) of :attr:`caller`'s address, as the gateway read it; ""
        when it is anonymous or has none. Like :attr:`caller`, it proves nothing."""
        ...

    @property
    def direction(self) -> Direction:
        """``outbound`` on a call the gateway placed (a callback), else ``inbound``."""
        ...

    @property
    def verified_caller(self) -> str:
        """The other party's number as far as it is proven ("" when not: see
        :attr:`sipgw.agent.base.CallControl.verified_caller`); :attr:`caller` proves nothing."""
        ...

    @property
    def settings(self) -> Any:
        """The agent's typed settings, read-only: an
        :class:`~sipgw.agent.conversation.settings.AssistantSettings` (the tools are below the
        agents that use them, so the type is not named here); a tool module's own configuration
        comes from ``os.environ``, which ``sipgw serve`` fills from ``.env`` too."""
        ...

    def answered_by(self) -> dict[str, Any]:
        """Who answered the call the gateway placed, as answering-machine detection says:
        ``answered_by`` (human, voicemail, announcement, screener, unknown, undecided),
        ``reason``, ``decided_after_s``, ``final``, ``mode``; ``{"mode": "off"}`` without
        detection (docs/amd.md)."""
        ...

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Transfer the caller (SIP REFER) to ``target``; True when it was accepted.
        ``summary``: a line about the call for the person who takes it (User-to-User, when
        the operator turned that on).

        Raises:
            DialRefused: ``target`` is not on the operator's allow-list.
        """
        ...

    def send_dtmf(self, digits: str) -> None:
        """Key ``digits`` to the other party (RFC 4733), e.g. to work a PBX menu.

        Raises:
            DialRefused: the digits are not on the operator's allow-list.
        """
        ...

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been heard (its goodbye line: the
        reply's own words, or ``settings.goodbye_line`` when it says nothing)."""
        ...

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer the caller (SIP REFER) to ``target`` once the current reply has been
        heard (its handoff line: the reply's own words, or ``settings.transfer_line``
        when it says nothing). A refusal or a failed transfer becomes a new turn in
        which the model tells the caller. ``summary`` is what a warm transfer tells the
        person it calls (``settings.transfer``)."""
        ...


ToolHandler = Callable[[ToolContext, dict[str, Any]], Awaitable[object]]
"""``async def handler(ctx, args) -> result``: a JSON-serializable value, or a str."""


@dataclass(frozen=True, slots=True)
class Tool:
    """One function the model can call."""

    name: str
    """The function name the model uses (``^[a-zA-Z0-9_-]{1,64}$``)."""
    description: str
    """What it does and when to use it; the model reads this."""
    parameters: Mapping[str, object]
    """The JSON schema (``{"type": "object", "properties": ..., "required": ...}``)."""
    handler: ToolHandler
    """Runs the call; raise :class:`ToolError` for a failure the model should hear."""
    timeout: float = 5.0
    """Seconds before the call is abandoned and reported as timed out."""
    source: str = "python"
    """Where it comes from: ``builtin``, ``python`` (a tools module), ``http`` or ``mcp``
    (the call record's and the metrics' label)."""
    filler: str = ""
    """Said when this tool makes a reply wait past the filler delay; "" = the next of the
    filler lines (agent/assistant/fillers.py)."""
    max_calls: int = 0
    """Calls of this tool per phone call; 0 = the registry's :attr:`ToolLimits.per_tool`."""
    check_arguments: Callable[[dict[str, Any]], str | None] | None = None
    """Its own argument check (the first problem, or None); None = the strict subset of
    :mod:`sipgw.agent.tools.schema`, which :meth:`ToolRegistry.register` then checks the schema
    against."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call, ready to be the ``tool`` message content."""

    ok: bool
    """False for an error (the content is then ``{"error": ...}``)."""
    content: str
    """What the model sees: the handler's str, or its value as JSON."""
    elapsed: float
    """Seconds the call took."""
    refused: str = ""
    """Why the call was refused before or instead of acting: ``schema`` (its arguments
    broke the tool's schema; the handler never ran), ``dial`` (a target the operator
    did not allow), ``limit`` (the call's or the tool's call limit was reached) or
    ``unavailable`` (its MCP server is down); "" otherwise."""
    source: str = ""
    """The tool's :attr:`Tool.source` ("" for a tool nobody knows)."""


@dataclass(frozen=True, slots=True)
class ToolLimits:
    """What any tool, whatever its source, may do on one phone call."""

    per_call: int = 20
    """Tool calls per phone call, all tools together; 0 = no limit."""
    per_tool: int = 8
    """Calls of one tool per phone call (a tool's own ``max_calls`` wins); 0 = no limit."""
    result_bytes: int = 16 * 1024
    """The largest result the model is given (UTF-8 bytes); a larger one is an error."""


class ToolProvider(Protocol):
    """Tools that come and go (an MCP server's): all named ``prefix`` + their own name."""

    @property
    def prefix(self) -> str:
        """``server__``: every tool it provides starts with it."""
        ...

    def tools(self) -> Sequence[Tool]:
        """Its tools now (none while it is down)."""
        ...

    def unavailable(self) -> str:
        """Why its tools cannot be called now; "" when they can."""
        ...


PREPARE_WITHIN = 20.0
"""Seconds :meth:`ToolRegistry.prepare` waits for a provider's first listing."""


class ToolError(Exception):
    """Raised by a handler: the message goes to the model as ``{"error": message}``."""


class ToolLoadError(Exception):
    """A user tools module could not be used; the message names the module and why."""


class ToolRegistry:
    """The tools of an agent, by name, and the limits every one of them is held to.

    Args:
        tools: registered at once.
        limits: per phone call and per result (:class:`ToolLimits`).
        remembered_calls: phone calls whose tool counts are kept (the oldest forgotten).
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        limits: ToolLimits | None = None,
        remembered_calls: int = 4096,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._providers: list[ToolProvider] = []
        self.limits = limits or ToolLimits()
        self._remembered = remembered_calls
        self._counts: OrderedDict[str, Counter[str]] = OrderedDict()
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool.

        Raises:
            ValueError: a tool with that name is registered already, its name is in a
                provider's namespace, or its schema uses a keyword the validator does
                not check (:func:`sipgw.agent.tools.schema.check_schema`).
        """
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is registered already")
        for provider in self._providers:
            if tool.name.startswith(provider.prefix):
                raise ValueError(
                    f"tool {tool.name!r} is in the namespace {provider.prefix!r} of an MCP server"
                )
        if tool.check_arguments is None:
            try:
                check_schema(tool.parameters)
            except SchemaError as exc:
                raise ValueError(f"tool {tool.name!r}: {exc}") from None
        self._tools[tool.name] = tool

    def add_provider(self, provider: ToolProvider) -> None:
        """Add tools that come and go, named ``provider.prefix`` + their own name.

        Raises:
            ValueError: the prefix overlaps another provider's, or a registered tool's
                name starts with it (nothing may shadow anything).
        """
        prefix = provider.prefix
        for other in self._providers:
            if prefix.startswith(other.prefix) or other.prefix.startswith(prefix):
                raise ValueError(f"MCP namespace {prefix!r} overlaps {other.prefix!r}")
        for name in self._tools:
            if name.startswith(prefix):
                raise ValueError(f"tool {name!r} is in the namespace {prefix!r} of an MCP server")
        self._providers.append(provider)

    @property
    def providers(self) -> list[ToolProvider]:
        """The providers added, in order."""
        return list(self._providers)

    async def prepare(self, within: float = PREPARE_WITHIN) -> None:
        """Have the providers list their tools (start them, or list again after a reload),
        waiting ``within`` seconds at most for each; one that is down is restarted by
        itself meanwhile."""
        waits = [
            ready(within)
            for provider in self._providers
            if (ready := getattr(provider, "ready", None)) is not None
        ]
        if waits:
            await asyncio.gather(*waits)

    def __contains__(self, name: object) -> bool:
        """True when a tool called ``name`` is registered (or provided now)."""
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        """The number of registered tools (a provider's not counted)."""
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """The registered tool names, in registration order, then the providers' now."""
        return [*self._tools, *(t.name for p in self._providers for t in p.tools())]

    def _provider(self, name: str) -> ToolProvider | None:
        return next((p for p in self._providers if name.startswith(p.prefix)), None)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, if any (a provider's, if it provides it now)."""
        tool = self._tools.get(name)
        if tool is None and (provider := self._provider(name)) is not None:
            tool = next((t for t in provider.tools() if t.name == name), None)
        return tool

    def available(self) -> list[Tool]:
        """The tools the model is offered now: a provider's only while they can be called."""
        tools = list(self._tools.values())
        for provider in self._providers:
            if not provider.unavailable():
                tools += provider.tools()
        return tools

    def schemas(self) -> list[dict[str, object]]:
        """The OpenAI Chat Completions ``tools`` parameter: a provider's tools only while
        they can be called."""
        tools = self.available()
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in tools
        ]

    def _count(self, call_id: str, tool: Tool) -> str:
        """Count one call of ``tool`` on phone call ``call_id``; why not, when over a limit."""
        counts = self._counts.get(call_id)
        if counts is None:
            counts = self._counts[call_id] = Counter()
            while len(self._counts) > self._remembered:
                self._counts.popitem(last=False)
        per_tool = tool.max_calls or self.limits.per_tool
        if self.limits.per_call and counts.total() >= self.limits.per_call:
            return f"this phone call has used its {self.limits.per_call} tool calls"
        if per_tool and counts[tool.name] >= per_tool:
            return f"{tool.name} was called {per_tool} times on this phone call, its limit"
        counts[tool.name] += 1
        return ""

    async def call(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        """Run one call the model made; never raises except ``CancelledError``.

        Args:
            name: the function name from the model.
            arguments: the JSON arguments string from the model.
            ctx: the call the tool acts on.

        Returns:
            The result; ``ok`` is False for errors and for handler results that
            are a mapping with an ``"error"`` key.
        """
        started = time.monotonic()
        source = ""

        def result(ok: bool, content: str, refused: str = "") -> ToolResult:
            elapsed = time.monotonic() - started
            return ToolResult(ok, content, elapsed, refused, source)

        def error(message: str, refused: str = "") -> ToolResult:
            return result(False, _error_json(message), refused)

        tool = self.get(name)
        if tool is None:
            provider = self._provider(name)
            why = provider.unavailable() if provider is not None else ""
            if why:
                source = "mcp"
                return error(f"{name} is unavailable right now: {why}", "unavailable")
            return error(f"unknown tool {name!r}")
        source = tool.source
        try:
            args = parse_arguments(arguments)
            check = tool.check_arguments
            problem = (
                check(args) if check is not None else validate_arguments(args, tool.parameters)
            )
        except ValueError as exc:
            return error(f"invalid arguments for {name}: {exc}", "schema")
        if problem:
            log.warning("tool %s refused: invalid arguments: %s", name, problem)
            return error(f"invalid arguments for {name}: {problem}", "schema")
        over = self._count(ctx.call_id, tool)
        if over:
            log.warning("tool %s refused: %s", name, over)
            return error(f"refused: {over}", "limit")
        try:
            async with asyncio.timeout(tool.timeout):
                value = await tool.handler(ctx, args)
        except ToolError as exc:
            return error(_redacted(exc, ctx))
        except DialRefused as exc:
            log.warning("tool %s refused: %s", name, exc)
            message = f"refused: {exc.action} to {exc.target!r} is not allowed ({exc.reason})"
            return error(message, "dial")
        except TimeoutError:
            log.warning("tool %s timed out after %g s", name, tool.timeout)
            return error(f"{name} timed out after {tool.timeout:g} s")
        except Exception as exc:
            log.exception("tool %s failed", name)  # the log is masked by its own filter
            return error(f"{name} failed: {type(exc).__name__}: {_redacted(exc, ctx)}")
        try:
            content = value if isinstance(value, str) else _to_json(value)
        except (TypeError, ValueError) as exc:
            return error(f"{name} returned a result that is not JSON: {exc}")
        if tool.source in _OUTSIDE:  # a service's answer: masked as the call record is
            content = _masked(content, ctx)
        size = len(content.encode())
        if self.limits.result_bytes and size > self.limits.result_bytes:
            log.warning("tool %s: result of %d bytes dropped (limit %d)", name, size,
                        self.limits.result_bytes)  # fmt: skip
            return error(
                f"{name} returned {size} bytes, over the limit of {self.limits.result_bytes}"
            )
        return result(not (isinstance(value, Mapping) and "error" in value), content)


def with_tools(
    warm_up: Callable[[], Awaitable[object]] | None, tools: ToolRegistry
) -> Callable[[], Awaitable[object]] | None:
    """A factory's warm-up that also has ``tools``' providers list their tools (an MCP
    server started at start-up and listed again on each reload); ``warm_up`` as it is
    when there are none."""
    if not tools.providers:
        return warm_up
    return alongside(warm_up, tools.prepare)


def _redacted(exc: Exception, ctx: ToolContext) -> str:
    """What the model may read of an exception: no secrets, no URL keys
    (:mod:`sipgw.foundation.redact`)."""
    try:
        redactor: Redactor = ctx.settings.redactor
    except Exception:  # a context without settings: the shapes and URLs still go
        redactor = Redactor()
    return redactor.redact_error(str(exc))


_OUTSIDE = frozenset({"http", "mcp"})
"""Sources whose results come from outside the gateway (redacted before the model sees them)."""


def _masked(text: str, ctx: ToolContext) -> str:
    """``text`` as the call record would keep it (sipgw.foundation.redact)."""
    try:
        redactor: Redactor = ctx.settings.redactor
    except Exception:
        redactor = Redactor()
    return redactor.redact(text)


def _error_json(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def _to_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def parse_arguments(arguments: str) -> dict[str, Any]:
    """The model's arguments string as a dict (empty string: no arguments).

    Raises:
        ValueError: not JSON, or not a JSON object.
    """
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def validate_arguments(args: Mapping[str, Any], schema: Mapping[str, object]) -> str | None:
    """Check ``args`` strictly against the tool's schema; return the first problem, if any.

    See :mod:`sipgw.agent.tools.schema` for the keywords checked.
    """
    return validate(dict(args), schema)


def load_user_tools(module_name: str, registry: ToolRegistry) -> None:
    """Register the tools a user module provides.

    The module is imported by name (from ``sys.path``, which gains the current
    directory if it lacks it) or, when ``module_name`` ends with ``.py``, from
    that file. It must define ``TOOLS`` (a list of :class:`Tool`) and/or a
    ``register(registry)`` function; both are used when both exist.

    Raises:
        ToolLoadError: the module is missing, fails to import, provides
            neither, or its tools are malformed or clash with registered ones.
    """
    module = _import(module_name)
    tools = getattr(module, "TOOLS", None)
    register = getattr(module, "register", None)
    if tools is None and register is None:
        raise ToolLoadError(f"tools module {module_name!r} defines neither TOOLS nor register()")
    if tools is not None:
        if not isinstance(tools, (list, tuple)):
            raise ToolLoadError(
                f"tools module {module_name!r}: TOOLS must be a list of Tool, "
                f"not {type(tools).__name__}"
            )
        for tool in tools:
            if not isinstance(tool, Tool):
                raise ToolLoadError(
                    f"tools module {module_name!r}: TOOLS holds a {type(tool).__name__}, not a Tool"
                )
            _register(module_name, registry, tool)
    if register is not None:
        if not callable(register):
            raise ToolLoadError(f"tools module {module_name!r}: register is not a function")
        try:
            register(registry)
        except ToolLoadError:
            raise
        except Exception as exc:
            raise ToolLoadError(
                f"tools module {module_name!r}: register() failed: {type(exc).__name__}: {exc}"
            ) from exc


def _register(module_name: str, registry: ToolRegistry, tool: Tool) -> None:
    try:
        registry.register(tool)
    except ValueError as exc:
        raise ToolLoadError(f"tools module {module_name!r}: {exc}") from exc


def _import(module_name: str) -> ModuleType:
    try:
        return import_user_module(module_name, what="tools module", file_prefix="sipgw_user_tools_")
    except UserModuleError as exc:
        raise ToolLoadError(str(exc)) from None
