"""The admin server with leg settings on a free loopback port, and a client session for it
(the tests of the call page's and Twilio's endpoints)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.app.legs.settings import LegsSettings


@asynccontextmanager
async def admin_with_legs(
    gateway: Gateway, legs: LegsSettings | None, token: str
) -> AsyncIterator[tuple[AdminServer, aiohttp.ClientSession]]:
    """Start the server; yield it and a session (15 s a request); stop both after."""
    server = AdminServer(gateway, AdminSettings(port=free_port(), token=token), legs)
    await server.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15.0))
    try:
        yield server, http
    finally:
        await http.close()
        await server.stop()
