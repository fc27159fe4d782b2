"""The admin HTTP server (aiohttp) on its own port: the JSON API and ``/metrics``.

Endpoints (all behind the bearer token when one is set; docs/operations.md):

- ``GET /api/health``: 200 while the SIP endpoint runs.
- ``GET /api/ready``: 503 while draining, overloaded (:mod:`sipgw.app.operations.overload`), or
  while accounts are configured and none is registered; else 200.
- ``GET /api/calls``: the active calls; ``GET /api/calls/{id}``: one call's live state
  and transcript (``id`` is the log id or the Call-ID).
- ``POST /api/calls/{id}/hangup``: end a call (BYE, or a final response while it rings).
- ``POST /api/calls`` ``{"target": ..., "caller_id", "variables", "headers", "agent",
  "account", "ring_timeout", "line", "amd", "amd_message", "twiml_url", "twiml",
  "ivr_goal", "wait": false}``: place an outbound call
  (:class:`~sipgw.app.upstream.callrequest.CallRequest`; ``amd``: answering-machine
  detection, docs/amd.md; ``twiml_url``/``twiml``: the call's own TwiML for the ``twiml``
  agent, docs/twilio-apps.md; ``ivr_goal``: what to reach through a phone menu first,
  docs/ivr.md); 202 with its id, or
  (``wait``, or when it ends at once) 200 with its outcome; 400 naming a bad field, or what
  the call's agent cannot do with it (variables its prompt needs, detection it does not
  run, TwiML it does not follow).
- ``GET /api/calls/{id}/outcome?wait=S``: a placed call's outcome (200), waiting up to
  ``S`` seconds (at most 60) for it; 202 while the call goes on, 404 for no such call.
- ``POST /api/drain`` ``{"seconds": N}`` (body optional): start the drain SIGTERM starts
  (:mod:`sipgw.app.calls.draining`); 202 with its state. ``GET /api/drain``: that state.
- ``GET /api/lines``: the routes file's lines and routes in force; ``POST /api/reload``:
  reload it, as SIGHUP does (400 naming the line at fault; the old routes stay).
- ``GET /metrics``: the gateway's Prometheus metrics.
- With a shared database (``SIPGW_DATABASE_URL``): ``GET /api/cluster/calls`` and
  ``/api/cluster/gateways``, and ``POST /api/calls`` forwarded from a full gateway to one
  with room (:mod:`sipgw.app.admin.cluster`).
- Campaigns, ``/api/campaigns...``, ``/api/dnc`` and ``/dashboard/campaigns``
  (:mod:`sipgw.app.admin.campaigns`).
- ``/dashboard`` and the dashboard's data (:mod:`sipgw.app.admin.dashboard`); a
  ``GET`` there may carry the dashboard's session cookie instead of the header.
- The call page and Twilio's webhook and Media Stream (:mod:`sipgw.app.admin.legs`):
  Twilio's requests carry its signature instead of the token.
- Twilio's REST subset, ``/2010-04-01/Accounts/{AccountSid}/Calls...``
  (:mod:`sipgw.app.twilio.api.endpoints`): HTTP Basic with the account's SID and Auth Token
  instead of the token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sipgw.app.admin.campaigns import CampaignEndpoints
from sipgw.app.admin.cluster import ClusterEndpoints
from sipgw.app.admin.dashboard import Dashboard
from sipgw.app.admin.forwarded import client_address, networks
from sipgw.app.admin.jsonapi import json_error, json_object
from sipgw.app.admin.legs import LegEndpoints
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.admin.throttle import LoginThrottle, token_matches
from sipgw.app.admin.views import call_detail, call_summary
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.campaigns.service import Campaigns
from sipgw.app.gateway import Gateway, gateway_load
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.twilio.api.endpoints import TwilioRest
from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.app.upstream.callrequest import call_request
from sipgw.app.webhooks.outbox import Outbox
from sipgw.foundation.settings import ConfigError, validate
from sipgw.sip.events import RegistrationState

if TYPE_CHECKING:  # psycopg, the postgres extra, is imported only with a database URL
    from sipgw.app.cluster.service import ClusterMember

__all__ = ["PROXY_HEADERS", "AdminServer"]

log = logging.getLogger("sipgw.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                 "X-Real-IP", "Via")  # fmt: skip
"""Headers a reverse proxy adds (RFC 7239, the de-facto X-Forwarded-*, RFC 9110 §7.6.3)."""


def _foreign_web_page(request: web.Request) -> str:
    """Why a request to a server without a token must be refused, or "".

    Without a token anything that reaches the port may act (hang up calls, place them,
    call the agent from the call page: a paid agent's AI sessions included), which is
    safe only while the port is this machine's alone. So a request that says it came
    through a reverse proxy (:data:`PROXY_HEADERS`) is refused: a proxy puts whoever
    reaches it on loopback. And a browser on this machine must not be made to act for
    another site: a change (any method but GET/HEAD) whose ``Origin`` is not this server
    (a cross-site form or ``fetch``: no preflight for a ``text/plain`` body) is refused,
    as is any request whose ``Host`` is not a loopback name (a site's own name rebound to
    127.0.0.1, to read the calls). Tools that send no ``Origin`` (curl, scripts) are
    unaffected.
    """
    proxied = next((name for name in PROXY_HEADERS if name in request.headers), None)
    if proxied is not None:
        return f"it came through a proxy ({proxied}) and no admin token is set"
    given = request.headers.get("Host")  # a browser always sends one; old tools may not
    host = given.rsplit(":", 1)[0] if given and not given.endswith("]") else given or ""
    name = host.strip("[]").lower()
    try:
        loopback = not given or name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return f"Host {request.host!r} is not a loopback name (no admin token is set)"
    if request.method in ("GET", "HEAD"):
        return ""
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site", "same-origin")
    if site not in ("same-origin", "none") or (
        origin is not None and origin != f"{request.scheme}://{request.host}"
    ):
        return f"a change requested by another web site ({origin or site})"
    return ""


async def _without_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Drop the ``Server: Python/3.x aiohttp/3.x`` aiohttp gives every response (pages,
    JSON, static files, errors, WebSocket upgrades): it names what to attack."""
    response.headers.popall("Server", None)


async def _drain_seconds(request: web.Request) -> float | None | web.Response:
    """``seconds`` from an optional JSON body; a 400 response when it is not a number >= 0."""
    if not await request.read():
        return None
    try:
        body: Any = await request.json()
    except ValueError:
        return json_error(400, "body must be JSON")
    seconds = body.get("seconds") if isinstance(body, dict) else "bad"
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e9:
        return json_error(400, '"seconds" must be a number >= 0')
    return float(seconds)


class AdminServer:
    """Serves the admin API for ``gateway`` as ``settings`` say (start after the gateway).

    Args:
        gateway: the running gateway.
        settings: address, port (0 here = any free port) and token.
        legs: the browser and Twilio legs' settings (default: the call page on, no Twilio).
        twilio_api: Twilio's REST subset (default: off).
        status_db: the SQLite file of the REST subset's status callbacks (the webhook
            outbox's, ``SIPGW_WEBHOOK_DB``).
        cluster: this gateway in a cluster (``SIPGW_DATABASE_URL``); None = alone.
        status_outbox: the cluster's outboxes (owner, size, table) for the status
            callbacks; None = the SQLite file ``status_db``.
        campaigns: the gateway's campaigns (:mod:`sipgw.app.admin.campaigns`); None: none.
        twilio_calls: the cluster's table of the REST subset's calls (with ``cluster``: any
            gateway answers for any call); None = each gateway its own.
    """

    def __init__(
        self,
        gateway: Gateway,
        settings: AdminSettings,
        legs: LegsSettings | None = None,
        twilio_api: TwilioApiSection | None = None,
        status_db: Path = Path("webhooks.sqlite3"),
        cluster: ClusterMember | None = None,
        status_outbox: Callable[[str, int, str], Outbox] | None = None,
        campaigns: Campaigns | None = None,
        twilio_calls: CallRegistry | None = None,
    ) -> None:
        self.gateway = gateway
        self.cluster = (
            None if cluster is None else ClusterEndpoints(cluster, lambda: gateway_load(gateway))
        )
        self.settings = settings
        self._runner: web.AppRunner | None = None
        self.throttle = LoginThrottle(
            settings.login_tries, settings.login_wait,
            total_per_minute=settings.login_tries_total,
        )  # fmt: skip
        """Wrong tokens per source and in all, for the API and the dashboard login alike."""
        gateway.admin_throttle = self.throttle  # its 429s in the stats line and /metrics
        self._trusted = networks(settings.trusted_proxies)
        self.dashboard = Dashboard(
            gateway.feed, lambda: self.settings.token, throttle=self.throttle,
            source=self.source, timeline=gateway.metrics.timeline,
        )  # fmt: skip
        self.legs = LegEndpoints(gateway, legs or LegsSettings(), self.dashboard)
        self.twilio_api = TwilioRest(
            gateway, twilio_api or TwilioApiSection(), self.throttle, self.source, status_db,
            monotonic=self.dashboard.clock, status_outbox=status_outbox,
            registry=twilio_calls, cluster=self.cluster,
        )  # fmt: skip
        """Twilio's REST subset (its routes only when configured)."""
        self.campaigns = CampaignEndpoints(campaigns, self.dashboard)
        self.address: tuple[str, int] | None = None
        """Where it listens (after :meth:`start`)."""

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (after :meth:`start`)."""
        assert self.address is not None, "admin server not started"
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def source(self, request: web.Request) -> str:
        """Who sent ``request``: its peer's address, or behind a trusted proxy the
        client's (:mod:`sipgw.app.admin.forwarded`)."""
        return client_address(
            request.remote, request.headers.getall("X-Forwarded-For", []), self._trusted
        )

    def application(self) -> web.Application:
        """The aiohttp application: routes, the token check, no ``Server`` header."""
        app = web.Application(middlewares=[self._authorize])
        app.on_response_prepare.append(_without_server_header)
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/ready", self.ready)
        app.router.add_get("/api/calls", self.list_calls)
        app.router.add_post("/api/calls", self.place_call)
        app.router.add_get("/api/calls/{id}", self.show_call)
        app.router.add_get("/api/calls/{id}/outcome", self.call_outcome)
        app.router.add_post("/api/calls/{id}/hangup", self.hang_up)
        app.router.add_get("/api/drain", self.drain_state)
        app.router.add_post("/api/drain", self.drain)
        app.router.add_get("/api/lines", self.lines)
        app.router.add_post("/api/reload", self.reload)
        app.router.add_get("/metrics", self.metrics)
        self.dashboard.add_routes(app)
        self.legs.add_routes(app)
        self.twilio_api.add_routes(app)
        if self.cluster is not None:
            self.cluster.add_routes(app)
        self.campaigns.add_routes(app)
        return app

    async def start(self) -> tuple[str, int]:
        """Listen; returns the bound address.

        Raises:
            ConfigError: a non-loopback address without a token.
            OSError: the port cannot be bound.
        """
        validate(self.settings)
        validate(self.legs.settings)
        validate(self.twilio_api.settings)
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.bind, self.settings.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.address = (str(host), int(port))
        log.info("admin listening on %s%s", self.url, "" if self.settings.token else " (no token)")
        return self.address

    async def stop(self) -> None:
        """Stop listening (the calls it placed go on: the gateway ends them)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ auth

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.legs.signed_by_twilio(request):
            return await handler(request)  # it checks Twilio's signature
        if self.twilio_api.owns(request):
            return await handler(request)  # it checks HTTP Basic (the SID and Auth Token)
        token = self.settings.token
        if not token:
            refusal = _foreign_web_page(request)
            if refusal:
                log.warning("admin request refused: %s", refusal)
                return json_error(403, refusal)
        elif not (
            self.dashboard.allows(request)
            or self.legs.allows(request)
            or self.campaigns.allows(request)
        ):
            given = request.headers.get("Authorization", "")
            if token_matches(given, token, "Bearer "):  # always checked, whatever the throttle
                return await handler(request)
            if given:  # a wrong try (a browser's first request without one is not)
                wait = await self.throttle.charge(self.source(request), self.dashboard.clock())
                if wait:  # too many wrong ones from there, or from everywhere
                    response = json_error(429, f"too many wrong tokens: wait {wait} s")
                    response.headers["Retry-After"] = str(wait)
                    return response
            if self.dashboard.wants_page(request):
                return self.dashboard.refused_page()
            response = json_error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = "Bearer"  # RFC 6750 §3: no realm needed
            return response
        return await handler(request)

    # ------------------------------------------------------------------ health

    async def health(self, request: web.Request) -> web.Response:
        """200 while the SIP endpoint runs, else 503."""
        running = self.gateway.running
        drain = self.gateway.drain_request.state(len(self.gateway.handles))
        return web.json_response({"ok": running, **drain}, status=200 if running else 503)

    def _readiness(self) -> tuple[bool, str]:
        gateway = self.gateway
        if not gateway.running:
            return False, "not running"
        if gateway.ua.draining:
            return False, "draining"
        if gateway.overload.overloaded:
            return False, "overloaded"
        if gateway.registration.accounts and not any(
            event.state is RegistrationState.REGISTERED for event in gateway.registrations.values()
        ):
            return False, "no account registered"
        return True, "ready"

    async def ready(self, request: web.Request) -> web.Response:
        """200 when new calls are welcome; 503 while draining, overloaded or no account is
        registered."""
        ok, reason = self._readiness()
        registrations = {
            aor: event.state.value for aor, event in self.gateway.registrations.items()
        }
        return web.json_response(
            {"ready": ok, "reason": reason, "registrations": registrations},
            status=200 if ok else 503,
        )

    # ------------------------------------------------------------------ calls

    def _find(self, request: web.Request) -> CallHandle | None:
        wanted = request.match_info["id"]
        for handle in self.gateway.handles.values():
            if wanted in (handle.call.log_id, handle.call.call_id):
                return handle
        return None

    async def list_calls(self, request: web.Request) -> web.Response:
        """The active calls."""
        calls = [call_summary(handle) for handle in list(self.gateway.handles.values())]
        return web.json_response({"calls": calls})

    async def show_call(self, request: web.Request) -> web.Response:
        """One call's live state and transcript; 404 when no such call is up."""
        handle = self._find(request)
        if handle is None:
            return json_error(404, "no such active call")
        return web.json_response(call_detail(handle))

    async def hang_up(self, request: web.Request) -> web.Response:
        """End a call from our side; 202 (the BYE is on its way), 404 when no such call."""
        handle = self._find(request)
        if handle is None:
            return json_error(404, "no such active call")
        handle.log.info("hangup requested through the admin API")
        handle.hangup(by="operator")
        return web.json_response({"id": handle.call.log_id, "hangup": "requested"}, status=202)

    async def place_call(self, request: web.Request) -> web.Response:
        """Place an outbound call (as ``sipgw call``, not checked by the dial policy: the
        operator's own action); 202 once its INVITE is out, 400 naming a bad field."""
        body = await json_object(request, 'a JSON object: {"target": ...}')
        if isinstance(body, web.Response):
            return body
        elsewhere = None if self.cluster is None else await self.cluster.forward(request, body)
        if elsewhere is not None:  # full here: another gateway's answer
            return elsewhere
        try:
            call = call_request(body)
            factory = self.gateway.outbound.agent_named(call.agent) if call.agent else None
        except ValueError as exc:
            return json_error(400, str(exc))
        log.info("outbound call to %s requested through the admin API", call.target)
        placed = await self.gateway.originate(
            call.target, agent=factory, caller_id=call.caller_id, ring_timeout=call.ring_timeout,
            variables=call.variables, headers=call.headers, account=call.account,
            line=call.line, amd=call.amd, twiml=call.twiml, ivr_goal=call.ivr_goal,
        )  # fmt: skip
        handle = placed.handle
        if placed.refused:  # for what it asked: nothing was sent
            return json_error(400, placed.outcome.result().reason)
        if body.get("wait") or handle is None:
            outcome = await asyncio.shield(placed.outcome)
            return web.json_response(
                {**dataclasses.asdict(outcome), "id": handle.call.log_id if handle else None}
            )
        return web.json_response(
            {"id": handle.call.log_id, "call_id": handle.call.call_id, "target": placed.target},
            status=202,
        )

    async def call_outcome(self, request: web.Request) -> web.Response:
        """A placed call's outcome; waits up to ``?wait=S`` seconds (at most 60) for it."""
        wanted = request.match_info["id"]
        outcome = self.gateway.outbound.outcome_of(wanted)
        if outcome is None:
            return json_error(404, "no such placed call (or it ended long ago)")
        try:
            wait = min(max(float(request.query.get("wait", "0")), 0.0), 60.0)
        except ValueError:
            return json_error(400, '"wait" must be a number of seconds')
        if not outcome.done() and wait > 0:
            await asyncio.wait({outcome}, timeout=wait)  # the call goes on if we stop waiting
        if not outcome.done():
            return web.json_response({"id": wanted, "state": "in progress"}, status=202)
        return web.json_response({**dataclasses.asdict(outcome.result()), "id": wanted})

    # ------------------------------------------------------------------ drain

    async def drain_state(self, request: web.Request) -> web.Response:
        """Draining or not, since when, the limit and the calls left."""
        return web.json_response(self.gateway.drain_request.state(len(self.gateway.handles)))

    async def drain(self, request: web.Request) -> web.Response:
        """Start the drain (as SIGTERM does), optionally with its own limit; 202.

        A drain already under way is left as it is (its limit too): 202 with its state.
        """
        seconds = await _drain_seconds(request)
        if isinstance(seconds, web.Response):
            return seconds
        if self.gateway.drain_request.request("admin", seconds):
            log.info("drain requested through the admin API")
        return web.json_response(
            self.gateway.drain_request.state(len(self.gateway.handles)), status=202
        )

    # ------------------------------------------------------------------ lines

    async def lines(self, request: web.Request) -> web.Response:
        """The routes file's lines and routes in force; 404 without a routes file."""
        if self.gateway.lines is None:
            return json_error(404, "no routes file (--routes)")
        return web.json_response(self.gateway.lines.describe())

    async def reload(self, request: web.Request) -> web.Response:
        """Reload the routes file (as SIGHUP does): 200 with the lines now in force, or
        400 naming the file's line at fault (the routes before stay in force)."""
        lines = self.gateway.lines
        if lines is None:
            return json_error(404, "no routes file (--routes)")
        log.info("routes reload requested through the admin API")
        try:
            lines.reload()
        except ConfigError as exc:
            return json_error(400, f"{exc} (the routes loaded before stay in force)")
        return web.json_response(lines.describe())

    # ------------------------------------------------------------------ metrics

    async def metrics(self, request: web.Request) -> web.Response:
        """The gateway's Prometheus metrics (``gateway.metrics.render()``)."""
        body, content_type = self.gateway.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
