"""The soak's look at everything every ``interval`` seconds (10 by default), in a thread.

Each :class:`Look` has: the gateway's calls up and any **stuck** call (up longer than
``stuck_after`` seconds) from its admin API (``GET /api/calls``, ``duration_s``); its RSS,
open file descriptors and threads from /proc; its asyncio tasks and media ticker lateness
from its last ``stats {json}`` line; its live Python objects from the memory probe, when
on; the shared database's rows and connections; the calls' outcomes so far (the webhook
events received, by type); the machine's load average.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench._harness import Gateway, read_proc
from bench.soak.peers import database_figures

__all__ = ["Look", "Sampler"]


@dataclass
class Look:
    """One sample of everything (wall clock ``t``)."""

    t: float
    figures: dict[str, Any] = field(default_factory=dict)
    """Name -> number (None when unknown): see the module docstring."""
    stuck: list[dict[str, Any]] = field(default_factory=list)
    """Calls up longer than the bound: their id, Call-ID, called user, duration."""
    errors: list[str] = field(default_factory=list)


def admin_calls(url: str, token: str) -> list[dict[str, Any]]:
    """``GET /api/calls``'s calls."""
    request = urllib.request.Request(
        f"{url}/api/calls", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        calls: list[dict[str, Any]] = json.loads(answer.read())["calls"]
        return calls


class Sampler:
    """Takes a :class:`Look` every ``interval`` seconds until stopped."""

    def __init__(
        self,
        gateway: Gateway,
        admin_url: str,
        admin_token: str,
        database_url: str,
        interval: float,
        stuck_after: float,
        outcomes: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.gateway = gateway
        self.admin_url = admin_url
        self.admin_token = admin_token
        self.database_url = database_url
        self.interval = interval
        self.stuck_after = stuck_after
        self.outcomes = outcomes
        self.looks: list[Look] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def start(self) -> Sampler:
        """Start looking."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop looking."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.looks.append(self.look())
            except Exception as exc:  # one look lost, not the rest of the run's
                self.looks.append(Look(time.time(), errors=[f"{type(exc).__name__}: {exc}"]))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def look(self) -> Look:
        """One sample now."""
        seen = Look(time.time())
        f = seen.figures
        try:
            calls = admin_calls(self.admin_url, self.admin_token)
            f["calls"] = len(calls)
            seen.stuck = [
                {k: c.get(k) for k in ("id", "call_id", "called", "state", "duration_s")}
                for c in calls
                if (c.get("duration_s") or 0) > self.stuck_after
            ]
        except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
            f["calls"] = None
            seen.errors.append(f"admin: {exc}")
        proc = read_proc(self.gateway.pid)
        f["rss_kb"] = proc.rss_kb if proc else None
        f["fds"] = proc.fds if proc else None
        f["threads"] = proc.threads if proc else None
        stats = self.gateway.stats[-1].data if self.gateway.stats else {}
        f["stats_calls"] = stats.get("calls")
        f["tasks"] = stats.get("tasks")
        f["tick_late_p99_ms"] = stats.get("tick_late_p99_ms")
        f["tick_late_max_ms"] = stats.get("tick_late_max_ms")
        mem = self.gateway.mem_samples[-1] if self.gateway.mem_samples else None
        f["live_objects"] = mem.objects if mem else None
        f["pymalloc_blocks"] = mem.blocks if mem else None
        db = database_figures(self.database_url)
        if "error" in db:
            seen.errors.append(f"database: {db['error']}")
        else:
            f.update(db)
        if self.outcomes is not None:
            f.update(self.outcomes())
        f["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return seen
