"""The ``routes`` settings section: which routes file gives the gateway its lines."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.sections import section, setting
from sipgw.agent.sections.parsers import optional_file

__all__ = ["RoutesSection"]


@section(
    "routes",
    title="Lines and routes",
    intro="Several lines on one gateway, each with its own agent, prompt, voice and limits, "
    "and the routes that pick a call's line (docs/lines.md). Reloaded on SIGHUP and "
    "`POST /api/reload`.",
)
@dataclass(frozen=True)
class RoutesSection:
    """The routes file."""

    routes: str = setting(
        "", env="SIPGW_ROUTES", flag="--routes", metavar="FILE", parse=optional_file,
        help="TOML file of [lines.NAME] tables and [[routes]] matching called number, account, "
        "source and caller; empty = every call goes to its account's agent or --agent.",
    )  # fmt: skip
