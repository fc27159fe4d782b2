"""The ``campaigns`` settings section: where campaigns are kept and the bounds on them."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.app.campaigns.model import CampaignLimits
from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import float_range, int_range, text

__all__ = ["CampaignSection"]


@section(
    "campaigns",
    title="Campaigns",
    intro="Lists of contacts called through the admin API or the dashboard, with pacing, a "
    "concurrency cap, calling hours, retries and a do-not-call list (docs/campaigns.md); "
    "environment variables (or `.env` lines) only.",
)
@dataclass(frozen=True)
class CampaignSection:
    """Where campaigns are stored, and what one may ask for at most."""

    campaign_db: str = setting(
        "campaigns.sqlite3", env="SIPGW_CAMPAIGN_DB", parse=text, state=True,
        help="SQLite file of the campaigns, their contacts' states and the do-not-call list "
        "(relative: under the state directory; created with the first campaign; kept across "
        "restarts); unused with SIPGW_DATABASE_URL: campaigns are then in the shared database.",
    )  # fmt: skip
    campaign_max_contacts: int = setting(
        10000, env="SIPGW_CAMPAIGN_MAX_CONTACTS", parse=int_range(1, 1000000),
        help="Contacts one campaign may hold; a longer list is refused, naming the first row "
        "over.",
    )  # fmt: skip
    campaign_max_field: int = setting(
        1000, env="SIPGW_CAMPAIGN_MAX_FIELD", parse=int_range(16, 100000),
        help="Characters of one CSV field or JSON value of a contact (its number or a "
        "variable); a longer one is refused, naming its row and field.",
    )  # fmt: skip
    campaign_max_per_second: float = setting(
        10.0, env="SIPGW_CAMPAIGN_MAX_PER_SECOND", parse=float_range(0.01, 1000.0),
        help="The highest pacing a campaign may ask for (per_second, new calls a second).",
    )  # fmt: skip
    campaign_max_concurrency: int = setting(
        20, env="SIPGW_CAMPAIGN_MAX_CONCURRENCY", parse=int_range(1, 10000),
        help="The highest cap a campaign may ask for (concurrency, its calls at once).",
    )  # fmt: skip
    campaign_lease: float = setting(
        120.0, env="SIPGW_CAMPAIGN_LEASE", parse=float_range(15.0, 3600.0, " seconds"),
        help="Seconds a gateway's claim on a contact holds without renewal (renewed at each "
        "pass of the campaigns' loop, every 2 s, while the call lasts). A gateway that dies "
        "on another machine leaves its contacts dialing until their leases run out: then "
        "another gateway retries them (on the same machine at once). Shorter retries them "
        "sooner; but a gateway cut off from the database for longer than this sees its "
        "contacts, calls still up, dialled again elsewhere; keep the machines' clocks far "
        "closer than this (NTP).",
    )  # fmt: skip

    def limits(self) -> CampaignLimits:
        """The bounds as :func:`~sipgw.app.campaigns.model.campaign_spec` reads them."""
        return CampaignLimits(
            max_contacts=self.campaign_max_contacts,
            max_field=self.campaign_max_field,
            max_per_second=self.campaign_max_per_second,
            max_concurrency=self.campaign_max_concurrency,
        )
