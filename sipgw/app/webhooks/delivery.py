"""Posting the outbox's events: signed, retried with backoff, in order per call, never blocking.

Theory of operation
-------------------
*In*: :meth:`WebhookDelivery.enqueue` only appends to a bounded list in memory and wakes
the loop (it is called from the call feed, on the event loop: it must never wait). The
loop writes what was queued to the outbox, one unit of work of the outbox's (SQLite's in a
thread, so a slow disk never stalls the loop either; PostgreSQL's awaited on the loop).
A write that fails (the database restarting) puts the events back at the front of the
queue, in order, and the loop tries again :data:`ERROR_WAIT` s later: they are lost only
if the queue overflows (:data:`MAX_QUEUED`) or the process stops first.

*Out*: the loop claims the due rows (:meth:`~sipgw.app.webhooks.outbox.Outbox.claim_due`:
the oldest pending event of each URL and call, so a call's events arrive in order) and
posts each in a task of its own, at most :attr:`concurrency` at once, signed at the
moment of the attempt (:mod:`~sipgw.app.webhooks.signing`). A 2xx deletes the row. Any
other answer, a timeout or a connection error is retried: after 1 s, then twice as long
each time with ±20 % jitter, at most ``retry_max``; a 3xx is not followed (the URL should
be fixed). A 410 Gone, or an event older than ``give_up`` seconds, is dropped and logged.
A receiver that stops answering is logged once when it goes down and once when it comes
back, not at every attempt.

*Stop*: what is queued is written to the outbox, the attempts in flight get a grace
period, and the claims of those cut short are given back: the next start delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipgw.app.webhooks.outbox import NewEvent, Outbox, PendingEvent
from sipgw.app.webhooks.signing import WebhookSecret, signed_headers
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.stopping import cancel_and_wait, finish_or_cancel

if TYPE_CHECKING:  # aiohttp (about 23 MB) is imported when the delivery starts
    import aiohttp

__all__ = ["DeliveryCounts", "DeliveryPolicy", "WebhookDelivery", "retry_delay"]

log = logging.getLogger("sipgw.webhooks")

MAX_QUEUED = 10000
"""Events waiting in memory for the outbox at most (beyond it they are dropped)."""

ERROR_WAIT = 5.0
"""Seconds the loop waits after an error of the outbox (its database away) before it tries
again."""


TRACED_CALLS = 4096
"""Calls whose traceparent :class:`WebhookDelivery` keeps (the most recent)."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How events are posted and retried."""

    timeout: float = 10.0
    """Seconds one attempt may take."""
    retry_max: float = 600.0
    """Longest wait between two attempts."""
    give_up: float = 72 * 3600.0
    """Seconds after which an undelivered event is dropped."""
    concurrency: int = 8
    """Attempts in flight at once."""
    lease: float = 60.0
    """Seconds a claim holds (more than ``timeout``)."""


def retry_delay(attempts: int, policy: DeliveryPolicy, rng: Callable[[], float]) -> float:
    """The wait after the ``attempts``-th failed attempt: 1 s doubling, ±20 %, capped."""
    base = min(policy.retry_max, 2.0 ** max(0, attempts - 1))
    return min(policy.retry_max, base * (0.8 + 0.4 * rng()))


@dataclass
class DeliveryCounts:
    """What the delivery did, for the metrics."""

    delivered: int = 0
    failed_attempts: int = 0
    dropped_full: int = 0
    """Events refused because the outbox (or the queue before it) was full."""
    given_up: int = 0
    """Events dropped undelivered (too old, or 410 Gone)."""
    pending: int = 0
    """Rows in the outbox at the last look."""
    down_since: dict[str, float] = field(default_factory=dict)
    """URL -> when it stopped answering (while it does not)."""


class WebhookDelivery:
    """Writes queued events to the outbox and posts them (see the module docstring).

    Args:
        outbox: the outbox (SQLite, or the shared database's).
        secret_for: a line's name ("" = the gateway's) -> the secret signing its events.
        policy: timeouts, retries, give-up age, concurrency.
        clock: wall time (Unix seconds: rows outlive the process).
        rng: ``random.random``-like, for the jitter.
        headers_for: an event's request headers, made at each attempt, instead of
            ``secret_for``'s Standard Webhooks signature (Twilio's status callbacks are
            form-encoded and signed as Twilio signs: :mod:`sipgw.app.twilio.api.status`);
            None = the event cannot be signed (it is dropped).
    """

    def __init__(
        self,
        outbox: Outbox,
        secret_for: Callable[[str], WebhookSecret | None],
        policy: DeliveryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        headers_for: Callable[[PendingEvent, int], dict[str, str] | None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.headers_for = headers_for or self._standard_headers
        self.secret_for = secret_for
        self.policy = policy or DeliveryPolicy()
        self.clock = clock
        self.rng = rng
        self.counts = DeliveryCounts()
        self._queue: deque[NewEvent] = deque()
        self._wake = asyncio.Event()
        self._busy: dict[tuple[str, str], int] = {}
        self._posts: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self._traces: dict[str, str] = {}

    # ------------------------------------------------------------------ in

    def trace(self, call: str, traceparent: str) -> None:
        """The call's events carry ``traceparent`` (its span's W3C header: the receiver's
        spans join the call's trace); kept in memory for the last :data:`TRACED_CALLS`
        calls (an event posted after a restart goes without)."""
        self._traces.pop(call, None)
        self._traces[call] = traceparent
        while len(self._traces) > TRACED_CALLS:
            del self._traces[next(iter(self._traces))]

    def _traced(self, event: PendingEvent, headers: dict[str, str]) -> dict[str, str]:
        traceparent = self._traces.get(event.call)
        return headers if traceparent is None else {**headers, "traceparent": traceparent}

    def enqueue(self, events: list[NewEvent]) -> None:
        """Queue events for the outbox; returns at once (never blocks a call)."""
        for event in events:
            if len(self._queue) >= MAX_QUEUED:
                self.counts.dropped_full += 1
                log.error("webhook queue full: %s of call %s dropped", event.type, event.call)
                continue
            self._queue.append(event)
        self._wake.set()

    async def _flush(self) -> None:
        """Write the queued events to the outbox."""
        if not self._queue:
            return
        batch = list(self._queue)
        self._queue.clear()
        try:
            refused = await self.outbox.add(batch, self.clock())
        except BaseException:
            # Not written (the database restarting, the disk full): back to the front of
            # the queue, in order, for the next round; the queue's bound still holds.
            room = max(0, MAX_QUEUED - len(self._queue))
            self._queue.extendleft(reversed(batch[:room]))
            if len(batch) > room:
                self.counts.dropped_full += len(batch) - room
                log.error("webhook queue full: %d event(s) dropped", len(batch) - room)
            raise
        if refused:
            self.counts.dropped_full += refused
            log.error(
                "webhook outbox full (%d events): %d new event(s) dropped",
                self.outbox.max_pending, refused,
            )  # fmt: skip

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Start the loop (events already in the outbox go out at once)."""
        if self._task is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout)
            )
            self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    async def stop(self, grace: float = 5.0) -> None:
        """Write what is queued, give attempts in flight ``grace`` s, release the rest."""
        if self._task is not None:
            self._stopping = True  # the loop ends between two rounds, never mid-claim
            self._wake.set()
            try:
                async with asyncio.timeout(grace):
                    await asyncio.shield(self._task)
            except TimeoutError:
                await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(Exception):
            await self._flush()
        await finish_or_cancel(self._posts, grace)
        with contextlib.suppress(Exception):  # what was claimed but not posted: due again
            await self.outbox.release()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while not self._stopping:
            wait = 30.0
            self._wake.clear()  # before the work: a wake-up during it is not lost
            try:
                await self._flush()
                now = self.clock()
                room = self.policy.concurrency - len(self._posts)
                if room > 0 and not self._stopping:
                    claimed = await self.outbox.claim_due(
                        now, self.policy.lease, room, set(self._busy)
                    )
                    for event in claimed:
                        self._post_in_task(event)
                due = await self.outbox.next_due(self.clock())
                self.counts.pending = await self.outbox.pending()
                if due is not None:
                    wait = max(0.0, min(wait, due - self.clock()))
            except Exception:
                log.exception("webhook outbox %s: error (retrying)", self.outbox.where)
                wait = ERROR_WAIT
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.05)):
                    await self._wake.wait()

    def _post_in_task(self, event: PendingEvent) -> None:
        key = (event.url, event.call)
        self._busy[key] = event.id
        task = asyncio.get_running_loop().create_task(self._post(event))
        self._posts.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._posts.discard(finished)
            self._busy.pop(key, None)
            self._wake.set()

        task.add_done_callback(done)

    # ------------------------------------------------------------------ one attempt

    def _standard_headers(self, event: PendingEvent, now: int) -> dict[str, str] | None:
        """Standard Webhooks' headers, signed with the secret of the event's line."""
        secret = self.secret_for(event.line)
        if secret is None:
            return None
        return signed_headers(secret, event.event_id, now, event.body)

    async def _post(self, event: PendingEvent) -> None:
        headers = self.headers_for(event, int(self.clock()))
        if headers is None:
            log.error("webhook %s: no secret for line %r: dropped", event.event_id, event.line)
            await self.outbox.drop(event.id)
            self.counts.given_up += 1
            return
        status, error = await self._attempt(event, headers)
        now = self.clock()
        if status is not None and 200 <= status < 300:
            await self.outbox.delivered(event.id)
            self.counts.delivered += 1
            self._came_back(event.url, now)
            return
        self.counts.failed_attempts += 1
        self._went_down(event.url, now, error)
        age = now - event.created
        if status == 410 or age > self.policy.give_up:
            why = "410 Gone" if status == 410 else f"undelivered after {age / 3600:.1f} h"
            log.error("webhook %s (%s of call %s) to %s dropped: %s", event.event_id,
                      event.type, event.call, event.url, why)  # fmt: skip
            await self.outbox.drop(event.id)
            self.counts.given_up += 1
            return
        delay = retry_delay(event.attempts + 1, self.policy, self.rng)
        await self.outbox.failed(event.id, now + delay, error)

    async def _attempt(
        self, event: PendingEvent, headers: dict[str, str]
    ) -> tuple[int | None, str]:
        """Post once: (status, "") or (None or the status, what went wrong)."""
        import aiohttp  # already loaded by start()

        assert self._session is not None
        try:
            async with self._session.post(
                event.url,
                data=event.body,
                headers=self._traced(event, headers),
                allow_redirects=False,
            ) as response:
                status = response.status
                await response.content.read(64 * 1024)  # the start of an answer, unused
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # A refused connection's errors are each held by a frame of their own traceback
            # (aiohttp's `last_exc`, aiohappyeyeballs' `first_exception`): cycles through
            # every frame down from here, the event and the request, some 80 objects an
            # attempt, left to the collector. Only the text is kept.
            forget_frames(exc)
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return status, "" if 200 <= status < 300 else f"HTTP {status}"

    def _went_down(self, url: str, now: float, error: str) -> None:
        if url not in self.counts.down_since:
            self.counts.down_since[url] = now
            log.warning("webhooks to %s failing (%s): retrying with backoff", url, error)

    def _came_back(self, url: str, now: float) -> None:
        since = self.counts.down_since.pop(url, None)
        if since is not None:
            log.info("webhooks to %s delivered again after %.0f s", url, now - since)
