"""Webhooks across a receiver outage and a gateway restart (docs/webhooks.md).

``sipgw serve`` as a subprocess posts to the docs' example receiver (its own signature
check, not ours). The receiver goes down for 30 s; meanwhile baresip makes two calls, the
gateway is stopped (SIGTERM) and started again, and a third call is made. When the receiver
comes back it gets every event of the three calls: each exactly once, each call's in order
(``sequence`` 1, 2, 3 without a gap), every one with a valid signature (it prints only
those).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from sipgw.testing.gateway_process import GatewayProcess
from sipgw.testing.peers.baresip import Baresip
from sipgw.testing.webhook_receiver import ExampleReceiver

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTAGE = 30.0


def call_once(caller: Baresip, gw: GatewayProcess, number: int) -> None:
    """One short answered call, hung up by the caller."""
    caller.dial(gw.uri(f"+1555010{number}"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 5)


def test_every_event_once_in_order_after_an_outage_and_a_restart(tmp_workdir: Path) -> None:
    receiver = ExampleReceiver(tmp_workdir, SECRET)
    env = {
        "SIPGW_WEBHOOK_URL": receiver.url,
        "SIPGW_WEBHOOK_SECRET": SECRET,
        "SIPGW_WEBHOOK_RETRY_MAX": "3",  # so the backlog goes out soon after it comes back
    }
    with receiver, Baresip(tmp_workdir, "a", user="a") as caller:
        receiver.stop()  # down: nothing listens on its port
        down_at = time.monotonic()
        first = GatewayProcess(tmp_workdir, name="gateway-1", extra_env=env)
        with first:
            call_once(caller, first, 1)
            call_once(caller, first, 2)
            first.wait_log(r"webhooks to .* failing", 10)
            assert first.stop() == 0  # SIGTERM: the events wait in the outbox
        second = GatewayProcess(tmp_workdir, name="gateway-2", extra_env=env)
        with second:
            second.wait_log(r"webhooks: outbox .* \([1-9]\d* waiting\)", 5)
            call_once(caller, second, 3)
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
            receiver.start()  # back, on the same port
            got = receiver.wait_for(9, 30)
            second.wait_log(r"webhooks to .* delivered again after", 10)
            time.sleep(1.0)  # nothing more (no duplicate) is on its way
            assert second.stop() == 0
    assert len(receiver.deliveries) == 9, receiver.deliveries
    ids = [line["id"] for line in got]
    assert len(set(ids)) == 9 and not any(line["repeat"] for line in got)  # each once
    by_call: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in got:
        data = line["event"]["data"]
        by_call[data["call"]["id"]].append((data["sequence"], line["event"]["type"]))
    assert len(by_call) == 3
    for events in by_call.values():  # in arrival order: 1, 2, 3 and the right types
        assert events == [(1, "call.incoming"), (2, "call.answered"), (3, "call.ended")]
    ended = [line["event"]["data"] for line in got if line["event"]["type"] == "call.ended"]
    assert {e["call"]["called"].split("@")[0] for e in ended} == {
        "sip:+15550101", "sip:+15550102", "sip:+15550103"
    }  # fmt: skip
    assert all(e["hung_up_by"] == "remote" and e["sip_status"] == 200 for e in ended)
