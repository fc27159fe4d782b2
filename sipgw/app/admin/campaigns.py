"""The admin server's campaign endpoints and page (docs/campaigns.md).

- ``POST /api/campaigns`` ``{"name", ..., "csv": TEXT}`` or ``{..., "contacts": [...]}``:
  create and start one; 201 with its id and progress; 400 naming the field, or the row
  and field, at fault (:mod:`sipgw.app.campaigns.model`, :mod:`~sipgw.app.campaigns.contacts`).
- ``GET /api/campaigns``: every campaign with its settings, state and progress;
  ``GET /api/campaigns/{id}``: one.
- ``POST /api/campaigns/{id}/pause``, ``.../resume``, ``.../cancel``: 200 with its state;
  409 when its state does not allow it.
- ``GET /api/campaigns/{id}/results.csv``: each contact and how it ended.
- ``GET /api/dnc``: the do-not-call list; ``POST /api/dnc`` ``{"numbers": [...]}`` adds,
  ``POST /api/dnc/remove`` takes off.
- ``GET /dashboard/campaigns``: the page (create from a CSV file, progress, pause, resume,
  cancel, results).

All behind the admin token. The page's changes (create, pause, resume, cancel) may pass
on the dashboard's session cookie instead, from this site's page only (as the call
page's do).
"""

from __future__ import annotations

import re

from aiohttp import web

from sipgw.app.admin.dashboard import Dashboard, page
from sipgw.app.admin.jsonapi import json_error, json_object, same_site
from sipgw.app.campaigns.model import CampaignState
from sipgw.app.campaigns.service import Campaigns

__all__ = ["CampaignEndpoints"]

_CHANGES = re.compile(r"/api/campaigns(/\d+/(pause|resume|cancel))?")
_STATES = {"pause": CampaignState.PAUSED, "resume": CampaignState.RUNNING,
           "cancel": CampaignState.CANCELLED}  # fmt: skip
MAX_DNC_SHOWN = 10000


class CampaignEndpoints:
    """The routes above, for ``campaigns`` (None: this gateway runs none: 404)."""

    def __init__(self, campaigns: Campaigns | None, dashboard: Dashboard) -> None:
        self.campaigns = campaigns
        self.dashboard = dashboard

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/campaigns", self.create)
        app.router.add_get("/api/campaigns", self.list)
        app.router.add_get("/api/campaigns/{id:\\d+}", self.show)
        app.router.add_post("/api/campaigns/{id:\\d+}/{action:pause|resume|cancel}", self.change)
        app.router.add_get("/api/campaigns/{id:\\d+}/results.csv", self.results)
        app.router.add_get("/api/dnc", self.dnc_list)
        app.router.add_post("/api/dnc", self.dnc_add)
        app.router.add_post("/api/dnc/remove", self.dnc_remove)
        app.router.add_get("/dashboard/campaigns", self.page)

    def allows(self, request: web.Request) -> bool:
        """A change from the campaigns page, on the dashboard's cookie."""
        return (
            request.method == "POST"
            and _CHANGES.fullmatch(request.path) is not None
            and same_site(request)
            and self.dashboard.signed_in(request)
        )

    def _running(self) -> Campaigns:
        if self.campaigns is None:
            raise web.HTTPNotFound(text='{"error": "this gateway runs no campaigns"}',
                                   content_type="application/json")  # fmt: skip
        return self.campaigns

    async def page(self, request: web.Request) -> web.Response:
        return page("campaigns.html")

    async def create(self, request: web.Request) -> web.Response:
        """Create and start a campaign; 201, or 400 naming what is wrong."""
        campaigns = self._running()
        body = await json_object(request)
        if isinstance(body, web.Response):
            return body
        try:
            spec, contacts = campaigns.read(body)
        except ValueError as exc:
            return json_error(400, str(exc))
        campaign_id = await campaigns.create(spec, contacts)
        (shown,) = await campaigns.describe(campaign_id)
        return web.json_response(shown, status=201)

    async def list(self, request: web.Request) -> web.Response:
        return web.json_response({"campaigns": await self._running().describe()})

    async def show(self, request: web.Request) -> web.Response:
        found = await self._running().describe(int(request.match_info["id"]))
        if not found:
            return json_error(404, "no such campaign")
        return web.json_response(found[0])

    async def change(self, request: web.Request) -> web.Response:
        """Pause, resume or cancel; 409 when the campaign's state does not allow it."""
        campaigns = self._running()
        campaign_id, action = int(request.match_info["id"]), request.match_info["action"]
        found = await campaigns.describe(campaign_id)
        if not found:
            return json_error(404, "no such campaign")
        if not await campaigns.change(campaign_id, _STATES[action]):
            return json_error(409, f"cannot {action} a campaign that is {found[0]['state']}")
        (shown,) = await campaigns.describe(campaign_id)
        return web.json_response(shown)

    async def results(self, request: web.Request) -> web.Response:
        campaign_id = int(request.match_info["id"])
        text = await self._running().results_csv(campaign_id)
        if text is None:
            return json_error(404, "no such campaign")
        response = web.Response(text=text, content_type="text/csv", charset="utf-8")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="campaign-{campaign_id}-results.csv"'
        )
        return response

    async def dnc_list(self, request: web.Request) -> web.Response:
        numbers = await self._running().dnc_list(MAX_DNC_SHOWN)
        return web.json_response({"numbers": numbers})

    async def dnc_add(self, request: web.Request) -> web.Response:
        return await self._dnc_change(request, add=True)

    async def dnc_remove(self, request: web.Request) -> web.Response:
        return await self._dnc_change(request, add=False)

    async def _dnc_change(self, request: web.Request, *, add: bool) -> web.Response:
        campaigns = self._running()
        body = await json_object(request)
        if isinstance(body, web.Response):
            return body
        try:
            numbers = campaigns.dnc_numbers(body.get("numbers"))
        except ValueError as exc:
            return json_error(400, str(exc))
        if add:
            return web.json_response({"added": await campaigns.dnc_add(numbers)})
        return web.json_response({"removed": await campaigns.dnc_remove(numbers)})
