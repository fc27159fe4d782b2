"""Posting the outbox's events (sipgw/app/webhooks/delivery.py) to a receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from sipgw.app.webhooks import delivery as delivery_module
from sipgw.app.webhooks.delivery import DeliveryPolicy, WebhookDelivery, retry_delay
from sipgw.app.webhooks.outbox import NewEvent, Outbox
from sipgw.app.webhooks.signing import WebhookSecret, verify
from tests.refcycles import garbage_of_ours

pytestmark = pytest.mark.timeout(30)

SECRET = WebhookSecret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
FAST = DeliveryPolicy(timeout=2.0, retry_max=0.2, give_up=3600.0, lease=5.0)


@dataclass
class Receiver:
    url: str = ""
    status: int = 204
    got: list[tuple[str, dict[str, object], bool]] = field(default_factory=list)
    """(webhook-id, body, signature valid) of every request, in arrival order."""
    traceparents: dict[str, str] = field(default_factory=dict)
    """Each webhook-id's traceparent header, if it had one."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify(SECRET, dict(request.headers), body, time.time())
        self.got.append((request.headers["webhook-id"], json.loads(body), ok))
        if "traceparent" in request.headers:
            self.traceparents[request.headers["webhook-id"]] = request.headers["traceparent"]
        self.arrived.set()
        return web.Response(status=self.status)

    async def until(self, count: int, within: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while len([g for g in self.got if g[2]]) < count:
            self.arrived.clear()
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, self.got
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass


@asynccontextmanager
async def receiver(port: int = 0) -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield got
    finally:
        await runner.cleanup()


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Return once ``condition()`` holds (checked every 20 ms); fail after ``within`` s."""
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def events(url: str, calls: dict[str, int]) -> list[NewEvent]:
    made = []
    for call, count in calls.items():
        for n in range(1, count + 1):
            body = json.dumps({"call": call, "n": n}).encode()
            made.append(NewEvent(f"msg_{call}_{n}", url, "", call, "call.answered", body))
    return made


def delivery(tmp_path: Path, policy: DeliveryPolicy = FAST) -> WebhookDelivery:
    outbox = Outbox(tmp_path / "outbox.sqlite3", "test")
    return WebhookDelivery(outbox, lambda line: SECRET if line == "" else None, policy)


async def test_events_arrive_signed_once_and_in_order_per_call(tmp_path: Path) -> None:
    async with receiver() as got:
        sender = delivery(tmp_path)
        sender.start()
        sender.enqueue(events(got.url, {"a": 5, "b": 5}))
        await got.until(10)
        await asyncio.sleep(0.1)
        await sender.stop()
    assert all(ok for _, _, ok in got.got)
    ids = [i for i, _, _ in got.got]
    assert len(ids) == len(set(ids)) == 10
    for call in "ab":
        assert [b["n"] for _, b, _ in got.got if b["call"] == call] == [1, 2, 3, 4, 5]
    assert sender.counts.delivered == 10 and await sender.outbox.pending() == 0


async def test_a_traced_calls_events_carry_its_traceparent_and_only_its(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sipgw.app.webhooks.delivery.TRACED_CALLS", 2)
    parents = {call: f"00-{n:032x}-{n:016x}-01" for n, call in enumerate("abc", 1)}
    async with receiver() as got:
        sender = delivery(tmp_path)
        for call in "abc":  # a's falls out: only the two most recent calls are kept
            sender.trace(call, parents[call])
        sender.trace("b", parents["b"])  # b is recent again
        sender.start()
        sender.enqueue(events(got.url, {"a": 1, "b": 2, "c": 1, "d": 1}))
        await got.until(5)
        await sender.stop()
    assert got.traceparents == {
        "msg_b_1": parents["b"], "msg_b_2": parents["b"], "msg_c_1": parents["c"],
    }  # fmt: skip


async def test_a_receiver_that_fails_gets_every_event_when_it_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with receiver() as got:
        got.status = 503
        sender = delivery(tmp_path)
        sender.start()
        with caplog.at_level(logging.INFO, "sipgw.webhooks"):
            sender.enqueue(events(got.url, {"a": 3}))
            await eventually(lambda: len(got.got) >= 4)  # the first event, again and again
            assert {i for i, _, _ in got.got} == {"msg_a_1"}  # the call's next ones wait
            got.status = 200
            await got.until(3 + len(got.got))
            await sender.stop()
    delivered = [b["n"] for _, b, _ in got.got[-3:]]
    assert delivered == [1, 2, 3] and sender.counts.failed_attempts >= 4
    text = caplog.text
    assert text.count("failing (HTTP 503)") == 1 and "delivered again after" in text


async def test_a_gone_receiver_or_an_old_event_is_dropped(tmp_path: Path) -> None:
    async with receiver() as got:
        got.status = 410
        sender = delivery(tmp_path)
        sender.start()
        sender.enqueue(events(got.url, {"a": 1}))
        await eventually(lambda: sender.counts.given_up == 1)
        assert await sender.outbox.pending() == 0
        got.status = 500
        aged = delivery(tmp_path / "aged", DeliveryPolicy(retry_max=0.1, give_up=0.3, timeout=2))
        aged.start()
        aged.enqueue(events(got.url, {"b": 1}))
        await eventually(lambda: aged.counts.given_up >= 1)
        assert await aged.outbox.pending() == 0 and aged.counts.failed_attempts >= 2
        await aged.stop()
        await sender.stop()


async def test_stop_keeps_what_was_queued_and_the_next_start_delivers_it(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/hook"  # the discard port: nobody listens
    sender = delivery(tmp_path)
    sender.start()
    sender.enqueue(events(dead, {"a": 2}))
    await sender.stop(grace=0.5)
    assert await sender.outbox.pending() == 2  # nothing lost
    async with receiver() as got:
        outbox = Outbox(tmp_path / "outbox.sqlite3", "after-restart")
        # the receiver moved: point the rows at it
        await outbox.engine.run("UPDATE webhook_outbox SET url = ?, next_at = 0", (got.url,))
        again = WebhookDelivery(outbox, lambda line: SECRET, FAST)
        again.start()
        await got.until(2)
        await again.stop()
    assert [b["n"] for _, b, _ in got.got] == [1, 2]


class FlakyOutbox(Outbox):
    """An outbox whose first ``failures`` writes fail, as while its database restarts."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path, "flaky")
        self.failures = failures

    async def add(self, events: Iterable[NewEvent], now: float) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the database is restarting")
        return await super().add(events, now)


async def test_events_not_written_wait_in_memory_until_the_outbox_takes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery_module, "ERROR_WAIT", 0.05)
    async with receiver() as got:
        outbox = FlakyOutbox(tmp_path / "outbox.sqlite3", failures=2)
        sender = WebhookDelivery(outbox, lambda line: SECRET, FAST)
        sender.start()
        sender.enqueue(events(got.url, {"a": 2}))
        await eventually(lambda: outbox.failures == 1)  # the first write failed ...
        sender.enqueue(events(got.url, {"b": 1}))  # ... and more came meanwhile
        await got.until(3)
        await sender.stop()
    assert outbox.failures == 0 and sender.counts.dropped_full == 0
    assert [(b["call"], b["n"]) for _, b, _ in got.got if b["call"] == "a"] == [("a", 1), ("a", 2)]
    assert len({i for i, _, _ in got.got}) == 3


def test_retry_waits_double_with_jitter_up_to_the_cap() -> None:
    policy = DeliveryPolicy(retry_max=10.0)
    assert retry_delay(1, policy, lambda: 0.5) == 1.0
    assert retry_delay(3, policy, lambda: 0.5) == 4.0
    assert retry_delay(3, policy, lambda: 0.0) == pytest.approx(3.2)
    assert retry_delay(3, policy, lambda: 1.0) == pytest.approx(4.8)
    assert retry_delay(20, policy, lambda: 1.0) == 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def receiver_down(port: int, how: str) -> AsyncIterator[None]:
    """The receiver's port while it is down: nobody listening ("refuses"), or a server that
    reads a request and closes the connection ("drops", as a receiver killed mid-request)
    or never answers ("stalls": the attempt times out)."""
    if how == "refuses":
        yield
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if how == "stalls":  # until the client gives up and closes
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port, reuse_address=True)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("how", ["refuses", "drops", "stalls"])
async def test_a_receiver_down_then_back_leaves_nothing_to_the_collector(
    tmp_path: Path, how: str
) -> None:
    """Every failed attempt's error (a connection refused, dropped or timed out) is let go
    with its frames: none of the delivery's frames, events or tasks waits in a reference
    cycle for the collector (bench.soak: the webhook receiver killed for 20 s left 10k
    objects to it at 20 calls, 22k at 60: some 81 an attempt refused), and nothing is kept
    once all went out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    policy = DeliveryPolicy(timeout=0.3, retry_max=0.2, give_up=3600.0, lease=5.0)
    sender = delivery(tmp_path, policy)
    sender.start()
    calls = {f"call{n}": 2 for n in range(10)}
    with garbage_of_ours() as leftovers:
        async with receiver_down(port, how):
            sender.enqueue(events(url, calls))
            await eventually(lambda: sender.counts.failed_attempts >= 30)
        async with receiver(port) as got:
            await got.until(20)
            await eventually(lambda: not sender._posts)
    assert sender.counts.delivered == 20 and await sender.outbox.pending() == 0
    assert not sender._busy and not sender._queue and not sender.counts.down_since
    await sender.stop()
    assert leftovers == []
