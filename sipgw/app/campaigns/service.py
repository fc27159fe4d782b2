"""The campaigns of one gateway: the store, the scheduler and its loop, what the API asks.

:class:`Campaigns` reads a request (settings, then contacts from a CSV text or a JSON
list, every number judged by the dial allow-list), stores it and wakes the loop; pauses,
resumes and cancels; gives progress and results; keeps the do-not-call list; and keeps
a snapshot of every campaign's progress for ``/metrics``, refreshed on each pass of the
loop. :func:`start_campaigns` wires it to a running gateway. A gateway that never had a
campaign keeps no file: the loop starts with the first one.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sipgw.app.campaigns.contacts import (
    contacts_from_csv,
    contacts_from_json,
    normalize_number,
)
from sipgw.app.campaigns.metrics import SHOWN, CampaignMetrics
from sipgw.app.campaigns.model import (
    Campaign,
    CampaignLimits,
    CampaignSpec,
    CampaignState,
    Contact,
    Progress,
    campaign_spec,
)
from sipgw.app.campaigns.runner import CampaignRunner, Dialer, gateway_dialer
from sipgw.app.campaigns.scheduler import CampaignEvent, CampaignScheduler
from sipgw.app.campaigns.settings import CampaignSection
from sipgw.app.campaigns.store import CampaignStore
from sipgw.app.claimers import claim_owner
from sipgw.app.gateway import Gateway, gateway_room

__all__ = ["MAX_DNC_CHANGE", "RESULT_COLUMNS", "SHOWN", "Campaigns", "csv_cell", "start_campaigns"]

log = logging.getLogger("sipgw.campaigns")

RESULT_COLUMNS = ("row", "number", "time_zone", "state", "attempts", "outcome", "detail",
                  "call_id", "updated")  # fmt: skip
"""The results CSV's first columns; the contacts' variables follow."""
MAX_DNC_CHANGE = 10000
"""Numbers one do-not-call request may add or remove."""


def csv_cell(value: str) -> str:
    """``value`` safe to open in a spreadsheet: text that a spreadsheet would run as a
    formula (``=``, ``+``, ``-``, ``@``, tab, return first) gets a ``'`` in front (OWASP's
    CSV injection advice)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class Campaigns:
    """See the module docstring.

    Args:
        store: the store (SQLite's, or PostgreSQL's in a cluster).
        limits: the bounds on a request (the ``campaigns`` settings).
        dial: places one order's call (:func:`~sipgw.app.campaigns.runner.gateway_dialer`).
        allowed: whether the dial allow-list lets campaigns call a number or URI.
        known: raises ``ValueError`` naming a ``line`` or ``agent`` this gateway lacks
            (called with the request's spec).
        clock: wall time.
        poll_interval: the loop's longest sleep.
        lease: seconds a claim holds without renewal (``SIPGW_CAMPAIGN_LEASE``).
        room: calls this gateway may still place (:func:`~sipgw.app.gateway.gateway_room`).
    """

    def __init__(
        self,
        store: CampaignStore,
        limits: CampaignLimits,
        dial: Dialer,
        *,
        allowed: Callable[[str], bool],
        known: Callable[[CampaignSpec], None] = lambda spec: None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 2.0,
        lease: float = 120.0,
        room: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.allowed = allowed
        self.known = known
        self.clock = clock
        owner = claim_owner()
        self.scheduler = CampaignScheduler(store, owner, lease=lease)
        self.runner = CampaignRunner(
            self.scheduler, dial, clock=clock, poll_interval=poll_interval,
            on_events=self._on_events, refresh=self._refresh, room=room,
        )  # fmt: skip
        self.sinks: list[Callable[[list[CampaignEvent]], None]] = []
        """Who gets the events (the webhooks)."""
        self.snapshot: list[tuple[Campaign, Progress]] = []
        """The newest campaigns (:data:`~sipgw.app.campaigns.metrics.SHOWN`) and their
        progress, as of the loop's last pass."""

    def start(self) -> None:
        """Start the loop if there are campaigns (else with the first one)."""
        if self.store.exists():
            self.runner.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop dialing; calls in progress get ``grace`` s to end and be recorded."""
        await self.runner.stop(grace)

    def _on_events(self, events: list[CampaignEvent]) -> None:
        for sink in self.sinks:
            sink(events)

    async def _refresh(self) -> None:
        newest = await self.store.campaigns(limit=SHOWN)  # what /metrics shows
        self.snapshot = [(c, await self.store.progress(c.id)) for c in newest]

    # -- requests ---------------------------------------------------------------------

    def read(self, body: Mapping[str, Any]) -> tuple[CampaignSpec, list[Contact]]:
        """A campaign's settings and contacts from ``POST /api/campaigns``'s JSON object
        (``csv``: the CSV text; or ``contacts``: the list).

        Raises:
            ValueError: naming the field, or the row and field, at fault.
        """
        spec = campaign_spec(body, self.limits)
        self.known(spec)
        given = [name for name in ("csv", "contacts") if body.get(name) is not None]
        if len(given) != 1:
            raise ValueError('give the contacts as "csv" (the CSV text) or "contacts" (a list)')
        if given[0] == "csv":
            text = body["csv"]
            if not isinstance(text, str):
                raise ValueError(
                    '"csv" must be the CSV text (a header row, then one row a contact)'
                )
            contacts = contacts_from_csv(text, spec.time_zone, self.allowed, self.limits)
        else:
            contacts = contacts_from_json(body["contacts"], spec.time_zone, self.allowed,
                                          self.limits)  # fmt: skip
        return spec, contacts

    async def create(self, spec: CampaignSpec, contacts: Sequence[Contact]) -> int:
        """Store a running campaign; its first calls go out at once (calling hours allowing)."""
        campaign_id = await self.store.create(spec, contacts, self.clock())
        log.info("campaign %d (%s): %d contacts, %g calls/s, at most %d at once, hours %s",
                 campaign_id, spec.name, len(contacts), spec.per_second, spec.concurrency,
                 spec.hours.describe())  # fmt: skip
        self.runner.start()
        self.runner.wake()
        await self._refresh()
        return campaign_id

    async def change(self, campaign_id: int, state: CampaignState) -> bool:
        """Pause, resume or cancel; False when its state does not allow it."""
        changed = await self.store.set_state(campaign_id, state, self.clock())
        if changed:
            log.info("campaign %d: %s", campaign_id, state.value)
            self.runner.wake()
            await self._refresh()
        return changed

    async def describe(self, campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Every campaign (or one) with its settings, state and progress."""

        if not self.store.exists():
            return []
        if campaign_id is None:
            wanted = await self.store.campaigns()
        else:
            wanted = [c for c in [await self.store.campaign(campaign_id)] if c is not None]
        return [
            {"id": c.id, "state": c.state.value, "created": _iso(c.created),
             "settings": c.spec.as_json(),
             "progress": (await self.store.progress(c.id)).as_json()}
            for c in wanted
        ]  # fmt: skip

    async def results_csv(self, campaign_id: int) -> str | None:
        """The campaign's contacts and how each ended, as CSV (None: no such campaign)."""

        if not self.store.exists() or await self.store.campaign(campaign_id) is None:
            return None
        rows = await self.store.contacts(campaign_id)
        names = list(dict.fromkeys(name for row in rows for name in row.variables))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 §2
        writer.writerow([*RESULT_COLUMNS, *names])
        for row in rows:
            writer.writerow([
                row.row, row.number, row.time_zone, row.state.value, row.attempts,
                row.last_outcome, csv_cell(row.detail), row.call_id, _iso(row.updated),
                *(csv_cell(row.variables.get(name, "")) for name in names),
            ])  # fmt: skip
        return out.getvalue()

    # -- do not call ------------------------------------------------------------------

    def dnc_numbers(self, given: Any) -> list[str]:
        """``{"numbers": [...]}``'s numbers, normalized as contacts' are.

        Raises:
            ValueError: naming the entry at fault.
        """
        if not isinstance(given, list) or not given or len(given) > MAX_DNC_CHANGE:
            raise ValueError(f'"numbers" must be a list of 1 to {MAX_DNC_CHANGE} numbers')
        numbers = []
        for index, text in enumerate(given, start=1):
            if not isinstance(text, str) or len(text) > self.limits.max_field:
                raise ValueError(f'"numbers" entry {index}: must be a phone number or SIP URI')
            try:
                numbers.append(normalize_number(text))
            except ValueError as exc:
                raise ValueError(f'"numbers" entry {index}: {exc}') from None
        return numbers

    async def dnc_add(self, numbers: list[str]) -> int:
        return await self.store.dnc_add(numbers, self.clock())

    async def dnc_remove(self, numbers: list[str]) -> int:
        if not self.store.exists():
            return 0
        return await self.store.dnc_remove(numbers)

    async def dnc_list(self, limit: int) -> list[str]:
        if not self.store.exists():
            return []
        return await self.store.dnc_list(limit)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def start_campaigns(
    settings: CampaignSection, gateway: Gateway, shared: CampaignStore | None = None
) -> Campaigns:
    """The campaigns of ``gateway`` (started, placing calls), kept in ``SIPGW_CAMPAIGN_DB``
    or in ``shared`` (the cluster's database: every gateway dials them), their progress in
    its ``/metrics``; the loop runs if there are campaigns (always with ``shared``)."""
    outbound = gateway.outbound

    def known(spec: CampaignSpec) -> None:
        if spec.agent is not None:
            try:
                outbound.agent_named(spec.agent)
            except ValueError as exc:
                raise ValueError(f'"agent": {exc}') from None
        if spec.line is not None:
            try:
                outbound.lines(spec.line)
            except ValueError as exc:
                raise ValueError(f'"line": {exc}') from None

    campaigns = Campaigns(
        shared if shared is not None else CampaignStore(Path(settings.campaign_db)),
        settings.limits(),
        gateway_dialer(gateway.originate, outbound.agent_named),
        allowed=lambda target: gateway.dial_policy.allows("call", target), known=known,
        lease=settings.campaign_lease, room=lambda: gateway_room(gateway),
    )  # fmt: skip
    gateway.metrics.registry.register(CampaignMetrics(lambda: campaigns.snapshot))
    campaigns.start()
    return campaigns
