"""Shared state in a real PostgreSQL (Debian's, started here: tests/toolkit/postgres.py):
migrations applied once by gateways starting at once, due callbacks dialled exactly once by
two gateways, a dead gateway's lease taken over, the webhook outbox delivered once across two
gateways, the cluster's calls listed and placed through any gateway's admin API, and a call
created through Twilio's REST API fetched and ended through another gateway.

Each "gateway" here is the piece under test with its own connections (its own
:class:`Database`), as two processes on two machines would have: the row locks and advisory
locks are the server's, whoever holds the connections. Gateways "at once" are coroutines
gathered on one loop: each awaits its own connection's round trips (psycopg's asyncio API),
so their transactions overlap on the server as two processes' would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web
from twilio.rest import Client

from bench import database as bench_database
from bench import database_loop as bench_database_loop
from sipgw.agent.capabilities import GatewayServices
from sipgw.agent.conversation.building import agent_settings
from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    PreemptiveSection,
)
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.callback_store import CallbackQuotaExceeded, CallbackState, CallbackStore
from sipgw.agent.tools.message_store import MessageStore
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.app.admin.cluster import FORWARDED_BY
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.calls.callbacks import CallbackPolicy, CallbackScheduler, DialRequest, DialResult
from sipgw.app.claimers import claim_owner, this_instance
from sipgw.app.cluster.database import Database
from sipgw.app.cluster.members import ClusterIndex
from sipgw.app.cluster.migrations import apply_migrations, migrations
from sipgw.app.cluster.service import ClusterMember
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import CHECKOUT, child_env
from sipgw.app.gateway import gateway_load
from sipgw.app.twilio.api.registry import CallRegistry
from sipgw.app.twilio.api.seam import call_sid as seam_call_sid
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.app.webhooks.delivery import DeliveryPolicy, WebhookDelivery
from sipgw.app.webhooks.outbox import NewEvent, Outbox
from sipgw.app.webhooks.signing import WebhookSecret
from tests.agent.tools.fake_call import ANY_NUMBER, call
from tests.sipgw.app.test_claimers import gone_owner, gone_pid
from tests.toolkit.browser import Browser
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.postgres import PostgresServer
from tests.toolkit.waiting import wait_for

T0 = 1_800_000_000.0
TOKEN = "cluster-admin-token-0123456789"
POLICY = CallbackPolicy(allowed_prefixes=("+1",), max_concurrent=100, lease=60.0)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as running:
        yield running


@pytest.fixture
def url(server: PostgresServer) -> str:
    """A fresh database with the schema applied."""
    new = server.new_database()
    asyncio.run(_migrated(new))
    return new


async def _migrated(url: str) -> None:
    db = Database(url)
    await apply_migrations(db, T0)
    await db.close()


def _together(*jobs: Any) -> list[Any]:
    """Run ``jobs`` (blocking callables: processes to start) in threads released at the
    same moment; their results."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return results


async def test_two_gateways_starting_at_once_apply_the_migrations_once(
    server: PostgresServer,
) -> None:
    fresh = server.new_database()
    gateways = [Database(fresh) for _ in range(4)]
    applied = await asyncio.gather(*(apply_migrations(db, T0) for db in gateways))
    versions = [m.version for m in migrations()]
    assert sorted(v for one in applied for v in one) == versions  # each once, by someone
    async with gateways[0].transaction() as cur:
        assert await cur.execute("SELECT version FROM schema_migrations ORDER BY version") == [
            (v,) for v in versions
        ]
    assert await apply_migrations(gateways[1], T0 + 1) == []  # a later start: nothing to do
    for db in gateways:
        await db.close()


async def _store_callbacks(store: CallbackStore, count: int) -> list[int]:
    return [
        await store.add(call_id=f"c{i}", phone=f"+1555000{i:04d}", requested_time="now",
                        reason="r", notes="", due_at=T0 - 1, now=T0 - 10)
        for i in range(count)
    ]  # fmt: skip


class Dialled:
    """A place_call that records who dialled what."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, str]] = []

    def for_gateway(self, name: str) -> Any:
        async def place(request: DialRequest) -> DialResult:
            self.targets.append((name, request.target))
            await asyncio.sleep(0)
            return DialResult(True, "answered (200)")

        return place


async def test_two_gateways_claiming_the_same_due_callbacks_dial_each_exactly_once(
    url: str,
) -> None:
    dbs = [Database(url), Database(url)]
    ids = await _store_callbacks(CallbackStore(dbs[0]), 40)
    dialled = Dialled()
    six_at_once = CallbackPolicy(allowed_prefixes=("+1",), max_concurrent=6)
    schedulers = [
        CallbackScheduler(CallbackStore(db), dialled.for_gateway(f"gw{i}"), six_at_once,
                          owner=f"gw{i}")
        for i, db in enumerate(dbs)
    ]  # fmt: skip
    claimed = []
    for _ in range(4):  # rounds of claims at the same moment: 4 x 2 x 6 > 40 rows
        rounds = await asyncio.gather(*(s.claim_due(T0) for s in schedulers))
        claimed.append(rounds)
        for scheduler, requests in zip(schedulers, rounds, strict=True):
            for request in requests:
                await scheduler.dial(request, lambda: T0 + 1)
    taken = [r.callback.id for rounds in claimed for one in rounds for r in one]
    assert sorted(taken) == sorted(set(taken))  # never twice
    assert len(dialled.targets) == len(taken) == 40
    assert {gw for gw, _ in dialled.targets} == {"gw0", "gw1"}  # both took a share
    rows = await CallbackStore(dbs[0]).rows()
    assert [r.state for r in rows] == [CallbackState.DONE] * 40
    assert {r.id for r in rows} == set(ids) and all(r.attempts == 1 for r in rows)
    for db in dbs:
        await db.close()


async def test_a_gateway_killed_mid_call_loses_the_call_and_another_takes_it_when_its_lease_ends(
    url: str,
) -> None:
    dead_db, live_db = Database(url), Database(url)
    (row_id,) = await _store_callbacks(CallbackStore(dead_db), 1)
    dialled = Dialled()
    dead = CallbackScheduler(CallbackStore(dead_db), dialled.for_gateway("dead"), POLICY,
                             owner="machine-a:1:dead")  # fmt: skip
    live = CallbackScheduler(CallbackStore(live_db), dialled.for_gateway("live"), POLICY,
                             owner="machine-b:2:live")  # fmt: skip
    (request,) = await dead.claim_due(T0)  # claimed and dialling... then the machine dies
    await dead_db.close()
    assert await live.run_due(lambda: T0 + 30) == []  # its lease (60 s) still runs
    results = await live.run_due(lambda: T0 + 61)  # ran out: requeued, then dialled
    assert results == [DialResult(True, "answered (200)")]
    row = await CallbackStore(live_db).get(row_id)
    assert row is not None and row.state is CallbackState.DONE
    assert row.attempts == 2  # the lost call counted as an attempt
    assert dialled.targets == [("live", request.target)]
    await live_db.close()


async def test_quotas_hold_across_gateways(url: str) -> None:
    quota = CallbackQuota(per_caller=0, per_number=0, per_day=5)
    stores = [CallbackStore(Database(url)) for _ in range(8)]

    async def add(store: CallbackStore) -> str:
        try:
            await store.add(call_id="c", phone="+15550000", requested_time="now", reason="",
                            notes="", due_at=T0, now=T0, quota=quota)  # fmt: skip
        except CallbackQuotaExceeded:
            return "refused"
        return "stored"

    outcomes = await asyncio.gather(*(add(s) for s in stores))
    assert outcomes.count("stored") == 5
    messages = MessageStore(Database(url))
    await messages.add(call_id="c", for_target="", from_number="+1", caller_name="Ann",
                       reach_at="", message="hi", now=T0)  # fmt: skip
    assert [m.message for m in await messages.rows()] == ["hi"]


def test_the_outbox_is_delivered_once_across_two_gateways(url: str) -> None:
    async def scenario() -> dict[str, int]:
        posts: dict[str, int] = {}

        async def receive(request: web.Request) -> web.Response:
            event = request.headers["webhook-id"]
            posts[event] = posts.get(event, 0) + 1
            await asyncio.sleep(0.001)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        hook = f"http://127.0.0.1:{port}/hook"
        secret = WebhookSecret.parse("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
        events = [
            NewEvent(f"msg_{c}_{n}", hook, "", f"call{c}", "call.answered", b"{}")
            for c in range(10)
            for n in range(5)
        ]
        await Outbox(Database(url), "writer").add(events, 0.0)
        deliveries = [
            WebhookDelivery(Outbox(Database(url), f"gw{i}"), lambda line: secret,
                            DeliveryPolicy(concurrency=4))
            for i in range(2)
        ]  # fmt: skip
        for delivery in deliveries:
            delivery.start()
        outbox = Outbox(Database(url), "reader")
        for _ in range(600):
            if await outbox.pending() == 0:
                break
            await asyncio.sleep(0.02)
        for delivery in deliveries:
            await delivery.stop(grace=1.0)
        await runner.cleanup()
        assert sum(d.counts.delivered for d in deliveries) == len(events)
        assert all(d.counts.delivered > 0 for d in deliveries)  # both gateways posted
        return posts

    posts = asyncio.run(scenario())
    assert len(posts) == 50 and set(posts.values()) == {1}


async def _poll(check: Any, within: float = 10.0) -> Any:
    """``await check()`` until it returns something true (bounded); its last value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def _dashboard_shows_the_clusters_calls(
    workdir: Path, url: str, calls: list[dict[str, Any]]
) -> None:
    """gw-a's live page in a real headless Chromium, signed in: every call of the
    cluster with the gateway it is on, in its state; gw-a's own link to their pages."""
    rows = "[...document.querySelectorAll('#cluster-calls tbody tr')]"
    async with Browser(workdir) as browser:
        await browser.navigate(url + "/dashboard")
        await browser.evaluate(
            f"document.getElementById('token').value = {json.dumps(TOKEN)};"
            "document.getElementById('login').submit()"
        )
        shown = await browser.wait_for(
            f"{rows}.length === {len(calls)} && !document.getElementById('cluster').hidden"
            f" && {rows}.map((r) => [r.dataset.id, r.querySelector('.gateway').textContent,"
            " r.querySelector('.state').textContent, !!r.querySelector('a')])",
            15,
        )
    expected = [
        [c["id"], c["gateway"] + (" (this one)" if c["gateway"] == "gw-a" else ""),
         c["state"], c["gateway"] == "gw-a"]
        for c in calls
    ]  # fmt: skip
    assert sorted(shown) == sorted(expected), (shown, expected)


def test_any_gateways_admin_api_lists_the_clusters_calls_and_places_calls_where_there_is_room(
    url: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with (
            running_gateway(max_calls=1) as (gw_a, phones_a),
            running_gateway() as (gw_b, phones_b),
        ):
            admins = []
            members = []
            for name, gateway in (("gw-a", gw_a), ("gw-b", gw_b)):
                port = free_port()
                index = ClusterIndex(Database(url), name, f"http://127.0.0.1:{port}", 0.5)
                member = ClusterMember(index, gateway.feed, partial(gateway_load, gateway))
                admin = AdminServer(gateway, AdminSettings(port=port, token=TOKEN), cluster=member)
                await admin.start()
                member.start()
                admins.append(admin)
                members.append(member)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            phone_a, phone_b = await phones_a(), await phones_b()
            assert await phone_a.invite() and await phone_b.invite()
            async with aiohttp.ClientSession(headers=auth) as http:

                async def cluster_calls() -> list[dict[str, Any]]:
                    async with http.get(f"{admins[0].url}/api/cluster/calls") as answer:
                        calls: list[dict[str, Any]] = (await answer.json())["calls"]
                    return calls if len(calls) == 2 else []

                calls = await _poll(cluster_calls)
                assert sorted(c["gateway"] for c in calls) == ["gw-a", "gw-b"]
                assert {c["call_id"] for c in calls} == {
                    h.call.call_id for g in (gw_a, gw_b) for h in g.handles.values()
                }

                async def a_full() -> bool:
                    async with http.get(f"{admins[1].url}/api/cluster/gateways") as answer:
                        beats = {b["name"]: b for b in (await answer.json())["gateways"]}
                    return beats.get("gw-a", {}).get("active") == 1 and "gw-b" in beats

                assert await _poll(a_full)
                body = {"target": "sip:nobody@127.0.0.1:9", "ring_timeout": 1}
                async with http.post(f"{admins[0].url}/api/calls", json=body) as answer:
                    placed = await answer.json()
                    assert answer.status == 202, placed
                assert placed["gateway"] == "gw-b"
                assert placed["call_id"] in {h.call.call_id for h in gw_b.handles.values()}
                forwarded = {**auth, FORWARDED_BY: "gw-b"}
                async with http.post(
                    f"{admins[0].url}/api/calls", json=body, headers=forwarded
                ) as answer:
                    assert answer.status == 503  # forwarded once, never again
                await phone_a.hang_up()

                async def ended_listed() -> bool:
                    async with http.get(f"{admins[1].url}/api/cluster/calls?all=1") as answer:
                        every = (await answer.json())["calls"]
                    return any(c["gateway"] == "gw-a" and c["ended"] for c in every)

                assert await _poll(ended_listed)
                # gw-b places a call that gw-a answers: listed ringing, then active
                echo = f"sip:echo@127.0.0.1:{gw_a.sip.listening[0][2]}"
                async with http.post(f"{admins[1].url}/api/calls", json={"target": echo}) as answer:
                    assert answer.status == 202, await answer.text()

                async def both_ends_up() -> list[dict[str, Any]]:
                    async with http.get(f"{admins[0].url}/api/cluster/calls") as answer:
                        calls: list[dict[str, Any]] = (await answer.json())["calls"]
                    shown = {(c["gateway"], c["direction"], c["state"]) for c in calls}
                    up = {("gw-a", "inbound", "active"), ("gw-b", "outbound", "active")}
                    return calls if up <= shown else []

                calls = await _poll(both_ends_up)  # phone_b's too, and the forwarded one
                assert ("gw-b", "sip:nobody@127.0.0.1:9", "ringing") in {
                    (c["gateway"], c["called"], c["state"]) for c in calls
                }, calls  # ringing still (no answer at all: it waits for Timer B to end)
                await _dashboard_shows_the_clusters_calls(tmp_path, admins[0].url, calls)
            for member, admin in zip(members, admins, strict=True):
                await member.stop()
                await admin.stop()

    asyncio.run(scenario())


def test_any_gateway_answers_for_a_call_created_through_twilios_api_on_another(
    url: str, tmp_path: Path
) -> None:
    """The official ``twilio`` SDK creates a call on gw-a (placed to gw-b, which answers),
    fetches it through gw-b (the same resource, as it goes), updates it through gw-b
    (``Status=completed``: forwarded to gw-a, whose call ends); an update already forwarded
    is not forwarded again."""
    from tests.sipgw.app.twilio.api.test_endpoints import echo_placer

    account, auth_token = "AC" + "d" * 32, "1f2e3d4c5b6a79889796a5b4c3d2e1f0"
    settings = TwilioApiSection(twilio_api_account_sid=account, twilio_api_auth_token=auth_token)

    def sdk_on(admin: AdminServer) -> Client:
        client = Client(account, auth_token)
        client.api.base_url = admin.url
        return client

    async def scenario() -> None:
        async with running_gateway() as (gw_a, _), running_gateway() as (gw_b, _):
            admins, members = [], []
            for name, gateway in (("gw-a", gw_a), ("gw-b", gw_b)):
                port = free_port()
                db = Database(url)
                index = ClusterIndex(db, name, f"http://127.0.0.1:{port}", 0.5)
                member = ClusterMember(index, gateway.feed, partial(gateway_load, gateway))
                admin = AdminServer(
                    gateway, AdminSettings(port=port, token=TOKEN), twilio_api=settings,
                    status_db=tmp_path / f"{name}.sqlite3", cluster=member,
                    twilio_calls=CallRegistry(db),
                )  # fmt: skip
                admin.twilio_api.place = echo_placer
                await admin.start()
                member.start()
                admins.append(admin)
                members.append(member)
            a, b = sdk_on(admins[0]), sdk_on(admins[1])
            echo_b = f"sip:echo@127.0.0.1:{gw_b.sip.listening[0][2]}"
            call = await asyncio.to_thread(
                lambda: a.calls.create(to=echo_b, from_="+15551230001", twiml="<Response/>")
            )
            seen = await asyncio.to_thread(lambda: b.calls(call.sid).fetch())
            assert (seen.sid, seen.to, seen.from_formatted, seen.date_created) == (
                call.sid, echo_b, "+15551230001", call.date_created)  # fmt: skip
            assert seen.account_sid == account and seen.direction == "outbound-api"

            async def status_on_b(wanted: str) -> Any:
                got = await asyncio.to_thread(lambda: b.calls(call.sid).fetch())
                return got if got.status == wanted else None

            live = await _poll(partial(status_on_b, "in-progress"))
            assert live and live.start_time is not None, live
            on_a = await asyncio.to_thread(lambda: a.calls(call.sid).fetch())
            assert on_a.status == "in-progress" and on_a.start_time == live.start_time
            (handle,) = gw_a.handles.values()
            assert seam_call_sid(handle.call.call_id) == call.sid
            async with aiohttp.ClientSession() as http:  # forwarded already: not again
                async with http.post(
                    f"{admins[1].url}/2010-04-01/Accounts/{account}/Calls/{call.sid}.json",
                    data={"Status": "completed"},
                    auth=aiohttp.BasicAuth(account, auth_token),
                    headers={FORWARDED_BY: "gw-a"},
                ) as answer:
                    assert answer.status == 404 and (await answer.json())["code"] == 20404
            assert gw_a.handles  # still up
            ended = await asyncio.to_thread(lambda: b.calls(call.sid).update(status="completed"))
            assert ended.sid == call.sid and ended.status == "completed"
            assert ended.end_time is not None and ended.duration is not None
            assert not gw_a.handles  # gw-a's call ended, through gw-b
            done = await _poll(partial(status_on_b, "completed"))
            assert done and done.end_time == ended.end_time, done
            for member, admin in zip(members, admins, strict=True):
                await member.stop()
                await admin.stop()

    asyncio.run(scenario())


def test_two_sipgw_serve_processes_share_the_database_and_a_killed_one_leaves_the_cluster(
    server: PostgresServer, tmp_path: Path
) -> None:
    """The real wiring: ``sipgw serve`` with SIPGW_DATABASE_URL, two at once on an empty
    database (the migrations applied once), both in ``/api/cluster/gateways``, their digest
    nonces and wrong answers shared there (the rule across gateways:
    tests/sipgw/app/security/test_trust.py; attackers on one gateway:
    test_digest_guessing.py); one killed (SIGKILL: no goodbye) drops out when its heartbeat
    is three intervals old."""
    fresh = server.new_database()
    ports = [free_port(), free_port()]
    gateways = [
        GatewayProcess(
            tmp_path / name,
            name=name,
            lifetime=120,
            extra_env={
                "SIPGW_DATABASE_URL": fresh,
                "SIPGW_CLUSTER_NAME": name,
                "SIPGW_CLUSTER_HEARTBEAT": "0.5",
                "SIPGW_ADMIN_PORT": str(port),
                "SIPGW_ADMIN_TOKEN": TOKEN,
                "SIPGW_INBOUND_USERNAME": "alice",
                "SIPGW_INBOUND_PASSWORD": "1234",
            },
        )  # fmt: skip
        for name, port in zip(("gw-a", "gw-b"), ports, strict=True)
    ]
    try:
        _together(*(g.start for g in gateways))
        assert asyncio.run(_versions(fresh)) == [(m.version,) for m in migrations()]
        for g in gateways:  # logged just after "listening", which start() waits for
            g.wait_log(r"shared state in ")
            g.wait_log(r"digest nonces and wrong answers shared in ", 5)
        logs = "".join(g.log_text() for g in gateways)
        applied = f"migrations {[m.version for m in migrations()]} applied"
        assert logs.count(applied) == 1 and "schema up to date" in logs

        async def names() -> set[str]:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                aiohttp.ClientSession(headers=auth) as http,
                http.get(f"http://127.0.0.1:{ports[1]}/api/cluster/gateways") as answer,
            ):
                return {g["name"] for g in (await answer.json())["gateways"]}

        async def watch() -> None:
            assert await _poll(lambda: _equal(names(), {"gw-a", "gw-b"}))
            gateways[0].stop(signal.SIGKILL)
            assert await _poll(lambda: _equal(names(), {"gw-b"}))

        asyncio.run(watch())
    finally:
        for gateway in gateways:
            gateway.close()


async def _versions(url: str) -> list[tuple[Any, ...]]:
    db = Database(url)
    async with db.transaction() as cur:
        found = await cur.execute("SELECT version FROM schema_migrations ORDER BY version")
    await db.close()
    return found


async def _equal(value: Any, wanted: object) -> bool:
    return bool(await value == wanted)


def test_the_database_bench_measures_each_part(url: str, tmp_path: Path) -> None:
    """bench.database in a tiny run on a database of its own: its JSON has every part."""
    out = tmp_path / "database.json"
    assert bench_database.main(["--calls", "5", "--url", url, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["figures"]
    per_call = figures["per_call"]
    assert set(per_call) == {"index", "webhooks", "callback"}
    assert per_call["index"]["statements"] == 4.0  # start, heartbeat, end, heartbeat
    assert figures["index_placed_per_call"]["statements"] == 5.0  # and its answer
    assert figures["index_placed_per_call"]["rows"] == 5.0  # each a row
    assert per_call["callback"]["transactions"] == 4.0  # store, recover, claim, outcome
    assert per_call["webhooks"]["statements"] >= 3 * 2  # per event: claim and delete at least
    # a contact: recovery, claims (one taken, one paced), the do-not-call check, the finish
    # check, renewal, the progress snapshot (2), next due, its outcome and finish check: 12
    # each, and the campaign's creation over its 5 contacts
    assert figures["campaign_per_contact"]["transactions"] == 12 + 1 / 5
    # the campaigns' loop with none running: recovery, the list, the snapshot (2), next due
    assert figures["idle_per_minute"]["transactions"] == 12 + 30 * 3 + 30 * 5


async def test_the_assistants_tools_store_in_the_shared_database_the_gateway_hands_them(
    url: str,
) -> None:
    """GatewayServices' stores reach the assistant's schedule_callback and take_message:
    a callback stored by gateway A's agent is claimed and dialled by gateway B."""
    db = Database(url)
    services = GatewayServices(
        dial_policy=ANY_NUMBER, callback_store=CallbackStore(db), message_store=MessageStore(db)
    )
    settings = agent_settings(
        AssistantSection(), PreemptiveSection(), BuiltinToolsSection(), CallbackSection(),
        services,
    )  # fmt: skip
    registry = ToolRegistry(builtin_tools(settings.builtin_tools))

    stored = await call(registry, "schedule_callback", {"phone": "+15550001111", "time": "now"})
    assert stored.ok, stored.content
    message = {"message": "call me about the invoice", "name": "Ann"}
    taken = await call(registry, "take_message", message)
    assert taken.ok, taken.content
    (row,) = await CallbackStore(db).rows()
    assert (row.phone, row.state) == ("+15550001111", CallbackState.PENDING)
    assert [m.message for m in await MessageStore(db).rows()] == ["call me about the invoice"]
    dialled = Dialled()
    other = CallbackScheduler(CallbackStore(Database(url)), dialled.for_gateway("gw-b"), POLICY)
    await other.run_due(lambda: (row.due_at or 0) + 1)
    assert dialled.targets == [("gw-b", "+15550001111")]


async def test_the_calls_index_keeps_thirty_days(url: str) -> None:
    index = ClusterIndex(Database(url), "gw", "http://127.0.0.1:1")
    for n, started in enumerate((T0 - 31 * 86400, T0 - 29 * 86400, T0)):
        await index.call_started({"id": f"c{n}", "call_id": f"{n}@t", "direction": "inbound",
                                  "caller": "a", "called": "b", "state": "active",
                                  "started": started})  # fmt: skip
    assert await index.prune(T0) == 1
    assert sorted(c["id"] for c in await index.calls(T0, active_only=False)) == ["c1", "c2"]


async def test_a_restarted_gateway_frees_the_outbox_claims_of_its_hosts_gone_processes(
    url: str,
) -> None:
    """A gateway killed while posting left its claim; the one started after it on the same
    host takes the row at once, not after the lease (another host's claim waits for it)."""
    db = Database(url)
    dead = Outbox(db, gone_owner())
    # another machine (another boot id) with this host name and a pid gone here
    elsewhere = dataclasses.replace(this_instance(), boot="another-boot", pid=gone_pid())
    remote = Outbox(db, elsewhere.claim_owner())
    events = [NewEvent(f"msg_{n}", "http://crm/hook", "", f"c{n}", "call.answered", b"{}")
              for n in range(2)]  # fmt: skip
    await dead.add(events, 100.0)
    assert [e.event_id for e in await remote.claim_due(100.0, lease=60, limit=1)] == ["msg_0"]
    assert [e.event_id for e in await dead.claim_due(100.0, lease=60, limit=1)] == ["msg_1"]
    restarted = Outbox(db, claim_owner())
    taken = await restarted.claim_due(101.0, lease=60, limit=10)
    assert [e.event_id for e in taken] == ["msg_1"]  # the other host's waits for its lease
    assert [e.event_id for e in await restarted.claim_due(161.0, lease=60, limit=10)] == [
        "msg_0", "msg_1",
    ]  # fmt: skip
    await db.close()


_HOLD_CLAIM = """
import asyncio, sys
from sipgw.agent.tools.callback_store import CALLBACK_COLUMNS, CALLBACK_QUEUE
from sipgw.foundation.stores.sql import claim_due
from sipgw.app.cluster.database import Database

async def main():
    async with Database(sys.argv[1]).atomic() as tx:
        rows = await claim_due(tx, CALLBACK_QUEUE, owner="doomed", now=float(sys.argv[2]),
                               lease=60, limit=100, columns=CALLBACK_COLUMNS,
                               also_params=("2027-01-15T08:00:00+00:00",))
        print(len(rows), flush=True)
        await asyncio.sleep(60)  # killed here: the claim is never committed

asyncio.run(main())
"""


DOOMED_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE application_name = 'doomed'"


def test_a_gateway_killed_inside_its_claim_transaction_leaves_the_rows_to_the_others(
    url: str,
) -> None:
    """Killed between claiming and committing (SIGKILL), a process's row locks die with its
    connection: the rows are free at once, never claimed, not even for a lease."""
    store = CallbackStore(Database(url))  # used from three loops in turn (asyncio.run)
    ids = asyncio.run(_store_callbacks(store, 3))
    doomed = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM, f"{url}?application_name=doomed", str(T0)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )  # fmt: skip
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "3"
        assert asyncio.run(store.claim_due(T0, "other", 60, 10)) == []  # skipped, not waited
        doomed.kill()
        doomed.wait(10)
        # The server ends the backend when it reads the closed socket: a moment, not a lease.
        with psycopg.connect(url, autocommit=True) as watch:
            wait_for(lambda: not watch.execute(DOOMED_BACKENDS).fetchall(), 10, "a backend left")
        claimed = asyncio.run(store.claim_due(T0, "other", 60, 10))
        assert [row.id for row in claimed] == ids
        assert all(row.attempts == 1 and row.claimed_by == "other" for row in claimed)
    finally:
        doomed.kill()
        doomed.wait(10)


def test_an_unreachable_database_stops_the_start_naming_the_setting_without_its_password(
    tmp_path: Path,
) -> None:
    closed = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "sipgw", "serve", "--agent", "echo", "--sip-port", "0",
         "--bind", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**child_env(), "SIPGW_DATABASE_URL": f"postgresql://sipgw:pw-{TOKEN}@127.0.0.1:{closed}/x"},
    )  # fmt: skip
    assert done.returncode == 2
    assert f"SIPGW_DATABASE_URL: postgresql://sipgw:***@127.0.0.1:{closed}/x:" in done.stderr
    assert TOKEN not in done.stderr + done.stdout


async def test_the_pool_bounds_the_connections_and_the_waits_leave_the_loop_free(url: str) -> None:
    """Six units of work at once on a pool of two: two connections on the server, never
    more, the others waiting for one; and while they wait on the server (``pg_sleep``),
    the loop runs other tasks (psycopg's asyncio API, no thread, no blocked loop)."""
    named = f"{url}?application_name=pool-bound"
    db = Database(named, pool=2)
    inside, most, seen = 0, 0, []
    ticks = 0

    async def unit() -> None:
        nonlocal inside, most
        async with db.transaction() as cur:
            inside += 1
            most = max(most, inside)
            ((count,),) = await cur.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'pool-bound'"
            )
            seen.append(count)
            await cur.execute("SELECT pg_sleep(0.1)")
            inside -= 1

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    beside = asyncio.get_running_loop().create_task(ticker())
    await asyncio.gather(*(unit() for _ in range(6)))
    beside.cancel()
    assert most == 2 and max(seen) <= 2 and len(seen) == 6
    assert db.counts.transactions == 6
    assert ticks >= 10  # three rounds of 0.1 s on the server: the loop ticked on meanwhile
    await db.close()


async def _backend(db: Database) -> int:
    async with db.transaction() as cur:
        ((pid,),) = await cur.execute("SELECT pg_backend_pid()")
    return int(pid)


async def test_a_connection_that_failed_or_was_cancelled_is_closed_never_reused(url: str) -> None:
    db = Database(url, pool=1)
    first = await _backend(db)
    assert await _backend(db) == first  # kept and reused
    with pytest.raises(psycopg.errors.DivisionByZero):
        async with db.transaction() as cur:
            await cur.execute("SELECT 1 / 0")
    second = await _backend(db)
    assert second != first  # the failed one was closed: a new connection

    async def slow() -> None:
        async with db.transaction() as cur:
            await cur.execute("SELECT pg_sleep(30)")

    task = asyncio.get_running_loop().create_task(slow())
    while db.counts.transactions < 5:  # noqa: ASYNC110 - its transaction has begun
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    third = await asyncio.wait_for(_backend(db), 10)  # the pool's one slot given back
    assert third not in (first, second)  # cut mid-statement: closed, never handed on
    await db.close()


def test_the_loop_bench_measures_both_phases(url: str, tmp_path: Path) -> None:
    """bench.database_loop in a tiny run: the ticker's lateness alone and beside the
    database's work, which ran (transactions) only in the second phase."""
    out = tmp_path / "loop.json"
    argv = ["--calls", "5", "--workers", "1", "--seconds", "0.3", "--url", url, "--json", str(out)]
    assert bench_database_loop.main(argv) == 0
    figures = json.loads(out.read_text())["figures"]
    alone, beside = figures["calls_alone"], figures["calls_and_database"]
    assert alone["transactions_per_s"] == 0 and beside["transactions_per_s"] > 0
    assert alone["ticks"] > 0 and beside["ticks"] > 0
