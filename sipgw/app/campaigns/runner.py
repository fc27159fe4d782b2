"""The campaigns' asyncio loop around :class:`~sipgw.app.campaigns.scheduler.CampaignScheduler`,
and the dialer that places its calls through the gateway.

Thin: it passes wall time in, awaits the scheduler's steps (the store's units of work),
dials each order in a task of its own, records the outcome, hands the scheduler's events on
(webhooks, logs) and sleeps until the scheduler's next wake-up or until a call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sipgw.agent.amd.settings import AmdRequest
from sipgw.agent.base import AgentFactory
from sipgw.agent.dialpolicy import DialRefused
from sipgw.app.campaigns.outcomes import Attempt, attempt_of
from sipgw.app.campaigns.scheduler import (
    CampaignEvent,
    CampaignFinished,
    CampaignScheduler,
    ContactAttempted,
    ContactSkipped,
    DialOrder,
)
from sipgw.foundation.stopping import cancel_and_wait, finish_or_cancel

__all__ = ["CampaignRunner", "Dialer", "Originate", "gateway_dialer"]

log = logging.getLogger("sipgw.campaigns")

Dialer = Callable[[DialOrder], Awaitable[Attempt]]
"""Places one order's call and says how it ended."""


class OutcomeLike(Protocol):
    """What a placed call's outcome says (:class:`~sipgw.app.calls.outbound.CallOutcome`)."""

    kind: str
    answered: bool
    reason: str
    id: str | None
    amd: Mapping[str, Any] | None

    def describe(self) -> str: ...


class PlacedLike(Protocol):
    """A placed call (:class:`~sipgw.app.calls.outbound.PlacedCall`)."""

    outcome: asyncio.Future[Any]
    refused: bool


class Originate(Protocol):
    """``Gateway.originate`` as campaigns use it."""

    def __call__(
        self,
        target: str,
        *,
        agent: AgentFactory | None,
        caller_id: str | None,
        ring_timeout: float | None,
        for_agent: bool,
        variables: Mapping[str, str],
        line: str | None,
        amd: AmdRequest | None,
        ivr_goal: str | None,
    ) -> Awaitable[PlacedLike]: ...


def gateway_dialer(originate: Originate, agent_named: Callable[[str], AgentFactory]) -> Dialer:
    """Orders placed with ``originate`` (``Gateway.originate``), with their campaign's
    line, agent (``agent_named``), caller id, ring timeout and detection, and the contact's
    variables; the dial allow-list judges every target (``for_agent``)."""

    async def dial(order: DialOrder) -> Attempt:
        spec, contact = order.campaign.spec, order.contact
        try:
            factory = agent_named(spec.agent) if spec.agent else None
            placed = await originate(
                contact.number, agent=factory, caller_id=spec.caller_id,
                ring_timeout=spec.ring_timeout, for_agent=True,
                variables=dict(contact.variables), line=spec.line, amd=spec.amd,
                ivr_goal=spec.ivr_goal,
            )  # fmt: skip
        except DialRefused as exc:
            return Attempt("refused", f"refused: {exc.reason}")
        except ValueError as exc:
            return Attempt("refused", str(exc))
        outcome: OutcomeLike = await asyncio.shield(placed.outcome)
        if placed.refused:
            return Attempt("refused", f"refused: {outcome.reason}")
        return attempt_of(outcome.kind, outcome.answered, outcome.amd, outcome.describe(),
                          outcome.id or "")  # fmt: skip

    return dial


class CampaignRunner:
    """Runs a :class:`CampaignScheduler` on the event loop until stopped.

    Args:
        scheduler: the sans-IO core.
        dial: places one order's call.
        clock: wall time (epoch seconds).
        poll_interval: seconds between looks when nothing is due sooner.
        on_events: gets the scheduler's events (webhooks); called on the loop.
        refresh: awaited after each pass (the progress snapshot for ``/metrics``).
        room: how many more calls this gateway may place now (None: no limit; 0: it is
            full, draining or overloaded: :func:`~sipgw.app.gateway.gateway_room`); a
            pass claims no more contacts than that.
    """

    def __init__(
        self,
        scheduler: CampaignScheduler,
        dial: Dialer,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 2.0,
        on_events: Callable[[list[CampaignEvent]], None] | None = None,
        refresh: Callable[[], Awaitable[None]] | None = None,
        room: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.scheduler = scheduler
        self.room = room
        self.dial = dial
        self.clock = clock
        self.poll_interval = poll_interval
        self.on_events = on_events
        self.refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._dials: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        """Set by :meth:`stop_polling`: the loop ends at its next turn even if the task's
        cancellation was lost (Python 3.11's ``wait_for`` can swallow one that comes as the
        wait it guards ends, gh-86296)."""
        self.passes = 0
        """Loop passes made (tests wait on it)."""

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start the loop (its first pass runs at once)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="campaigns")

    def wake(self) -> None:
        """Look now (a campaign was created or resumed, a call ended)."""
        self._wake.set()

    async def stop_polling(self) -> None:
        """Claim nothing more; the calls in progress go on."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await cancel_and_wait(self._task)
            self._task = None

    async def stop(self, grace: float = 5.0) -> None:
        """Claim nothing more; give the calls in progress ``grace`` s to end and be
        recorded, then abandon them (a restart recovers their contacts)."""
        await self.stop_polling()
        await finish_or_cancel(self._dials, grace)

    async def _run(self) -> None:
        scheduler = self.scheduler
        while not self._stopping:
            self._wake.clear()  # before the work: a wake-up during it (a call ended) is kept
            try:
                await scheduler.recover(self.clock())
                room = self.room()
                orders = await scheduler.poll(self.clock(), room)
                for order in orders:
                    task = asyncio.get_running_loop().create_task(
                        self._dial(order), name=f"campaign-contact-{order.contact.id}"
                    )
                    self._dials.add(task)
                    task.add_done_callback(self._dials.discard)
                await scheduler.renew(self.clock())
                self._publish()
                if self.refresh is not None:
                    await self.refresh()
                wake = await scheduler.next_wakeup(self.clock(), self.poll_interval)
                if room is not None and len(orders) >= room:  # full: a call's end wakes it
                    wake = max(wake, self.clock() + self.poll_interval)
            except Exception as exc:  # the store's database: SQLite's or PostgreSQL's errors
                log.error("campaign store: %s (retrying)", exc)
                wake = self.clock() + self.poll_interval
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - self.clock())):
                    await self._wake.wait()

    async def _dial(self, order: DialOrder) -> None:
        contact = order.contact
        log.info("campaign %d: dialing row %d, %s (attempt %d of %d)", order.campaign.id,
                 contact.row, contact.number, contact.attempts,
                 order.campaign.spec.retry.max_attempts)  # fmt: skip
        try:
            attempt = await self.dial(order)
        except asyncio.CancelledError:
            self.scheduler.forget(order)
            raise
        except Exception as exc:
            log.exception("campaign %d: placing row %d failed", order.campaign.id, contact.row)
            attempt = Attempt("failed", f"error: {type(exc).__name__}: {exc}")
        try:
            await self.scheduler.record(order, attempt, self.clock())
        except Exception as exc:  # the store's database: SQLite's or PostgreSQL's errors
            log.error("campaign %d: row %d's outcome not recorded: %s (the contact is "
                      "retried once its claim's lease runs out)", order.campaign.id,
                      contact.row, exc)  # fmt: skip
        self._publish()
        self.wake()

    def _publish(self) -> None:
        events = self.scheduler.events_to_send()
        for event in events:
            _log_event(event)
        if events and self.on_events is not None:
            try:
                self.on_events(events)
            except Exception:
                log.exception("campaign events not sent")


def _log_event(event: CampaignEvent) -> None:
    if isinstance(event, ContactAttempted):
        later = f", again in {event.next_at - time.time():.0f} s" if event.next_at else ""
        log.info("campaign %d: row %d, %s: %s (%s) -> %s%s", event.campaign.id,
                 event.contact.row, event.contact.number, event.attempt.outcome,
                 event.attempt.detail, event.state.value, later)  # fmt: skip
    elif isinstance(event, ContactSkipped):
        log.info("campaign %d: row %d, %s: not dialled (%s)", event.campaign.id,
                 event.contact.row, event.contact.number, event.state.value)  # fmt: skip
    elif isinstance(event, CampaignFinished):
        log.info("campaign %d (%s): finished", event.campaign.id, event.campaign.spec.name)
