"""The campaigns settings section and the limits it gives."""

from __future__ import annotations

import pytest

from sipgw.app.campaigns.model import CampaignLimits
from sipgw.app.campaigns.settings import CampaignSection
from sipgw.foundation.settings import ConfigError, Sources, load, state_dir


def test_defaults_and_limits() -> None:
    section = load(CampaignSection, Sources({}))
    assert section.campaign_db == str(state_dir(Sources({})) / "campaigns.sqlite3")
    assert section.limits() == CampaignLimits()
    assert section.campaign_lease == 120.0


def test_from_the_environment() -> None:
    section = load(CampaignSection, Sources({
        "SIPGW_CAMPAIGN_DB": "/var/lib/sipgw/c.db", "SIPGW_CAMPAIGN_MAX_CONTACTS": "50",
        "SIPGW_CAMPAIGN_MAX_FIELD": "200", "SIPGW_CAMPAIGN_MAX_PER_SECOND": "2.5",
        "SIPGW_CAMPAIGN_MAX_CONCURRENCY": "3", "SIPGW_CAMPAIGN_LEASE": "30",
    }))  # fmt: skip
    assert section.limits() == CampaignLimits(50, 200, 2.5, 3)
    assert section.campaign_lease == 30.0


@pytest.mark.parametrize("name", ["SIPGW_CAMPAIGN_MAX_CONTACTS", "SIPGW_CAMPAIGN_MAX_CONCURRENCY"])
def test_a_bad_value_is_refused(name: str) -> None:
    with pytest.raises((ConfigError, ValueError)):
        load(CampaignSection, Sources({name: "0"}))


@pytest.mark.parametrize("value", ["14", "3601", "soon"])
def test_a_lease_out_of_bounds_is_refused_naming_it(value: str) -> None:
    """At least 15 s (renewed every 5 s, beside the loop's 2 s passes), at most an hour."""
    with pytest.raises(ConfigError) as caught:
        load(CampaignSection, Sources({"SIPGW_CAMPAIGN_LEASE": value}))
    assert "SIPGW_CAMPAIGN_LEASE" in str(caught.value) and value in str(caught.value)
    assert "from 15 to 3600 seconds" in str(caught.value) or value == "soon"
