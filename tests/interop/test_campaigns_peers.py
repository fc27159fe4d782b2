"""A campaign with real callees: ``sipgw serve`` (echo agent) dials 13 contacts on three
baresips - people who answer, a phone that is always busy (each call refused: 486), one
that rings and nobody answers - through its admin API, with a do-not-call entry, pacing, a
cap and retries; the gateway is SIGKILLed halfway and started again on the same store.

Checked from the callees' side (each contact is an account of its baresip, so every
INVITE is counted per contact: by the baresips' events, and the busy phone's on the wire,
as baresip itself refuses them: :func:`hold_every_account`): the campaign runs to its
end, retries are as configured, the do-not-call contact is never called, no contact is
ever called twice at once (even across the crash), none again once done, and the call
the crash cut is retried. The events
reach a webhook receiver (the docs' example): each attempt's ``campaign.contact``, the
interrupted one among them, and one ``campaign.finished``.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port, free_port_range
from sipgw.app.evaluation.process import running_processes
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.webhook_receiver import ExampleReceiver
from tests.toolkit.wire import Datagram, UdpCapture

pytestmark = [pytest.mark.timeout(150), pytest.mark.usefixtures("nothing_left_running")]

TOKEN = "campaign-peers-token-0123"
SECRET = "campaign-webhook-secret-0123456789"
PEOPLE = [f"p{i}" for i in range(1, 8)]  # p7 is on the do-not-call list
BUSY = ["b1", "b2", "b3"]
NO_ANSWER = ["n1", "n2", "n3"]
MAX_ATTEMPTS = 3
HOLDER = "holder"
"""The account the busy phone's held calls ring (not a contact)."""
ROOMY = {"call_max_calls": "10"}
"""The calls cut by the crash linger at the callee beside the campaign's next ones."""


def accounts(users: list[str], params: str) -> str:
    """Several accounts for one baresip (its accounts file, one line each)."""
    return "\n".join(
        f"<sip:{user}@127.0.0.1:{{sip_port}}>;regint=0;audio_codecs=pcmu{params}" for user in users
    )


def api(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Authorization": f"Bearer {TOKEN}",
                                        "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return json.loads(text) if text.startswith(("{", "[")) else text


def wait_until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not in {within} s"
        time.sleep(0.1)


def calls_by_contact(*callees: Baresip) -> dict[str, list[tuple[float, float | None]]]:
    """Each contact's calls as (incoming, closed) times, from its baresip's events."""
    calls: dict[str, list[tuple[float, float | None]]] = {}
    for callee in callees:
        opened: dict[str, tuple[str, float]] = {}
        seen: set[str] = set()
        for event in callee.events:
            user = str(event.get("accountaor", "")).split("@")[0].removeprefix("sip:")
            call = str(event.get("id", ""))
            if event.get("type") == "CALL_CLOSED" and call in opened:
                who, start = opened.pop(call)
                calls.setdefault(who, []).append((start, float(event["received_at"])))
            elif call and call not in seen:  # a call's first event (auto answer: no INCOMING)
                seen.add(call)
                opened[call] = (user, float(event["received_at"]))
        for who, start in opened.values():
            calls.setdefault(who, []).append((start, None))
    return calls


def assert_never_twice_at_once(calls: dict[str, list[tuple[float, float | None]]]) -> None:
    for who, spans in calls.items():
        spans = sorted(spans)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end is not None and end <= start, (who, spans)


def hold_every_account(busy: Baresip, nobody: Baresip, users: list[str]) -> None:
    """The busy phone: each of its accounts holds a call (ringing at ``nobody``'s account
    ``holder``), so with ``call_max_calls 1`` baresip itself answers every INVITE to it
    "486 Max Calls" at once (a test thread refusing each call raced the ring timeout)."""
    for user in users:
        busy.command("uafind", f"sip:{user}@127.0.0.1:{busy.sip_port}")
        busy.dial(f"sip:{HOLDER}@127.0.0.1:{nobody.sip_port}")
    wait_until(
        lambda: sum(e.get("type") == "CALL_INCOMING" for e in nobody.events) >= len(users),
        10, "the busy phone's held calls",
    )  # fmt: skip


def finished_told(receiver: ExampleReceiver) -> bool:
    return any(d["event"]["type"] == "campaign.finished" for d in receiver.deliveries)


@pytest.fixture
def callees(tmp_workdir: Path) -> Iterator[tuple[Baresip, Baresip, Baresip]]:
    long_ring = {"call_local_timeout": "600"}  # the busy phone's held calls ring all along
    people = Baresip(tmp_workdir, "people", user="p1",
                     account=accounts(PEOPLE, ";answermode=auto"), extra_config=ROOMY,
                     rtp_ports=free_port_range(40))  # fmt: skip
    busy = Baresip(tmp_workdir, "busy", user="b1", account=accounts(BUSY, ""),
                   extra_config={"call_max_calls": "1", **long_ring})  # fmt: skip
    nobody = Baresip(tmp_workdir, "nobody", user="n1",
                     account=accounts([*NO_ANSWER, HOLDER], ""),
                     extra_config={**ROOMY, **long_ring},
                     rtp_ports=free_port_range(40))  # fmt: skip
    with people, busy, nobody:
        hold_every_account(busy, nobody, BUSY)
        yield people, busy, nobody
    for process in running_processes():
        process.kill()


def invites_by_user(datagrams: list[Datagram], port: int) -> collections.Counter[str]:
    """The calls each account of the callee on SIP ``port`` was offered, from the wire
    (its first INVITE each; baresip tells nothing of a call it refuses itself)."""
    users: dict[str, str] = {}
    for d in datagrams:
        if d.dst_port == port and d.data.startswith(b"INVITE "):
            found = re.search(rb"^Call-ID: *(\S+)", d.data, re.MULTILINE | re.IGNORECASE)
            assert found is not None, d.data
            users.setdefault(
                found[1].decode(), d.data.split(b"@")[0][len(b"INVITE sip:") :].decode()
            )
    return collections.Counter(users.values())


def test_a_campaign_runs_to_its_end_across_a_crash(
    tmp_workdir: Path, callees: tuple[Baresip, Baresip, Baresip]
) -> None:
    people, busy, nobody = callees
    receiver = ExampleReceiver(tmp_workdir, SECRET).start()
    where = {u: people for u in PEOPLE} | {u: busy for u in BUSY} | {u: nobody for u in NO_ANSWER}
    admin_port = free_port()
    env = {
        "SIPGW_ADMIN_PORT": str(admin_port), "SIPGW_ADMIN_TOKEN": TOKEN,
        "SIPGW_CAMPAIGN_DB": str(tmp_workdir / "campaigns.sqlite3"),
        "SIPGW_DIAL_ALLOW": ",".join(f"sip:*@127.0.0.1:{b.sip_port}" for b in callees),
        "SIPGW_RING_TIMEOUT": "1",
        "SIPGW_WEBHOOK_URL": receiver.url, "SIPGW_WEBHOOK_SECRET": SECRET,
    }  # fmt: skip
    url = f"http://127.0.0.1:{admin_port}"

    def gateway(name: str) -> GatewayProcess:
        return GatewayProcess(tmp_workdir, name=name, extra_env=env,
                              extra_args=("--max-call-seconds", "2"))  # fmt: skip

    with UdpCapture([busy.sip_port]) as capture:  # the busy phone's INVITEs
        first = gateway("gateway-1").start()
        try:
            api(url, "/api/dnc", {"numbers": [f"sip:p7@127.0.0.1:{people.sip_port}"]})
            rows = [f"sip:{user}@127.0.0.1:{where[user].sip_port},{user}" for user in where]
            created = api(url, "/api/campaigns", {
                "name": "peers", "csv": "number,who\r\n" + "\r\n".join(rows) + "\r\n",
                "hours": "00:00-24:00", "per_second": 5, "concurrency": 3,
                "max_attempts": MAX_ATTEMPTS,
                "retry": {"busy": 0.5, "no_answer": 0.5, "failed": 0.5},
            })  # fmt: skip
            campaign = created["id"]
            # halfway: a person is on the phone when the gateway dies
            wait_until(lambda: api(url, f"/api/campaigns/{campaign}")["progress"]["completed"] >= 2,
                       30, "two people answered")  # fmt: skip
            wait_until(lambda: any(end is None for spans in calls_by_contact(people).values()
                                   for _, end in spans), 15, "a person on the phone")  # fmt: skip
            first.close()  # SIGKILL: its calls are cut, their contacts stay "dialing"
        finally:
            first.close()
        cut = [who for who, spans in calls_by_contact(*callees).items() if spans[-1][1] is None]
        assert cut, "no call was in progress at the crash"

        # the cut calls are over for the campaign (no gateway, no media): end them at the kill
        # (baresip's own BYE to the dead gateway waits out its transaction timer, 32 s)
        killed_at = time.monotonic()

        second = gateway("gateway-2").start()
        with second:
            second.wait_log(r"campaign \d+: row \d+, .*: interrupted .* -> pending", 15)
            wait_until(lambda: api(url, f"/api/campaigns/{campaign}")["state"] == "finished",
                       60, "the campaign finished")  # fmt: skip
            shown = api(url, f"/api/campaigns/{campaign}")
            results = api(url, f"/api/campaigns/{campaign}/results.csv")
            wait_until(lambda: finished_told(receiver), 20, "campaign.finished delivered")
            assert second.stop() == 0
            assert not second.tracebacks(), second.tracebacks()
        datagrams = capture.datagrams()
    offered = invites_by_user(datagrams, busy.sip_port)

    calls = {
        who: [(start, killed_at if start < killed_at and (end is None or end > killed_at)
               else end) for start, end in spans]
        for who, spans in calls_by_contact(*callees).items() if who != HOLDER
    }  # fmt: skip
    assert_never_twice_at_once(calls)
    table = {row["who"]: row for row in csv.DictReader(io.StringIO(results))}
    assert "p7" not in calls and table["p7"]["state"] == "dnc", table["p7"]
    interrupted = set(re.findall(r"row \d+, sip:(\w+)@\S+: interrupted", second.log_text()))
    # a call hung up as the crash came may still have been open at the callee (the store had
    # its outcome): some of the calls cut, not all, were found interrupted
    assert interrupted & set(cut), (interrupted, cut)
    for user in PEOPLE[:-1]:
        row = table[user]
        assert row["state"] == "done" and row["outcome"] == "person", row
        if user in interrupted:  # a claim the crash cut counts, whether its INVITE went or not
            assert len(calls[user]) <= int(row["attempts"]) >= 2, (user, calls[user], row)
        else:
            assert len(calls[user]) == int(row["attempts"]) == 1, (user, calls[user], row)
    dialled = first.log_text() + second.log_text()
    for user in BUSY + NO_ANSWER:
        row = table[user]
        assert row["state"] == "failed" and int(row["attempts"]) == MAX_ATTEMPTS, row
        made = offered[user] if user in BUSY else len(calls[user])
        assert made == MAX_ATTEMPTS, (user, made)
        assert len(re.findall(rf"dialing row \d+, sip:{user}@", dialled)) == MAX_ATTEMPTS, user
        expected = "busy" if user in BUSY else "no_answer"
        assert row["outcome"] == expected, row
    # the events, through the webhook outbox (at least once: the crash may repeat or, for what
    # was still queued in memory, lose some of the first gateway's)
    events = {d["id"]: d["event"] for d in receiver.deliveries}
    contacts = [e["data"]["contact"] for e in events.values() if e["type"] == "campaign.contact"]
    outcomes = {(c["number"].split("@")[0][4:], c["outcome"]) for c in contacts}
    assert ("p7", "dnc") in outcomes or not any(c["row"] == 7 for c in contacts), outcomes
    assert {o for u, o in outcomes if u in BUSY} <= {"busy", "interrupted"}, outcomes
    assert any(o == "interrupted" for _, o in outcomes), outcomes  # told by the second gateway
    finished = [e for e in events.values() if e["type"] == "campaign.finished"]
    assert [e["data"]["campaign"] for e in finished] == [{"id": campaign, "name": "peers"}]
    receiver.close()
    progress = shown["progress"]
    assert (progress["person"], progress["failed"], progress["dnc"], progress["left"]) == (
        6, 6, 1, 0,
    ), progress  # fmt: skip
