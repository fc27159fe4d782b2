"""Campaign events as webhooks, through the gateway's webhook outbox (docs/webhooks.md).

- ``campaign.contact``: an attempt ended, or a contact was not dialled: ``campaign``
  (``id``, ``name``), ``contact`` (``row``, ``number``, ``variables``, ``attempts``,
  ``outcome`` (:mod:`~sipgw.app.campaigns.outcomes`, or ``dnc``), ``detail``, ``call_id``,
  ``state``, ``next_attempt``: ISO time of the retry or null);
- ``campaign.finished``: nothing is left to dial: ``campaign``.

Each campaign's events go out in order (the outbox orders them by ``campaign-ID``).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sipgw.app.campaigns.model import Campaign
from sipgw.app.campaigns.scheduler import (
    CampaignEvent,
    CampaignFinished,
    ContactAttempted,
    ContactSkipped,
)
from sipgw.app.webhooks.delivery import WebhookDelivery
from sipgw.app.webhooks.events import encode, envelope, iso
from sipgw.app.webhooks.outbox import NewEvent

__all__ = ["CampaignWebhooks", "event_body"]

log = logging.getLogger("sipgw.campaigns")


def _campaign(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.spec.name}


def event_body(event: CampaignEvent) -> tuple[str, dict[str, Any]]:
    """The event's type and ``data``."""
    if isinstance(event, CampaignFinished):
        return "campaign.finished", {"campaign": _campaign(event.campaign)}
    contact = event.contact
    data: dict[str, Any] = {
        "row": contact.row, "number": contact.number, "variables": dict(contact.variables),
        "attempts": contact.attempts, "state": event.state.value,
    }  # fmt: skip
    if isinstance(event, ContactSkipped):
        data.update(attempts=contact.attempts - 1, outcome=event.state.value,
                    detail="on the do-not-call list", call_id=None, next_attempt=None)  # fmt: skip
    else:
        assert isinstance(event, ContactAttempted)
        attempt = event.attempt
        data.update(outcome=attempt.outcome, detail=attempt.detail,
                    call_id=attempt.call_id or None, next_attempt=iso(event.next_at))  # fmt: skip
    return "campaign.contact", {"campaign": _campaign(event.campaign), "contact": data}


class CampaignWebhooks:
    """Queues campaign events on ``delivery`` for ``url`` (signed with the gateway's secret)."""

    def __init__(self, delivery: WebhookDelivery, url: str, max_bytes: int) -> None:
        self.delivery = delivery
        self.url = url
        self.max_bytes = max_bytes

    def __call__(self, events: list[CampaignEvent]) -> None:
        queued = []
        for event in events:
            kind, data = event_body(event)
            try:
                body = encode(envelope(kind, data), self.max_bytes)
            except ValueError as exc:
                log.error("campaign %d: %s webhook not sent: %s", event.campaign.id, kind, exc)
                continue
            queued.append(NewEvent(f"msg_{secrets.token_hex(12)}", self.url, "",
                                   f"campaign-{event.campaign.id}", kind, body))  # fmt: skip
        if queued:
            self.delivery.enqueue(queued)
