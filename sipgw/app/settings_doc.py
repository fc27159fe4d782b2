"""``docs/configuration.md``, ``.env.example`` and ``sipgw.example.toml``, written from the
settings sections.

    python -m sipgw.app.settings_doc configuration > docs/configuration.md
    python -m sipgw.app.settings_doc env-example > .env.example
    python -m sipgw.app.settings_doc example-toml > sipgw.example.toml

Tests compare the three files with what this writes, so they cannot drift from the
code.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from sipgw.app.configfile.tomlwrite import toml_key, toml_value
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import SectionInfo, Setting

__all__ = [
    "FIRST_CONFIG",
    "FIRST_DEPLOYMENT",
    "FIRST_ENV",
    "configuration_md",
    "env_example",
    "example_toml",
    "main",
    "toml_default",
]

_HEADER = """\
# Configuration

<!-- Written by `python -m sipgw.app.settings_doc configuration > docs/configuration.md`
from the settings sections (sipgw/app/sections.py lists them);
tests/sipgw/app/test_settings_doc.py checks it is current. -->

A gateway is configured by one settings file, `sipgw.toml`, and the secrets in `.env` (or the
environment). The file has a table for each section below (its name is in the section's
heading), the lines and their routes, and the tools every line's agent gets.
`sipgw.example.toml` lists every setting with its default, `.env.example` every variable.

## A first deployment

`sipgw.toml`, in the directory `sipgw serve` starts in:

```toml
{FIRST_CONFIG}```

`.env`, beside it (the three vendors' keys; secrets are never written in `sipgw.toml`):

```sh
{FIRST_ENV}```

`sipgw config check` reads both and names every mistake; `sipgw serve` starts with them. A
trunk that registers with a password adds `SIPGW_AUTH_PASSWORD` to `.env`, an admin server
(`[admin] port`) its `SIPGW_ADMIN_TOKEN`.

## The settings file

Which file: `--config FILE`, else the variable `SIPGW_CONFIG`, else `./sipgw.toml` when it
exists. Without one, the environment and the flags say everything, as before.

- A table per section, named as in the headings below (`[network]`, `[assistant]`); a key
  per setting, named as in the tables' *key* column (`sip_port`). A value is a string, a
  number, `true`/`false`, or a list for a setting that takes several
  (`transports = ["udp", "tcp"]`); each is checked as its variable's text would be. Paths are
  relative to the working directory, as in the environment.
- Secrets (API keys, passwords, tokens: the rows whose key is "—") are refused in the file,
  a line's `[lines.NAME.settings]` included, with the file, the line and the key:
  `sipgw.toml line 11: admin.token is a secret: set SIPGW_ADMIN_TOKEN in the environment or
  in .env, never in this file`.
- The lines and routes: `[lines.NAME]` tables and `[[routes]]`, and `default` and
  `unknown_status` at the top of the file (before any table), as [lines.md](lines.md)
  describes them; their paths are relative to the file's directory. SIGHUP and
  `POST /api/reload` read the lines and routes again (the other settings take effect at a
  restart).
- The tools every line's agent gets: `[[http_tools]]` and `[mcp_servers.NAME]`, as in
  [assistant.md](assistant.md) ("HTTP tools and MCP servers"); a header's secret as
  `${VAR}`, read from the environment.

A routes file (`--routes`, `SIPGW_ROUTES`) or tools file (`SIPGW_TOOLS_FILE`) of its own is
still read, with a warning at start; `sipgw config convert` writes their tables for the
settings file:

```
sipgw config convert --routes routes.toml --tools tools.toml --output sipgw.toml
```

(without `--output` it prints them; their relative paths are rewritten for the new file's
directory, or the working directory when printed).

## Where a value comes from

Highest first:

1. the flag: `sipgw serve --sip-port 5070`;
2. the environment: `SIPGW_SIP_PORT=5070 sipgw serve`;
3. the `.env` file: `--env-file PATH`, default `./.env` when it exists. `sipgw serve` loads it
   into the process environment, never overriding a variable that is already set;
4. the settings file: `[network]` `sip_port = 5070`;
5. the default in the tables below.

`sipgw config show` prints every setting in effect with its source (`default`,
`sipgw.toml line 12`, `environment SIPGW_SIP_PORT (.env line 3)`, `flag --sip-port`),
secrets masked; `--changed` leaves out those at their default. It takes `--config`,
`--env-file` and `--agent` as `serve` does.

## Checking the settings

`sipgw config check` reads everything `sipgw serve` would and prints every mistake on a line
of its own, naming the file, the line and the key, then exits 1 (0 when there is none):

```
sipgw.toml line 9: network.sip_prot: unknown key (did you mean sip_port?) (the settings ...)
sipgw.toml line 14: calls.max_calls: must be a number, not true or false
sipgw.toml line 15: calls.srtp = 'maybe': must be one of tls-only, tls-required, allow-insecure, off
sipgw.toml line 31: line 'sales': max_calls must be a whole number
```

It checks the settings file's tables, every variable and flag given, each section's rules
between its values, the lines and routes (every mistake of each line and each route, the
name of a line's agent included: one wrong key does not hide the next), the tools' shape,
and then, when all of that is right, builds what `sipgw serve` builds before it listens
(the agents and their required keys, each line's agent; it connects to the shared database
when `SIPGW_DATABASE_URL` names one). `sipgw serve` refuses to start on the same mistakes,
naming them the same way.

Values are checked when they are read: the gateway's at start, an agent's (and its vendors')
at start when that agent is chosen, the settings file's all at once. A value that does not
parse stops `sipgw serve` with a message naming what you wrote and what is allowed:

```
sipgw: error: --sip-port abc: must be a port number 0..65535
sipgw: error: SIPGW_RTP_PORTS=20000: must be LO-HI with 1024 <= LO < HI <= 65535, e.g. 10000-20000
sipgw: error: .env line 3: SIPGW_MAX_CALLS=many: must be a whole number, or 0 for no limit
sipgw: error: accounts.toml line 7: account 'office': expires must be at least 1 second
```

Values that do not go together name each setting as you gave it: `sipgw: error:
--jitter-min-ms 400 must not exceed --jitter-max-ms/SIPGW_JITTER_MAX_MS (default 300)`.
So does a value that turns out unusable once read, with the system's reason:

```
sipgw: error: --record-dir: cannot create /proc/nonexistent/x: No such file or directory
sipgw: error: SIPGW_INBOUND_USERS_FILE (.env line 2): cannot read users: No such file or directory
```

Missing keys are all named at once; a secret's value is never shown.

## Exit statuses

| status | when |
|---|---|
| 0 | `sipgw serve` stopped on SIGINT or SIGTERM: calls got a BYE, unanswered ones a 503 |
| 1 | the SIP port cannot be bound: `sipgw: error: cannot listen on udp:ADDR:PORT: ...` |
| 2 | a bad command line or setting, a missing required key, an unreadable prompt file, \
a tools module or an agent plug-in that fails to load; the message names it |
| 130 | interrupted (Ctrl-C) before the gateway was listening |

`python -m sipgw.app.healthcheck` (the container's health check) exits 0 when the gateway
answers an OPTIONS request with 200, and 1 otherwise.

## Adding a setting

A setting is one typed field of a section: a frozen dataclass beside the code it configures,
its fields declared with `setting(...)` (foundation/settings/declare.py). The flag, the
variable, `--help`, the error messages, this page and `.env.example` all come from that
field, and so do its key in `sipgw.toml` and `sipgw.example.toml`. Say RTP packets should
carry a DSCP mark for the network's quality of service:

```python
# sipgw/app/settings.py, in CallSection
    rtp_dscp: int = setting(
        0, env="SIPGW_RTP_DSCP", flag="--rtp-dscp", metavar="N", parse=int_range(0, 63),
        help="DSCP mark of the RTP packets we send (46 = EF, expedited forwarding); 0 = none.",
    )
```

mypy checks that the default, the parser (`sipgw.foundation.settings.parsers`, or your own function
from text to value that raises `ValueError("must be ...")`) and the annotation agree; the
gateway reads `config.rtp_dscp` (`GatewayConfig` inherits `CallSection`'s fields). Rules
between values of one section go in its `check()`, which raises
`InvalidSettings("{jitter_min_ms} must not exceed {jitter_max_ms}")`: the loader names each
field as the user gave it. A new section is a new `@section(...)` dataclass, listed in
`sipgw/app/sections.py` where it should appear. An agent's sections live beside it: a knob of
the assistant is a field of its plain dataclass (`agent/conversation/settings.py`) and a field of
`AssistantSection` (`agent/conversation/sections.py`), joined by one line of
`assistant_settings()` (`agent/conversation/sections.py`), which mypy checks like the rest; its
agents never read settings themselves. Then regenerate this page,
`.env.example` and `sipgw.example.toml`:

```
python -m sipgw.app.settings_doc configuration > docs/configuration.md
python -m sipgw.app.settings_doc env-example > .env.example
python -m sipgw.app.settings_doc example-toml > sipgw.example.toml
```

`tests/sipgw/app/test_sections.py` checks every setting: a unique variable and flag, help
that ends with a period, a default text that parses to the default, and a parser that says
what is allowed instead of raising Python's own message. An agent of your own declares its
settings the same way, outside sipgw ([writing-an-agent.md](writing-an-agent.md)).

## Configuring your own tools

A tools module (`SIPGW_TOOLS_MODULE`) reads its own settings from the environment,
`os.environ`: since `sipgw serve` loads `.env` into the environment before it imports the
module, a variable can live in either place, with the same precedence as above. Choose names
that are not sipgw's (a prefix of your own, e.g. `MYSHOP_`). A handler also gets the
assistant's resolved settings, typed and read-only, as `ctx.settings`
(`sipgw.agent.conversation.settings.AssistantSettings`): for instance
`ctx.settings.builtin_tools.transfer_target` or `ctx.settings.greeting`. The environment
itself is not passed to tools.

```python
import os

API_URL = os.environ.get("MYSHOP_API_URL", "http://127.0.0.1:8080")
```
"""


FIRST_CONFIG = """\
[agent]
agent = "assistant"

[network]
public_ip = "203.0.113.10"        # the address callers reach this machine at
sip_port = 5060
rtp_ports = "10000-20000"

[accounts]
register = "sip:1001@pbx.example.com"

[access]
allow_from = ["192.168.1.0/24"]   # who may call (each answered call costs money)

[assistant]
greeting = "Thanks for calling Acme. How can I help?"

[[http_tools]]
name = "order_status"
description = "The status of an order, by its number."
method = "GET"
url = "https://shop.example.com/orders/{number}"
[http_tools.parameters]
type = "object"
required = ["number"]
properties = { number = { type = "string" } }
"""
"""The settings file of a first deployment (docs/configuration.md; a test checks it)."""

FIRST_ENV = """\
ASSEMBLYAI_API_KEY=...
OPENAI_API_KEY=...
ELEVENLABS_API_KEY=...
"""
"""Its ``.env``: the three vendors' keys."""

FIRST_DEPLOYMENT = (
    "SIPGW_AGENT",
    "SIPGW_PUBLIC_IP",
    "SIPGW_SIP_PORT",
    "SIPGW_RTP_PORTS",
    "SIPGW_REGISTER",
    "SIPGW_AUTH_USERNAME",
    "SIPGW_AUTH_PASSWORD",
    "SIPGW_ALLOW_FROM",
    "ASSEMBLYAI_API_KEY",
    "OPENAI_API_KEY",
    "ELEVENLABS_API_KEY",
    "SIPGW_ADMIN_PORT",
    "SIPGW_ADMIN_TOKEN",
)
"""What a first deployment sets, at the top of ``.env.example``: the agent, the public
address and ports, the trunk's account, who may call, the three vendors' keys, the admin
server's port and token (README's Quickstart and docs/registration.md)."""


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell: a ``|`` (even in a code span, as in ``on|off``)
    would end the cell, so it is escaped (GFM tables)."""
    return text.replace("|", "\\|")


def _default(setting: Setting[Any]) -> str:
    if setting.default_doc is not None:
        return setting.default_doc
    return f"`{setting.default_text}`" if setting.default_text else "—"


def _section_md(section: SectionInfo) -> list[str]:
    lines = ["", f"## {section.title}", "", f"`[{section.name}]`: {section.intro}", ""]
    flags = section.flagged
    if flags:
        lines += ["| key | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    else:
        lines += ["| key | environment | default | meaning |", "|---|---|---|---|"]
    for name, s in section.settings:
        meaning = _cell(s.help)
        key = "—" if s.secret else f"`{name}`"
        cells = [key, f"`{s.env}`", _cell(_default(s)), meaning]
        if flags:
            flag = _cell(f"`{s.flag} {s.metavar}`") if s.flag and s.metavar else "—"
            cells.insert(1, flag)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def configuration_md() -> str:
    """The text of ``docs/configuration.md``."""
    header = _HEADER.replace("{FIRST_CONFIG}", FIRST_CONFIG).replace("{FIRST_ENV}", FIRST_ENV)
    lines = [header.rstrip("\n")]
    for section in SECTIONS:
        lines += _section_md(section)
    return "\n".join(lines) + "\n"


def _by_variable() -> dict[str, Setting[Any]]:
    return {s.env: s for section in SECTIONS for _, s in section.settings}


def env_example() -> str:
    """The text of ``.env.example``: what a first deployment sets, then every variable by
    section, with its default, commented out.

    Required keys are left uncommented and empty, ready to fill in.
    """
    lines = [
        "# sipgw settings. Copy to .env and edit; the environment overrides this file, and",
        "# command-line flags override both. Commented lines show the defaults. Every setting",
        "# is explained in docs/configuration.md. (Written by",
        "# `python -m sipgw.app.settings_doc env-example > .env.example`.)",
        "#",
        "# With a settings file (sipgw.toml, see sipgw.example.toml) this file needs only the",
        "# secrets: the settings file refuses them.",
        "",
        "# ---- A first deployment: what most gateways set first",
    ]
    settings = _by_variable()
    for variable in FIRST_DEPLOYMENT:
        s = settings[variable]
        lines += ["", *_comment(s.help)]
        lines.append(f"{s.env}=" if s.required else f"# {s.env}={s.default_text}")
    for section in SECTIONS:
        lines += ["", f"# ---- {section.title}", *_comment(section.intro.replace("`", ""))]
        for _, s in section.settings:
            if s.env in FIRST_DEPLOYMENT:
                lines += ["", f"# {s.env}: at the top of this file"]
                continue
            lines += ["", *_comment(s.help)]
            lines.append(f"{s.env}=" if s.required else f"# {s.env}={s.default_text}")
    return "\n".join(lines) + "\n"


def toml_default(default: object, setting: Setting[Any]) -> str:
    """A setting's default as the settings file writes it (parsed back, it is the default)."""
    text = setting.default_text
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int | float) and text:
        try:
            float(text)
        except ValueError:
            return toml_value(text)
        return text
    if isinstance(default, tuple | list | frozenset):
        for separator in (",", "|"):
            items = text.split(separator) if text else []
            if len(items) == len(default):
                return toml_value(items)
    return toml_value(text)


_EXAMPLE_TABLES = """\
# ---- Lines, routes and tools
# The lines (docs/lines.md) and the tools every line's agent gets (docs/assistant.md, "HTTP
# tools and MCP servers"), in the schema of the routes file and the tools file. `default` and
# `unknown_status` go at the top of the file, before any table.
#
# default = "support"
#
# [lines.support]
# agent = "assistant"
# greeting = "Support, how can I help?"
# prompt_file = "prompts/support.txt"    # relative to this file's directory
#
# [[routes]]
# called = "+15550100"
# line = "support"
#
# [[http_tools]]
# name = "order_status"
# description = "The status of an order, by its number."
# method = "GET"
# url = "https://shop.example.com/orders/{number}"
# headers = { Authorization = "Bearer ${SHOP_TOKEN}" }   # a secret only as ${VAR}
# [http_tools.parameters]
# type = "object"
# required = ["number"]
# properties = { number = { type = "string" } }
"""


def example_toml() -> str:
    """The text of ``sipgw.example.toml``: every section's table, each setting commented out
    with its default (a secret named, with the variable that sets it)."""
    lines = [
        "# sipgw settings file. Copy to sipgw.toml and uncomment what you change; the",
        "# environment (and .env) overrides it, command-line flags override both. Secrets",
        "# (keys, passwords, tokens) go in .env only: this file refuses them. Every setting is",
        "# explained in docs/configuration.md; `sipgw config check` checks the file. (Written by",
        "# `python -m sipgw.app.settings_doc example-toml > sipgw.example.toml`.)",
    ]
    for section in SECTIONS:
        lines += ["", f"# ---- {section.title}", *_comment(section.intro.replace("`", ""))]
        lines.append(f"[{toml_key(section.name)}]")
        defaults = {f.name: f.default for f in dataclasses.fields(section.cls)}
        for name, s in section.settings:
            lines += ["", *_comment(s.help)]
            if s.secret:
                lines.append(f"# {name}: a secret: set {s.env} in .env (never here)")
            else:
                lines.append(f"# {toml_key(name)} = {toml_default(defaults[name], s)}")
    lines += ["", _EXAMPLE_TABLES.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=98, initial_indent="# ", subsequent_indent="# ")


def main(argv: Sequence[str] | None = None) -> int:
    """Print one of the three files; exit status 2 for an unknown name."""
    args = list(sys.argv[1:] if argv is None else argv)
    writers = {
        "configuration": configuration_md,
        "env-example": env_example,
        "example-toml": example_toml,
    }
    if len(args) != 1 or args[0] not in writers:
        print(
            "usage: python -m sipgw.app.settings_doc configuration|env-example|example-toml",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(writers[args[0]]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
