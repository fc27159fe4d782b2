"""Callbacks really happen: a persisted scheduler that dials what ``schedule_callback`` stored.

The store is the SQLite table of :mod:`sipgw.agent.tools.callback_store` (the file
``SIPGW_CALLBACK_DB``); its rows go ``pending`` -> ``dialing`` -> ``done`` or
``failed``. :class:`CallbackScheduler` is the logic, with time passed in (tests
drive it on a fake clock); :class:`CallbackRunner` is the thin asyncio loop
around it that ``sipgw serve`` runs.

Theory of operation
-------------------
*Due rows.* Every poll (and at the next due time) the scheduler claims the
pending rows whose next attempt is due - including those whose time passed
while no gateway ran: they are dialed at start, not lost - as many as it has
room for (:meth:`CallbackStore.claim_due`): one ``UPDATE ... WHERE id IN (SELECT
... LIMIT n) RETURNING``, alone under SQLite's single writer, with ``FOR UPDATE SKIP
LOCKED`` in PostgreSQL (:func:`sipgw.foundation.stores.sql.claim_due`). Of two schedulers sharing
the store (two processes, or gateways on two machines) exactly one gets a row, so
a callback is never dialed twice at once. A claimed row that cannot be dialed (no
due time, not a phone number, a number neither the allowed prefixes nor the dial
allow-list admit) is marked ``failed`` with the reason and logged; the gateway
checks the target again (``place_call(..., for_agent=True)``), and a refusal there
fails the row too.

*Dialing.* A claimed row is dialed through the injected :class:`PlaceCall`
(``Gateway.place_call`` in production) with its purpose, so the agent knows why
it calls and speaks first; it asks for no answering-machine detection, so it runs
the gateway's default (``SIPGW_AMD``, docs/amd.md), which its agent sees as the
call's ``amd`` (:class:`OutboundCall`). Answered: ``done``. Busy, no answer, declined,
unreachable or an error: ``pending`` again ``retry_delay`` later, until
``attempts`` attempts have been made; then ``failed``. ``last_outcome`` holds
the latest result.

*Leases.* A claim holds for ``lease`` seconds and is renewed while the call
lasts. A ``dialing`` row whose lease ran out, or whose claimer was a process on
this host that no longer exists, was left by a crash: it becomes pending again
(that attempt counted) and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sipgw.agent.amd.settings import AmdCall, AmdRequest
from sipgw.agent.base import Agent, AgentFactory, CallControl, CallDetails, CallPurpose, Direction
from sipgw.agent.capabilities import PluginFactory, plugin_factory
from sipgw.agent.conversation.sections import BuiltinToolsSection, CallbackSection
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.ivr.goal import IvrCall
from sipgw.agent.tools.builtin import callback_allowed
from sipgw.agent.tools.callback_store import (
    CallbackRow,
    CallbackState,
    CallbackStore,
    dialable_number,
)
from sipgw.app.claimers import claim_owner, claimer_alive
from sipgw.app.security.settings import DialSection
from sipgw.foundation.stopping import cancel_and_wait, finish_or_cancel
from sipgw.sip.dialpolicy import DialPolicy

__all__ = [
    "CallbackPolicy",
    "CallbackRunner",
    "CallbackScheduler",
    "DialRequest",
    "DialResult",
    "OutboundCall",
    "PlaceCall",
    "callback_agent",
    "CallbackSetup",
    "callback_setup",
    "gateway_dialer",
    "start_callbacks",
]

log = logging.getLogger("sipgw.callbacks")


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """How callbacks are dialed (the CALLBACKS settings)."""

    attempts: int = 3
    """Dial attempts per callback before it is ``failed``."""
    retry_delay: float = 300.0
    """Seconds from an unanswered attempt to the next."""
    allowed_prefixes: tuple[str, ...] = ()
    """Numbers starting with one of these may be dialed (``SIPGW_CALLBACK_ALLOWED_PREFIXES``)."""
    dial_policy: DialPolicy = DialPolicy()
    """Numbers it allows for calls may be dialed too (``SIPGW_DIAL_ALLOW``); with no
    prefixes and an empty policy, no callback is dialed."""
    uri_template: str = ""
    """``sip:{number}@host`` to dial numbers at a host; "" = the number itself."""
    lease: float = 120.0
    """Seconds a claim holds without renewal (renewed every third of it while dialing)."""
    max_concurrent: int = 4
    """Callbacks dialing at once, per scheduler; the rest wait for the next poll."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    """One attempt to place: the row, where to call, and why."""

    callback: CallbackRow
    target: str
    """The number, or the SIP URI from ``uri_template``."""
    purpose: CallPurpose


@dataclass(frozen=True, slots=True)
class DialResult:
    """How one attempt ended."""

    answered: bool
    outcome: str
    """For people and the ``last_outcome`` column, e.g. ``busy (486)``."""


class PlaceCall(Protocol):
    """Places one call and waits until it ends (answered and hung up, or failed)."""

    def __call__(self, request: DialRequest) -> Awaitable[DialResult]:
        """Dial ``request.target``; the agent must get ``request.purpose``."""
        ...


class CallOutcomeLike(Protocol):
    """What :meth:`Gateway.place_call` returns (``sipgw.app.calls.outbound.CallOutcome``)."""

    @property
    def answered(self) -> bool:
        """The far end answered (2xx)."""
        ...

    def describe(self) -> str:
        """One line for people, e.g. ``busy (SIP 486)``."""
        ...


@runtime_checkable
class CallPlacer(Protocol):
    """The gateway, as far as callbacks need it."""

    def place_call(
        self, target: str, *, agent: AgentFactory | None = None, for_agent: bool = False
    ) -> Awaitable[CallOutcomeLike]:
        """Call ``target`` with ``agent``'s agents; done when the call has ended.

        With ``for_agent`` the gateway's dial allow-list must allow ``target``
        (else ``sipgw.agent.dialpolicy.DialRefused``)."""
        ...


@dataclass(frozen=True, slots=True)
class CallbackSetup:
    """Where callbacks are stored and how they are dialed."""

    store: Path
    policy: CallbackPolicy
    shared: CallbackStore | None = None
    """The cluster's store (``SIPGW_DATABASE_URL``); None = the SQLite file ``store``."""


def callback_setup(
    tools: BuiltinToolsSection, callbacks: CallbackSection, dial: DialSection
) -> CallbackSetup:
    """Where the assistant's ``schedule_callback`` stores callbacks (``SIPGW_CALLBACK_DB``)
    and how they are dialed (the ``callbacks`` and ``dial`` sections)."""
    policy = CallbackPolicy(
        attempts=callbacks.callback_attempts,
        retry_delay=callbacks.callback_retry_delay,
        allowed_prefixes=callbacks.callback_allowed_prefixes,
        dial_policy=DialPolicy(dial.dial_allow),
        uri_template=callbacks.callback_uri,
    )
    return CallbackSetup(tools.callback_path, policy)


def start_callbacks(
    setup: CallbackSetup, gateway: object, factory: AgentFactory
) -> CallbackRunner | None:
    """Start dialing the stored callbacks through ``gateway`` (None: it cannot place calls)."""
    store = setup.shared or CallbackStore(setup.store)
    if not isinstance(gateway, CallPlacer):
        log.warning("this gateway cannot place calls: callbacks stay stored in %s", store.where)
        return None
    scheduler = CallbackScheduler(store, gateway_dialer(gateway, factory), setup.policy)
    runner = CallbackRunner(scheduler)
    runner.start()
    log.info("callbacks: dialing from %s (%d attempts, %g s apart)", store.where,
             setup.policy.attempts, setup.policy.retry_delay)  # fmt: skip
    return runner


def gateway_dialer(gateway: CallPlacer, factory: AgentFactory) -> PlaceCall:
    """Callbacks placed by ``gateway``, answered by ``factory``'s agents told why they call."""

    async def place(request: DialRequest) -> DialResult:
        outcome = await gateway.place_call(
            request.target, agent=callback_agent(factory, request.purpose), for_agent=True
        )
        return DialResult(outcome.answered, outcome.describe())

    return place


class CallbackScheduler:
    """Claims due callbacks from the store, dials them, records the outcomes.

    Args:
        store: the callback store.
        place_call: places one call (see :class:`PlaceCall`).
        policy: attempts, retry delay, number rules.
        owner: this scheduler's claim name; default ``host:pid:random``.
        owner_alive: whether another claimer still runs; default: a claimer on
            this host is alive while its process exists, others until their
            lease runs out.
    """

    def __init__(
        self,
        store: CallbackStore,
        place_call: PlaceCall,
        policy: CallbackPolicy | None = None,
        *,
        owner: str | None = None,
        owner_alive: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.place_call = place_call
        self.policy = policy or CallbackPolicy()
        self.owner = owner or claim_owner()
        self.owner_alive = owner_alive or claimer_alive
        self.in_flight: set[int] = set()

    # -- steps, each with the time passed in ------------------------------------------

    async def recover(self, now: float) -> list[int]:
        """Requeue ``dialing`` rows left by a claimer that is gone; returns their ids."""
        recovered = []
        for row in await self.store.dialing():
            if row.claimed_by == self.owner:
                continue
            expired = row.lease_until is None or row.lease_until < now
            if not expired and row.claimed_by is not None and self.owner_alive(row.claimed_by):
                continue
            if row.attempts >= self.policy.attempts:
                done = await self.store.release(
                    row.id, CallbackState.FAILED, "interrupted: the dialing process stopped",
                    now, owner=row.claimed_by,
                )  # fmt: skip
            else:
                done = await self.store.requeue_stale(row.id, row.claimed_by, now)
            if done:
                log.warning("callback %d: its dialing process (%s) stopped; %s", row.id,
                            row.claimed_by, "retrying" if row.attempts < self.policy.attempts
                            else "no attempts left")  # fmt: skip
                recovered.append(row.id)
        return recovered

    async def claim_due(self, now: float) -> list[DialRequest]:
        """Claim the due callbacks this scheduler has room for; bad rows become ``failed``."""
        room = self.policy.max_concurrent - len(self.in_flight)
        claimed: list[DialRequest] = []
        for row in await self.store.claim_due(now, self.owner, self.policy.lease, room):
            problem, target = self._target(row)
            if problem:
                log.warning("callback %d cannot be dialed: %s", row.id, problem)
                await self.store.release(
                    row.id, CallbackState.FAILED, problem, now, owner=self.owner, dialed=False
                )
                continue
            purpose = CallPurpose(row.reason, row.notes, row.requested_time, row.id)
            claimed.append(DialRequest(row, target, purpose))
        return claimed

    def _target(self, row: CallbackRow) -> tuple[str, str]:
        """("", target) for a dialable row, else (why not, "")."""
        if row.due_at is None:
            return "no due time (stored before callbacks were dialed): call back by hand", ""
        try:
            number = dialable_number(row.phone)
        except ValueError as exc:
            return str(exc), ""
        if not callback_allowed(number, self.policy.allowed_prefixes, self.policy.dial_policy):
            return (
                f"{number} is not allowed (SIPGW_CALLBACK_ALLOWED_PREFIXES, SIPGW_DIAL_ALLOW)",
                "",
            )
        template = self.policy.uri_template
        return "", template.replace("{number}", number) if template else number

    async def dial(self, request: DialRequest, clock: Callable[[], float]) -> DialResult:
        """Place one claimed callback and record how it went."""
        row = request.callback
        self.in_flight.add(row.id)
        attempt = row.attempts  # as claimed: this attempt counted
        log.info("callback %d: dialing %s (attempt %d of %d)", row.id, request.target, attempt,
                 self.policy.attempts)  # fmt: skip
        refused = False
        try:
            result = await self.place_call(request)
        except asyncio.CancelledError:
            self.in_flight.discard(row.id)  # the lease runs out; another run retries it
            raise
        except DialRefused as exc:  # the gateway's own check: final, no retry
            result, refused = DialResult(False, f"refused: {exc.reason}"), True
        except Exception as exc:
            log.exception("callback %d: placing the call failed", row.id)
            result = DialResult(False, f"error: {type(exc).__name__}: {exc}")
        now = clock()
        if refused:
            state, next_at = CallbackState.FAILED, None
        elif result.answered:
            state, next_at = CallbackState.DONE, None
        elif attempt >= self.policy.attempts:
            state, next_at = CallbackState.FAILED, None
        else:
            state, next_at = CallbackState.PENDING, now + self.policy.retry_delay
        try:
            kept = await self.store.release(
                row.id, state, result.outcome, now, owner=self.owner, next_attempt_at=next_at
            )
        finally:
            self.in_flight.discard(row.id)
        if not kept:
            log.warning("callback %d: its claim was taken over; outcome %s not recorded",
                        row.id, result.outcome)  # fmt: skip
        else:
            retry = f", retry in {self.policy.retry_delay:g} s" if next_at is not None else ""
            log.info("callback %d: %s -> %s%s", row.id, result.outcome, state.value, retry)
        return result

    async def renew(self, now: float, row_ids: list[int] | None = None) -> None:
        """Extend the leases of the callbacks being dialed (``row_ids``: default all)."""
        ids = list(self.in_flight) if row_ids is None else row_ids
        if ids:
            await self.store.renew(ids, self.owner, now + self.policy.lease)

    async def next_wakeup(self, now: float, poll_interval: float) -> float:
        """When to look again: the next due time, the next renewal or the next poll."""
        wake = now + poll_interval
        if self.in_flight:
            wake = min(wake, now + self.policy.lease / 3)
        due = await self.store.next_due_at()
        if due is not None:
            wake = min(wake, max(due, now))
        return wake

    async def run_due(self, clock: Callable[[], float]) -> list[DialResult]:
        """One pass without a loop: recover, claim, dial each due callback, wait for all."""
        now = clock()
        await self.recover(now)
        requests = await self.claim_due(now)
        return list(await asyncio.gather(*(self.dial(r, clock) for r in requests)))


class CallbackRunner:
    """Runs a :class:`CallbackScheduler` on the event loop until stopped.

    It awaits the scheduler's steps (the store's units of work: SQLite's in a thread,
    PostgreSQL's on the loop); each due callback is dialed in a task of its own.
    ``clock`` is wall time (epoch seconds: due times outlive the process).
    """

    def __init__(
        self,
        scheduler: CallbackScheduler,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 2.0,
    ) -> None:
        self.scheduler = scheduler
        self.clock = clock
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._dials: set[asyncio.Task[DialResult]] = set()
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Start polling (the first pass runs at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="callbacks")

    def wake(self) -> None:
        """Look for due callbacks now (e.g. right after one was stored)."""
        self._wake.set()

    async def stop_polling(self) -> None:
        """Claim nothing more; calls in progress go on."""
        await cancel_and_wait(self._task)
        self._task = None

    async def stop(self, grace: float = 5.0) -> None:
        """Stop polling; wait up to ``grace`` s for calls in progress to end and be
        recorded, then cancel them (their rows are retried after a restart)."""
        await self.stop_polling()
        await finish_or_cancel(self._dials, grace)

    async def _run(self) -> None:
        scheduler = self.scheduler
        while True:
            self._wake.clear()  # before the work: a wake-up during it (a callback stored) is kept
            try:
                now = self.clock()
                await scheduler.recover(now)
                requests = await scheduler.claim_due(now)
                for request in requests:
                    task = asyncio.get_running_loop().create_task(
                        scheduler.dial(request, self.clock), name=f"callback-{request.callback.id}"
                    )
                    self._dials.add(task)
                    task.add_done_callback(self._dials.discard)
                await asyncio.sleep(0)  # the new dials start (and count as in flight)
                ids = list(scheduler.in_flight)
                await scheduler.renew(self.clock(), ids)
                wake = await scheduler.next_wakeup(self.clock(), self.poll_interval)
            except Exception as exc:  # the store's (sqlite3, psycopg) or the disk's: retried
                log.error("callback store %s: %s (retrying)", scheduler.store.where, exc)
                wake = self.clock() + self.poll_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - self.clock())):
                    await self._wake.wait()


class OutboundCall:
    """A call the gateway placed, as its agent sees it: ``direction`` is ``outbound``
    and ``purpose`` says why; everything else is the underlying call's."""

    def __init__(self, call: CallControl, purpose: CallPurpose | None) -> None:
        self._call = call
        self._purpose = purpose

    @property
    def call_id(self) -> str:
        return self._call.call_id

    @property
    def caller(self) -> str:
        return self._call.caller

    @property
    def called(self) -> str:
        return self._call.called

    @property
    def direction(self) -> Direction:
        return "outbound"

    @property
    def purpose(self) -> CallPurpose | None:
        return self._purpose

    @property
    def amd(self) -> AmdRequest | None:
        """The call's answering-machine detection (:class:`~sipgw.agent.amd.settings.AmdCall`)."""
        call = self._call
        return call.amd if isinstance(call, AmdCall) else None

    @property
    def ivr_goal(self) -> str:
        """The call's goal behind a phone menu (:class:`~sipgw.agent.ivr.goal.IvrCall`)."""
        call = self._call
        return call.ivr_goal if isinstance(call, IvrCall) else ""

    @property
    def verified_caller(self) -> str:
        return self._call.verified_caller

    @property
    def leg(self) -> str:
        return self._call.leg

    @property
    def details(self) -> CallDetails:
        return self._call.details

    def hangup(self, status: int = 480) -> None:
        self._call.hangup(status)

    def send_dtmf(self, digits: str) -> None:
        self._call.send_dtmf(digits)

    async def transfer(self, target: str, summary: str = "") -> bool:
        return await self._call.transfer(target, summary)

    def audio_ready(self, continuing: bool = False) -> None:
        self._call.audio_ready(continuing)

    def clear_audio(self) -> int:
        return self._call.clear_audio()


def callback_agent(factory: AgentFactory, purpose: CallPurpose | None) -> PluginFactory:
    """``factory``'s agents, told that the gateway placed the call and why (with its record
    and hooks: the same agent, on another call)."""

    def make(call: CallControl) -> Agent:
        return factory(OutboundCall(call, purpose))

    return dataclasses.replace(plugin_factory(factory), make=make)
