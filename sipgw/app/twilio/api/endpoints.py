"""Twilio's REST subset on the admin server: create, fetch and update Calls.

With ``SIPGW_TWILIO_API=on`` (the account: ``SIPGW_TWIML_ACCOUNT_SID`` and
``SIPGW_TWIML_AUTH_TOKEN``, :mod:`sipgw.app.twilio.api.account`), the admin server answers
Twilio's paths of API version 2010-04-01, so an app's Twilio client pointed at the gateway
(docs/twilio-api.md) controls calls with its own code:

- ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``: ``To``, ``From``, ``Url`` or
  ``Twiml`` (``Method`` POST), ``StatusCallback``, ``StatusCallbackEvent``,
  ``StatusCallbackMethod`` (POST), ``Timeout``, ``MachineDetection`` (``Enable``,
  ``DetectMessageEnd``; ``MachineDetectionTimeout``, the tuning parameters, ``AsyncAmd``,
  ``AsyncAmdStatusCallback`` and its method: :mod:`sipgw.agent.twiml.answeredby`): an
  outbound call run by the ``twiml`` agent (:mod:`sipgw.app.twilio.api.seam`); 201 and the
  Call resource (``queued``).
- ``GET .../Calls/{Sid}.json``: the Call resource (its status as it goes).
- ``POST .../Calls/{Sid}.json``: ``Status=completed`` ends the call (a CANCEL while it
  rings, a BYE once answered), ``Status=canceled`` only while it rings; ``Url`` or
  ``Twiml`` gives an answered call new TwiML.

- The Conference and Participant resources of this process's ``<Dial><Conference>`` rooms
  (:mod:`sipgw.app.twilio.api.conferences`).

In a cluster (``SIPGW_DATABASE_URL``) any gateway answers for any call: each created
call's resource is in the cluster's table, and a gateway that does not carry a call answers
a fetch from there and forwards an update to the gateway that does
(:mod:`sipgw.app.twilio.api.shared`).

Every request is authenticated with HTTP Basic, the Account SID and the Auth Token
(compared in constant time; RFC 7617), instead of the admin token. Wrong credentials take
a try from the admin server's login throttle (:class:`~sipgw.app.admin.throttle.LoginThrottle`,
the same buckets as wrong admin tokens): 401 (Twilio's 20003) while tries are left, then
429 with ``Retry-After``; right ones always pass. Another account's path is 404. Parameters
Twilio has and this subset does not (``Record``, ``SendDigits``, ``FallbackUrl``, ...) are
refused by name (422, Twilio's 20422), never ignored. Errors are Twilio's JSON
(:class:`~sipgw.app.twilio.api.resource.TwilioError`).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from sipgw.agent.twiml.answeredby import PARAMETERS as AMD_PARAMETERS
from sipgw.agent.twiml.answeredby import machine_detection
from sipgw.app.calls.callfeed import FeedEvent
from sipgw.app.calls.outbound import CallOutcome, PlacedCall
from sipgw.app.claimers import claim_owner
from sipgw.app.conferences import PROCESS_ROOMS, GatewayRooms
from sipgw.app.gateway import Gateway
from sipgw.app.twilio.api import seam
from sipgw.app.twilio.api.conferences import ConferenceResources
from sipgw.app.twilio.api.linestatus import line_subscriber
from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.twilio.api.resource import (
    API_VERSION,
    CallFacts,
    TwilioError,
    call_resource,
    final_status,
    not_found,
)
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.app.twilio.api.shared import Cluster, SharedCalls
from sipgw.app.twilio.api.status import POLICY, StatusCallbacks, Subscription, parse_events
from sipgw.app.webhooks.delivery import WebhookDelivery
from sipgw.app.webhooks.outbox import Outbox

__all__ = [
    "CREATE_FIELDS",
    "PREFIX",
    "RECENT_CALLS",
    "UPDATE_FIELDS",
    "Placer",
    "Throttle",
    "TwilioRest",
]

log = logging.getLogger("sipgw.twilio_api")

PREFIX = f"/{API_VERSION}/Accounts/"
"""Where the subset's paths begin."""
CREATE_FIELDS = frozenset({
    "To", "From", "Url", "Twiml", "Method", "StatusCallback", "StatusCallbackEvent",
    "StatusCallbackMethod", "Timeout", *AMD_PARAMETERS,
})  # fmt: skip
"""The parameters of a create this subset takes."""
UPDATE_FIELDS = frozenset({"Status", "Url", "Twiml", "Method"})
"""The parameters of an update this subset takes."""
RECENT_CALLS = 1000
"""Calls created through the API that stay readable (the oldest forgotten first)."""
MAX_FORM_BYTES = 64 * 1024
"""The largest request body read."""
MAX_TWIML = 4000
"""Characters a ``Twiml`` parameter may have (Twilio's limit)."""
HANGUP_WAIT = 5.0
"""Seconds an update that ends a call waits for it to be over before answering."""
OUTBOX_TABLE = "twilio_status_outbox"

Placer = Callable[[Gateway, dict[str, Any]], Awaitable[PlacedCall]]
"""Places a created call from ``POST /api/calls``'s body (:func:`seam.place`)."""
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(slots=True)
class _Created:
    """A call created through the API, as its resource needs it."""

    facts: CallFacts
    log_id: str
    outcome: asyncio.Future[CallOutcome]


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TwilioError(400, 21205 if name == "Url" else 21609,
                          f"{name} {value!r} is not a valid http:// or https:// URL")  # fmt: skip
    return value


class Throttle(Protocol):
    """The admin server's login throttle as the subset uses it: the admin server passes its
    :class:`~sipgw.app.admin.throttle.LoginThrottle` in (the admin imports this package, not
    the other way round)."""

    async def charge(self, source: str, now: float) -> int:
        """Wrong credentials from ``source``: 0 to answer 401, else the seconds to wait."""
        ...


class TwilioRest:
    """The REST subset's endpoints (see the module docstring).

    Args:
        gateway: the running gateway.
        settings: the account SID and Auth Token.
        throttle: the admin server's login throttle (wrong credentials take tries from it).
        source: who sent a request (the admin server's view of proxies).
        status_db: the SQLite file whose table ``twilio_status_outbox`` keeps the status
            callbacks until delivered (the webhook outbox's file).
        clock: wall time (Unix seconds) of resources and callbacks.
        monotonic: the throttle's clock.
        place: places a created call (default: the ``twiml`` agent's, :func:`seam.place`).
        status_outbox: the cluster's outboxes (owner, size, table); None = the SQLite file.
        registry: the cluster's shared calls (with ``cluster``); None = this gateway's only.
        cluster: the cluster, which forwards an update to the gateway carrying the call.
        rooms: the conference rooms the Conference resources show (this process's).
    """

    def __init__(
        self,
        gateway: Gateway,
        settings: TwilioApiSection,
        throttle: Throttle,
        source: Callable[[web.Request], str],
        status_db: Path,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        place: Placer = seam.place,
        status_outbox: Callable[[str, int, str], Outbox] | None = None,
        registry: CallRegistry | None = None,
        cluster: Cluster | None = None,
        rooms: GatewayRooms = PROCESS_ROOMS,
    ) -> None:
        self.gateway = gateway
        self.status_outbox = status_outbox
        """The cluster's outboxes (owner, size, table); None = the SQLite file ``status_db``."""
        self.settings = settings
        self.throttle = throttle
        self.source = source
        self.status_db = status_db
        self.clock = clock
        self.monotonic = monotonic
        self.place = place
        self.conferences = ConferenceResources(
            rooms,
            settings.twilio_api_account_sid,
            self._form,
            lambda: self.clock(),
            self.place_call,
        )
        """The Conference and Participant resources."""
        self.status: StatusCallbacks | None = None
        self.delivery: WebhookDelivery | None = None
        self._calls: OrderedDict[str, _Created] = OrderedDict()
        self._by_log_id: dict[str, str] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.shared = (
            None if registry is None or cluster is None
            else SharedCalls(registry, cluster, settings.twilio_api_account_sid, MAX_FORM_BYTES,
                             clock)
        )  # fmt: skip
        """The cluster's calls (:mod:`sipgw.app.twilio.api.shared`); None: this gateway's."""
        credentials = f"{settings.twilio_api_account_sid}:{settings.twilio_api_auth_token}"
        self._expected = "Basic " + base64.b64encode(credentials.encode()).decode()

    # ------------------------------------------------------------------ wiring

    def owns(self, request: web.Request) -> bool:
        """A request to the subset's paths: it checks Basic auth itself."""
        return self.settings.enabled and request.path.startswith(PREFIX)

    def add_routes(self, app: web.Application) -> None:
        """Register the routes when the subset is on (else its paths do not exist: 404)."""
        if not self.settings.enabled:
            return
        calls = PREFIX + "{account}/Calls"
        app.router.add_post(calls + ".json", self._guarded(self.create))
        app.router.add_get(calls + "/{sid}.json", self._guarded(self.fetch))
        app.router.add_post(calls + "/{sid}.json", self._guarded(self.update))
        for method, path, handler in self.conferences.routes():
            app.router.add_route(method, PREFIX + "{account}/" + path, self._guarded(handler))
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        owner = claim_owner()
        outbox: Outbox = (
            self.status_outbox(owner, 10000, OUTBOX_TABLE)
            if self.status_outbox is not None
            else Outbox(self.status_db, owner, 10000, OUTBOX_TABLE)
        )
        holder: list[StatusCallbacks] = []
        self.delivery = WebhookDelivery(
            outbox, lambda line: None, POLICY, clock=self.clock,
            headers_for=lambda event, now: holder[0].headers_for(event, now),
        )  # fmt: skip
        account = self.settings.twilio_api_account_sid
        self.status = StatusCallbacks(
            self.gateway.feed, self.delivery, self.settings.twilio_api_auth_token, self.clock,
            line_subscription=line_subscriber(self.gateway.lines, account),
        )  # fmt: skip
        holder.append(self.status)
        self._unsubscribe = self.gateway.feed.subscribe(self._on_feed)
        self.delivery.start()
        if self.shared is not None:
            self.shared.start()

    async def _stop(self, app: web.Application) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.status is not None:
            self.status.close()
        if self.delivery is not None:
            await self.delivery.stop()
        if self.shared is not None:
            await self.shared.stop()

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.Response:
            try:
                await self._authenticate(request)
                return await handler(request)
            except TwilioError as exc:
                response = web.json_response(exc.body(), status=exc.status)
                if exc.status == 401:
                    response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                elif exc.status == 429:
                    response.headers["Retry-After"] = exc.message.rsplit(" ", 2)[-2]
                return response

        return guarded

    # ------------------------------------------------------------------ auth

    async def _authenticate(self, request: web.Request) -> None:
        """Basic auth with the account's SID and token, then the path's account.

        Raises:
            TwilioError: 401 (wrong or none), 429 (too many wrong), 404 (another account).
        """
        given = request.headers.get("Authorization", "")
        right = len(given) <= 4 * len(self._expected) and hmac.compare_digest(
            given.encode(), self._expected.encode()
        )
        if not right:
            if given:
                wait = await self.throttle.charge(self.source(request), self.monotonic())
                if wait:
                    raise TwilioError(429, 20429, f"Too many wrong credentials: wait {wait} s")
                log.warning("Twilio API request refused: wrong credentials (from %s)",
                            self.source(request))  # fmt: skip
            raise TwilioError(401, 20003, "Authenticate")
        account = request.match_info.get("account", "")
        if account != self.settings.twilio_api_account_sid:
            raise not_found(request.path)

    async def _form(self, request: web.Request, allowed: frozenset[str]) -> dict[str, list[str]]:
        if (request.content_length or 0) > MAX_FORM_BYTES:
            raise TwilioError(413, 20413, f"Request larger than {MAX_FORM_BYTES} bytes")
        form = await request.post()
        values: dict[str, list[str]] = {}
        for name, value in form.items():
            if not isinstance(value, str):
                raise TwilioError(400, 20001, f"{name}: files are not taken")
            values.setdefault(name, []).append(value)
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise TwilioError(
                422, 20422, f"{unknown[0]} is not supported by this gateway (it takes: "
                f"{', '.join(sorted(allowed))})",
            )  # fmt: skip
        return values

    # ------------------------------------------------------------------ create

    async def create(self, request: web.Request) -> web.Response:
        """Create a call: the ``twiml`` agent runs its ``Url`` or ``Twiml``."""
        form = await self._form(request, CREATE_FIELDS)

        def one(name: str) -> str | None:
            values = form.get(name)
            return values[-1].strip() if values else None

        to, from_ = one("To"), one("From")
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        twimls = form.get("Twiml")
        url, twiml = one("Url"), twimls[-1] if twimls else None
        if not url and not twiml:
            raise TwilioError(400, 21205, "Url parameter is required (or Twiml)")
        if twiml is not None and len(twiml) > MAX_TWIML:
            raise TwilioError(400, 21205, f"Twiml is longer than {MAX_TWIML} characters")
        if url and not twiml:
            _http_url(url, "Url")
        for name in ("Method", "StatusCallbackMethod"):
            if (one(name) or "POST").upper() != "POST":
                raise TwilioError(422, 20422, f"{name} {one(name)}: only POST is supported here")
        callback = one("StatusCallback")
        try:
            events = parse_events(form.get("StatusCallbackEvent", []))
        except ValueError as exc:
            raise TwilioError(400, 21626, f"Invalid 'StatusCallbackEvent': {exc}") from None
        timeout = 60
        if one("Timeout") is not None:
            raw = one("Timeout") or ""
            if not raw.isdigit() or not 1 <= int(raw) <= 600:
                raise TwilioError(400, 20422, f"Timeout {raw!r}: must be 1 to 600 seconds")
            timeout = int(raw)
        detection = {name: one(name) or "" for name in AMD_PARAMETERS if name in form}
        try:
            machine_detection(detection)
        except ValueError as exc:
            raise TwilioError(400, 20422, str(exc)) from None
        facts = await self.place_call(to, from_, url if not twiml else None, twiml, timeout,
                                      callback, events, detection)  # fmt: skip
        return web.json_response(call_resource(facts), status=201)

    async def place_call(
        self, to: str, from_: str, url: str | None, twiml: str | None, ring_timeout: int,
        callback: str | None, events: frozenset[str], detection: dict[str, str],
    ) -> CallFacts:  # fmt: skip
        """Place a checked create's call (also a conference participant's: the
        Participants resource's create); its resource's facts, kept as a created call's.

        Raises:
            TwilioError: 400 when the call was not placed, or ``callback`` is no URL.
        """
        if callback:
            _http_url(callback, "StatusCallback")
        body = seam.placed_call_body(to, from_, url, twiml, ring_timeout, detection)
        try:
            placed = await self.place(self.gateway, body)
        except ValueError as exc:
            raise TwilioError(400, 20422, str(exc)) from None
        handle = placed.handle
        if handle is None or placed.refused:
            reason = placed.outcome.result().reason if placed.outcome.done() else "not placed"
            raise TwilioError(400, 20422, f"Call to {to!r} not placed: {reason}")
        sid = seam.call_sid(handle.call.call_id)
        now = self.clock()
        account = self.settings.twilio_api_account_sid
        facts = CallFacts(sid, account, to, from_, now, "queued")
        self._remember(sid, _Created(facts, handle.call.log_id, placed.outcome))
        if callback and self.status is not None:
            self.status.watch(handle.call.log_id, Subscription(sid, account, callback, events,
                                                               from_, to))  # fmt: skip
        if self.shared is not None:  # another gateway may be asked as soon as we answer
            await self.shared.shared(facts)
        handle.log.info("created through the Twilio API as %s", sid)
        return facts

    def _remember(self, sid: str, created: _Created) -> None:
        self._calls[sid] = created
        self._by_log_id[created.log_id] = sid
        while len(self._calls) > RECENT_CALLS:
            _, old = self._calls.popitem(last=False)
            self._by_log_id.pop(old.log_id, None)

    # ------------------------------------------------------------------ follow

    def _on_feed(self, event: FeedEvent) -> None:
        """Keep each created call's status as the feed tells it (never waits)."""
        sid = self._by_log_id.get(event.call)
        created = self._calls.get(sid) if sid is not None else None
        if created is None:
            return
        facts, now = created.facts, self.clock()
        if event.kind == "call_ringing":
            created.facts = replace(facts, status="ringing", updated=now)
        elif event.kind == "call_answered":
            created.facts = replace(facts, status="in-progress", answered=now, updated=now)
        elif event.kind == "call_ended":
            entry = self.gateway.feed.find(event.call)
            answered = entry.answered if entry is not None else facts.answered
            outcome = entry.outcome if entry is not None else None
            status = final_status(answered is not None, outcome)
            created.facts = replace(facts, status=status, answered=answered,
                                    ended=now, updated=now)  # fmt: skip
        else:
            return
        if self.shared is not None:
            self.shared.share(created.facts)

    def _created(self, request: web.Request) -> _Created:
        created = self._calls.get(request.match_info["sid"])
        if created is None:
            raise not_found(request.path)
        return created

    async def fetch(self, request: web.Request) -> web.Response:
        """The Call resource (in a cluster, another gateway's from the shared table)."""
        created = self._calls.get(request.match_info["sid"])
        if created is not None:
            return web.json_response(call_resource(created.facts))
        if self.shared is None:
            raise not_found(request.path)
        _, resource = await self.shared.elsewhere(request)
        return web.json_response(resource)

    # ------------------------------------------------------------------ update

    async def update(self, request: web.Request) -> web.Response:
        """End the call (``Status``) or give it new TwiML (``Url``, ``Twiml``); in a
        cluster, another gateway's call through that gateway."""
        if request.match_info["sid"] not in self._calls and self.shared is not None:
            return await self.shared.forward(request)
        created = self._created(request)
        form = await self._form(request, UPDATE_FIELDS)
        status = (form.get("Status") or [""])[-1].strip()
        url = (form.get("Url") or [""])[-1].strip() or None
        twimls = form.get("Twiml")
        twiml = twimls[-1] if twimls else None
        if (form.get("Method") or ["POST"])[-1].upper() != "POST":
            raise TwilioError(422, 20422, "Method: only POST is supported here")
        if status not in ("", "completed", "canceled"):
            raise TwilioError(400, 20422, f"Status {status!r}: must be completed or canceled")
        if not status and not url and twiml is None:
            raise TwilioError(400, 20422, "Nothing to update: give Status, Url or Twiml")
        handle = next(
            (h for h in self.gateway.handles.values() if h.call.log_id == created.log_id), None
        )
        if status:
            ringing = created.facts.status in ("queued", "ringing")
            if handle is not None and (status == "completed" or ringing):
                handle.log.info("Status=%s through the Twilio API", status)
                handle.hangup(by="operator")
                # the feed's call_ended (our status) is published with the outcome
                await asyncio.wait({created.outcome}, timeout=HANGUP_WAIT)
            return web.json_response(call_resource(created.facts))
        if twiml is not None and len(twiml) > MAX_TWIML:
            raise TwilioError(400, 21205, f"Twiml is longer than {MAX_TWIML} characters")
        if url and twiml is None:
            _http_url(url, "Url")
        if handle is None or created.facts.status != "in-progress":
            raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
        why = seam.redirect(handle, url if twiml is None else None, twiml)
        if why:
            raise TwilioError(400, 21220, f"Cannot redirect: {why}")
        handle.log.info("new TwiML through the Twilio API")
        return web.json_response(call_resource(created.facts))
