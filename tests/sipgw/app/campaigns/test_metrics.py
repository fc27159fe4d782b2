"""The campaigns' series in the Prometheus exposition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from sipgw.app.campaigns.metrics import SHOWN, CampaignMetrics
from sipgw.app.campaigns.model import (
    Campaign,
    CampaignLimits,
    CampaignState,
    Progress,
    campaign_spec,
)
from tests.toolkit.metrics import sample_value


def campaign(number: int, state: CampaignState) -> Campaign:
    return Campaign(number, campaign_spec({"name": "c"}, CampaignLimits()), state, 0.0, 0.0)


def test_the_series() -> None:
    snapshot = [(campaign(2, CampaignState.RUNNING), Progress(total=5, dialled=4, person=1,
                 machine=1, completed=2, failed=1, dialing=1, left=2))]  # fmt: skip
    registry = CollectorRegistry()
    registry.register(CampaignMetrics(lambda: snapshot))
    text = generate_latest(registry)
    assert sample_value(text, "sipgw_campaign_contacts", campaign="2", state="left") == 2
    assert sample_value(text, "sipgw_campaign_contacts", campaign="2", state="machine") == 1
    assert sample_value(text, "sipgw_campaign_dialled_total", campaign="2") == 4
    assert sample_value(text, "sipgw_campaign_running", campaign="2") == 1
    snapshot[:] = [(campaign(n, CampaignState.FINISHED), Progress()) for n in range(SHOWN + 5)]
    text = generate_latest(registry)
    assert sample_value(text, "sipgw_campaign_running", campaign="0") == 0
    assert sample_value(text, "sipgw_campaign_running", campaign=str(SHOWN)) is None  # bounded
