"""Replies started before the end of the caller's turn (Realtime with local turn-taking)."""

from __future__ import annotations

from sipgw.agent.services.s2s.base import ReplyAudio, ReplyStarted
from sipgw.agent.turns.endpointing import SilenceEndpointer
from tests.agent.parts import settle
from tests.agent.s2s.parts import LOUD, SILENCE, rig, speak
from tests.agent.services.openai.test_realtime import Captured, audio_delta, done


def test_the_endpointer_says_early_once_per_pause() -> None:
    endpointer = SilenceEndpointer(200, early_ms=90)
    assert not endpointer.push(True, True)
    pushed = [(endpointer.push(False, False), endpointer.early) for _ in range(10)]
    assert [early for _, early in pushed] == [False] * 4 + [True] + [False] * 5
    assert [ended for ended, _ in pushed].index(True) == 9  # 200 ms
    assert not SilenceEndpointer(200).early


def test_an_early_reply_is_marked_and_dropped_out_of_the_context() -> None:
    client = Captured(turn_detection="local", preemptive_ms=200)
    assert client.start_early_reply()
    assert client.sent == [{"type": "input_audio_buffer.commit"},
                           {"type": "response.create",
                            "response": {"metadata": {"sipgw": "preemptive"}}}]  # fmt: skip
    assert not client.start_early_reply()  # one at a time
    client.feed({"type": "response.created",
                 "response": {"id": "r1", "metadata": {"sipgw": "preemptive"}}},
                audio_delta("r1", "i1", 100))  # fmt: skip
    assert client.emitted[0] == ReplyStarted("r1", 1.0)
    client.drop_early_reply()  # the caller went on
    assert client.sent[2:] == [{"type": "response.cancel", "response_id": "r1"},
                               {"type": "conversation.item.delete", "item_id": "i1"}]  # fmt: skip
    before = len(client.emitted)
    client.feed(audio_delta("r1", "i2", 100), done("r1", "cancelled", output=[
        {"type": "message", "id": "i1"}, {"type": "message", "id": "i3"}]))  # fmt: skip
    assert len(client.emitted) == before  # nothing more of it is told
    assert [m.get("item_id") for m in client.sent[4:]] == ["i2", "i3"]
    client.end_turn()  # the caller's turn, now over: a reply as usual
    assert client.sent[-1] == {"type": "response.create"}


def test_an_early_reply_dropped_before_it_was_created_is_never_told() -> None:
    client = Captured(turn_detection="local", preemptive_ms=200)
    assert client.start_early_reply()
    client.drop_early_reply()
    assert client.sent[-1] == {"type": "response.cancel"}
    client.request_reply("Say hi.")  # waits for the dropped one's end
    client.feed({"type": "response.created",
                 "response": {"id": "r1", "metadata": {"sipgw": "preemptive"}}},
                done("r1", "cancelled"))  # fmt: skip
    assert client.emitted == []
    assert client.sent[-1] == {"type": "response.create", "response": {"instructions": "Say hi."}}
    off = Captured(turn_detection="local")
    assert not off.start_early_reply() and off.sent == []  # off by default
    assert not Captured(preemptive_ms=200).start_early_reply()  # server turns: never


async def test_the_early_reply_waits_for_the_end_of_turn_and_goes_if_the_caller_goes_on() -> None:
    r = rig(server_turns=False, preemptive_ms=100, greeting="")
    r.session.early = True
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller([SILENCE] * 15 + [LOUD] * 20 + [SILENCE] * 5)  # 100 ms of quiet
    assert r.session.sent[-1] == ("early",)
    now = r.agent.loop.time()
    r.session.push(ReplyStarted("r1", now), ReplyAudio("r1", LOUD * 10, now))
    await settle()
    assert r.ticks(3) == [None] * 3  # held: the turn may not be over
    r.caller([LOUD] * 5)  # the caller goes on
    assert r.session.sent[-1] == ("drop_early",)
    assert r.ticks(3) == [None] * 3  # its audio is gone
    r.caller([SILENCE] * 5)
    assert r.session.sent[-1] == ("early",)  # the next pause starts another
    speak(r.session, "r2", 100, "Sure.")
    await settle()
    assert r.ticks(2) == [None] * 2
    r.caller([SILENCE] * 5)  # 200 ms: the end of turn
    assert ("end_turn",) not in r.session.sent  # the early reply is the turn's reply
    assert r.ticks(5) == [LOUD] * 5
    stages = [line["stage"] for line in r.record("preemptive")]
    assert stages == ["started", "dropped", "started", "used"]
    assert [line["text"] for line in r.record("assistant")] == ["Sure."]
    await r.agent.close()


async def test_without_a_session_that_starts_early_the_turn_ends_as_before() -> None:
    r = rig(server_turns=False, preemptive_ms=100, greeting="")
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller([SILENCE] * 15 + [LOUD] * 20 + [SILENCE] * 10)
    assert ("end_turn",) in r.session.sent and r.record("preemptive") == []
    await r.agent.close()
