"""The campaigns' scheduler: which contact to dial now, and what becomes of it after.

No asyncio, no sockets, no clock; every step takes ``now`` (epoch seconds: due times
outlive the process). The store is injected (:class:`~sipgw.app.campaigns.store.
CampaignStore`): the steps that use it are coroutines that await only the store's own (its
units of work); :mod:`~sipgw.app.campaigns.runner` is the loop around it.

Theory of operation
-------------------
*Claims.* :meth:`CampaignScheduler.poll` asks the store for each running campaign's next
due contact until it says no: the store's claim is atomic and enforces the campaign's
state, its pacing (``per_second``) and its cap (``concurrency``) across every scheduler
sharing it, so no contact is dialled twice at once.

*Before every dial*, a claimed contact is checked against the do-not-call list (on it:
``dnc``, final, no call) and its calling hours in its own time zone (closed: ``pending``
again at the next opening). Either way the claim is given back uncounted and the pacing
slot returned.

*After a dial*, :meth:`CampaignScheduler.record` applies the retry rule
(:mod:`~sipgw.app.campaigns.outcomes`) and writes the outcome, if this scheduler still
holds the claim.

*Room.* A gateway claims only as many contacts as it has room for calls (``poll``'s
``limit``: below ``SIPGW_MAX_CALLS``, not draining nor overloaded); a full one claims
none and leaves the campaign's contacts to the gateways with room.

*Restarts.* A ``dialing`` contact whose claimer is gone (a process on this host that no
longer runs, or a lease that ran out) was cut by a crash: :meth:`recover` records that
attempt as ``interrupted`` and applies the ``failed`` retry rule: it is dialled again
later, or failed when no attempt is left, never silently lost and never dialled twice at
once (the claimer's lease is renewed while its call lasts). A claim of this scheduler's
own that it no longer dials (its outcome could not be written: the database failed) is
found the same way once its lease runs out.

Events for webhooks and logs queue up in :meth:`events_to_send`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipgw.app.campaigns.hours import next_open
from sipgw.app.campaigns.model import Campaign, CampaignState, ContactRow, ContactState
from sipgw.app.campaigns.outcomes import Attempt, decide
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.claimers import claimer_alive

__all__ = [
    "CampaignEvent",
    "CampaignFinished",
    "CampaignScheduler",
    "ContactAttempted",
    "ContactSkipped",
    "DialOrder",
]

MAX_CLAIMS_PER_POLL = 500
"""Claims one poll makes at most (a poll stays short; the next one goes on)."""


@dataclass(frozen=True, slots=True)
class DialOrder:
    """A claimed contact to dial now, with its campaign's settings."""

    campaign: Campaign
    contact: ContactRow


@dataclass(frozen=True, slots=True)
class ContactAttempted:
    """An attempt ended (or was cut by a crash: ``interrupted``)."""

    campaign: Campaign
    contact: ContactRow
    """The contact as claimed (``attempts`` counts this attempt)."""
    attempt: Attempt
    state: ContactState
    next_at: float | None


@dataclass(frozen=True, slots=True)
class ContactSkipped:
    """A contact was not dialled: on the do-not-call list (``dnc``, final)."""

    campaign: Campaign
    contact: ContactRow
    state: ContactState


@dataclass(frozen=True, slots=True)
class CampaignFinished:
    """Nothing is left to dial in a campaign."""

    campaign: Campaign


CampaignEvent = ContactAttempted | ContactSkipped | CampaignFinished


class CampaignScheduler:
    """Claims due contacts, checks them, records outcomes (module docstring).

    Args:
        store: the campaigns' store.
        owner: this scheduler's claim name (``host:pid:random``).
        lease: seconds a claim holds without renewal (renewed while the call lasts).
        owner_alive: whether another claimer still runs (default
            :func:`~sipgw.app.claimers.claimer_alive`).
    """

    def __init__(
        self,
        store: CampaignStore,
        owner: str,
        *,
        lease: float = 120.0,
        owner_alive: Callable[[str], bool] = claimer_alive,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.owner_alive = owner_alive
        self.in_flight: dict[int, DialOrder] = {}
        """The contacts this scheduler is dialing, by id."""
        self._events: list[CampaignEvent] = []

    def events_to_send(self) -> list[CampaignEvent]:
        """The events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    async def recover(self, now: float) -> list[ContactRow]:
        """Record the attempts cut by a crash (module docstring); returns their contacts."""
        recovered = []
        for row in await self.store.dialing():
            holder = row.claimed_by
            if holder == self.owner and row.id in self.in_flight:
                continue  # this scheduler's call, in progress (its lease renewed)
            expired = row.lease_until is None or row.lease_until < now
            if (
                not expired
                and holder is not None
                and (holder == self.owner or self.owner_alive(holder))
            ):
                continue
            campaign = await self.store.campaign(row.campaign)
            if campaign is None:
                continue
            attempt = Attempt("interrupted", f"interrupted: the dialing process ({holder}) stopped")
            decision = decide(campaign.spec.retry, attempt, row.attempts, now)
            if await self.store.finish(
                row.id, holder, decision.state, attempt, decision.next_at, now
            ):
                recovered.append(row)
                self._events.append(ContactAttempted(campaign, row, attempt, decision.state,
                                                     decision.next_at))  # fmt: skip
        return recovered

    async def poll(self, now: float, limit: int | None = None) -> list[DialOrder]:
        """Claim what may be dialled now, in every running campaign, at most ``limit``
        contacts (this gateway's room for calls; None: no limit); finish the campaigns
        with nothing left."""
        orders: list[DialOrder] = []
        claims = 0
        for campaign in await self.store.campaigns(CampaignState.RUNNING):
            while claims < MAX_CLAIMS_PER_POLL and (limit is None or len(orders) < limit):
                claimed = await self.store.claim_next(campaign.id, self.owner, now, self.lease)
                if claimed is None:
                    break
                claims += 1
                contact, paced = claimed
                order = await self._check(campaign, contact, paced, now)
                if order is not None:
                    self.in_flight[contact.id] = order
                    orders.append(order)
            if await self.store.finish_if_done(campaign.id, now):
                self._events.append(CampaignFinished(campaign))
        return orders

    async def _check(
        self, campaign: Campaign, contact: ContactRow, paced: float, now: float
    ) -> DialOrder | None:
        """The order for a claimed contact, or None when it may not be dialled now."""
        if await self.store.dnc_has(contact.number):
            if await self.store.unclaim(
                contact.id, self.owner, ContactState.DNC, contact.next_at,
                "on the do-not-call list", now, paced,
            ):  # fmt: skip
                self._events.append(ContactSkipped(campaign, contact, ContactState.DNC))
            return None
        opens = next_open(campaign.spec.hours, contact.time_zone, now)
        if opens > now:
            await self.store.unclaim(contact.id, self.owner, ContactState.PENDING, opens,
                                     "outside calling hours", now, paced)  # fmt: skip
            return None
        return DialOrder(campaign, contact)

    async def record(self, order: DialOrder, attempt: Attempt, now: float) -> ContactState | None:
        """Write how ``order``'s call ended and what becomes of its contact; None when the
        claim was taken over meanwhile (nothing written)."""
        contact = order.contact
        self.in_flight.pop(contact.id, None)
        decision = decide(order.campaign.spec.retry, attempt, contact.attempts, now)
        if not await self.store.finish(contact.id, self.owner, decision.state, attempt,
                                       decision.next_at, now):  # fmt: skip
            return None
        self._events.append(ContactAttempted(order.campaign, contact, attempt, decision.state,
                                             decision.next_at))  # fmt: skip
        if await self.store.finish_if_done(contact.campaign, now):
            self._events.append(CampaignFinished(order.campaign))
        return decision.state

    def forget(self, order: DialOrder) -> None:
        """Stop renewing ``order``'s claim (its call was abandoned: a restart recovers it)."""
        self.in_flight.pop(order.contact.id, None)

    async def renew(self, now: float) -> None:
        """Extend the claims of the contacts being dialled."""
        if self.in_flight:
            await self.store.renew(list(self.in_flight), self.owner, now + self.lease)

    async def next_wakeup(self, now: float, poll_interval: float) -> float:
        """When to look again: the next due contact of a campaign below its cap (at once
        when it became due while :meth:`poll` ran: its pacing's slot came meanwhile), the
        next renewal, or the next poll. A campaign at its cap waits for a call to end: the
        runner looks again when one of its own does, the next poll sees the others'."""
        wake = now + poll_interval
        if self.in_flight:
            wake = min(wake, now + self.lease / 3)
        due = await self.store.next_due()
        if due is not None:
            wake = min(wake, due)
        return wake
