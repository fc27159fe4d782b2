"""Tools declared without Python: HTTP tools and MCP servers, read and checked.

The same tables come from ``SIPGW_TOOLS_FILE`` (a TOML file, every line's) and from a
routes file's line (``[[lines.NAME.http_tools]]``, ``[lines.NAME.mcp_servers.NAME]``,
carried to its agent as JSON in ``SIPGW_DECLARED_TOOLS``)::

    [[http_tools]]
    name = "invoice_status"
    description = "The status of an invoice, by its number."
    method = "GET"                                  # GET, DELETE, POST, PUT, PATCH
    url = "https://billing.example.com/invoices/{number}"
    headers = { Authorization = "Bearer ${BILLING_TOKEN}" }
    timeout = 4.0
    result = "status"                               # a field of the JSON body; default: all
    max_bytes = 65536
    filler = "Let me pull up that invoice."
    allow_hosts = []                                # internal hosts it may reach
    redirect_hosts = []                             # other hosts it may be redirected to
    [http_tools.parameters]                         # the arguments' JSON schema
    type = "object"
    required = ["number"]
    properties = { number = { type = "string", pattern = "^[0-9]{4,10}$" } }

    [mcp_servers.time]
    command = ["mcp-server-time", "--local-timezone", "UTC"]
    tools = ["get_current_time"]                    # the allow-list; ["*"] = all

    [mcp_servers.crm]
    url = "https://mcp.crm.example.com/mcp"
    headers = { Authorization = "Bearer ${CRM_MCP_TOKEN}" }
    tools = ["lookup_customer"]

Secrets come from the environment only: ``${VAR}`` in a header (or an MCP server's
``env``) is replaced by the variable's value when the agent is built, a missing variable
is an error naming it, and a header that carries credentials (``Authorization``,
``Cookie``, or a name with ``key``, ``token`` or ``secret`` in it) must take its value
from ``${VAR}``: a secret written in the file is refused. Values are never logged.

:func:`parse_declarations` checks the tables (``environ=None``: the shape only, as the
routes file does when it is read; with an environment: the specs, secrets filled in).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipgw.agent.tools.http_spec import DEFAULT_MAX_BYTES, METHODS, HttpToolSpec, template_fields
from sipgw.agent.tools.mcp_servers import McpServerSpec
from sipgw.agent.tools.schema import SchemaError, check_schema

__all__ = ["Declarations", "parse_declarations"]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SERVER_NAME = re.compile(r"^[a-zA-Z0-9-]{1,24}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CREDENTIAL = re.compile(r"^(authorization|proxy-authorization|cookie)$|key|token|secret", re.I)
_HTTP_KEYS = frozenset(
    {"name", "description", "parameters", "method", "url", "headers", "timeout", "result"}
    | {"max_bytes", "allow_hosts", "redirect_hosts", "filler", "max_calls"}
)
_MCP_KEYS = frozenset(
    {"command", "env", "cwd", "url", "headers", "tools", "timeout", "filler", "max_calls"}
)
MAX_TIMEOUT = 60.0
"""The longest timeout a declared tool may have (the caller waits on the line)."""


@dataclass(frozen=True)
class Declarations:
    """Declared HTTP tools and MCP servers."""

    http_tools: tuple[HttpToolSpec, ...] = ()
    mcp_servers: tuple[McpServerSpec, ...] = ()

    def __add__(self, other: Declarations) -> Declarations:
        return Declarations(
            self.http_tools + other.http_tools, self.mcp_servers + other.mcp_servers
        )


def _secret_text(
    value: object, where: str, environ: Mapping[str, str] | None, credential: bool
) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string")
    if credential and not _VAR.search(value):
        raise ValueError(
            f"{where} carries credentials: take them from the environment (${{VAR}}), "
            "never write them in the file"
        )
    if environ is None:
        return value

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(f"{where} uses ${{{name}}}, which is not set")
        return environ[name]

    text = _VAR.sub(fill, value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"{where}: a header value may not hold a line break")
    return text


def _headers(
    table: Mapping[str, Any], where: str, environ: Mapping[str, str] | None
) -> dict[str, str]:
    raw = table.get("headers", {})
    if not isinstance(raw, dict):
        raise ValueError(f"{where}.headers must be a table of strings")
    out = {}
    for name, value in raw.items():
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name):
            raise ValueError(f"{where}.headers: {name!r} is not a header name")
        credential = bool(_CREDENTIAL.search(name))
        out[name] = _secret_text(value, f"{where}.headers.{name}", environ, credential)
    return out


def _number(table: Mapping[str, Any], key: str, default: float, where: str, top: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= top:
        raise ValueError(f"{where}.{key} must be a number above 0 and at most {top:g}")
    return float(value)


def _count(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} must be a whole number, 0 or more")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} must be a string")
    return value.strip()


def _strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}.{key} must be a list of strings")
    return tuple(value)


def _http_tool(table: object, where: str, environ: Mapping[str, str] | None) -> HttpToolSpec:
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table ([[http_tools]])")
    unknown = sorted(set(table) - _HTTP_KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_HTTP_KEYS))})"
        )
    name = _text(table, "name", where)
    if not _TOOL_NAME.match(name) or "__" in name:
        raise ValueError(
            f"{where}.name {name!r} must be 1 to 64 letters, digits, _ or - (no __: that is "
            "an MCP server's namespace)"
        )
    where = f"{where} ({name})"
    description = _text(table, "description", where)
    if not description:
        raise ValueError(f"{where}.description is missing (the model reads it)")
    method = _text(table, "method", where, "GET").upper()
    if method not in METHODS:
        raise ValueError(f"{where}.method must be one of {', '.join(sorted(METHODS))}")
    url = _text(table, "url", where)
    try:
        fields = template_fields(url)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    parameters = table.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise ValueError(f'{where}.parameters must be a JSON schema of an object (type = "object")')
    try:
        check_schema(parameters)
        json.dumps(parameters)  # it goes to the model as JSON
    except SchemaError as exc:
        raise ValueError(f"{where}.{exc}") from None
    except (TypeError, ValueError) as exc:  # a TOML date or time
        raise ValueError(f"{where}.parameters: {exc}") from None
    properties = parameters.get("properties", {})
    missing = [f for f in fields if f not in properties]
    if missing:
        raise ValueError(f"{where}.url uses {{{missing[0]}}}, which parameters does not declare")
    not_required = [f for f in fields if f not in parameters.get("required", [])]
    if not_required:
        raise ValueError(f"{where}.url uses {{{not_required[0]}}}: it must be required")
    max_bytes = _count(table, "max_bytes", where) or DEFAULT_MAX_BYTES
    return HttpToolSpec(
        name=name,
        description=description,
        parameters=parameters,
        url=url,
        method=method,
        headers=_headers(table, where, environ),
        timeout=_number(table, "timeout", 5.0, where, MAX_TIMEOUT),
        result=_text(table, "result", where),
        max_bytes=max_bytes,
        allow_hosts=frozenset(h.lower() for h in _strings(table, "allow_hosts", where)),
        redirect_hosts=frozenset(h.lower() for h in _strings(table, "redirect_hosts", where)),
        filler=_text(table, "filler", where),
        max_calls=_count(table, "max_calls", where),
    )


def _mcp_server(
    name: str, table: object, where: str, environ: Mapping[str, str] | None, base: Path | None
) -> McpServerSpec:
    where = f"{where}.{name}"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table ([mcp_servers.{name}])")
    if not _SERVER_NAME.match(name):
        raise ValueError(f"{where}: a server's name must be 1 to 24 letters, digits or -")
    unknown = sorted(set(table) - _MCP_KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_MCP_KEYS))})"
        )
    command = table.get("command")
    url = _text(table, "url", where)
    if (command is None) == (not url):
        raise ValueError(f"{where}: give either command (stdio) or url (streamable HTTP)")
    tools = _strings(table, "tools", where)
    if not tools:
        raise ValueError(f'{where}.tools is missing: the tools it may offer (["*"] for all)')
    argv: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if command is not None:
        if isinstance(command, str):
            command = [command]
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(c, str) and c for c in command)
        ):
            raise ValueError(f"{where}.command must be a list of strings (the program first)")
        program = command[0]
        if base is not None and "/" in program and not Path(program).is_absolute():
            program = str(base / program)
        argv = (program, *command[1:])
        raw_env = table.get("env", {})
        if not isinstance(raw_env, dict):
            raise ValueError(f"{where}.env must be a table of strings")
        env = {k: _secret_text(v, f"{where}.env.{k}", environ, False) for k, v in raw_env.items()}
    elif not url.startswith(("http://", "https://")):
        raise ValueError(f"{where}.url must be an http:// or https:// URL")
    cwd = _text(table, "cwd", where)
    if cwd and base is not None and not Path(cwd).is_absolute():
        cwd = str(base / cwd)
    return McpServerSpec(
        name=name,
        tools=frozenset(tools),
        command=argv,
        env=tuple(sorted(env.items())),
        cwd=cwd,
        url=url,
        headers=tuple(sorted(_headers(table, where, environ).items())),
        timeout=_number(table, "timeout", 10.0, where, MAX_TIMEOUT),
        filler=_text(table, "filler", where),
        max_calls=_count(table, "max_calls", where),
    )


def parse_declarations(
    data: Mapping[str, Any],
    where: str,
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> Declarations:
    """The ``http_tools`` and ``mcp_servers`` of ``data`` (other keys are the caller's).

    Args:
        data: the tables (a TOML document or a line's table).
        where: names them in errors (``routes.toml line 7: line 'billing'``).
        environ: fills ``${VAR}``; None = the shape is checked only (nothing filled).
        base: relative commands and working directories are relative to it.

    Raises:
        ValueError: what is wrong, and where.
    """
    raw_tools = data.get("http_tools", [])
    if not isinstance(raw_tools, list):
        raise ValueError(f"{where}: http_tools must be [[http_tools]] tables")
    tools = tuple(
        _http_tool(table, f"{where}: http_tools[{i + 1}]", environ)
        for i, table in enumerate(raw_tools)
    )
    names = [tool.name for tool in tools]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: two http_tools are named {twice[0]!r}")
    raw_servers = data.get("mcp_servers", {})
    if not isinstance(raw_servers, dict):
        raise ValueError(f"{where}: mcp_servers must be [mcp_servers.NAME] tables")
    servers = tuple(
        _mcp_server(name, table, f"{where}: mcp_servers", environ, base)
        for name, table in raw_servers.items()
    )
    return Declarations(tools, servers)
