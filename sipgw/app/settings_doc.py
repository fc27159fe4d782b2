"""``docs/configuration.md``, ``.env.example`` and ``sipgw.example.toml``, written from the
settings sections.

    python -m sipgw.app.settings_doc configuration > docs/configuration.md
    python -m sipgw.app.settings_doc env-example > .env.example
    python -m sipgw.app.settings_doc example-toml > sipgw.example.toml

Tests compare the three files with what this writes, so they cannot drift from the
code.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import SectionInfo, Setting
from sipgw.foundation.settings.settingsfile import CONFIG_VARIABLE, DEFAULT_PATH

__all__ = [
    "ENVIRONMENT_ONLY",
    "FIRST_CONFIG",
    "FIRST_ENV",
    "FIRST_SETTINGS",
    "configuration_md",
    "env_example",
    "example_toml",
    "main",
]

_HEADER = """\
# Configuration

<!-- Written by `python -m sipgw.app.settings_doc configuration > docs/configuration.md`
from the settings sections (sipgw/app/sections.py lists them);
tests/sipgw/app/test_settings_doc.py checks it is current. -->

A gateway is configured by one settings file, `sipgw.toml`, and the secrets in `.env` (or the
environment). This page is the reference: every setting, its default and its meaning.
`sipgw.example.toml` is a first deployment, the dozen settings that matter first; `.env.example` the
secrets and the few settings only the environment gives.

## A first deployment

`sipgw.toml`, in the directory `sipgw serve` starts in (this is `sipgw.example.toml`):

```toml
{FIRST_CONFIG}```

`.env`, beside it (the three vendors' keys; secrets are never written in `sipgw.toml`):

```sh
{FIRST_ENV}```

`sipgw config check` reads both and names every mistake; `sipgw serve` starts with them. A trunk
that registers with a password adds `SIPGW_AUTH_PASSWORD` to `.env`, an admin server (`[admin]
port`) its `SIPGW_ADMIN_TOKEN`.

## The settings file

Which file: `--config FILE`, else the variable `SIPGW_CONFIG`, else `./sipgw.toml` when it exists.
Without one, the environment and the flags say everything.

- A table per section, named as in the headings below (`[network]`, `[assistant]`); a key
  per setting, named as in the tables' *key* column (`sip_port`). A value is a string, a
  number, `true`/`false`, or a list for a setting that takes several
  (`transports = ["udp", "tcp"]`); each is checked as its variable's text would be. Paths are
  relative to the working directory, as in the environment, but for the files kept across
  restarts (the stores, call records, recordings, caches), whose relative paths are under
  the state directory (`SIPGW_STATE_DIR`, "State directory" below).
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

A routes file (`--routes`, `SIPGW_ROUTES`) or tools file (`SIPGW_TOOLS_FILE`) of its own is still
read, with a warning at start; `sipgw config convert --routes routes.toml --tools tools.toml
--output sipgw.toml` writes their tables for the settings file (without `--output` it prints them;
relative paths are rewritten for the new file's directory, or the working directory when printed).

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

It checks the settings file's tables, every variable and flag given, each section's rules between
its values, the lines and routes (every mistake of each: one wrong key does not hide the next), the
tools' shape, and then builds what `sipgw serve` builds before it listens (the agents and their
required keys; the shared database when `SIPGW_DATABASE_URL` names one). `sipgw serve` refuses to
start on the same mistakes.

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
variable, `--help`, the error messages and this page all come from that field (and
`.env.example`, for a secret), and so does its key in `sipgw.toml`. Say RTP packets should
carry a DSCP mark for the network's quality of service:

```python
# sipgw/app/settings.py, in CallSection
    rtp_dscp: int = setting(
        0, env="SIPGW_RTP_DSCP", flag="--rtp-dscp", metavar="N", parse=int_range(0, 63),
        help="DSCP mark of the RTP packets we send (46 = EF, expedited forwarding); 0 = none.",
    )
```

mypy checks that the default, the parser (`sipgw.foundation.settings.parsers`, or your own function
from text to value that raises `ValueError("must be ...")`) and the annotation agree; the gateway
reads `config.rtp_dscp` (`GatewayConfig` inherits `CallSection`'s fields). Rules between values of
one section go in its `check()`, which raises `InvalidSettings("{jitter_min_ms} must not exceed
{jitter_max_ms}")`: the loader names each field as the user gave it. A new section is a new
`@section(...)` dataclass, listed in `sipgw/app/sections.py` where it should appear. A knob of the
assistant is a field of its plain dataclass (`agent/conversation/settings.py`) and of
`AssistantSection`, joined by one line of `assistant_settings()` (both in
`agent/conversation/sections.py`); its agents never read settings themselves. Then regenerate this
page and `.env.example` (`sipgw.example.toml` names only a first deployment's dozen settings):

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

A tools module (`SIPGW_TOOLS_MODULE`) reads its own settings from `os.environ`: `sipgw serve` loads
`.env` into the environment before it imports the module, so a variable can live in either place.
Choose names that are not sipgw's (a prefix of your own, e.g. `MYSHOP_`). A handler also gets the
assistant's resolved settings, typed and read-only, as `ctx.settings`
(`sipgw.agent.conversation.settings.AssistantSettings`), e.g. `ctx.settings.greeting`.

```python
import os

API_URL = os.environ.get("MYSHOP_API_URL", "http://127.0.0.1:8080")
```
"""


FIRST_SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    ("agent", "agent", '"assistant"',
     'Who answers: the AI assistant; "echo" plays the caller back (a line check, no keys).'),
    ("network", "public_ip", '"203.0.113.10"',
     "The address your trunk and callers reach this machine at (behind NAT: the public one)."),
    ("network", "sip_port", "5060", "The SIP port (UDP and TCP)."),
    ("network", "rtp_ports", '"10000-20000"',
     "The RTP ports (UDP), two per call: open them and the SIP port in the firewall."),
    ("accounts", "register", '"sip:1001@pbx.example.com"',
     "The account to register at your trunk or PBX; its password: SIPGW_AUTH_PASSWORD in .env."),
    ("access", "allow_from", '["192.168.1.0/24"]',
     "Who may call besides your trunk: addresses or networks (each answered call costs money)."),
    ("calls", "max_calls", "20", "Calls at once; more get 503. As many as your AI accounts hold."),
    ("assistant", "greeting", '"Thanks for calling Acme. How can I help?"',
     "What the assistant says when it answers."),
    ("assistant", "#system_prompt_file", '"prompt.txt"',
     "Its instructions (a text file): who it is, what it knows; unset: a shop assistant's."),
    ("assemblyai", "#language", '"es"',
     "The callers' language; unset: English, Spanish, German, French, Portuguese, Italian."),
    ("openai", "model", '"gpt-4.1-mini"', "The chat model."),
    ("elevenlabs", "voice_id", '"21m00Tcm4TlvDq8ikWAM"', "The voice it speaks with."),
    ("operations", "#record_dir", '"recordings"',
     "Record every call here (the law may ask for consent: docs/logs-and-recordings.md)."),
    ("admin", "#port", "8080",
     "The admin API and dashboard on 127.0.0.1; its token: SIPGW_ADMIN_TOKEN in .env."),
)  # fmt: skip
"""``sipgw.example.toml``: a first deployment's settings, as (section, key, TOML value, what
it means); a key written ``#key`` is shown commented out (a choice, not a need). A test
checks that the file passes ``sipgw config check`` and fits one screen."""

_EXAMPLE_HEAD = """\
# sipgw.toml for a first deployment: copy it to sipgw.toml, in the directory `sipgw serve`
# starts in, and change what is yours; the three keys go in .env (.env.example), never here.
# Every other setting, its default and its meaning: docs/configuration.md. `sipgw config
# check` names any mistake; `sipgw config show` prints every setting in effect. (Written by
# `python -m sipgw.app.settings_doc example-toml > sipgw.example.toml`.)
"""

_EXAMPLE_TAIL = """\
# The assistant's tools ([[http_tools]], [mcp_servers.NAME]) and lines, one per number
# ([lines.NAME], [[routes]]), go in this file too: docs/configuration.md, docs/lines.md.
"""


def _first_config() -> str:
    """The first deployment's tables, each setting under its comment."""
    lines: list[str] = []
    table = ""
    for name, key, value, meaning in FIRST_SETTINGS:
        if name != table:
            lines += ["", f"[{name}]"]
            table = name
        lines.append(f"# {meaning}")
        lines.append(f"# {key[1:]} = {value}" if key.startswith("#") else f"{key} = {value}")
    return "\n".join(lines).lstrip("\n") + "\n"


FIRST_CONFIG = _first_config()
"""The settings file of a first deployment (``sipgw.example.toml`` without its head and
tail; docs/configuration.md shows it)."""

FIRST_ENV = """\
ASSEMBLYAI_API_KEY=...
OPENAI_API_KEY=...
ELEVENLABS_API_KEY=...
"""
"""Its ``.env``: the three vendors' keys."""

ENVIRONMENT_ONLY: tuple[tuple[str, str], ...] = (
    (CONFIG_VARIABLE, f"The settings file; default: ./{DEFAULT_PATH} when it exists (--config "
     "FILE wins)."),
    ("OPENAI_ORG_ID", "Sent as OpenAI-Organization with every chat request, as OpenAI's SDK "
     "does."),
    ("OPENAI_PROJECT_ID", "Sent as OpenAI-Project with every chat request, as OpenAI's SDK does."),
    ("OPENAI_CUSTOM_HEADERS", "More headers for every chat request, one 'Name: value' per line, "
     "as OpenAI's SDK reads them."),
)  # fmt: skip
"""What only the environment (or ``.env``) gives: no section holds it
(``.env.example``'s last part)."""


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


def _secrets() -> list[Setting[Any]]:
    """Every secret setting (refused in the settings file)."""
    return [s for section in SECTIONS for _, s in section.settings if s.secret]


def env_example() -> str:
    """The text of ``.env.example``: the secrets (the vendors' keys first, to fill in;
    every other commented out, under its section's title) and the settings only the
    environment gives. Every other setting goes in ``sipgw.toml`` (or here by its
    variable): docs/configuration.md."""
    lines = [
        "# sipgw's secrets, and the few settings only the environment gives. Copy to .env,",
        "# beside sipgw.toml (sipgw.example.toml), and fill in what you use; the environment",
        "# overrides this file. Secrets go here, never in sipgw.toml, which refuses them. Any",
        "# other setting may be set here too, by its variable: docs/configuration.md lists them",
        "# all. (Written by `python -m sipgw.app.settings_doc env-example > .env.example`.)",
        "",
        "# ---- The three keys a first deployment needs (--agent assistant)",
    ]
    first = [line.split("=", 1)[0] for line in FIRST_ENV.splitlines()]
    secrets = {s.env: s for s in _secrets()}
    for variable in first:
        lines += ["", *_comment(secrets[variable].help), f"{variable}="]
    title = ""
    for section in SECTIONS:
        for _, s in section.settings:
            if not s.secret or s.env in first:
                continue
            if section.title != title:
                lines += ["", f"# ---- {section.title}"]
                title = section.title
            lines += ["", *_comment(s.help), f"# {s.env}="]
    lines += ["", "# ---- Only in the environment"]
    for variable, meaning in ENVIRONMENT_ONLY:
        lines += ["", *_comment(meaning), f"# {variable}="]
    return "\n".join(lines) + "\n"


def example_toml() -> str:
    """The text of ``sipgw.example.toml``: a first deployment in one screen (see
    :data:`FIRST_SETTINGS`)."""
    return f"{_EXAMPLE_HEAD}\n{FIRST_CONFIG}\n{_EXAMPLE_TAIL}"


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
