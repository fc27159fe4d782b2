"""What starts a drain and what it says at its end.

A drain starts on the first SIGTERM/SIGINT or on ``POST /api/drain``; both go
through one :class:`DrainRequest`, which ``sipgw serve`` waits on before it runs
:meth:`sipgw.app.gateway.Gateway.drain` and stops. A second signal (or a second
request to end at once) cuts the drain short.

When the drain limit passes with calls still up, :func:`say_goodbyes` has every
remaining call's agent speak the goodbye line (``SIPGW_DRAIN_GOODBYE``) before the
gateway hangs up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from agent.base import Agent

__all__ = ["GOODBYE_WAIT", "DrainRequest", "say_goodbyes"]

log = logging.getLogger("sipgw")

GOODBYE_WAIT = 15.0
"""Seconds the goodbye lines may take to play before the calls are hung up anyway."""


class DrainRequest:
    """The drain's trigger, shared by the signal handler and the admin API.

    Args:
        seconds: the default limit (``SIPGW_DRAIN_SECONDS``); a request may override it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        """How long running calls may go on (the request's, else the setting's)."""
        self.requested = asyncio.Event()
        """Set when the drain starts."""
        self.now = asyncio.Event()
        """Set to end the drain at once (a second SIGTERM)."""
        self.source = ""
        """Who started it: ``signal`` or ``admin``."""
        self.started_at: float | None = None
        """Loop time of the start."""

    @property
    def active(self) -> bool:
        """Whether a drain was requested."""
        return self.requested.is_set()

    def request(self, source: str, seconds: float | None = None) -> bool:
        """Start the drain (with ``seconds`` instead of the default); False if already started."""
        if self.requested.is_set():
            return False
        if seconds is not None:
            self.seconds = seconds
        self.source = source
        self.started_at = asyncio.get_running_loop().time()
        self.requested.set()
        return True

    def signal(self) -> None:
        """SIGTERM/SIGINT: the first starts the drain, the next ends it at once."""
        if not self.request("signal"):
            self.now.set()

    def state(self, calls_left: int) -> dict[str, Any]:
        """What the admin API shows: draining or not, since when, the limit, calls left."""
        state: dict[str, Any] = {"draining": self.active, "calls_left": calls_left}
        if self.started_at is not None:
            elapsed = asyncio.get_running_loop().time() - self.started_at
            state.update(
                source=self.source,
                seconds=self.seconds,
                elapsed_s=round(elapsed, 1),
                ending_now=self.now.is_set(),
            )
        return state


async def say_goodbyes(
    agents: Iterable[Agent], text: str, wait: float, cut_short: asyncio.Event
) -> int:
    """Have every agent say ``text``; returns once all have played it, after ``wait``
    seconds, or when ``cut_short`` is set, whichever comes first. Returns how many
    finished playing it (an agent that fails counts as not finished, logged)."""
    tasks = [asyncio.ensure_future(agent.say_goodbye(text)) for agent in agents]
    if not tasks:
        return 0
    interrupted = asyncio.ensure_future(cut_short.wait())
    all_done = asyncio.ensure_future(asyncio.wait(tasks))
    await asyncio.wait([all_done, interrupted], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    all_done.cancel()
    interrupted.cancel()
    finished = 0
    for task in tasks:
        if not task.done():
            task.cancel()
        elif task.exception() is not None:
            log.error("goodbye failed", exc_info=task.exception())
        else:
            finished += 1
    await asyncio.gather(*tasks, return_exceptions=True)
    return finished
