"""The lines in force, and their reload: a new routes file is taken whole or not at all.

:class:`Lines` builds the routes file at start (a mistake stops start-up; the settings
file's lines from the document start-up read, not read again) and reads it again on
each :meth:`~Lines.reload` (SIGHUP, ``POST /api/reload``). A reload builds the new lines
beside the old ones and swaps them only when every line built: a bad file is refused with
its line number and the routes loaded before stay in force. Calls in progress keep the
line (and agent) they were given; only new calls see the new routes. ``on_reload`` is
told of each table put in force (the gateway warms up its lines' new agents).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sipgw.app.lines.build import LineBase, LineTable, build_lines
from sipgw.app.lines.routesfile import parse_routes_file, routes_of
from sipgw.foundation.settings import ConfigError
from sipgw.foundation.settings.tomlfile import TomlDocument

__all__ = ["Lines", "load_lines"]

log = logging.getLogger("sipgw.lines")


def load_lines(
    path: Path,
    base: LineBase,
    *,
    settings_file: bool = False,
    document: TomlDocument | None = None,
) -> LineTable:
    """Read and build the routes file at ``path`` (the lines of the settings file at
    ``path`` when ``settings_file``); ``document``: the file as read already.

    Raises:
        ConfigError: see :func:`~sipgw.app.lines.routesfile.parse_routes_file` and
            :func:`~sipgw.app.lines.build.build_lines`.
    """
    if document is None:
        return build_lines(parse_routes_file(path, settings_file=settings_file), base)
    return build_lines(routes_of(document, path, settings_file=settings_file), base)


class Lines:
    """The routes file's lines in force (see the module docstring).

    Args:
        path: the routes file, or the settings file (``sipgw.toml``) that holds the lines.
        base: what the gateway's own settings give every line.
        settings_file: ``path`` is the settings file: only its lines and routes are read
            again on a reload (its sections' settings take effect at a restart).
        document: the file as start-up read it (its first table is built from it).

    Raises:
        ConfigError: the file is bad (at start-up: the gateway does not start).
    """

    def __init__(
        self,
        path: Path,
        base: LineBase,
        *,
        settings_file: bool = False,
        document: TomlDocument | None = None,
    ) -> None:
        self.path = path
        self.base = base
        self.settings_file = settings_file
        self.table = load_lines(path, base, settings_file=settings_file, document=document)
        self.loaded_at = time.time()
        """When the routes in force were loaded (Unix seconds)."""
        self.reloads = 0
        """Reloads that took effect."""
        self.refused = 0
        """Reloads refused (a bad file): the routes before stayed."""
        self.last_error = ""
        """Why the latest reload was refused ("" after one that took effect)."""
        self.on_reload: Callable[[LineTable], None] | None = None
        """Called with each table a reload puts in force."""

    def reload(self) -> LineTable:
        """Build the file again and put it in force; on an error the old routes stay.

        Raises:
            ConfigError: the file is bad now (logged, counted, kept in :attr:`last_error`).
        """
        try:
            table = load_lines(self.path, self.base, settings_file=self.settings_file)
        except ConfigError as exc:
            self.refused += 1
            self.last_error = str(exc)
            log.error("routes not reloaded: %s (the routes loaded before stay in force)", exc)
            raise
        self.table = table
        self.loaded_at = time.time()
        self.reloads += 1
        self.last_error = ""
        log.info("routes reloaded from %s: %s", self.path, self.describe_briefly())
        if self.on_reload is not None:
            self.on_reload(table)
        return table

    def describe_briefly(self) -> str:
        """``3 lines (sales, support, night), 4 routes, default support``."""
        table = self.table
        default = table.default.name if table.default else f"none (refused {table.unknown_status})"
        return (
            f"{len(table.lines)} lines ({', '.join(table.lines)}), {len(table.routes)} routes, "
            f"default {default}"
        )

    def describe(self) -> dict[str, Any]:
        """The lines in force for the admin API: names, agents, limits, routes, reloads."""
        table = self.table
        return {
            "file": str(self.path),
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "refused_reloads": self.refused,
            "last_error": self.last_error,
            "default": table.default.name if table.default else None,
            "unknown_status": table.unknown_status,
            "lines": [
                {"name": line.name, "agent": line.agent, "max_calls": line.spec.max_calls}
                for line in table.lines.values()
            ],
            "routes": [
                {
                    "line": route.line,
                    "called": [p.text for p in route.called],
                    "account": list(route.accounts),
                    "source": [str(n) for n in route.sources],
                    "caller": [p.text for p in route.callers],
                    "verified": list(route.verified),
                    "attestation": list(route.attestations),
                }
                for route in table.routes
            ],
        }
