"""The ``routes_file`` settings section: which routes file gives the gateway its lines.

The lines and routes are written in the settings file (``sipgw.toml``); a routes file of its
own is still read, with a warning (``sipgw config convert`` moves it into the settings file).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import optional_file

__all__ = ["RoutesSection"]


@section(
    "routes_file",
    title="Lines and routes",
    intro="Several lines on one gateway, each with its own agent, prompt, voice and limits, "
    "and the routes that pick a call's line (docs/lines.md), written as [lines.NAME] "
    "and [[routes]] tables in the settings file. Reloaded on SIGHUP and `POST /api/reload`.",
)
@dataclass(frozen=True)
class RoutesSection:
    """The routes file."""

    routes: str = setting(
        "", env="SIPGW_ROUTES", flag="--routes", metavar="FILE", parse=optional_file,
        help="A separate TOML file of [lines.NAME] tables and [[routes]] (deprecated: write "
        "them in the settings file); empty = the settings file's lines, else every call "
        "goes to its account's agent or --agent.",
    )  # fmt: skip
