"""The routes file (``--routes``/``SIPGW_ROUTES``): lines and the routes to them, read and checked.

::

    default = "support"           # the line of calls no route matches; absent: refused
    unknown_status = 404          # the refusal's status when there is no default

    [lines.sales]
    agent = "assistant"           # built-in, or package.module:factory; default: --agent
    greeting = "Sales, how can I help?"
    prompt_file = "prompts/sales.txt"
    max_calls = 4
    codecs = ["G722", "PCMU"]     # among SIPGW_CODECS, most preferred first (docs/hd-voice.md)
    inband_dtmf = "on"            # its carrier sends key tones anyway (default: SIPGW_INBAND_DTMF)

    hand_off_to = ["billing"]     # lines its agent may hand a caller to
    (agent/conversation/handoff.py)

    [lines.sales.settings]        # any setting of the line's agent, by its variable
    SIPGW_FILLER_AFTER_MS = 500

    [lines.billing]
    agent = "assistant"
    hand_off_history = "full"     # what it keeps of a call handed to it ("summary": default)

    [[routes]]
    called = "+15550100"          # and/or account, source, caller, verified, attestation
    line = "sales"

:func:`parse_routes_file` reads it into a :class:`RoutesFile` of :class:`LineSpec` s and
:class:`~sipgw.app.lines.match.Route` s, or raises a
:class:`~sipgw.foundation.settings.ConfigMistakes`: every mistake of every table, each
naming the file's line (``routes.toml line 12: route 2: line 'salse' is not a
[lines.NAME] table``). Paths
(prompt file, tools module, caller-context hook, extraction schema) are relative to the
file's directory. What a line's keys become for its agent is
:mod:`sipgw.app.lines.build`'s business.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sipgw.agent.amd.settings import AmdRequest
from sipgw.agent.tools.declared import parse_declarations
from sipgw.agent.variables import check_variables
from sipgw.app.codecs import codec_list
from sipgw.app.lines.match import Network, Route, UserPattern
from sipgw.app.settings import agent_spec, inband_dtmf_mode, peer_names
from sipgw.app.upstream.callrequest import CallDefaults, amd_request, ivr_goal
from sipgw.foundation.settings import ConfigError, ConfigMistakes
from sipgw.foundation.settings.tomlfile import Place, TableMistakes, TomlDocument, read_toml
from sipgw.sip.customheaders import check_custom_headers
from sipgw.sip.verification import ATTESTATIONS, STATUSES
from sipgw.twilio.callprogress import parse_events

__all__ = [
    "AGENT_KEYS",
    "REFUSALS",
    "ROUTES_KEYS",
    "LineSpec",
    "RoutesFile",
    "Written",
    "parse_routes_file",
    "routes_of",
]

AGENT_KEYS = (
    "prompt_file",
    "greeting",
    "voice",
    "keyterms",
    "language",
    "tools",
    "transfer_target",
    "caller_context",
    "twiml_url",  # the twiml agent's webhook (docs/twilio-apps.md)
    "stream_url",  # the stream agent's WebSocket
)
"""A line's keys that set a setting of its agent (:mod:`sipgw.app.lines.build` maps them)."""
_PATH_KEYS = frozenset({"prompt_file", "tools", "caller_context"})
_LINE_KEYS = frozenset(
    {
        *AGENT_KEYS,
        "agent",
        "settings",
        "recording",
        "codecs",
        "inband_dtmf",
        "max_calls",
        "tls_peer_names",
        "webhook_url",
        "webhook_secret",
        "summary",
        "extract_schema",
        "variables",
        "headers",
        "caller_id",
        "account",
        "amd",
        "amd_message",
        "ivr_goal",
        "hand_off_to",
        "hand_off_history",
        "http_tools",
        "mcp_servers",
        "status_callback",
        "status_callback_events",
    }
)
_ROUTE_KEYS = frozenset(
    {"line", "called", "account", "source", "caller", "verified", "attestation"}
)
ROUTES_KEYS = frozenset({"default", "unknown_status", "lines", "routes"})
"""The top-level keys of a routes file (and of the settings file, beside its sections)."""
_TOP_KEYS = ROUTES_KEYS
_NO_FIELDS: dict[str, Any] = {}
_NONE: tuple[str, ...] = ()
_V = TypeVar("_V")
REFUSALS = (403, 404, 480, 486, 503, 603)
"""Statuses a call no route matches may be refused with (``unknown_status``)."""
MAX_SCHEMA_BYTES = 64 * 1024
"""Largest extraction schema file (it goes into every summary request)."""


@dataclass(frozen=True, slots=True)
class Written:
    """A value as the file gave it, and where (``routes.toml line 9``)."""

    value: str | int | float | bool
    where: str


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One ``[lines.NAME]`` table, checked but not yet built into an agent."""

    name: str
    where: str
    """The table, for messages: ``routes.toml line 7: line 'sales'``."""
    agent: str = ""
    """The agent's name or ``module:factory``; "" = the gateway's ``--agent``."""
    keys: Mapping[str, Written] = field(default_factory=dict)
    """Its :data:`AGENT_KEYS` that are set (paths already made absolute)."""
    settings: Mapping[str, Written] = field(default_factory=dict)
    """``[lines.NAME.settings]``: variable -> value."""
    recording: bool | None = None
    """Record its calls (needs ``SIPGW_RECORD_DIR``); None = as the gateway does."""
    codecs: tuple[str, ...] | None = None
    """Its calls' codecs, most preferred first, among ``SIPGW_CODECS`` (docs/hd-voice.md);
    None = its account's, else the gateway's."""
    inband_dtmf: str | None = None
    """When its calls listen for key presses as tones (``auto``, ``on``, ``off``:
    ``SIPGW_INBAND_DTMF``); None = its account's, else the gateway's."""
    max_calls: int = 0
    """Calls up at once on this line; 0 = no limit of its own."""
    tls_peer_names: tuple[str, ...] = ()
    """It takes calls only over TLS from a peer whose certificate (required by
    ``SIPGW_TLS_PEER_CA``) names one of these; () = from any peer."""
    webhook_url: str | None = None
    """Where its webhooks go; None = the gateway's ``SIPGW_WEBHOOK_URL``, "" = nowhere."""
    webhook_secret: str | None = field(default=None, repr=False)
    """Their signing secret; None = the gateway's."""
    summary: bool | None = None
    """A post-call summary; None = as ``SIPGW_SUMMARY`` says."""
    extract_schema: Mapping[str, Any] | None = None
    """The JSON schema of the structured extraction the summary also asks for."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """``[lines.NAME.variables]``: every call's variables on this line, both ways (a
    placed call's own win, name by name)."""
    headers: tuple[tuple[str, str], ...] = ()
    """``[lines.NAME.headers]``: ``X-`` headers of the calls placed on it."""
    caller_id: str | None = None
    """The caller id of the calls placed on it; None = its account's."""
    account: str | None = None
    """The account its calls are placed through; None = the gateway's."""
    amd: AmdRequest | None = None
    """``amd`` and ``amd_message``: answering-machine detection of the calls placed on it
    (a campaign's, docs/amd.md); None = ``SIPGW_AMD``."""
    ivr_goal: str | None = None
    """What the calls placed on it reach through a phone menu before its agent talks, unless
    a call says otherwise (docs/ivr.md); None = none."""
    hand_off_to: tuple[str, ...] = ()
    """The lines its agent may hand a caller to inside the call (agent/conversation/handoff.py)."""
    hand_off_history: str = "summary"
    """What it keeps of the conversation when a call is handed to it: ``summary`` or
    ``full``."""
    declared_tools: Written | None = None
    """``[[lines.NAME.http_tools]]`` and ``[lines.NAME.mcp_servers.NAME]``, checked, as the
    JSON of ``SIPGW_DECLARED_TOOLS`` (relative commands made absolute); None = none."""
    status_callback: str = ""
    """Twilio's status callbacks of every call on it, both ways (docs/lines.md): the URL;
    "" = none."""
    status_callback_events: frozenset[str] = frozenset({"completed"})
    """The events it gets (``initiated``, ``ringing``, ``answered``, ``completed``)."""
    in_settings_file: bool = False
    """Written in the settings file (``sipgw.toml``), which holds no secret: its
    ``[lines.NAME.settings]`` may not set one."""

    @property
    def defaults(self) -> CallDefaults:
        """What a call placed on this line takes unless the call says otherwise."""
        return CallDefaults(
            self.caller_id,
            self.variables,
            self.headers,
            None,
            self.account,
            self.amd,
            self.ivr_goal,
        )


@dataclass(frozen=True, slots=True)
class RoutesFile:
    """A routes file as read: its lines, its routes in order, what unmatched calls get."""

    path: Path
    lines: Mapping[str, LineSpec]
    routes: tuple[Route, ...]
    default: str | None = None
    """The line of calls no route matches; None = they are refused."""
    unknown_status: int = 404
    """The status of that refusal."""


def _kind(value: object) -> str:
    return {bool: "true or false", int: "a whole number", str: "a string (in quotes)"}.get(
        type(value), type(value).__name__
    )


def _typed(value: object, wanted: type, place: Place, key: str) -> Any:
    if type(value) is not wanted:
        raise ConfigError(f"{place(key)}: {key} must be {_kind(wanted())}")
    return value


def _strings(value: object, place: Place, key: str) -> tuple[str, ...]:
    """A string or a list of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{place(key)}: {key} must be a string or a list of strings")
    return tuple(str(v).strip() for v in items)


def _relative(path: str, base: Path) -> str:
    """``path`` resolved against ``base`` when it is relative."""
    candidate = Path(path).expanduser()
    return str(candidate if candidate.is_absolute() else base / candidate)


def _path_value(key: str, value: str, base: Path) -> str:
    """Make the file part of a path-like key absolute (module names stay as they are)."""
    if key == "prompt_file":
        return _relative(value, base) if value else value
    module, sep, function = value.rpartition(":") if key == "caller_context" else (value, "", "")
    if module.endswith(".py") or "/" in module:
        module = _relative(module, base)
    return f"{module}{sep}{function}"


def _schema(value: object, place: Place, base: Path) -> dict[str, Any]:
    path = Path(_relative(_typed(value, str, place, "extract_schema"), base))
    where = place("extract_schema")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: extract_schema {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SCHEMA_BYTES:
        raise ConfigError(f"{where}: extract_schema {path}: over {MAX_SCHEMA_BYTES} bytes")
    try:
        schema = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: extract_schema {path}: not JSON ({exc})") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigError(
            f'{where}: extract_schema {path}: must be a JSON schema of an object ("type": "object")'
        )
    return schema


def _line(
    name: str,
    table: Mapping[str, Any],
    document: TomlDocument,
    base: Path,
    settings_file: bool,
    names: Collection[str],
) -> LineSpec:
    """One ``[lines.NAME]`` table, read and checked (``names``: the file's lines).

    Raises:
        ConfigMistakes: every mistake of the table, each on its key's line.
    """
    place = document.place(document.table_line("lines", name), f"line {name!r}")
    found = TableMistakes(document)
    found.unknown(place, table, _LINE_KEYS)
    keys: dict[str, Written] = {}
    for key in AGENT_KEYS:
        if key in table:
            written = found.keep(functools.partial(_agent_key, key, table[key], place, base), None)
            keys.update({key: written} if written is not None else {})

    def typed(key: str, wanted: type, default: Any = None) -> Any:
        """``table[key]`` if it is of the ``wanted`` type (``default`` when absent)."""
        if key not in table:
            return default
        return found.keep(lambda: _typed(table[key], wanted, place, key), default)

    status_url, status_events = found.keep(
        lambda: _status_callback(table, place), ("", frozenset({"completed"}))
    )
    account, hand_offs = (
        typed("account", str),
        found.keep(lambda: _hand_off(name, table, place, names), _NO_FIELDS),
    )
    spec = LineSpec(
        name=name,
        where=place(),
        status_callback=status_url,
        status_callback_events=status_events,
        agent=found.keep(lambda: _agent(table, place), ""),
        keys=keys,
        settings=found.keep(lambda: _line_settings(name, table, document), {}),
        recording=typed("recording", bool),
        codecs=found.keep(lambda: _codecs(table, place), None),
        inband_dtmf=found.keep(lambda: inband_dtmf_mode(table, place), None),
        max_calls=found.keep(lambda: _max_calls(table, place), 0),
        tls_peer_names=found.keep(lambda: _tls_peer_names(table, place), ()),
        webhook_url=found.keep(lambda: _webhook_url(table, place), None),
        webhook_secret=typed("webhook_secret", str),
        summary=typed("summary", bool),
        extract_schema=(
            found.keep(lambda: _schema(table["extract_schema"], place, base), None)
            if "extract_schema" in table
            else None
        ),
        variables=found.keep(lambda: _variables(table, place), {}),
        headers=found.keep(lambda: _headers(table, place), ()),
        caller_id=typed("caller_id", str),
        account=None if account is None else account.strip(),
        amd=found.keep(lambda: _amd(table, place), None),
        ivr_goal=found.keep(lambda: _goal(table, place), None),
        **hand_offs,
        declared_tools=found.keep(
            lambda: _declared_tools(table, _tools_place(name, table, document, place), base), None
        ),
        in_settings_file=settings_file,
    )
    found.raise_any()
    return spec


def _agent(table: Mapping[str, Any], place: Place) -> str:
    """``agent``: a built-in agent's name or ``package.module:factory`` ("" = ``--agent``)."""
    agent: str = _typed(table.get("agent", ""), str, place, "agent").strip()
    if agent:
        try:
            agent_spec(agent)
        except ValueError as exc:
            raise ConfigError(f"{place('agent')}: agent {agent!r} {exc}") from None
    return agent


def _agent_key(key: str, value: object, place: Place, base: Path) -> Written:
    """One of :data:`AGENT_KEYS` (a path made absolute)."""
    if key == "keyterms":
        text = ",".join(_strings(value, place, key))
    else:
        text = _typed(value, str, place, key).strip()
        if key in _PATH_KEYS and text:
            text = _path_value(key, text, base)
    return Written(text, place.line(key))


def _line_settings(
    name: str, table: Mapping[str, Any], document: TomlDocument
) -> dict[str, Written]:
    """``[lines.NAME.settings]``: any setting of the line's agent, by its variable.

    Raises:
        ConfigMistakes: each value that is no string, number or true/false, on its line.
    """
    raw = table.get("settings", {})
    if not isinstance(raw, dict):
        place = document.place(document.table_line("lines", name), f"line {name!r}")
        raise ConfigError(
            f"{place('settings')}: settings must be a table ([lines.{name}.settings])"
        )
    place = document.place(document.table_line("lines", name, "settings"), "")
    wrong = [
        f"{place(variable)}: {variable} must be a string, number or true/false"
        for variable, value in raw.items()
        if not isinstance(value, str | int | float | bool)
    ]
    if wrong:
        raise ConfigMistakes(wrong)
    return {variable: Written(value, place.line(variable)) for variable, value in raw.items()}


def _max_calls(table: Mapping[str, Any], place: Place) -> int:
    max_calls: int = _typed(table.get("max_calls", 0), int, place, "max_calls")
    if max_calls < 0:
        raise ConfigError(f"{place('max_calls')}: max_calls must be 0 (no limit) or more")
    return max_calls


def _webhook_url(table: Mapping[str, Any], place: Place) -> str | None:
    """``webhook_url``: an http(s) URL, "" = none; None when absent."""
    url = table.get("webhook_url")
    if url is None:
        return None
    url = _typed(url, str, place, "webhook_url").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{place('webhook_url')}: webhook_url must be an http(s):// URL")
    return str(url)


def _variables(table: Mapping[str, Any], place: Place) -> dict[str, str]:
    try:
        return check_variables(_strings_table(table, "variables", place))
    except ValueError as exc:
        raise ConfigError(f"{place('variables')}: variables: {exc}") from None


def _headers(table: Mapping[str, Any], place: Place) -> tuple[tuple[str, str], ...]:
    try:
        return check_custom_headers(_strings_table(table, "headers", place))
    except ValueError as exc:
        raise ConfigError(f"{place('headers')}: headers: {exc}") from None


def _amd(table: Mapping[str, Any], place: Place) -> AmdRequest | None:
    try:
        return amd_request(table)
    except ValueError as exc:
        raise ConfigError(f"{place('amd')}: {exc}") from None


def _goal(table: Mapping[str, Any], place: Place) -> str | None:
    try:
        return ivr_goal(table) or None
    except ValueError as exc:
        raise ConfigError(f"{place('ivr_goal')}: {exc}") from None


def _status_callback(table: Mapping[str, Any], place: Place) -> tuple[str, frozenset[str]]:
    """``status_callback`` (an http(s) URL) and ``status_callback_events`` (a list, or
    names separated by blanks; ``completed`` alone when not given, as on Twilio)."""
    url = _typed(table.get("status_callback", ""), str, place, "status_callback").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{place('status_callback')}: status_callback must be an http(s):// URL")
    key = "status_callback_events"
    names = _strings(table[key], place, key) if key in table else ()
    if names and not url:
        raise ConfigError(f"{place(key)}: {key} needs status_callback")
    try:
        return url, parse_events(names)
    except ValueError as exc:
        raise ConfigError(f"{place(key)}: {exc}") from None


def _tls_peer_names(table: Mapping[str, Any], place: Place) -> tuple[str, ...]:
    """``tls_peer_names``: a list of host names, e.g. ``["sbc1.example.com"]``."""
    value = table.get("tls_peer_names", [])
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ConfigError(
            f"{place('tls_peer_names')}: tls_peer_names must be a list of host names, e.g. "
            '["sbc1.example.com"]'
        )
    try:
        return peer_names(",".join(value))
    except ValueError as exc:
        raise ConfigError(f"{place('tls_peer_names')}: tls_peer_names: {exc}") from None


def _codecs(table: Mapping[str, Any], place: Place) -> tuple[str, ...] | None:
    """``codecs``: a list of codec names we carry, e.g. ``["G722", "PCMU"]``."""
    if "codecs" not in table:
        return None
    value = table["codecs"]
    try:
        return codec_list(value if isinstance(value, list) else [])
    except ValueError as exc:
        raise ConfigError(
            f'{place("codecs")}: codecs (a list, e.g. ["G722", "PCMU"]) {exc}'
        ) from None


def _hand_off(
    name: str, table: Mapping[str, Any], place: Place, names: Collection[str]
) -> dict[str, Any]:
    """``hand_off_to`` (other lines of the file: a name or a list) and ``hand_off_history``.

    Raises:
        ConfigMistakes: each mistake, on its key's line.
    """
    found: dict[str, Any] = {}
    mistakes = TableMistakes(place.document)
    if "hand_off_to" in table:
        targets = mistakes.keep(lambda: _strings(table["hand_off_to"], place, "hand_off_to"), _NONE)
        for target in targets:
            if target == name or target not in names:
                why = "is the line itself" if target == name else "is not a [lines.NAME] table"
                mistakes.messages.append(f"{place('hand_off_to')}: hand_off_to {target!r} {why}")
        found["hand_off_to"] = tuple(dict.fromkeys(targets))
    if "hand_off_history" in table:
        history = mistakes.keep(lambda: _history(table["hand_off_history"], place), "")
        found["hand_off_history"] = history
    mistakes.raise_any()
    return found


def _history(value: object, place: Place) -> str:
    history = _typed(value, str, place, "hand_off_history").strip()
    if history not in ("summary", "full"):
        raise ConfigError(
            f'{place("hand_off_history")}: hand_off_history must be "summary" or "full", '
            f"not {history!r}"
        )
    return str(history)


def _tools_place(
    name: str, table: Mapping[str, Any], document: TomlDocument, place: Place
) -> Place:
    """Where the line's tools are written: its first ``[[lines.NAME.http_tools]]`` or
    ``[lines.NAME.mcp_servers.X]`` header (else the line's own table, for inline ones)."""
    header = document.array_line(f"lines.{name}.http_tools", 0)
    servers = table.get("mcp_servers")
    for server in servers if header is None and isinstance(servers, dict) else ():
        header = document.table_line("lines", name, "mcp_servers", server)
        break
    return place if header is None else document.place(header, f"line {name!r}")


def _declared_tools(table: Mapping[str, Any], place: Place, base: Path) -> Written | None:
    """The line's HTTP tools and MCP servers, checked (secrets are filled in when its
    agent is built), as JSON for ``SIPGW_DECLARED_TOOLS``."""
    found = {key: table[key] for key in ("http_tools", "mcp_servers") if key in table}
    if not found:
        return None
    key = next(iter(found))
    try:
        parse_declarations(found, place(key), None, base)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for server in found.get("mcp_servers", {}).values():
        command = server.get("command")
        command = [command] if isinstance(command, str) else command
        if command and "/" in command[0] and not Path(command[0]).is_absolute():
            server["command"] = [_relative(command[0], base), *command[1:]]
        if server.get("cwd"):
            server["cwd"] = _relative(server["cwd"], base)
    try:
        text = json.dumps(found)
    except (TypeError, ValueError) as exc:  # a TOML date or time: no JSON schema has one
        raise ConfigError(f"{place(key)}: {key}: {exc}") from None
    return Written(text, place.line(key))


def _strings_table(table: Mapping[str, Any], key: str, place: Place) -> dict[str, str]:
    """A ``[lines.NAME.KEY]`` table of strings ({} when absent)."""
    found = table.get(key, {})
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise ConfigError(f"{place(key)}: {key} must be a table of strings ([lines.NAME.{key}])")
    return dict(found)


def _networks(values: tuple[str, ...], place: Place) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ConfigError(
                f"{place('source')}: source {value!r} is not an IP address or network "
                "(e.g. 203.0.113.10 or 203.0.113.0/24)"
            ) from None
    return tuple(networks)


def _patterns(values: tuple[str, ...], place: Place, key: str) -> tuple[UserPattern, ...]:
    patterns = []
    for value in values:
        try:
            patterns.append(UserPattern.parse(value))
        except ValueError as exc:
            raise ConfigError(f"{place(key)}: {key} {value!r}: {exc}") from None
    return tuple(patterns)


def _choices(
    values: tuple[str, ...], known: Sequence[str], place: Place, key: str
) -> tuple[str, ...]:
    for value in values:
        if value not in known:
            raise ConfigError(f"{place(key)}: {key} {value!r} is not one of {', '.join(known)}")
    return values


def _route(index: int, table: object, document: TomlDocument, lines: Mapping[str, Any]) -> Route:
    """One ``[[routes]]`` table, read and checked.

    Raises:
        ConfigMistakes: every mistake of the table, each on its key's line.
    """
    place = document.place(document.array_line("routes", index), f"route {index + 1}")
    if not isinstance(table, dict):
        raise ConfigError(f"{place()}: must be a table ([[routes]])")
    found = TableMistakes(document)
    found.unknown(place, table, _ROUTE_KEYS)
    line = found.keep(lambda: _route_line(table, place, lines), "")

    def values(key: str) -> tuple[str, ...]:
        if key not in table:
            return ()
        return found.keep(lambda: _strings(table[key], place, key), ())

    def kept(check: Callable[[], tuple[_V, ...]]) -> tuple[_V, ...]:
        return found.keep(check, ())

    route = Route(
        line=line,
        called=kept(lambda: _patterns(values("called"), place, "called")),
        accounts=values("account"),
        sources=kept(lambda: _networks(values("source"), place)),
        callers=kept(lambda: _patterns(values("caller"), place, "caller")),
        verified=kept(
            lambda: _choices(
                tuple(v.lower() for v in values("verified")), STATUSES, place, "verified"
            )
        ),
        attestations=kept(
            lambda: _choices(
                tuple(v.upper() for v in values("attestation")), ATTESTATIONS, place, "attestation"
            )
        ),
        where=place.line(),
    )
    found.raise_any()
    return route


def _route_line(table: Mapping[str, Any], place: Place, lines: Mapping[str, Any]) -> str:
    """The route's ``line``: one of the file's ``[lines.NAME]``."""
    if "line" not in table:
        raise ConfigError(f"{place()}: line is missing (the [lines.NAME] this route gives)")
    line: str = _typed(table["line"], str, place, "line")
    if line not in lines:
        raise ConfigError(f"{place('line')}: line {line!r} is not a [lines.NAME] table")
    return line


def parse_routes_file(path: Path, *, settings_file: bool = False) -> RoutesFile:
    """Read and check a routes file (see the module docstring), or the lines and routes of
    a settings file (``sipgw.toml``).

    Args:
        path: the file.
        settings_file: ``path`` is a settings file: its other top-level keys (the
            sections' tables, the tools) are not the routes' business.

    Raises:
        ConfigError: it cannot be read or parsed, or something in it is wrong; the
            message names the file and the line.
    """
    return routes_of(read_toml(path), path, settings_file=settings_file)


def routes_of(document: TomlDocument, path: Path, *, settings_file: bool = False) -> RoutesFile:
    """Check the lines and routes of a parsed file (see :func:`parse_routes_file`).

    Every line and every route is checked, and every mistake of each kept (a table's in the
    file's order), so that one run names them all (``sipgw config check``).

    Raises:
        ConfigMistakes: something in it is wrong; each message names the file and the line.
    """
    data, label = document.data, document.label
    top = document.place(None)
    found = TableMistakes(document)
    if not settings_file:
        found.unknown(top, data, _TOP_KEYS)
    tables = data.get("lines", {})
    if not isinstance(tables, dict) or not tables:
        raise ConfigMistakes([*found.messages, f"{label}: no [lines.NAME] table"])
    base = path.resolve().parent
    lines: dict[str, LineSpec] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            where = document.place(document.key_line(document.table_line("lines"), name))
            found.messages.append(f"{where()}: line {name!r} must be a table ([lines.{name}])")
            continue
        read = functools.partial(_line, name, table, document, base, settings_file, tables)
        spec = found.keep(read, None)
        lines.update({name: spec} if spec is not None else {})
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        found.messages.append(f"{top('routes')}: routes must be [[routes]] tables")
        raw_routes = []
    routes: list[Route] = []
    for index, table in enumerate(raw_routes):
        # a route is checked against the lines' names: a line's own mistake is named already
        route = found.keep(functools.partial(_route, index, table, document, tables), None)
        routes.extend([route] if route is not None else [])
    default = found.keep(lambda: _default(data, top, tables), None)
    status = found.keep(lambda: _unknown_status(data, top), 404)
    if not raw_routes and data.get("default") is None:
        found.messages.append(f"{label}: no [[routes]] and no default: every call would be refused")
    if found.messages:
        raise ConfigMistakes(found.messages)
    return RoutesFile(path, lines, tuple(routes), default, status)


def _default(data: Mapping[str, Any], top: Place, lines: Mapping[str, Any]) -> str | None:
    """``default``: the line of calls no route matches; None = they are refused."""
    if "default" not in data:
        return None
    default: str = _typed(data["default"], str, top, "default")
    if default not in lines:
        raise ConfigError(f"{top('default')}: default {default!r} is not a [lines.NAME] table")
    return default


def _unknown_status(data: Mapping[str, Any], top: Place) -> int:
    """``unknown_status``: the refusal's status when there is no default (404)."""
    status: int = _typed(data.get("unknown_status", 404), int, top, "unknown_status")
    if status not in REFUSALS:
        allowed = ", ".join(map(str, REFUSALS))
        raise ConfigError(f"{top('unknown_status')}: unknown_status must be one of {allowed}")
    return status
