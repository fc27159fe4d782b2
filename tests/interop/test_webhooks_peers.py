"""Webhooks across a receiver outage and a gateway restart, and the post-call summary.

``sipgw serve`` as a subprocess posts to the docs' example receiver (its own signature
check, not ours). The receiver goes down for 15 s; meanwhile baresip makes two calls, the
gateway is stopped (SIGTERM) and started again, and a third call is made (the outage covers
all that, failed attempts of both gateways, and the first call's events at the 3 s backoff
cap, which keeps the wait after it comes back short). When the receiver comes back it gets
every event of the three calls: each exactly once, each call's in order (``sequence`` 1, 2,
3 without a gap), every one with a valid signature (it prints only those). Across calls the
outbox promises no order of arrival (each call's events go out in order, calls in parallel),
so the global order is checked where it is meaningful: every event's ``timestamp`` (when it
happened) puts the nine events back in the order the calls were made.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.fakes.threaded import fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.webhook_receiver import ExampleReceiver

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTAGE = 15.0
"""Seconds the receiver is down at least (longer when the calls and the restart take longer):
the first call's events reach the backoff cap (1 s, 2 s, then 3 s) before it, and the events
wait in the outbox across the restart whatever its length (issue 27 spoke of 30 s)."""


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
            second.wait_log(r"webhooks to .* failing", 10)  # the restarted one tried too
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
    # The calls one after the other, each event no earlier than the one before (ISO 8601
    # UTC in milliseconds: text order is time order). A call's end and the next call's
    # start may share a millisecond; a tie says nothing either way (the CI failure sorted
    # ties by each call's own sequence number, putting call 2's first event before call
    # 1's last).
    stamp = {
        (line["event"]["data"]["call"]["called"].split("@")[0], line["event"]["type"]):
            line["event"]["timestamp"]
        for line in got
    }  # fmt: skip
    expected = [
        (f"sip:+1555010{n}", kind)
        for n in (1, 2, 3)
        for kind in ("call.incoming", "call.answered", "call.ended")
    ]
    times = [stamp[key] for key in expected]
    assert times == sorted(times), list(zip(expected, times, strict=True))


def test_an_assistant_lines_call_ends_with_its_summary_and_extraction(
    tmp_workdir: Path, tone_wav: Callable[..., Path]
) -> None:
    """A real call to an assistant line with ``summary`` and ``extract_schema``: after the
    hang-up the model is asked (the fake answers with the tool call), and the summary and
    extraction reach the ``call.ended`` webhook and the call record."""
    schema = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
    (tmp_workdir / "order.json").write_text(json.dumps(schema))
    routes = tmp_workdir / "routes.toml"
    routes.write_text(
        '[lines.orders]\nagent = "assistant"\nsummary = true\nextract_schema = "order.json"\n'
        '[[routes]]\nline = "orders"\n'
    )
    with fakes_in_threads(tmp_workdir, {"Hi there": 500, "shipped": 700}) as fakes:
        fakes.stt.script(["Where is my order 1234?"])

        def answer(body: dict[str, Any]) -> FakeResponse:
            tools = [t["function"]["name"] for t in body.get("tools") or []]
            if "record_call_summary" in tools:
                extraction = {"summary": "The caller asked about order 1234.",
                              "extraction": {"order": "1234"}}  # fmt: skip
                return FakeResponse(tool_calls=[FakeToolCall("record_call_summary", extraction)])
            return FakeResponse(text="Your order has shipped.")

        fakes.llm.responder = answer
        receiver = ExampleReceiver(tmp_workdir, SECRET)
        env = {**fakes.env, "SIPGW_WEBHOOK_URL": receiver.url, "SIPGW_WEBHOOK_SECRET": SECRET}
        speech = write_pattern(tmp_workdir / "audio" / "turn.wav",
                               [(None, 1.0), (300, 0.8), (None, 30.0)], -12.0)  # fmt: skip
        with (
            receiver,
            GatewayProcess(
                tmp_workdir,
                extra_env=env,
                allow_from="127.0.0.0/8",
                extra_args=["--routes", str(routes)],
            ) as gw,  # fmt: skip
            Baresip(tmp_workdir, "a", user="a", source_wav=speech) as caller,
        ):
            caller.dial(gw.uri("+15550100"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            gw.wait_log(r"turn 1: end of speech", 10)
            time.sleep(1.5)  # the reply is heard
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            got = receiver.wait_for(3, 20)
            gw.wait_log(r"post-call summary made", 5)
            assert gw.stop() == 0
    ended = got[-1]["event"]
    assert ended["type"] == "call.ended", got
    summary = ended["data"]["summary"]
    assert summary["summary"] == "The caller asked about order 1234."
    assert summary["extraction"] == {"order": "1234"} and "extraction_problem" not in summary
    said = [line["text"] for line in ended["data"]["transcript"]]
    assert "Where is my order 1234?" in said and "Your order has shipped." in said
    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    record = [json.loads(line) for line in path.read_text().splitlines()]
    assert record[-1]["type"] == "summary" and record[-1]["extraction"] == {"order": "1234"}
    assert any(r["type"] == "line" and r["line"] == "orders" for r in record)
