"""The call page on the admin server: talk to the agent from a browser, over WebRTC.

Routes (``SIPGW_BROWSER_CALLS``, on by default; docs/legs.md):

- ``GET /dashboard/phone``: the page (``static/phone.html``, ``phone.js``): a call button,
  the microphone, the agent's audio with a level meter, the live transcript of both sides
  and each turn's latency bars (the call's own event stream, ``/api/events?call=ID``),
  hang-up. The page's query string (``?name=Ann``) becomes the call's variables (checked as
  every call's: :func:`sipgw.agent.variables.check_variables`); ``audio=raw``
  turns the browser's echo cancellation, noise suppression and gain control off.
- ``GET /api/phone/config``: the ICE servers for the page's ``RTCPeerConnection``.
- ``POST /api/phone/calls`` ``{"sdp": OFFER, "variables": {...}}``: answers the offer (every
  ICE candidate in the answer: aiortc does not trickle) and starts the call; 201
  ``{"id", "call_id", "sdp"}``; 400 for an offer we cannot take, 503 while new calls are
  refused (draining, overloaded, at ``SIPGW_MAX_CALLS``), 429 with ``Retry-After`` over a
  call rate (``SIPGW_CALLS_PER_SECOND``, the gateway's for every leg, and
  ``SIPGW_CALLS_PER_CALLER``, a browser's caller being its address), 503 too when ICE found
  no address of ours to offer (the message says so), 501 without aiortc.
- ``POST /api/phone/calls/{id}/hangup``: the page hangs up.

Protected like the rest of the admin server: the bearer token, or the dashboard's session
cookie, which for these two changes (unlike the rest of the API) is taken on a ``POST`` too,
and only from this site's own page (``Sec-Fetch-Site: same-origin``, or an ``Origin`` naming
this host); the cookie is ``SameSite=Strict`` besides.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from sipgw.agent.variables import check_variables
from sipgw.app.admin.dashboard import Dashboard, page
from sipgw.app.admin.jsonapi import json_error, same_site
from sipgw.app.legs.browser import BrowserUnavailable, NoIceAddress, answer_browser, ice_servers
from sipgw.app.legs.calls import LegCalls, browser_caller
from sipgw.app.legs.settings import LegsSettings
from sipgw.media.jitterbuffer import JitterBufferConfig

__all__ = ["MAX_OFFER_CHARS", "PhoneEndpoints", "variables_from"]

log = logging.getLogger("sipgw.admin")

MAX_OFFER_CHARS = 64 * 1024
"""The longest SDP offer taken (a browser's is a few kilobytes)."""
_CHANGES = re.compile(r"/api/phone/calls(/[^/]+/hangup)?")


def variables_from(given: object) -> dict[str, str]:
    """The page's values as the call's variables, under the rule every call's variables
    follow (:func:`sipgw.agent.variables.check_variables`).

    Raises:
        ValueError: not an object of names to texts, or one the rule refuses (says which).
    """
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ValueError('"variables" must be an object of names to texts')
    try:
        return check_variables(given)
    except ValueError as exc:
        raise ValueError(f'"variables": {exc}') from None


class PhoneEndpoints:
    """The call page and its signalling, for ``calls`` as ``settings`` say."""

    def __init__(
        self,
        calls: LegCalls,
        settings: LegsSettings,
        dashboard: Dashboard,
        jitter: JitterBufferConfig,
    ) -> None:
        self.calls = calls
        self.settings = settings
        self.dashboard = dashboard
        self.jitter = jitter

    def add_routes(self, app: web.Application) -> None:
        """Register the page and its API when browser calls are on (else 404)."""
        if not self.settings.browser_calls:
            return
        app.router.add_get("/dashboard/phone", self.page)
        app.router.add_get("/api/phone/config", self.config)
        app.router.add_post("/api/phone/calls", self.place)
        app.router.add_post("/api/phone/calls/{id}/hangup", self.hang_up)

    def allows(self, request: web.Request) -> bool:
        """Whether a change may pass on the dashboard's cookie: placing or hanging up a
        browser call, from this site's page, signed in."""
        return (
            self.settings.browser_calls
            and request.method == "POST"
            and _CHANGES.fullmatch(request.path) is not None
            and same_site(request)
            and self.dashboard.signed_in(request)
        )

    async def page(self, request: web.Request) -> web.Response:
        """The call page."""
        return page("phone.html")

    async def config(self, request: web.Request) -> web.Response:
        """What the page's peer connection needs: the ICE servers."""
        return web.json_response({"ice_servers": ice_servers(self.settings)})

    async def place(self, request: web.Request) -> web.Response:
        """Answer the page's offer and start its call."""
        if (request.content_length or 0) > MAX_OFFER_CHARS + 16 * 1024:
            return json_error(413, "the offer is too large")
        try:
            body: Any = await request.json()
            sdp = body.get("sdp") if isinstance(body, dict) else None
            if not isinstance(sdp, str) or not sdp.strip() or len(sdp) > MAX_OFFER_CHARS:
                raise ValueError(f'"sdp" must be the SDP offer (at most {MAX_OFFER_CHARS} chars)')
            variables = variables_from(body.get("variables"))
        except ValueError as exc:
            return json_error(400, str(exc) if str(exc) else "body must be JSON")
        remote = self.dashboard.source(request)  # behind a trusted proxy, the browser's
        refusal = self.calls.admit(browser_caller(remote), leg="browser")
        if refusal is not None:
            log.warning("browser call from %s refused: %s", remote, refusal.reason)
            if not refusal.rate_limited:
                return json_error(503, refusal.reason)
            response = json_error(429, f"{refusal.reason}: try again in {refusal.retry_after} s")
            response.headers["Retry-After"] = str(refusal.retry_after)
            return response
        try:
            answer = await answer_browser(
                self.calls, self.settings, sdp, remote=remote, variables=variables,
                jitter=self.jitter,
            )  # fmt: skip
        except BrowserUnavailable as exc:
            return json_error(501, str(exc))
        except NoIceAddress as exc:
            log.error("browser call from %s failed: %s", remote, exc)
            return json_error(503, str(exc))
        except ValueError as exc:
            log.warning("browser call from %s refused: %s", remote, exc)
            return json_error(400, str(exc))
        call = answer.handle.call
        return web.json_response(
            {"id": call.log_id, "call_id": call.call_id, "sdp": answer.sdp}, status=201
        )

    async def hang_up(self, request: web.Request) -> web.Response:
        """The page hangs up; 202, or 404 when no such browser call is up."""
        wanted = request.match_info["id"]
        for handle in self.calls.up:
            if handle.leg == "browser" and wanted in (handle.call.log_id, handle.call.call_id):
                handle.end("remote-hangup")
                return web.json_response({"id": handle.call.log_id, "hangup": "requested"},
                                         status=202)  # fmt: skip
        return json_error(404, "no such browser call")
