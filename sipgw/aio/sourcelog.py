"""Warnings about a peer's bad behaviour, at most one line per source address per interval."""

from __future__ import annotations

import logging
import math

__all__ = ["SourceLog"]


class SourceLog:
    """Logs a warning about a source address unless one was logged in the last ``interval``.

    The next line about that address counts what was not logged since. At most
    ``max_sources`` addresses are remembered; beyond that (a scan from many
    addresses), one line per ``interval`` sums up the rest.

    Args:
        log: where the lines go.
        interval: seconds between two lines about the same address.
        max_sources: addresses remembered at once.
        overflow: the summing-up line, with ``%(count)d`` (warnings not logged) and
            ``%(max_sources)d`` placeholders.
    """

    def __init__(
        self,
        log: logging.Logger,
        interval: float = 60.0,
        max_sources: int = 4096,
        overflow: str = "%(count)d more warnings from other addresses",
    ) -> None:
        self.log = log
        self.interval = interval
        self.max_sources = max_sources
        self.overflow = overflow
        self.count = 0
        """Every warning, logged or not."""
        self._sources: dict[str, tuple[float, int]] = {}  # host -> (last logged, not logged)
        self._overflow = (-math.inf, 0)

    def warn(self, host: str, now: float, message: str, *args: object) -> None:
        """Count one warning about ``host``; log it unless ``host`` was logged lately."""
        self.count += 1
        entry = self._sources.get(host)
        if entry is not None and now - entry[0] < self.interval:
            self._sources[host] = (entry[0], entry[1] + 1)
            return
        if entry is None and len(self._sources) >= self.max_sources:
            for known, (logged, _) in list(self._sources.items()):
                if now - logged >= self.interval:
                    del self._sources[known]
            if len(self._sources) >= self.max_sources:
                since, skipped = self._overflow
                if now - since >= self.interval:
                    figures = {"count": skipped + 1, "max_sources": self.max_sources}
                    self.log.warning(self.overflow, figures)
                    self._overflow = (now, 0)
                else:
                    self._overflow = (since, skipped + 1)
                return
        self._sources[host] = (now, 0)
        if entry is not None and entry[1]:
            self.log.warning(message + " (+%d more since the last line)", *args, entry[1])
        else:
            self.log.warning(message, *args)
