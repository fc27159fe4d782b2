"""The dashboard's call feed (sipgw/app/calls/callfeed.py): calls started, answered, ended, their
transcript and turn timings, handed to subscribers; recent calls bounded."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

import pytest

from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.record import CallRecord
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls import callfeed
from sipgw.app.calls.callfeed import (
    TRANSCRIPT_LIMIT,
    TURN_FIELDS,
    CallEntry,
    CallFeed,
    FeedEvent,
    RecordEnds,
    agent_name,
)
from sipgw.app.calls.callhandle import CallHandle, CallLog
from sipgw.app.calls.dialing import DialGate
from sipgw.app.operations.counters import CallCounters
from sipgw.media.quality import CallQuality
from sipgw.sip.call import CallInfo, Direction
from sipgw.sip.dialpolicy import DialPolicy
from sipgw.sip.headers import NameAddr


def handle(n: int = 1, outbound: bool = False, call_id: str = "") -> CallHandle:
    call = CallInfo(
        (call_id or f"call-{n}@example", "tag"),
        NameAddr.parse(f'"Caller {n}" <sip:+1555010{n}@trunk.example>;tag=a'),
        NameAddr.parse("<sip:agent@gw.example>"),
        Direction.OUTBOUND if outbound else Direction.INBOUND,
    )
    counted = CallCounters()
    sip = cast(SipEndpoint, None)  # the feed never acts on the call
    log = CallLog.for_call(logging.getLogger("test"), call)
    return CallHandle(call, log, sip, DialGate(DialPolicy(), counted), counted)


class RecordingAgent(EchoAgent):
    def __init__(self, call: CallHandle) -> None:
        super().__init__(call, 0)
        self.record = CallRecord(None, call.call_id)


def feed_with_events() -> tuple[CallFeed, list[FeedEvent]]:
    feed, events = CallFeed(), list[FeedEvent]()
    feed.subscribe(events.append)
    return feed, events


def test_a_call_from_start_to_end() -> None:
    feed, events = feed_with_events()
    call = handle()
    feed.call_started(call)
    feed.call_started(call)  # idempotent
    agent = RecordingAgent(call)
    agent.record.write({"type": "user", "text": "before the feed followed it"})
    feed.agent_built(call, agent)
    agent.record.write({"type": "assistant", "text": "hello"})
    agent.record.write({"type": "failure", "decision": "llm_apology", "action": "say",
                        "line": "apology", "source": "cache"})  # fmt: skip
    agent.record.write({"type": "turn_metrics", "turn": 1, "stt_end_of_turn_ms": 120})
    agent.record.write({"type": "llm_request", "secret": "not for the dashboard"})
    call.end_reason = "remote-bye"
    call.quality = CallQuality(1000, 0, 0.0, 2.0, None, None, None, 1, 1, 4.4)
    feed.call_ended(call)
    feed.call_ended(call)  # once
    assert [e.kind for e in events] == [
        "call_started", "call_updated", "transcript", "transcript", "transcript", "turn",
        "call_ended",
    ]  # fmt: skip
    (entry,) = feed.recent
    assert feed.find(call.call.log_id) is entry and feed.find(call.call_id) is entry
    summary = entry.summary()
    assert summary["caller_name"] == "Caller 1" and summary["agent"] == "recording"
    assert (summary["state"], summary["outcome"], summary["direction"]) == (
        "ended", "remote-bye", "inbound",
    )  # fmt: skip
    detail = entry.detail()
    assert [line["type"] for line in detail["transcript"]] == ["user", "assistant", "failure"]
    assert detail["turns"] == [
        {"turn": 1, "t": entry.turns[0]["t"], "stages_ms": {"stt_end_of_turn": 120},
         "first_audio_ms": None},
    ]  # fmt: skip
    assert detail["quality"]["mos"] == 4.4 and not feed.live


def test_calls_whose_ids_begin_alike_are_two_calls_in_the_feed_and_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 39: ids were cut to 24 characters, so two Twilio calls whose Call SIDs share
    their first 22 hex digits were one entry of the feed, and one call in the log."""
    feed = CallFeed()
    first, second = (handle(n, call_id="CA" + "7" * 22 + f"{n:010d}") for n in (1, 2))
    feed.call_started(first)
    feed.call_started(second)
    assert [entry.call_id for entry in feed.live.values()] == [first.call_id, second.call_id]
    with caplog.at_level(logging.INFO, logger="test"):
        first.log.info("answered")
        second.log.info("answered")
    assert [r.getMessage() for r in caplog.records] == [
        f"[{first.call_id}] answered", f"[{second.call_id}] answered"]  # fmt: skip


def test_who_answered_a_placed_call_is_followed_to_its_result() -> None:
    feed, events = feed_with_events()
    call = handle(outbound=True)
    feed.call_started(call, state="ringing")
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)
    agent.record.write(
        {
            "type": "amd",
            "kind": "human",
            "reason": "short greeting",
            "evidence": "cadence",
            "revision": 0,
            "elapsed_ms": 1060,
            "round": 0,
        }
    )
    entry = feed.live[call.call.log_id]
    assert entry.summary()["answered_by"] == "human" and entry.amd is not None
    assert entry.amd["final"] is False
    agent.record.write(
        {
            "type": "amd",
            "kind": "voicemail",
            "reason": "phrase 'at the tone'",
            "evidence": "words",
            "revision": 1,
            "elapsed_ms": 2900,
            "round": 0,
        }
    )
    agent.record.write({"type": "amd_result", "mode": "leave_message", "kind": "voicemail",
                        "reason": "phrase 'at the tone'", "elapsed_ms": 2900, "revisions": 1,
                        "action": "message", "screener_answers": 0})  # fmt: skip
    assert entry.amd == {"kind": "voicemail", "reason": "phrase 'at the tone'",
                         "elapsed_ms": 2900, "revision": 1, "mode": "leave_message",
                         "action": "message", "revisions": 1, "final": True}  # fmt: skip
    assert entry.detail()["amd"] == entry.amd
    updates = [e.data for e in events if e.kind == "call_updated"]
    assert [data.get("answered_by") for data in updates][-3:] == [
        "human",
        "voicemail",
        "voicemail",
    ]
    assert updates[-1]["amd"] == entry.amd  # the call's page shows it while the call runs


def test_a_placed_call_rings_until_answered() -> None:
    feed, events = feed_with_events()
    call = handle(outbound=True)
    feed.call_started(call, state="ringing")
    assert feed.live[call.call.log_id].state == "ringing"
    feed.call_answered(call)
    feed.call_answered(call)  # told once
    assert feed.live[call.call.log_id].state == "active"
    assert [e.kind for e in events] == ["call_started", "call_updated", "call_answered"]


def test_the_transcript_is_bounded_and_recent_calls_too() -> None:
    feed = CallFeed(recent=2)
    call = handle()
    agent = RecordingAgent(call)
    feed.agent_built(call, agent)  # a call the feed had not seen starts here
    for n in range(TRANSCRIPT_LIMIT + 3):
        agent.record.write({"type": "user", "text": str(n)})
    entry = feed.live[call.call.log_id]
    assert len(entry.transcript) == TRANSCRIPT_LIMIT and entry.dropped_lines == 3
    for n in range(1, 4):
        other = handle(n + 1)
        feed.call_started(other)
        feed.call_ended(other)
    assert [e.id for e in feed.recent] == [handle(3).call.log_id, handle(4).call.log_id]


def test_a_failing_subscriber_is_logged_and_the_others_still_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed, events = feed_with_events()

    def broken(event: FeedEvent) -> None:
        raise RuntimeError("browser gone")

    unsubscribe = feed.subscribe(broken)
    feed.call_started(handle())
    unsubscribe()
    unsubscribe()  # harmless twice
    feed.call_started(handle(2))
    assert len(events) == 2 and caplog.text.count("call feed subscriber failed") == 1


def test_agent_names_and_recordings(tmp_path: Path) -> None:
    assert agent_name(None) is None and agent_name(EchoAgent(handle(), 0)) == "echo"
    feed, _ = feed_with_events()
    call = handle()
    feed.call_started(call)

    class Recorder:
        path = tmp_path / "call.wav"

    call.recorder = Recorder()  # type: ignore[assignment]
    feed.call_ended(call)
    assert feed.recent[0].summary()["recording"] is True


@pytest.mark.usefixtures("virtual_clock")
async def test_record_ends_waits_for_the_last_line_or_gives_up(tmp_path: Path) -> None:
    feed = CallFeed()
    ends = RecordEnds(feed)
    entry, record = ended_with_record(feed, 1, tmp_path)
    assert entry.record is not None and not entry.record_closed
    waiting = asyncio.ensure_future(ends.wait(entry, within=5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    record.write({"type": "end", "reason": "remote-bye"})
    await asyncio.wait_for(waiting, 1.0)
    assert entry.record_closed
    late, _ = ended_with_record(feed, 2, tmp_path)  # its agent never writes "end"
    started = asyncio.get_running_loop().time()
    await ends.wait(late, within=0.2)  # an agent that writes no "end": the wait is bounded
    # given up at its bound, on the virtual clock
    assert asyncio.get_running_loop().time() - started == pytest.approx(0.2, abs=0.001)
    ends.close()


def ended_with_record(feed: CallFeed, n: int, where: Path) -> tuple[CallEntry, CallRecord]:
    """Call ``n`` on ``feed``, its agent keeping a record under ``where``, ended."""
    call = handle(n)
    feed.call_started(call)
    agent = RecordingAgent(call)
    agent.record = CallRecord(where, call.call_id)
    feed.agent_built(call, agent)
    feed.call_ended(call)
    entry = feed.find(call.call.log_id)
    assert entry is not None
    return entry, agent.record


async def test_record_ends_keeps_nothing_of_calls_nobody_waits_for(tmp_path: Path) -> None:
    """A record that closes with no wait (a call without a summary) or after its wait gave
    up must not stay behind: with churned calls that was a leak."""
    feed = CallFeed()
    ends = RecordEnds(feed)
    for n in range(1, 4):
        entry, record = ended_with_record(feed, n, tmp_path)
        if n == 3:
            await ends.wait(entry, within=0.05)  # gives up before the last line
        record.write({"type": "end", "reason": "remote-bye"})
    assert ends._ends == {}
    ends.close()


def test_the_waterfall_shows_every_turn_stage_in_order() -> None:
    """The tools stage (issue 42) included: a reply's tool rounds, where it called tools."""
    from sipgw.agent.observer import TURN_STAGES

    assert tuple(TURN_FIELDS) == TURN_STAGES
    assert TURN_FIELDS["tools"] == "tools_ms"


def test_a_turn_says_when_its_first_audio_went_out() -> None:
    """From the STT's end of turn (the assistant), else from the end of speech (a
    speech-to-speech agent): what the dashboard's latency chart counts."""
    assistant = {"type": "turn_metrics", "turn": 2, "first_rtp_after_turn_ms": 640.5,
                 "end_of_speech_to_first_rtp_ms": 900}  # fmt: skip
    voice = {"type": "turn_metrics", "turn": 3, "end_of_speech_to_first_rtp_ms": 700}
    assert callfeed._turn(assistant)["first_audio_ms"] == 640.5
    assert callfeed._turn(voice)["first_audio_ms"] == 700
    assert callfeed._turn({"type": "turn_metrics", "turn": 4})["first_audio_ms"] is None
