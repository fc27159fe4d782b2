"""What starts a drain and what it says at its end.

A drain starts on the first SIGTERM/SIGINT or on ``POST /api/drain``; both go
through one :class:`DrainRequest`, which ``sipgw serve`` waits on before it runs
:meth:`sipgw.app.gateway.Gateway.drain` and stops. A second signal (or a second
request to end at once) cuts the drain short.

:func:`drain_calls` is the drain itself: new calls refused, accounts unregistered,
the running calls waited for. When the drain limit passes with calls still up,
:func:`say_goodbyes` has every remaining answered call's agent speak the goodbye line
(``SIPGW_DRAIN_GOODBYE``) before the gateway hangs up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from sipgw.agent.base import Agent
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.callhandle import CallHandle
from sipgw.sip.call import CallKey

__all__ = ["GOODBYE_WAIT", "DrainRequest", "drain_calls", "say_goodbyes"]

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


async def drain_calls(
    sip: SipEndpoint,
    calls: Mapping[CallKey, CallHandle],
    limit: float,
    cut_short: asyncio.Event,
    goodbye: str,
    no_calls: Awaitable[None] | None = None,
) -> int:
    """Refuse new calls and OPTIONS probes with 503, unregister every account, and wait
    for ``calls`` (the gateway's, kept up to date as they end) to end.

    Waits until no call is left (the SIP core idle and, with ``no_calls``, that resolved:
    the calls of the other legs ended too), ``limit`` seconds pass, or ``cut_short`` is set
    (a second SIGTERM), whichever comes first. When the limit passes with calls up, each
    answered call's agent says ``goodbye`` (none if empty), bounded by
    :data:`GOODBYE_WAIT` and ``cut_short``; a call still ringing gets no goodbye
    (nothing of its agent plays yet): it is ended at once (503 to an incoming one,
    CANCEL for one we placed). Returns how many calls are still up.
    """

    def start_draining(now: float) -> None:
        sip.ua.draining = True
        sip.ua.unregister(None, now)  # the registrar stops sending us calls now

    sip.act(start_draining)
    idle = asyncio.ensure_future(_all_done(sip.when_idle(), no_calls))
    waiters: list[asyncio.Future[Any]] = [idle, asyncio.ensure_future(cut_short.wait())]
    await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    up = [h for h in calls.values() if not h.ended]
    ringing = [h for h in up if not h.answered]
    if ringing and not cut_short.is_set():
        log.info("drain limit reached: %d call(s) not answered yet end now", len(ringing))
        for handle in ringing:
            handle.hangup(503, by="gateway")
    agents = [h.agent for h in up if h.answered and h.agent is not None]
    if agents and not cut_short.is_set() and goodbye:
        log.info("drain limit reached: %d call(s) say goodbye, then BYE", len(agents))
        played = await say_goodbyes(agents, goodbye, GOODBYE_WAIT, cut_short)
        log.info("goodbye played on %d of %d call(s)", played, len(agents))
    return len(calls)


async def _all_done(*waits: Awaitable[None] | None) -> None:
    for wait in waits:
        if wait is not None:
            await wait


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
