"""Filler lines while a slow tool runs, asked of the model (sessions that can)."""

from __future__ import annotations

import asyncio

from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.s2s.fillers import S2sFillers
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.services.s2s.base import ReplyAudio, ReplyDone, ReplyStarted, ReplyText
from tests.agent.parts import settle
from tests.agent.s2s.parts import LOUD, ScriptedSession, rig, speak

LINES = ("One moment.", "Just a second.")


class FillerSession(ScriptedSession):
    fillers = True

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.said_at: list[float] = []  # the loop's time of each filler asked
        self.said = asyncio.Event()

    def request_filler(self, text: str) -> bool:
        if self.busy:
            return False
        self.sent.append(("filler", text))
        self.said_at.append(asyncio.get_running_loop().time())
        self.said.set()
        return True


def fillers(session: ScriptedSession, after: float | None = 0.05) -> tuple[S2sFillers, CallRecord]:
    record = CallRecord(None, "c")
    scope = SessionScope("c", record, asyncio.get_running_loop(), session)
    playout = Playout()
    playout.held = False
    return S2sFillers(scope, after, LINES, Speaking(playout)), record


async def test_a_slow_round_gets_one_filler_line_in_turn_and_a_quick_one_none() -> None:
    session = FillerSession()
    watch, record = fillers(session)
    watch.tool_called()
    watch.tool_returned()  # quick: nothing
    await asyncio.sleep(0.08)
    assert session.sent == []
    watch.tool_called()
    watch.tool_called()  # the same round
    await asyncio.sleep(0.08)
    assert session.sent == [("filler", "One moment.")]
    await asyncio.sleep(0.08)
    assert len(session.sent) == 1  # one per round
    watch.tool_returned()
    watch.tool_returned()
    watch.tool_called("Searching the archive.")  # a tool with a line of its own
    await asyncio.sleep(0.08)
    assert session.sent[-1] == ("filler", "Searching the archive.")
    (first, _) = [line for line in record.lines if line["type"] == "filler"]
    assert first["text"] == "One moment." and first["after_ms"] >= 40


async def test_hold_stops_the_filler_s_time_and_a_busy_or_unable_session_says_none() -> None:
    # Checked against the loop's clock, not the sleeps' lengths: a loaded machine may
    # oversleep, and the filler must still come 50 ms of unheld time after the call. Each
    # reading brackets the watch's own so that the bound holds exactly (read after the call,
    # the process descheduled in between, the call and the resume looked 2.4 ms later than
    # the watch saw them, and a bound of 50 ms less 1 failed at 47.6).
    loop = asyncio.get_running_loop()
    session = FillerSession()
    watch, _ = fillers(session)
    called = loop.time()  # at or before the watch's start
    watch.tool_called()
    await asyncio.sleep(0.03)
    watch.hold(True)
    held = loop.time()  # at or after the watch's hold
    await asyncio.sleep(0.1)
    assert session.sent == []  # the hold stopped its time
    resumed = loop.time()  # at or before the watch's resume
    watch.hold(False)
    await asyncio.wait_for(session.said.wait(), 2)
    assert session.sent == [("filler", "One moment.")]
    unheld = session.said_at[0] - called - (resumed - held)
    assert unheld >= 0.05 - 1e-6  # the time held did not count
    watch.hold(True)
    watch.hold(False)
    await asyncio.sleep(0.02)
    assert len(session.sent) == 1  # a resume does not make another

    busy = FillerSession()
    busy.busy = True  # a reply is on its way
    watch, record = fillers(busy)
    watch.tool_called()
    await asyncio.sleep(0.08)
    assert busy.sent == [] and not [line for line in record.lines if line["type"] == "filler"]

    plain = ScriptedSession()  # the Voice Agent API: no filler lines
    watch, _ = fillers(plain)
    watch.tool_called()
    await asyncio.sleep(0.08)
    assert plain.sent == []
    watch.close()


async def test_a_filler_reply_is_no_turn_and_the_answer_cuts_what_is_left_of_it() -> None:
    r = rig(greeting="")
    await r.agent.prepare()
    r.agent.on_answered()
    now = asyncio.get_running_loop().time()
    r.session.push(ReplyStarted("f1", now, filler=True), ReplyAudio("f1", LOUD * 50, now),
                   ReplyText("f1", "One moment, I'm checking that.", final=True),
                   ReplyDone("f1", "completed", now))  # fmt: skip
    await settle()
    assert r.agent.voice.replies == 0  # no turn
    r.ticks(10)  # 200 ms of the filler went out
    speak(r.session, "r2", 100, "It has shipped.")
    await settle()
    assert ("cancel", "f1", 200) in r.session.sent  # its context cut to what was heard
    (stopped,) = r.record("filler_stopped")
    assert stopped["cut"] and 0 < len(stopped["heard"]) < len("One moment, I'm checking that.")
    assert r.ticks(5) == [LOUD] * 5  # the answer, at once
    lines = r.record("assistant")
    assert [line["kind"] for line in lines] == ["filler", "reply"]
    assert r.agent.voice.replies == 1
    await r.agent.close()
