"""The call feed's events as webhooks (sipgw/app/webhooks/hooks.py): which, in what order, where."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

from sipgw.agent.record import CallRecord
from sipgw.agent.talk import TalkFigures
from sipgw.app.agents import find_agent
from sipgw.app.calls.callfeed import CallEntry, CallFeed
from sipgw.app.calls.hints import Refused, hint
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.webhooks.delivery import WebhookDelivery
from sipgw.app.webhooks.events import iso
from sipgw.app.webhooks.hooks import CallWebhooks
from sipgw.app.webhooks.outbox import NewEvent
from sipgw.app.webhooks.signing import WebhookSecret
from sipgw.foundation.settings import Sources
from sipgw.sip.call import CallInfo
from sipgw.sip.finalreply import FinalReply
from sipgw.sip.headers import NameAddr
from tests.sipgw.app.calls.test_callfeed import RecordingAgent, handle

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LINE_SECRET = "a line's own secret, long enough"


class Captured:
    """Stands in for the delivery: keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def enqueue(self, events: list[NewEvent]) -> None:
        self.events.extend(events)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(e.body) for e in self.events]


def hooks(
    feed: CallFeed, lines: Lines | None = None, **options: Any
) -> tuple[CallWebhooks, Captured]:
    captured = Captured()
    made = CallWebhooks(
        feed, cast(WebhookDelivery, captured), url="http://crm/hook",
        secret=WebhookSecret.parse(SECRET), lines=lines, **options,
    )  # fmt: skip
    return made, captured


async def test_an_answered_call_in_order_with_its_transcript() -> None:
    feed = CallFeed()
    made, captured = hooks(feed, link_base="http://gw:8080/")
    call = handle()
    feed.call_started(call)
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    agent.record.write({"type": "assistant", "text": "Hello."})
    agent.record.write({"type": "user", "text": "Call me back at five."})
    result = json.dumps({"scheduled": True, "callback_id": 7, "phone": "+15550101"})
    agent.record.write({"type": "tool_call", "name": "schedule_callback", "ok": True,
                        "result": result})  # fmt: skip
    agent.record.write({"type": "tool_call", "name": "schedule_callback", "ok": False})
    taken = json.dumps(
        {
            "taken": True,
            "message_id": 3,
            "for": "sip:kim@pbx.example",
            "name": "Bob",
            "phone": "",
            "message": "Call me about the refund.",
        }
    )
    agent.record.write({"type": "tool_call", "name": "take_message", "ok": True,
                        "result": taken})  # fmt: skip
    agent.record.write({"type": "tool_call", "name": "take_message", "ok": False})
    call.end_reason, call.hung_up_by = "local-bye", "agent"
    feed.call_ended(call)
    await made.stop(1.0)  # call.ended goes once the record is complete (no file here)
    bodies = captured.bodies()
    assert [b["type"] for b in bodies] == [
        "call.incoming", "call.answered", "callback.scheduled", "message.taken", "call.ended"
    ]  # fmt: skip
    assert [b["data"]["sequence"] for b in bodies] == [1, 2, 3, 4, 5]
    assert bodies[2]["data"]["callback"] == {"callback_id": 7, "phone": "+15550101"}
    assert bodies[3]["data"]["message"] == {
        "message_id": 3, "for": "sip:kim@pbx.example", "name": "Bob", "phone": "",
        "message": "Call me about the refund.",
    }  # fmt: skip
    ended = bodies[-1]["data"]
    assert ended["outcome"] == "local-bye" and ended["hung_up_by"] == "agent"
    assert ended["sip_status"] == 200 and ended["sip_reason"] == "OK"
    assert ended["transcript"] == [
        {"t": ended["transcript"][0]["t"], "speaker": "agent", "text": "Hello."},
        {"t": ended["transcript"][1]["t"], "speaker": "caller", "text": "Call me back at five."},
    ]
    assert ended["recording"] is False and "recording_url" not in ended
    assert ended["talk"] is None  # the record had no talk line
    assert {e.call for e in captured.events} == {call.call.log_id}
    assert len({e.event_id for e in captured.events}) == 5
    assert all(e.url == "http://crm/hook" and e.line == "" for e in captured.events)


async def test_a_call_never_answered_fails_and_a_transfer_is_told_before_the_end() -> None:
    feed = CallFeed()
    made, captured = hooks(feed)
    missed = handle(1, outbound=True)
    feed.call_started(missed, state="ringing")
    missed.end_reason, missed.end_status = "busy", 486
    feed.call_ended(missed)
    moved = handle(2)
    feed.call_started(moved)
    feed.call_answered(moved)
    moved.end_reason, moved.transferred_to = "local-bye", "sip:human@pbx.example.com"
    feed.call_ended(moved)
    await made.stop(1.0)
    kinds = [(b["type"], b["data"]["sequence"]) for b in captured.bodies()]
    assert kinds == [
        ("call.failed", 1),  # placed by us: no call.incoming
        ("call.incoming", 1), ("call.answered", 2), ("call.transferred", 3), ("call.ended", 4),
    ]  # fmt: skip
    failed = captured.bodies()[0]["data"]
    assert failed["outcome"] == "busy" and failed["sip_reason"] == "Busy Here"
    assert failed["hung_up_by"] == "remote" and failed["sip_detail"] is failed["hint"] is None
    assert captured.bodies()[3]["data"]["target"] == "sip:human@pbx.example.com"
    ended = captured.bodies()[4]["data"]
    assert (ended["sip_status"], ended["sip_reason"], ended["hint"]) == (200, "OK", None)


def test_a_placed_call_the_far_end_refused_fails_in_its_words() -> None:
    """Issue 22: the carrier's reason phrase, its Reason and Warning and our hint reach the
    webhook as they reach ``sipgw call`` (``Forbidden`` told the CRM nothing)."""
    feed = CallFeed()
    _, captured = hooks(feed)
    refused = handle(1, outbound=True)
    feed.call_started(refused, state="ringing")
    reply = FinalReply(403, "Caller Origination Number is Invalid D35",
                       ("Q.850 cause 21: Call Rejected",), ())  # fmt: skip
    refused.end_reason, refused.end_status = "failed", 403
    refused.refused = Refused.of(reply)
    feed.call_ended(refused)
    (body,) = captured.bodies()
    assert body["type"] == "call.failed"
    data = body["data"]
    assert (data["sip_status"], data["sip_reason"], data["sip_detail"]) == (
        403, "Caller Origination Number is Invalid D35", "Reason: Q.850 cause 21: Call Rejected"
    )  # fmt: skip
    assert data["hint"] == hint(403) and data["outcome"] == "failed"


async def test_who_answered_a_placed_call_is_told_once_detection_is_final() -> None:
    """``call.amd`` (docs/webhooks.md): once, with the final result, after ``call.answered``
    and before ``call.ended``; a decision revised on the way sends nothing of its own."""
    feed = CallFeed()
    made, captured = hooks(feed)
    call = handle(1, outbound=True)
    feed.call_started(call, state="ringing")
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    agent.record.write(
        {
            "type": "amd",
            "kind": "human",
            "reason": "short greeting",
            "evidence": "cadence",
            "revision": 0,
            "elapsed_ms": 900,
            "round": 0,
        }
    )
    agent.record.write(
        {
            "type": "amd",
            "kind": "voicemail",
            "reason": "phrase 'leave a message'",
            "evidence": "words",
            "revision": 1,
            "elapsed_ms": 2300,
            "round": 0,
        }
    )
    assert [b["type"] for b in captured.bodies()] == ["call.answered"]  # not final yet
    agent.record.write(
        {
            "type": "amd_result",
            "mode": "leave_message",
            "kind": "voicemail",
            "reason": "phrase 'leave a message'",
            "elapsed_ms": 2300,
            "revisions": 1,
            "action": "message",
            "screener_answers": 0,
        }
    )
    call.end_reason, call.hung_up_by = "local-bye", "agent"
    feed.call_ended(call)
    await made.stop(1.0)
    bodies = captured.bodies()
    assert [(b["type"], b["data"]["sequence"]) for b in bodies] == [
        ("call.answered", 1), ("call.amd", 2), ("call.ended", 3),
    ]  # fmt: skip
    amd = bodies[1]["data"]["amd"]
    assert amd == {
        "kind": "voicemail", "reason": "phrase 'leave a message'", "elapsed_ms": 2300,
        "mode": "leave_message", "action": "message", "revisions": 1, "revision": 1,
        "final": True,
    }  # fmt: skip
    assert bodies[1]["data"]["call"]["id"] == bodies[2]["data"]["call"]["id"]


def test_a_refused_call_fails_with_the_routes_status() -> None:
    feed = CallFeed()
    _, captured = hooks(feed)
    call = CallInfo(("x@y", "t"), NameAddr.parse("<sip:a@b>"), NameAddr.parse("<sip:+4420@gw>"))
    feed.call_refused(call, 404, "no route matches")
    (body,) = captured.bodies()
    assert body["type"] == "call.failed" and body["data"]["sip_status"] == 404
    assert body["data"]["why"] == "no route matches" and body["data"]["outcome"] == "rejected"


def test_each_line_sends_where_its_routes_file_says(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        '[lines.own]\nwebhook_url = "http://own/hook"\n'
        f'webhook_secret = "{LINE_SECRET}"\n[lines.quiet]\nwebhook_url = ""\n'
        '[lines.plain]\n[[routes]]\nline = "own"\n'
    )
    sources = Sources({})
    lines = Lines(path, LineBase(sources, "echo", find_agent("echo").build(sources)))
    made, _ = hooks(CallFeed(), lines)
    own = made.destination("own")
    assert own is not None and own.url == "http://own/hook" and own.line == "own"
    assert made.secret_for("own") == WebhookSecret.parse(LINE_SECRET)
    assert made.destination("quiet") is None
    plain = made.destination("plain")
    assert plain is not None and plain.url == "http://crm/hook" and plain.line == ""
    assert made.secret_for("plain") == made.secret_for("") == WebhookSecret.parse(SECRET)
    assert made.destination("removed-by-a-reload") == plain  # the gateway's, then


async def test_the_end_waits_for_the_summary_and_is_stamped_when_the_call_ended() -> None:
    """The wait for the summary does not move ``call.ended``'s ``timestamp``: it is when
    the call ended (the next call's first event may be sent before it)."""
    feed = CallFeed()
    done = asyncio.Event()

    async def summarize(entry: CallEntry, line: LineSpec | None) -> dict[str, Any]:
        await done.wait()
        return {"text": "The caller asked for a callback."}

    made, captured = hooks(feed, summarize=summarize)
    call = handle()
    feed.call_started(call)
    feed.call_answered(call)
    call.end_reason = "remote-bye"
    feed.call_ended(call)
    entry = feed.find(call.call.log_id)
    assert entry is not None and entry.ended is not None
    await asyncio.sleep(0.01)
    assert [b["type"] for b in captured.bodies()] == ["call.incoming", "call.answered"]
    await asyncio.sleep(0.05)  # the summary takes a while: the stamp must not
    done.set()
    await made.stop(1.0)
    ended = captured.bodies()[-1]
    assert ended["type"] == "call.ended" and ended["data"]["sequence"] == 3
    assert ended["timestamp"] == iso(entry.ended)
    incoming, answered = captured.bodies()[:2]
    assert incoming["timestamp"] == iso(entry.started)
    assert entry.answered is not None and answered["timestamp"] == iso(entry.answered)
    assert ended["data"]["summary"] == {"text": "The caller asked for a callback."}


async def test_a_call_that_ends_before_detection_decides_is_told_undecided(
    tmp_path: Path,
) -> None:
    """The callee hangs up before the first decision: the result the agent writes as it
    closes, after the call ended, says ``undecided`` (docs/webhooks.md), in a ``call.amd``
    still ahead of ``call.ended``."""
    feed = CallFeed()
    made, captured = hooks(feed)
    call = handle(1, outbound=True)
    feed.call_started(call, state="ringing")
    agent = RecordingAgent(call)
    agent.record = CallRecord(tmp_path, call.call_id)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    call.end_reason, call.hung_up_by = "remote-bye", "remote"
    feed.call_ended(call)
    agent.record.write(
        {"type": "amd_result", "mode": "hang_up", "kind": "undecided", "reason": "call ended",
         "elapsed_ms": None, "revisions": 0, "action": "none", "screener_answers": 0}
    )  # fmt: skip
    agent.record.write({"type": "end", "reason": "remote-bye"})
    await made.stop(1.0)
    bodies = captured.bodies()
    assert [b["type"] for b in bodies] == ["call.answered", "call.amd", "call.ended"]
    assert bodies[1]["data"]["amd"] == {
        "kind": "undecided", "reason": "call ended", "elapsed_ms": None, "mode": "hang_up",
        "action": "none", "revisions": 0, "final": True,
    }  # fmt: skip


async def test_the_end_waits_for_the_agents_last_words(tmp_path: Path) -> None:
    """A reply cut by the hang-up and the talk figures are written as the agent closes,
    after the call ended: call.ended waits for the record's ``end`` line, so it has both."""
    feed = CallFeed()
    made, captured = hooks(feed)
    call = handle()
    feed.call_started(call)
    agent = RecordingAgent(call)
    agent.record = CallRecord(tmp_path, call.call_id)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    call.end_reason = "remote-bye"
    feed.call_ended(call)
    await asyncio.sleep(0.05)
    assert [b["type"] for b in captured.bodies()] == ["call.incoming", "call.answered"]
    agent.record.write({"type": "assistant", "text": "Goodbye th"})  # what was heard
    talk = TalkFigures(3.1, 4.2, 0.4, 1, 0, 1, 2.5, 0.61).record()
    agent.record.write({"type": "talk", **talk})
    agent.record.write({"type": "end", "reason": "remote-bye"})
    await made.stop(1.0)
    ended = captured.bodies()[-1]["data"]
    assert [line["text"] for line in ended["transcript"]] == ["Goodbye th"]
    assert ended["talk"] == talk
    assert feed.recent[-1].detail()["talk"] == talk  # GET /api/recent/{id}, the call page


async def test_how_a_placed_call_got_through_a_phone_menu_is_told_once() -> None:
    """``call.ivr`` (docs/ivr.md): the record's ``ivr_result``, between ``call.answered`` and
    ``call.ended``; the call's summary and detail carry it too."""
    feed = CallFeed()
    made, captured = hooks(feed)
    call = handle(1, outbound=True)
    feed.call_started(call, state="ringing")
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    agent.record.write({"type": "ivr_start", "goal": "reach billing"})
    step = {"heard": "For billing, press 1.", "decision": "press", "digits": "1", "by": "model"}
    agent.record.write({"type": "ivr_step", **step})
    assert [b["type"] for b in captured.bodies()] == ["call.answered"]
    result = {"goal": "reach billing", "outcome": "reached", "reason": "Sam answers",
              "digits": "1", "steps": 1, "elapsed_ms": 5210.0}  # fmt: skip
    agent.record.write({"type": "ivr_result", **result})
    entry = feed.find(call.call.log_id)
    assert entry is not None and entry.summary()["ivr_outcome"] == "reached"
    assert entry.detail()["ivr"] == result
    call.end_reason, call.hung_up_by = "remote-bye", "remote"
    feed.call_ended(call)
    await made.stop(1.0)
    bodies = captured.bodies()
    assert [b["type"] for b in bodies] == ["call.answered", "call.ivr", "call.ended"]
    assert bodies[1]["data"]["ivr"] == result


async def test_a_recording_sessions_utterances_and_suggestions_are_posted_as_they_come() -> None:
    """``call.transcript`` and ``call.suggestion`` (docs/siprec.md): each ``speech`` and
    ``suggestion`` line of an ``srs`` agent's record, in order; ``call.ended``'s transcript
    has the utterances with their participants."""
    feed = CallFeed()
    made, captured = hooks(feed)
    call = handle()
    feed.call_started(call)
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    alice = {"label": "96", "participant_id": "p1", "aor": "sip:alice@a.example", "name": "Alice"}
    agent.record.write({"type": "speech", **alice, "text": "My card was charged twice.",
                        "confidence": 0.9})  # fmt: skip
    agent.record.write({"type": "suggestion", "text": "Offer a refund.", "utterances": 1})
    agent.record.write({"type": "speech", "label": "97", "participant_id": "", "aor": "",
                        "name": "", "text": "Let me check.", "confidence": None})  # fmt: skip
    call.end_reason, call.hung_up_by = "remote-bye", "remote"
    feed.call_ended(call)
    await made.stop(1.0)
    bodies = captured.bodies()
    assert [b["type"] for b in bodies] == [
        "call.incoming", "call.answered", "call.transcript", "call.suggestion",
        "call.transcript", "call.ended",
    ]  # fmt: skip
    first = bodies[2]["data"]["utterance"]
    assert first["participant"] == {"id": "p1", "aor": "sip:alice@a.example", "name": "Alice"}
    assert (first["label"], first["text"], first["confidence"]) == (
        "96", "My card was charged twice.", 0.9,
    )  # fmt: skip
    assert bodies[3]["data"]["suggestion"]["text"] == "Offer a refund."
    assert bodies[3]["data"]["suggestion"]["utterances"] == 1
    assert bodies[4]["data"]["utterance"]["participant"] == {"id": "", "aor": "", "name": ""}
    ended = bodies[-1]["data"]["transcript"]
    assert [(line["speaker"], line["label"], line["text"]) for line in ended] == [
        ("participant", "96", "My card was charged twice."),
        ("participant", "97", "Let me check."),
    ]
