"""Campaigns: a list of contacts called with pacing, a concurrency cap, calling hours,
retries by outcome and a do-not-call list (docs/campaigns.md).

:mod:`~sipgw.app.campaigns.model` holds the campaign's settings and its contacts' states,
:mod:`~sipgw.app.campaigns.contacts` reads a CSV or JSON list (bounded, errors naming the
row and field), :mod:`~sipgw.app.campaigns.hours` and :mod:`~sipgw.app.campaigns.outcomes`
are the calling-hours and retry rules, :mod:`~sipgw.app.campaigns.store` keeps it all
(SQLite; a protocol a shared database can implement),
:mod:`~sipgw.app.campaigns.scheduler` is the sans-IO core (time passed in) and
:mod:`~sipgw.app.campaigns.runner` its asyncio loop, which dials through the gateway.
"""
