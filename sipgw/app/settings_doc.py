"""``docs/configuration.md`` and ``.env.example``, written from the settings sections.

    python -m sipgw.app.settings_doc configuration > docs/configuration.md
    python -m sipgw.app.settings_doc env-example > .env.example

Tests compare both files with what this writes, so they cannot drift from the
code.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from sipgw.agent.sections import SectionInfo, Setting
from sipgw.app.sections import SECTIONS

__all__ = ["configuration_md", "env_example", "main"]

_HEADER = """\
# Configuration

<!-- Written by `python -m sipgw.app.settings_doc configuration > docs/configuration.md`
from the settings sections (sipgw/app/sections.py lists them);
tests/sipgw/app/test_settings_doc.py checks it is current. -->

Every setting is an environment variable (or a line in a `.env` file); most are also flags of
`sipgw serve` (and `sipgw call`), whose `--help` shows them grouped by the sections below,
the options most setups need first. `.env.example` lists them all with their defaults.

## Where a value comes from

Highest first:

1. the flag: `sipgw serve --sip-port 5070`;
2. the environment: `SIPGW_SIP_PORT=5070 sipgw serve`;
3. the `.env` file: `--env-file PATH`, default `./.env` when it exists. `sipgw serve` loads it
   into the process environment, never overriding a variable that is already set;
4. the default in the tables below.

Values are checked when they are read: the gateway's at start, an agent's (and its vendors')
at start when that agent is chosen. A value that does not parse stops `sipgw serve` with a
message naming what you wrote and what is allowed:

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
its fields declared with `setting(...)` (agent/sections/declare.py). The flag, the
variable, `--help`, the error messages, this page and `.env.example` all come from that
field. Say RTP packets should carry a DSCP mark for the network's quality of service:

```python
# sipgw/app/settings.py, in CallSection
    rtp_dscp: int = setting(
        0, env="SIPGW_RTP_DSCP", flag="--rtp-dscp", metavar="N", parse=int_range(0, 63),
        help="DSCP mark of the RTP packets we send (46 = EF, expedited forwarding); 0 = none.",
    )
```

mypy checks that the default, the parser (`sipgw.agent.sections.parsers`, or your own function
from text to value that raises `ValueError("must be ...")`) and the annotation agree; the
gateway reads `config.rtp_dscp` (`GatewayConfig` inherits `CallSection`'s fields). Rules
between values of one section go in its `check()`, which raises
`InvalidSettings("{jitter_min_ms} must not exceed {jitter_max_ms}")`: the loader names each
field as the user gave it. A new section is a new `@section(...)` dataclass, listed in
`sipgw/app/sections.py` where it should appear. An agent's sections live beside it: a knob of
the assistant is a field of its plain dataclass (`agent/settings.py`) and a field of
`AssistantSection` (`agent/assistant_sections.py`), joined by one line of
`assistant_settings()` (`agent/assistant_settings.py`), which mypy checks like the rest; its
agents never read settings themselves. Then regenerate this page and
`.env.example`:

```
python -m sipgw.app.settings_doc configuration > docs/configuration.md
python -m sipgw.app.settings_doc env-example > .env.example
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
(`sipgw.agent.settings.AssistantSettings`): for instance
`ctx.settings.builtin_tools.transfer_target` or `ctx.settings.greeting`. The environment
itself is not passed to tools.

```python
import os

API_URL = os.environ.get("MYSHOP_API_URL", "http://127.0.0.1:8080")
```
"""


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell: a ``|`` (even in a code span, as in ``on|off``)
    would end the cell, so it is escaped (GFM tables)."""
    return text.replace("|", "\\|")


def _default(setting: Setting[Any]) -> str:
    if setting.default_doc is not None:
        return setting.default_doc
    return f"`{setting.default_text}`" if setting.default_text else "—"


def _section_md(section: SectionInfo) -> list[str]:
    lines = ["", f"## {section.title}", "", section.intro, ""]
    flags = section.flagged
    if flags:
        lines += ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    else:
        lines += ["| environment | default | meaning |", "|---|---|---|"]
    for _, s in section.settings:
        meaning = _cell(s.help)
        cells = [f"`{s.env}`", _cell(_default(s)), meaning]
        if flags:
            flag = _cell(f"`{s.flag} {s.metavar}`") if s.flag and s.metavar else "—"
            cells.insert(0, flag)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def configuration_md() -> str:
    """The text of ``docs/configuration.md``."""
    lines = [_HEADER.rstrip("\n")]
    for section in SECTIONS:
        lines += _section_md(section)
    return "\n".join(lines) + "\n"


def env_example() -> str:
    """The text of ``.env.example``: every variable, with its default, commented out.

    Required keys are left uncommented and empty, ready to fill in.
    """
    lines = [
        "# sipgw settings. Copy to .env and edit; the environment overrides this file, and",
        "# command-line flags override both. Commented lines show the defaults. Every setting",
        "# is explained in docs/configuration.md. (Written by",
        "# `python -m sipgw.app.settings_doc env-example > .env.example`.)",
    ]
    for section in SECTIONS:
        lines += ["", f"# ---- {section.title}", *_comment(section.intro.replace("`", ""))]
        for _, s in section.settings:
            lines += ["", *_comment(s.help)]
            lines.append(f"{s.env}=" if s.required else f"# {s.env}={s.default_text}")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=98, initial_indent="# ", subsequent_indent="# ")


def main(argv: Sequence[str] | None = None) -> int:
    """Print one of the two files; exit status 2 for an unknown name."""
    args = list(sys.argv[1:] if argv is None else argv)
    writers = {"configuration": configuration_md, "env-example": env_example}
    if len(args) != 1 or args[0] not in writers:
        print("usage: python -m sipgw.app.settings_doc configuration|env-example", file=sys.stderr)
        return 2
    sys.stdout.write(writers[args[0]]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
