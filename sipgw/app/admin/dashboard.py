"""The live dashboard on the admin server: pages, a login, an event stream, recordings.

Routes (docs/operations.md, "Dashboard"):

- ``GET /dashboard``: active calls (caller, agent, duration, live transcript, per-turn
  latency waterfall) and recent calls with their outcome;
  ``GET /dashboard/calls/{id}``: one call's transcript, tool calls, timings, quality,
  and its recording's waveform and player. Both are static HTML + JS
  (``static/``) that read the JSON below (the dashboard's charts are SVG drawn by
  ``static/charts.js``, no library); every caller-controlled string goes
  into the page through ``textContent``.
- ``GET /api/events``: Server-Sent Events from the gateway's
  :class:`~sipgw.app.calls.callfeed.CallFeed`: a ``snapshot`` first, then ``call_started``,
  ``call_updated``, ``call_ended``, ``transcript`` and ``turn``. One stream per browser tab.
  ``GET /api/events?call={id}`` (log id or Call-ID; 404 if unknown): only that call's
  events, after a ``snapshot`` holding its detail (``{"now", "call"}``); the call's
  page follows a call in progress with it.
- ``GET /api/charts?window=hour|day``: the charts' figures over the last hour (a point a
  minute) or day (a point every ten minutes): calls at once, end of turn to first audio
  p50/p95, barge-ins, outcomes, MOS and vendor errors
  (:meth:`sipgw.app.operations.timeline.CallTimeline.series`); 400 for another window.
- ``GET /api/recent``: the recent (ended) calls; ``GET /api/recent/{id}``: a live or
  recent call's transcript, turns and quality; ``.../recording.wav`` and
  ``.../peaks`` its recording and its waveform's peaks.
- ``GET|POST /dashboard/login``, ``POST /dashboard/logout``: browsers cannot put the
  bearer token on an ``EventSource``, so the login form posts the token once and
  gets an ``HttpOnly; SameSite=Strict`` cookie ``EXPIRES.HMAC`` (never the token):
  the expiry (Unix seconds, SESSION_LIFETIME after the login) signed with the token,
  checked here, so an old cookie stops working; logout revokes the cookie it came
  with until its expiry. The cookie is accepted for ``GET`` only: every change (hang
  up, place a call) still needs the bearer header.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from sipgw.app.admin.jsonapi import json_error
from sipgw.app.admin.throttle import LoginThrottle, token_matches
from sipgw.app.admin.waveform import wav_peaks
from sipgw.app.calls.callfeed import CallEntry, CallFeed, FeedEvent
from sipgw.app.operations.timeline import WINDOWS, CallTimeline

__all__ = [
    "COOKIE",
    "HEARTBEAT",
    "PAGE_EVENTS",
    "STREAM_QUEUE",
    "Dashboard",
    "page",
    "session_cookie_expiry",
    "session_cookie_value",
]

log = logging.getLogger("sipgw.admin")

COOKIE = "sipgw_admin"
"""The dashboard session cookie's name."""
SESSION_LIFETIME = 12 * 3600
"""Seconds a dashboard login lasts (the cookie's Max-Age and its signed expiry)."""
HEARTBEAT = 15.0
"""Seconds between keep-alive comments on an idle event stream."""
STREAM_QUEUE = 1000
"""Events queued for one slow browser before its stream is closed (it reconnects)."""
PAGE_EVENTS = frozenset(
    {"call_started", "call_updated", "call_ended", "transcript", "turn", "record_closed"}
)
"""The feed's events the pages show (the rest, e.g. ``call_refused``, are for webhooks);
``record_closed``: a call's page shows its record's last lines (the talk figures)."""
STATIC = Path(__file__).parent / "static"
MAX_LOGIN_FORM = 4096
"""The largest login form read, octets (a token is at most MAX_TOKEN_LENGTH)."""

PUBLIC_PATHS = frozenset({"/dashboard/login", "/dashboard/logout"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def session_cookie_value(token: str, expires: int) -> str:
    """The cookie that stands for ``token`` until ``expires`` (Unix seconds):
    ``EXPIRES.HMAC(token, EXPIRES)``, so the cookie is not the token and its expiry
    cannot be moved."""
    message = f"sipgw dashboard session {expires}".encode()
    return f"{expires}.{hmac.new(token.encode(), message, hashlib.sha256).hexdigest()}"


def session_cookie_expiry(token: str, value: str) -> int | None:
    """The expiry signed into ``value`` when it is a cookie made with ``token``, else None."""
    expires, _, _ = value.partition(".")
    if not expires.isdigit() or len(expires) > 12:
        return None
    expected = session_cookie_value(token, int(expires))
    return int(expires) if hmac.compare_digest(value.encode(), expected.encode()) else None


def page(name: str, status: int = 200, message: str = "") -> web.Response:
    """A page of ``static/`` with the pages' security headers (``message`` in its slot)."""
    body = (STATIC / name).read_text(encoding="utf-8").replace("<!--message-->", message)
    response = web.Response(text=body, status=status, content_type="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _over_tls(request: web.Request) -> bool:
    """Whether the browser reached us over TLS: this server speaks plain HTTP, so only
    through a TLS proxy that says so (``X-Forwarded-Proto`` or ``Forwarded``). Trusting
    the header can only add ``Secure`` to the cookie, never take it away."""
    if request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return True
    forwarded = request.headers.get("Forwarded", "").lower().replace(" ", "")
    return any(part == "proto=https" for part in forwarded.replace(",", ";").split(";"))


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Dashboard:
    """The dashboard's routes and its part of the token check, for one gateway's feed."""

    def __init__(
        self,
        feed: CallFeed,
        token: Callable[[], str],
        *,
        lifetime: int = SESSION_LIFETIME,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
        source: Callable[[web.Request], str] | None = None,
        timeline: CallTimeline | None = None,
    ) -> None:
        self.feed = feed
        self.timeline = timeline or CallTimeline()
        """The figures the charts draw (the gateway's metrics keep them)."""
        self._token = token
        self.lifetime = lifetime
        self.clock = clock
        self.throttle = throttle or LoginThrottle()
        """Wrong tokens per source (shared with the API's bearer check)."""
        self.source = source or (lambda request: request.remote or "?")
        """Who sent a request (the admin server's: behind a trusted proxy, the client)."""
        self._revoked: dict[str, int] = {}
        """Cookies logged out before their expiry, with that expiry."""
        self._streams: set[asyncio.Queue[FeedEvent | None]] = set()

    def add_routes(self, app: web.Application) -> None:
        """Register the pages, the login, the stream and the recordings on ``app``."""
        app.router.add_get("/", self.root)
        app.router.add_get("/dashboard", self.index)
        app.router.add_get("/dashboard/calls/{id}", self.call_page)
        app.router.add_get("/dashboard/login", self.login_form)
        app.router.add_post("/dashboard/login", self.login)
        app.router.add_post("/dashboard/logout", self.logout)
        app.router.add_get("/dashboard/static/{name}", self.static)
        app.router.add_get("/api/events", self.events)
        app.router.add_get("/api/charts", self.charts)
        app.router.add_get("/api/recent", self.recent)
        app.router.add_get("/api/recent/{id}", self.call)
        app.router.add_get("/api/recent/{id}/recording.wav", self.recording)
        app.router.add_get("/api/recent/{id}/peaks", self.peaks)
        app.on_shutdown.append(self._end_streams)

    # ------------------------------------------------------------------ auth

    def allows(self, request: web.Request) -> bool:
        """Whether ``request`` may pass without the bearer header: the login, logout and
        static files (no data), or a ``GET`` with a valid session cookie."""
        path = request.path
        if path in PUBLIC_PATHS or path.startswith("/dashboard/static/"):
            return True
        if request.method not in ("GET", "HEAD"):
            return False
        return self._session_expiry(request) is not None

    def signed_in(self, request: web.Request) -> bool:
        """Whether the request carries a valid session cookie (whatever its method)."""
        return self._session_expiry(request) is not None

    def _session_expiry(self, request: web.Request) -> int | None:
        """The expiry of the request's cookie when it is valid, unexpired and not revoked."""
        token = self._token()
        given = request.cookies.get(COOKIE, "")
        expires = session_cookie_expiry(token, given) if token and given else None
        if expires is None or expires <= self.clock() or given in self._revoked:
            return None
        return expires

    @staticmethod
    def wants_page(request: web.Request) -> bool:
        """A browser asking for a dashboard page (answered with the login form, not JSON)."""
        return request.path == "/" or request.path.startswith("/dashboard")

    @staticmethod
    def refused_page() -> web.Response:
        """The login form, with 401."""
        return page("login.html", 401)

    async def login_form(self, request: web.Request) -> web.Response:
        """The login form (public)."""
        return page("login.html")

    async def login(self, request: web.Request) -> web.Response:
        """Check the posted token (constant time); set the session cookie, go to the dashboard.

        The right token always gets in. A wrong one gets the form again (401), or, from a
        source that got it wrong too often, 429 (:mod:`~sipgw.app.admin.throttle`); a form
        larger than a token needs is not read (413).
        """
        token = self._token()
        if (request.content_length or 0) > MAX_LOGIN_FORM:
            raise web.HTTPRequestEntityTooLarge(MAX_LOGIN_FORM, request.content_length or 0)
        form = await request.post()
        given = form.get("token")
        if not token or not isinstance(given, str):
            raise web.HTTPSeeOther("/dashboard")
        if not token_matches(given, token):
            source = self.source(request)
            wait = await self.throttle.charge(source, self.clock())
            if wait:
                response = page("login.html", 429, f"Too many wrong tokens: wait {wait} s.")
                response.headers["Retry-After"] = str(wait)
                return response
            log.warning("dashboard login with a wrong token from %s", source)
            return page("login.html", 401, "Wrong token.")
        response = web.HTTPSeeOther("/dashboard")
        response.set_cookie(
            COOKIE,
            session_cookie_value(token, int(self.clock()) + self.lifetime),
            max_age=self.lifetime,
            httponly=True,
            samesite="Strict",
            path="/",
            secure=_over_tls(request),
        )
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        """Drop the session cookie and revoke it here (a copy of it stops working too)."""
        now = self.clock()
        self._revoked = {value: exp for value, exp in self._revoked.items() if exp > now}
        expires = self._session_expiry(request)
        if expires is not None:
            self._revoked[request.cookies[COOKIE]] = expires
        response = web.HTTPSeeOther("/dashboard/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # ------------------------------------------------------------------ pages

    async def root(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    async def index(self, request: web.Request) -> web.Response:
        """The live page."""
        return page("dashboard.html")

    async def call_page(self, request: web.Request) -> web.Response:
        """One call's page (its script reads the id from the address)."""
        return page("call.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The pages' script and style sheet (only the files in ``static/``)."""
        name = request.match_info["name"]
        files = {path.name: path for path in STATIC.iterdir() if path.suffix in (".js", ".css")}
        if name not in files:
            raise web.HTTPNotFound()
        response = web.FileResponse(files[name])
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response

    # ------------------------------------------------------------------ data

    def snapshot(self) -> dict[str, Any]:
        """The live calls in full and the recent calls' summaries, newest first."""
        return {
            "now": time.time(),
            "live": [entry.detail() for entry in self.feed.live.values()],
            "recent": [entry.summary() for entry in reversed(self.feed.recent)],
        }

    async def charts(self, request: web.Request) -> web.Response:
        """The charts' figures over the last hour or day (``?window=``, default hour)."""
        window = request.query.get("window", "hour")
        if window not in WINDOWS:
            return web.json_response(
                {"error": f"window must be one of {', '.join(WINDOWS)}"}, status=400
            )
        return web.json_response(self.timeline.series("day" if window == "day" else "hour"))

    async def recent(self, request: web.Request) -> web.Response:
        """The recent calls, newest first."""
        return web.json_response({"calls": self.snapshot()["recent"]})

    def _entry(self, request: web.Request) -> CallEntry:
        entry = self.feed.find(request.match_info["id"])
        if entry is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no such call"}), content_type="application/json"
            )
        return entry

    async def call(self, request: web.Request) -> web.Response:
        """A live or recent call: transcript, tool calls, turns, quality."""
        return web.json_response(self._entry(request).detail())

    def _recording(self, request: web.Request) -> Path:
        path = self._entry(request).recording
        if path is None or not path.is_file():
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no recording"}), content_type="application/json"
            )
        return Path(path)

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """The call's stereo WAV (caller left, agent right)."""
        response = web.FileResponse(self._recording(request))
        response.headers["Content-Type"] = "audio/wav"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def peaks(self, request: web.Request) -> web.Response:
        """The recording's waveform: peaks per channel (computed off the loop)."""
        path = self._recording(request)
        try:
            peaks = await asyncio.to_thread(wav_peaks, path)
        except (OSError, EOFError, wave.Error) as exc:
            return json_error(500, f"cannot read the recording: {exc}")
        return web.json_response(peaks)

    # ------------------------------------------------------------------ stream

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: a snapshot, then every feed event, until the browser leaves.

        With ``?call=``, the snapshot is that call's detail and only its events follow.
        """
        queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(STREAM_QUEUE)
        one: CallEntry | None = None
        if "call" in request.query:
            one = self.feed.find(request.query["call"])
            if one is None:
                raise web.HTTPNotFound(
                    text=json.dumps({"error": "no such call"}), content_type="application/json"
                )

        def push(event: FeedEvent) -> None:
            if event.kind not in PAGE_EVENTS or (one is not None and event.call != one.id):
                return
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # too slow: end it; EventSource reconnects
                unsubscribe()
                queue.get_nowait()
                queue.put_nowait(None)

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        unsubscribe = self.feed.subscribe(push)
        self._streams.add(queue)
        try:
            snapshot = (
                self.snapshot() if one is None else {"now": time.time(), "call": one.detail()}
            )
            await response.write(b"retry: 2000\n" + _sse("snapshot", snapshot))
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT):
                        event = await queue.get()
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                await response.write(_sse(event.kind, {"call": event.call, **event.data}))
        except ConnectionResetError:
            pass
        finally:
            unsubscribe()
            self._streams.discard(queue)
        return response

    async def _end_streams(self, app: web.Application) -> None:
        for queue in list(self._streams):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
