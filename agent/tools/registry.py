"""Tools the LLM may call: declaration, registry, safe execution, user modules.

A :class:`Tool` is a name, a description, a JSON schema for its arguments and an
async handler. :class:`ToolRegistry` turns tools into the OpenAI ``tools``
parameter and runs the calls the model makes. :meth:`ToolRegistry.call` never
raises (except ``CancelledError``): bad JSON, arguments that do not fit the
schema (checked strictly by :mod:`agent.tools.schema` before the handler runs),
a target the operator did not allow (:class:`~agent.dialpolicy.DialRefused`),
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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from agent.base import Direction
from agent.dialpolicy import DialRefused
from agent.redact import Redactor
from agent.settings import AssistantSettings
from agent.tools.schema import SchemaError, check_schema, validate
from agent.user_modules import UserModuleError, import_user_module

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolLoadError",
    "ToolRegistry",
    "ToolResult",
    "load_user_tools",
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
        :attr:`agent.base.CallControl.verified_caller`); :attr:`caller` proves nothing."""
        ...

    @property
    def settings(self) -> AssistantSettings:
        """The assistant's typed settings (read-only); a tool module's own configuration
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
    broke the tool's schema; the handler never ran) or ``dial`` (a target the operator
    did not allow); "" otherwise."""


class ToolError(Exception):
    """Raised by a handler: the message goes to the model as ``{"error": message}``."""


class ToolLoadError(Exception):
    """A user tools module could not be used; the message names the module and why."""


class ToolRegistry:
    """The tools of an agent, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        """Start with ``tools`` registered."""
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool.

        Raises:
            ValueError: a tool with that name is registered already, or its
                schema uses a keyword the validator does not check
                (:func:`agent.tools.schema.check_schema`).
        """
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is registered already")
        try:
            check_schema(tool.parameters)
        except SchemaError as exc:
            raise ValueError(f"tool {tool.name!r}: {exc}") from None
        self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        """True when a tool called ``name`` is registered."""
        return name in self._tools

    def __len__(self) -> int:
        """The number of registered tools."""
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """The registered tool names, in registration order."""
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, if any."""
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, object]]:
        """The OpenAI Chat Completions ``tools`` parameter."""
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in self._tools.values()
        ]

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

        def result(ok: bool, content: str, refused: str = "") -> ToolResult:
            elapsed = time.monotonic() - started
            return ToolResult(ok=ok, content=content, elapsed=elapsed, refused=refused)

        def error(message: str, refused: str = "") -> ToolResult:
            return result(False, _error_json(message), refused)

        tool = self._tools.get(name)
        if tool is None:
            return error(f"unknown tool {name!r}")
        try:
            args = parse_arguments(arguments)
            problem = validate_arguments(args, tool.parameters)
        except ValueError as exc:
            return error(f"invalid arguments for {name}: {exc}", "schema")
        if problem:
            log.warning("tool %s refused: invalid arguments: %s", name, problem)
            return error(f"invalid arguments for {name}: {problem}", "schema")
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
        return result(not (isinstance(value, Mapping) and "error" in value), content)


def _redacted(exc: Exception, ctx: ToolContext) -> str:
    """What the model may read of an exception: no secrets, no URL keys (agent.redact)."""
    try:
        redactor = ctx.settings.redactor
    except Exception:  # a context without settings: the shapes and URLs still go
        redactor = Redactor()
    return redactor.redact_error(str(exc))


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

    See :mod:`agent.tools.schema` for the keywords checked.
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
