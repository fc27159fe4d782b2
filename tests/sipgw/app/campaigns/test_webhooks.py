"""Campaign events as webhook bodies, queued on the outbox's delivery."""

from __future__ import annotations

import json
from typing import Any

from sipgw.app.campaigns.model import (
    Campaign,
    CampaignLimits,
    CampaignState,
    ContactRow,
    ContactState,
    campaign_spec,
)
from sipgw.app.campaigns.outcomes import Attempt
from sipgw.app.campaigns.scheduler import CampaignFinished, ContactAttempted, ContactSkipped
from sipgw.app.campaigns.webhooks import CampaignWebhooks, event_body
from sipgw.app.webhooks.outbox import NewEvent

CAMPAIGN = Campaign(3, campaign_spec({"name": "spring"}, CampaignLimits()), CampaignState.RUNNING,
                    0.0, 0.0)  # fmt: skip
CONTACT = ContactRow(7, 3, 2, "+15550002", {"first_name": "Bo"}, "UTC", ContactState.DIALING, 1,
                     0.0, "", "", "", "h:1:x", 60.0, 0.0)  # fmt: skip


def test_event_bodies() -> None:
    kind, data = event_body(ContactAttempted(CAMPAIGN, CONTACT, Attempt("busy", "busy (486)",
                                             "id-9"), ContactState.PENDING, 86400.0))  # fmt: skip
    assert kind == "campaign.contact"
    assert data == {
        "campaign": {"id": 3, "name": "spring"},
        "contact": {"row": 2, "number": "+15550002", "variables": {"first_name": "Bo"},
                    "attempts": 1, "state": "pending", "outcome": "busy",
                    "detail": "busy (486)", "call_id": "id-9",
                    "next_attempt": "1970-01-02T00:00:00.000Z"},
    }  # fmt: skip
    kind, data = event_body(ContactSkipped(CAMPAIGN, CONTACT, ContactState.DNC))
    assert data["contact"]["outcome"] == "dnc" and data["contact"]["attempts"] == 0
    assert event_body(CampaignFinished(CAMPAIGN)) == (
        "campaign.finished", {"campaign": {"id": 3, "name": "spring"}},
    )  # fmt: skip


class Delivery:
    def __init__(self) -> None:
        self.queued: list[NewEvent] = []

    def enqueue(self, events: list[NewEvent]) -> None:
        self.queued.extend(events)


def test_queued_in_order_per_campaign() -> None:
    delivery = Delivery()
    hooks = CampaignWebhooks(delivery, "https://example.com/hook", 4096)  # type: ignore[arg-type]
    hooks([CampaignFinished(CAMPAIGN), ContactSkipped(CAMPAIGN, CONTACT, ContactState.DNC)])
    assert [(e.type, e.call, e.url, e.line) for e in delivery.queued] == [
        ("campaign.finished", "campaign-3", "https://example.com/hook", ""),
        ("campaign.contact", "campaign-3", "https://example.com/hook", ""),
    ]
    body: dict[str, Any] = json.loads(delivery.queued[0].body)
    assert body["type"] == "campaign.finished" and body["data"]["campaign"]["id"] == 3
    small = CampaignWebhooks(delivery, "https://example.com/hook", 10)  # type: ignore[arg-type]
    small([CampaignFinished(CAMPAIGN)])  # too long: logged, not sent
    assert len(delivery.queued) == 2
