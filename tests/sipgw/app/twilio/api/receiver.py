"""A status callback receiver on loopback that checks each request with the official
``twilio`` SDK's ``RequestValidator`` (as an app on Twilio does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from twilio.request_validator import RequestValidator


@dataclass
class StatusReceiver:
    """What arrived: each callback's form and whether the SDK found it signed."""

    token: str
    url: str = ""
    status: list[int] = field(default_factory=list)
    """Answers to give, in order (then 204)."""
    got: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    attempts: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.attempts += 1
        answer = self.status.pop(0) if self.status else 204
        if answer < 300:
            signature = request.headers.get("X-Twilio-Signature", "")
            valid = RequestValidator(self.token).validate(self.url, form, signature)
            self.got.append((form, bool(valid)))
        self.arrived.set()
        return web.Response(status=answer)

    async def until(self, count: int, within: float = 10.0) -> list[dict[str, str]]:
        """The forms once ``count`` arrived (each checked signed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.got) < count:
            self.arrived.clear()
            assert loop.time() < deadline, self.got
            try:
                await asyncio.wait_for(self.arrived.wait(), deadline - loop.time())
            except TimeoutError:
                pass
        assert all(valid for _, valid in self.got), self.got
        return [form for form, _ in self.got]


@asynccontextmanager
async def status_receiver(token: str) -> AsyncIterator[StatusReceiver]:
    """A receiver at ``/status`` on a free loopback port."""
    got = StatusReceiver(token)
    app = web.Application()
    app.router.add_post("/status", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    got.url = f"http://{host}:{port}/status"
    try:
        yield got
    finally:
        await runner.cleanup()
