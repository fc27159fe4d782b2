"""The REST subset in a cluster: any gateway answers for a call created on another.

:class:`SharedCalls` writes each created call's resource to the shared table
(:class:`~sipgw.app.twilio.api.registry.CallRegistry`) when it is created and whenever its
status changes, in that order: one write after another, in a task of its own, so a status
never overtakes an earlier one (a create's answer waits for its own write, up to
:data:`SHARE_WAIT` seconds). For a call this gateway does not carry, it answers a fetch
from the table, and sends an update to the admin API of the gateway carrying it (the
cluster's heartbeats know its URL: :class:`Cluster`), whose answer it passes back; a
forwarded request is never forwarded again. A database that fails is logged: the call goes
on, and the other gateways see its last status written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.twilio.api.resource import CallFacts, TwilioError, call_resource, not_found
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.stopping import cancel_and_wait

__all__ = ["PRUNE_EVERY", "SHARE_WAIT", "Cluster", "SharedCalls"]

log = logging.getLogger("sipgw.twilio_api")

SHARE_WAIT = 5.0
"""Seconds a create waits for its call's row in the shared table before answering anyway."""
PRUNE_EVERY = 3600.0
"""Seconds between two prunings of the shared table by one gateway."""


class Cluster(Protocol):
    """The cluster as the subset uses it: the admin server passes its
    :class:`~sipgw.app.admin.cluster.ClusterEndpoints` in (the admin imports this package,
    not the other way round)."""

    @property
    def name(self) -> str:
        """This gateway's name in the cluster."""
        ...

    def forwarded(self, request: web.Request) -> bool:
        """``request`` came from another gateway (never forwarded again)."""
        ...

    async def forward_to(
        self, request: web.Request, gateway: str, body: bytes
    ) -> web.Response | None:
        """``request`` sent to the live gateway ``gateway``: its answer; None: not live.

        Raises:
            aiohttp.ClientError, TimeoutError: that gateway did not answer.
        """
        ...


class SharedCalls:
    """The account ``account_sid``'s calls in the cluster's table (see the module docstring).

    Args:
        registry: the shared table.
        cluster: this gateway's cluster.
        account_sid: the subset's account.
        max_body: the largest update forwarded (bytes).
        clock: wall time.
    """

    def __init__(
        self,
        registry: CallRegistry,
        cluster: Cluster,
        account_sid: str,
        max_body: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.cluster = cluster
        self.account_sid = account_sid
        self.max_body = max_body
        self.clock = clock
        self._writes: asyncio.Queue[tuple[CallFacts, asyncio.Future[None] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start writing (on the running loop)."""
        self._writes = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(
            self._write(), name="twilio-calls-shared"
        )

    async def stop(self) -> None:
        """Write what is queued (2 s at most), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._writes.join()
        await cancel_and_wait(self._task)
        self._task = None

    def share(self, facts: CallFacts) -> asyncio.Future[None] | None:
        """Queue the call's resource for the table (never waits); a future done once it is
        written (or failed), None when not started."""
        if self._task is None:
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.put_nowait((facts, done))
        return done

    async def shared(self, facts: CallFacts) -> None:
        """:meth:`share`, and wait for the write (up to :data:`SHARE_WAIT` seconds)."""
        done = self.share(facts)
        if done is not None:
            await asyncio.wait({done}, timeout=SHARE_WAIT)

    async def _write(self) -> None:
        pruned_at = -PRUNE_EVERY
        while True:
            facts, done = await self._writes.get()
            try:
                await self.registry.put(self.cluster.name, call_resource(facts),
                                        facts.updated or facts.created)  # fmt: skip
                if self.clock() - pruned_at >= PRUNE_EVERY:
                    pruned_at = self.clock()
                    await self.registry.prune(pruned_at)
            except Exception as exc:  # logged; the call goes on, its row as last written
                log.error("Twilio API: sharing call %s failed: %s", facts.sid, exc)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)
                self._writes.task_done()

    async def elsewhere(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        """The call of ``request``'s path from the table: the gateway carrying it and its
        resource.

        Raises:
            TwilioError: 404 (no gateway wrote it), 503 (the database did not answer).
        """
        sid = request.match_info["sid"]
        try:
            found = await self.registry.get(sid, self.account_sid)
        except Exception as exc:
            log.error("Twilio API: reading call %s from the shared table failed: %s", sid, exc)
            raise TwilioError(503, 20503, "The cluster's database did not answer") from None
        if found is None:
            raise not_found(request.path)
        return found.gateway, found.resource

    async def forward(self, request: web.Request) -> web.Response:
        """An update of a call another gateway carries: that gateway's answer.

        Raises:
            TwilioError: 404 (no gateway wrote it, or the request was forwarded here
                already), 502 (the carrying gateway did not answer), 400 (that gateway
                has left the cluster, its call with it; or it is this one, which no longer
                follows the call), 413 (too large).
        """
        if self.cluster.forwarded(request):
            raise not_found(request.path)
        gateway, resource = await self.elsewhere(request)
        if gateway == self.cluster.name:  # this gateway's, no longer among its recent calls
            raise TwilioError(400, 21220, f"Call is {resource.get('status')} and no longer "
                              "followed by this gateway")  # fmt: skip
        body = await request.read()
        if len(body) > self.max_body:
            raise TwilioError(413, 20413, f"Request larger than {self.max_body} bytes")
        try:
            answer = await self.cluster.forward_to(request, gateway, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            forget_frames(exc)  # a refused connection's errors hold their frames, down to here
            raise TwilioError(502, 20502, f"Gateway {gateway} carrying this call did not "
                              f"answer: {exc or type(exc).__name__}") from None  # fmt: skip
        if answer is None:
            raise TwilioError(400, 21220, f"Call is {resource.get('status')} and gateway "
                              f"{gateway} carrying it has left the cluster")  # fmt: skip
        return answer
