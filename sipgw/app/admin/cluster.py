"""The admin API's cluster endpoints (with ``SIPGW_DATABASE_URL``): the cluster's calls and
gateways, and a call placed on a gateway with room.

- ``GET /api/cluster/calls``: the calls in progress on every live gateway, from the shared
  calls' index (``?all=1``: the latest 500, ended ones too), each with its ``gateway``, and
  ``this``, this gateway's name (the dashboard's live page lists them).
- ``GET /api/cluster/gateways``: the live gateways' heartbeats (calls, capacity, accepting).
- ``POST /api/calls`` on a gateway that is full (its ``SIPGW_MAX_CALLS`` reached, draining or
  overloaded) is forwarded, once, to the live gateway with the most room by its last
  heartbeat: the same body and ``Authorization`` header (every gateway of a cluster has the
  same admin token) to that gateway's admin API, whose answer comes back with ``gateway``
  naming it. A forwarded request carries ``X-Sipgw-Forwarded-By`` and is never forwarded
  again (that gateway places it, or answers 503 when it filled meanwhile); with no gateway
  with room the answer is 503. The heartbeat is a few seconds old at most, so two requests
  at once may both go to the same gateway: its own limit still holds.
- Twilio's REST subset sends an update of a call another gateway carries through
  :meth:`ClusterEndpoints.forward_to` (:mod:`sipgw.app.twilio.api.shared`): the same path,
  body and ``Authorization`` to that gateway's admin API, marked the same way, its answer
  passed back as it came.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from sipgw.foundation.handled_errors import forget_frames

if TYPE_CHECKING:  # psycopg, the postgres extra, is imported only with a database URL
    from sipgw.app.cluster.service import ClusterMember

__all__ = ["FORWARDED_BY", "ClusterEndpoints"]

log = logging.getLogger("sipgw.admin")

FORWARDED_BY = "X-Sipgw-Forwarded-By"
"""The header of a ``POST /api/calls`` another gateway forwarded (never forwarded again)."""


class ClusterEndpoints:
    """The cluster routes of the admin API for ``member`` (see the module docstring).

    Args:
        member: this gateway in the cluster.
        load: this gateway's load (:func:`~sipgw.app.gateway.gateway_load`).
        timeout: seconds a forwarded request may take.
    """

    def __init__(
        self,
        member: ClusterMember,
        load: Callable[[], tuple[int, int | None, bool]],
        timeout: float = 15.0,
    ) -> None:
        self.member = member
        self.load = load
        self.timeout = timeout

    def full(self) -> bool:
        """No room here: the limit reached, draining or overloaded."""
        active, capacity, accepting = self.load()
        return not accepting or (capacity is not None and active >= capacity)

    def add_routes(self, app: web.Application) -> None:
        """``/api/cluster/calls`` and ``/api/cluster/gateways``."""
        app.router.add_get("/api/cluster/calls", self.calls)
        app.router.add_get("/api/cluster/gateways", self.gateways)

    async def calls(self, request: web.Request) -> web.Response:
        """The cluster's calls in progress (``?all=1``: the latest, ended ones too)."""
        every = request.query.get("all") in ("1", "true")
        calls = await self.member.index.calls(time.time(), not every)
        return web.json_response({"calls": calls, "this": self.member.index.name})

    async def gateways(self, request: web.Request) -> web.Response:
        """The live gateways and their load."""
        beats = await self.member.index.gateways(time.time())
        rows: list[dict[str, Any]] = [
            {"name": b.name, "admin_url": b.admin_url, "active": b.active,
             "capacity": b.capacity, "accepting": b.accepting, "heartbeat_at": b.heartbeat_at}
            for b in beats
        ]  # fmt: skip
        return web.json_response({"gateways": rows, "this": self.member.index.name})

    async def forward(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        """The answer of another gateway with room when this one is full; None = place here."""
        if not self.full():
            return None
        if request.headers.get(FORWARDED_BY):
            return web.json_response(
                {"error": "this gateway is full too (forwarded once, not again)"}, status=503
            )
        target = await self.member.index.with_room(time.time())
        if target is None:
            return web.json_response(
                {"error": "this gateway is full and no other gateway has room"}, status=503
            )
        log.info("POST /api/calls: full here, forwarded to %s", target.name)
        try:
            status, data, _ = await self._post(request, f"{target.admin_url}/api/calls", json=body)
            try:
                payload: Any = json.loads(data)
            except ValueError:
                payload = {"error": data[:300].decode(errors="replace")}
        except (aiohttp.ClientError, TimeoutError) as exc:
            forget_frames(exc)  # a refused connection's errors hold their frames, down to here
            return web.json_response(
                {"error": f"forwarding to {target.name} failed: {exc or type(exc).__name__}"},
                status=502,
            )
        if isinstance(payload, dict):
            payload["gateway"] = target.name
        return web.json_response(payload, status=status)

    # -- Twilio's REST subset (sipgw.app.twilio.api.endpoints.Cluster) --------------------

    @property
    def name(self) -> str:
        """This gateway's name in the cluster."""
        return self.member.index.name

    def forwarded(self, request: web.Request) -> bool:
        """``request`` came from another gateway (it is never forwarded again)."""
        return bool(request.headers.get(FORWARDED_BY))

    async def forward_to(
        self, request: web.Request, gateway: str, body: bytes
    ) -> web.Response | None:
        """``request`` (its path, ``body`` and ``Content-Type``) sent to the live gateway
        named ``gateway``: its answer as it gave it; None when no such gateway is live.

        Raises:
            aiohttp.ClientError, TimeoutError: that gateway did not answer.
        """
        beats = await self.member.index.gateways(time.time())
        target = next((beat for beat in beats if beat.name == gateway), None)
        if target is None:
            return None
        log.info("%s %s: forwarded to %s, which carries it", request.method, request.path,
                 target.name)  # fmt: skip
        headers = {"Content-Type": request.headers.get("Content-Type", "")}
        status, data, kind = await self._post(
            request, f"{target.admin_url}{request.path_qs}", data=body, headers=headers
        )
        return web.Response(body=data, status=status, content_type=kind)

    async def _post(
        self, request: web.Request, url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, bytes, str]:
        """POST to another gateway as ``request``'s sender (its ``Authorization``), marked
        forwarded by this one: the answer's status, body and content type."""
        sent = {**(headers or {}), FORWARDED_BY: self.member.index.name}
        if "Authorization" in request.headers:
            sent["Authorization"] = request.headers["Authorization"]
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as web_,
            web_.post(url, headers=sent, **kw) as answer,
        ):
            return answer.status, await answer.read(), answer.content_type
