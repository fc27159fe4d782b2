"""The model's replies on their way to the caller (agent/s2s/voice.py): the playout, the
record, barge-ins and each reply's timing."""

from __future__ import annotations

import asyncio

from sipgw.agent.services.s2s.base import ReplyAudio, ReplyDone, ReplyStarted, ReplyText
from sipgw.agent.turns.machine import Cause
from tests.agent.parts import settle
from tests.agent.s2s.parts import LOUD, rig


async def test_audio_without_a_start_begins_a_reply_and_late_audio_is_dropped() -> None:
    r = rig(greeting="")
    await r.agent.prepare()
    r.agent.on_answered()
    voice, now = r.agent.voice, asyncio.get_running_loop().time()
    voice.audio(ReplyAudio("r1", LOUD * 3, now))
    assert voice.replies == 1 and voice.first_audio.is_set()
    voice.text(ReplyText("r1", "Hello "))
    voice.text(ReplyText("r1", "there."))
    reply = voice.done(ReplyDone("r1", "completed", now))
    assert reply is not None and reply.text == "Hello there."
    assert voice.done(ReplyDone("r1", "completed", now)) is None  # ended once
    assert r.ticks(4) == [LOUD, LOUD, LOUD, None]
    (line,) = r.record("assistant")
    assert line["text"] == "Hello there." and line["kind"] == "reply"
    assert line["interrupted"] is False
    voice.speaking.prune()
    voice.audio(ReplyAudio("r1", LOUD, now))  # the reply is over: not replayed
    assert r.ticks(2) == [None, None]
    await r.agent.close()


async def test_a_cut_keeps_what_was_heard_and_the_text_that_comes_later() -> None:
    r = rig(greeting="")
    await r.agent.prepare()
    r.agent.on_answered()
    voice, now = r.agent.voice, asyncio.get_running_loop().time()
    voice.started("r1", now)
    voice.audio(ReplyAudio("r1", LOUD * 10, now))
    r.ticks(5)  # half of it went out
    voice.cut(Cause.NOTICE)
    assert r.session.sent == [("cancel", "r1", 100)]
    voice.text(ReplyText("r1", "one two three four", final=True))  # the text comes after
    reply = voice.done(ReplyDone("r1", "interrupted", now))
    assert reply is not None and reply.heard == "one two"
    (line,) = r.record("assistant")
    assert line["text"] == "one two" and line["interrupted"] is True
    await r.agent.close()


async def test_the_greeting_and_a_reply_are_timed_from_their_first_frame() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    r.session.push(
        ReplyStarted("g", 0.0), ReplyAudio("g", LOUD, 0.0), ReplyDone("g", "completed", 0.0)
    )
    await settle()
    r.ticks(2)
    await settle()
    (greeting,) = r.record("greeting_metrics")
    assert greeting["first_rtp_after_answer_ms"] is not None
    await r.agent.close()
