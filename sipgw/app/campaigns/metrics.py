"""The campaigns' progress in ``/metrics``, read at scrape time from the last snapshot.

- ``sipgw_campaign_contacts{campaign, state}``: contacts by state: ``left`` (pending or
  dialing), ``dialing``, ``person`` and ``machine`` (answered by), ``failed``, ``dnc``,
  ``cancelled``;
- ``sipgw_campaign_dialled_total{campaign}``: attempts made;
- ``sipgw_campaign_running{campaign}``: 1 while running, else 0.

``campaign`` is the campaign's id; the last :data:`SHOWN` campaigns are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sipgw.app.campaigns.model import Campaign, CampaignState, Progress

__all__ = ["SHOWN", "CampaignMetrics"]

SHOWN = 50
"""Campaigns in the metrics at most (the newest): the series stay bounded."""


class CampaignMetrics(Collector):
    """The series above, from ``snapshot()`` (newest campaign first)."""

    def __init__(self, snapshot: Callable[[], Sequence[tuple[Campaign, Progress]]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        contacts = GaugeMetricFamily(
            "sipgw_campaign_contacts", "Campaign contacts by state (left: still to dial).",
            labels=["campaign", "state"],
        )  # fmt: skip
        dialled = CounterMetricFamily(
            "sipgw_campaign_dialled", "Campaign dial attempts made.", labels=["campaign"]
        )
        running = GaugeMetricFamily(
            "sipgw_campaign_running", "1 while the campaign runs.", labels=["campaign"]
        )
        for campaign, progress in list(self.snapshot())[:SHOWN]:
            label = str(campaign.id)
            for state in ("left", "dialing", "person", "machine", "failed", "dnc", "cancelled"):
                contacts.add_metric([label, state], getattr(progress, state))
            dialled.add_metric([label], progress.dialled)
            running.add_metric([label], 1 if campaign.state is CampaignState.RUNNING else 0)
        return [contacts, dialled, running]
