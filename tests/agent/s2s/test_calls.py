"""Speech-to-speech agents on real calls, in-process: each agent against its fake.

Every test runs for AssemblyAI's Voice Agent API (``voice-agent``), OpenAI's
Realtime API with the server's VAD (``realtime``) and with our own turn-taking
(``realtime-local``), through the real gateway, the production session clients
and a scripted phone (:mod:`tests.agent.s2s.stack`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from sipgw.agent.idle.policy import IdleSettings
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.phone import Phone, sdp_audio_port
from sipgw.sip.message import SipResponse, make_response
from tests.agent.assistant.test_assistant_actions import request_from_gateway
from tests.agent.gateway_stack import send_digits
from tests.agent.s2s.stack import (
    CONNECT_HZ,
    GOODBYE_HZ,
    GREETING,
    GREETING_HZ,
    KINDS,
    LONG,
    LONG_HZ,
    ONE_MOMENT_HZ,
    REPLY_HZ,
    SORRY_HZ,
    SPEECH_HZ,
    TARGET,
    Kind,
    greeted,
    hang_up,
    s2s_stack,
)
from tests.refcycles import cycles_left_by_our_code
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent
from tests.toolkit.fakes.voice_base import FakeReply, FakeToolCall, quoted_line

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("kind", KINDS)]

CHECK_HZ = 1900
"""The idle check-in's tone."""
TURN = 1
"""The tag of the caller's turn in :func:`end_of_turn`."""


async def test_the_greeting_plays_right_after_the_answer(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        caller = await s.new_caller()
        caller.send(caller.request("INVITE", caller.sdp()))
        ok = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 200)
        answered = time.monotonic()
        assert isinstance(ok, SipResponse)
        # The session was opened and configured while it rang, and its greeting queued.
        session = s.session
        assert session.replies and session.replies[0].text == GREETING
        caller.to_tag = ok.to.tag
        caller.send(caller.request("ACK"))
        phone = caller.start_audio(("127.0.0.1", sdp_audio_port(ok)))
        first = await phone.wait_for_tone(GREETING_HZ, within=3)
        assert first - answered < 0.25
        await phone.wait_until_quiet(0.1, hz=GREETING_HZ)
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    record = s.record()
    assert record[0]["type"] == "call" and record[-1]["type"] == "end"
    assert record[-1]["reason"] == "remote-bye"
    assert any(line["type"] == "greeting_metrics" for line in record)
    # What the caller lived through (sipgw.agent.talk): the greeting, and nobody else.
    talk = record[-2]
    assert talk["type"] == "talk" and talk["first_word_s"] < 0.25 and talk["agent_talk_s"] > 0
    assert talk["caller_talk_s"] == talk["talk_over_s"] == talk["dead_air"] == 0, talk


async def test_the_session_is_configured_for_mulaw_with_the_prompt_and_tools(
    tmp_path: Path, kind: Kind
) -> None:
    async with s2s_stack(tmp_path, kind, system_prompt="You sell teapots.") as s:
        caller, ok, phone = await s.call()
        await greeted(phone)
        session = s.session
        if isinstance(s.fake, FakeVoiceAgent):
            config = session.config
            assert config["input"]["format"] == {"encoding": "audio/pcmu"}
            assert config["output"]["format"] == {"encoding": "audio/pcmu"}
            assert config["system_prompt"].startswith("You sell teapots.")
            assert config["greeting"] == GREETING
            tools = {tool["name"] for tool in config["tools"]}
            assert session.headers["Authorization"] == "Bearer s2s-test-key"
        else:
            config = session.session
            assert config["audio"]["input"]["format"] == {"type": "audio/pcmu"}
            assert config["audio"]["output"]["format"] == {"type": "audio/pcmu"}
            assert config["instructions"].startswith("You sell teapots.")
            detection = config["audio"]["input"]["turn_detection"]
            assert (detection is None) == (kind == "realtime-local")
            tools = {tool["name"] for tool in config["tools"]}
        assert tools == {
            "get_order_status", "schedule_callback", "take_message", "transfer_to_human",
            "end_call", "who_answered",  # no detection on these agents: it says {"mode": "off"}
        }  # fmt: skip
        await hang_up(caller, phone)


async def test_mulaw_passes_through_untouched_both_ways(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind, fake_options={"keep_audio": True}) as s:
        caller, ok, phone = await s.call()
        await greeted(phone)
        # What the phone heard of the greeting is the fake's audio, byte for byte (the
        # last frame padded with μ-law silence).
        heard = b"".join(h.packet.payload for h in phone.heard if h.loud)
        spoken = s.fake.voice.speak(GREETING)
        assert heard == spoken[: len(heard)] and len(spoken) - len(heard) < 160
        # What the phone said arrived at the service unchanged: a steady tone, every frame
        # alike, reaches it byte for byte (a conversion would change every frame). A frame
        # that came too late for its tick is concealed by the jitter buffer, not passed: on
        # a loaded CI machine 3 of the 20 once were, so 16 whole frames are asked for.
        speech = tone_frames(SPEECH_HZ, 0.4, phase=0.3)
        assert len(speech) == 20 and len(set(speech)) == 1
        phone.say(speech)
        await s.fake.wait_for(lambda: bytes(s.fake._records[-1].audio).count(speech[0]) >= 16, 5)
        await hang_up(caller, phone)


async def test_a_turn_with_a_tool_call_gets_its_result_to_the_model(
    tmp_path: Path, kind: Kind
) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script(
            [
                FakeReply(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
                FakeReply("Your order has shipped and arrives tomorrow."),
            ]
        )
        # the trunk (a source in the allow list) asserts the order owner's number (issue 21)
        caller, ok, phone = await s.call(["P-Asserted-Identity: <tel:+15551234567>"])
        await greeted(phone)
        spoke_at = phone.say(tone_frames(SPEECH_HZ, 0.6))
        reply_at = await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.3)
        assert reply_at > spoke_at
        session = s.session
        if isinstance(s.fake, FakeVoiceAgent):
            (result,) = session.tool_results
            assert session.early_results == []
            output = result["result"]
        else:
            (result,) = session.tool_outputs
            output = result["output"]
        assert "shipped" in output and "DHL" in output  # from the sample orders file
        assert [r.trigger for r in session.replies][-1] == "tool_result" or kind != "voice-agent"
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    record = s.record()
    kinds = [line["type"] for line in record]
    for expected in ("call", "answered", "tool_call", "assistant", "turn_metrics", "end"):
        assert expected in kinds, kinds
    tool = next(line for line in record if line["type"] == "tool_call")
    assert tool["name"] == "get_order_status" and tool["ok"]
    metrics = [line for line in record if line["type"] == "turn_metrics"]
    assert metrics[-1]["end_of_speech_to_first_rtp_ms"] is not None, metrics
    assert metrics[-1]["first_rtp_after_tts_ms"] is not None, metrics


async def test_barge_in_stops_the_audio_and_tells_the_model_what_was_heard(
    tmp_path: Path, kind: Kind
) -> None:
    async with s2s_stack(tmp_path, kind, fake_options={"speed": 1.5}) as s:
        s.fake.script([FakeReply(LONG), FakeReply("Sure, go ahead.")])
        with cycles_left_by_our_code() as leftovers:
            caller, ok, phone = await s.call()
            await greeted(phone)
            phone.say(tone_frames(SPEECH_HZ, 0.6))
            await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.5)
            onset = time.monotonic()
            phone.say(tone_frames(SPEECH_HZ, 1.0))
            await asyncio.sleep(1.5)
            spans = phone.tone_spans(LONG_HZ)
            stopped = spans[-1][1]
            # The agent's audio stopped right after the caller started talking (local
            # VAD: 60 ms, plus the jitter buffer and a tick or two) and never came back.
            assert stopped - onset < 0.3, (onset, spans)
            # the cut reply's frames only: the next reply ("Sure, go ahead.", another tone)
            # may have begun within the 1.5 s (CI once counted 100 ms of it)
            start, end = spans[-1]
            played_ms = round(sum(1 for h in phone.heard if h.loud and start <= h.at <= end) * 20)
            await hang_up(caller, phone)
            await asyncio.sleep(0.3)
        assert leftovers == []
    barge = next(line for line in s.record() if line["type"] == "barge_in")
    assert barge["reaction_ms"] is not None and barge["reaction_ms"] <= 100, barge
    assert LONG.startswith(barge["heard"]), barge
    # The record keeps what the caller heard of the reply (the Voice Agent sends its
    # transcript only when the reply ends, so the barge-in line may not know it yet).
    cut = next(line for line in s.record() if line["type"] == "assistant" and line["interrupted"])
    assert cut["text"] and LONG.startswith(cut["text"]) and len(cut["text"]) < len(LONG) - 20, cut
    session = s.session
    long_reply = next(r for r in session.replies if r.text == LONG)
    if isinstance(s.fake, FakeRealtime):
        # Truncated to what the caller heard: the playout's count of frames sent.
        (truncation,) = session.truncations
        assert abs(truncation["audio_end_ms"] - played_ms) <= 60, (truncation, played_ms)
        assert truncation["audio_end_ms"] < truncation["audio_ms"]
        if kind == "realtime-local":
            assert session.received("response.cancel")
    assert long_reply.status == "interrupted" or kind == "realtime-local"
    if kind == "realtime-local":
        assert long_reply.status == "cancelled"


async def test_transfer_through_the_tool_sends_a_refer_after_the_handoff_line(
    tmp_path: Path, kind: Kind
) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script(
            [
                FakeReply(
                    tool_calls=[
                        FakeToolCall(
                            "transfer_to_human",
                            {"reason": "asked", "summary": "Asked for a person."},
                        )
                    ]
                ),
                FakeReply("Connecting you with a colleague now."),
            ]
        )
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH_HZ, 0.6))
        refer, arrived = await request_from_gateway(caller, "REFER", 12)
        assert refer.headers.get("Refer-To") == f"<{TARGET}>"
        caller.send(make_response(refer, 202).serialize())
        spans = phone.tone_spans(CONNECT_HZ)
        assert len(spans) == 1 and spans[0][1] <= arrived, (spans, arrived)  # heard first
        await asyncio.sleep(0.2)
        await hang_up(caller, phone)
    record = s.record()
    action = next(line for line in record if line["type"] == "action")
    assert action["action"] == "transfer" and action["line"] == "reply", action
    assert any(line["type"] == "transfer" and line["accepted"] for line in record)


async def test_end_call_says_goodbye_and_hangs_up(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script(
            [
                FakeReply(tool_calls=[FakeToolCall("end_call", {"reason": "done"})]),
                FakeReply("Thanks for calling, goodbye!"),
            ]
        )
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH_HZ, 0.6))
        bye, arrived = await request_from_gateway(caller, "BYE", 12)
        caller.send(make_response(bye, 200).serialize())
        spans = phone.tone_spans(GOODBYE_HZ)
        assert len(spans) == 1 and spans[0][1] <= arrived, (spans, arrived)
        await phone.stop_audio()
        await asyncio.sleep(0.2)
    record = s.record()
    assert {"type": "hangup", "by": "agent"} in [
        {"type": r["type"], "by": r.get("by")} for r in record
    ]
    assert record[-1]["type"] == "end" and record[-1]["reason"] == "local-bye"


async def test_keypad_digits_reach_the_model_as_text(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind, dtmf_timeout=0.3) as s:
        s.fake.script([FakeReply("Your order has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        await send_digits(caller, ok, [4, 2, 11])  # 4, 2, #
        await phone.wait_for_tone(REPLY_HZ, within=5)
        session = s.session
        text = "[The caller pressed keypad keys: 4 2 #]"
        if isinstance(s.fake, FakeVoiceAgent):
            (create,) = session.received("reply.create")
            assert text in create["instructions"]
        else:
            assert session.user_texts == [text]
        await hang_up(caller, phone)
    assert {"type": "dtmf", "digits": "42#"} in [
        {"type": r["type"], "digits": r.get("digits")} for r in s.record()
    ]


async def test_a_refused_session_refuses_the_call(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.reject_next(1, 401)
        caller = await s.new_caller()
        caller.send(caller.request("INVITE", caller.sdp()))
        final = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status >= 200)
        assert isinstance(final, SipResponse) and final.status == 503
    record = s.record()
    error = next(line for line in record if line["type"] == "error")
    assert "HTTP 401" in error["error"]


async def test_a_dropped_connection_is_survived(tmp_path: Path, kind: Kind) -> None:
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script([FakeReply("It has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        s.fake.drop_connections()
        if isinstance(s.fake, FakeVoiceAgent):
            await s.fake.wait_for(lambda: bool(s.fake._records[-1].resumed), 5)
        else:
            # A new session: the reply in progress is lost, the caller hears the apology
            # from memory (in the model's voice, made at the start), not silence.
            await phone.wait_for_tone(SORRY_HZ, within=5)
        phone.say(tone_frames(SPEECH_HZ, 0.6))
        await phone.wait_for_tone(REPLY_HZ, within=8)  # and the conversation goes on
        await hang_up(caller, phone)
    kinds = [line["type"] for line in s.record()]
    if kind == "voice-agent":
        assert "s2s_reconnected" in kinds
    else:
        assert "s2s_failed" in kinds and "s2s_recovered" in kinds


async def end_of_turn(phone: Phone, seconds: float = 0.6) -> float:
    """The caller says ``seconds`` of speech; when its last frame was sent. (``say`` gives
    when it plans to send it: a sender late on a loaded machine catches up in a burst and
    ends a frame or more before that, so the gateway's 1.5 s wait from the caller's last
    loud frame looked 1.28 s long from the plan.)"""
    phone.say(tone_frames(SPEECH_HZ, seconds), TURN)
    return phone.sent_at[await phone.wait_said(TURN, within=seconds + 5)]


def loop_stall(phone: Phone, start: float, end: float) -> float:
    """How long the loop stalled between ``start`` and ``end``, as the phone's sender saw it:
    its longest gap between two frames (20 ms apart on time), less 20 ms. The gateway runs
    on the same loop: a stall delays what it does as much. A bound on when the caller hears
    a line is the product's wait plus the audio path; a loaded machine adds its stalls (one
    of 0.7 s just as the reply timeout was due made the apology 3.67 s after the speech), so
    the bound allows the stall the phone measured, which the product did not cause (a gap
    that ends after ``end`` counts up to ``end``: the loop ran the phone's sender again only
    after it had taken the line's first packet)."""
    gaps = [min(b, end) - a for a, b in itertools.pairwise(phone.sent_at) if start <= a <= end]
    return max(0.0, max(gaps, default=0.0) - 0.02)


@pytest.mark.parametrize("before_reply", [False, True], ids=["in-reply", "before-reply"])
async def test_a_reply_the_service_fails_is_followed_by_an_apology(
    tmp_path: Path, kind: Kind, before_reply: bool
) -> None:
    """The Voice Agent fake fails a reply as its documentation allows: a ``session.error``
    and nothing more (after ``reply.started``, or instead of it); the Realtime fake with
    ``response.done`` ``failed``. Either way the caller hears the apology at once."""
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script([FakeReply(error=("server_error", "The model is overloaded"),
                                 error_before_reply=before_reply)])  # fmt: skip
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await end_of_turn(phone)
        sorry = await phone.wait_for_tone(SORRY_HZ, within=5)
        # Not silence: the caller hears why, well within 2 s of the end of their turn.
        assert sorry - said < 2.0 + loop_stall(phone, said, sorry), sorry - said
        await hang_up(caller, phone)
    record = s.record()
    error = next(line for line in record if line["type"] == "error")
    assert "overloaded" in error["error"] or error.get("code") == "server_error", error
    (decision,) = [line for line in record if line["type"] == "failure"]
    # From memory, in the model's voice (the line cache): the model was not asked.
    assert (decision["decision"], decision["source"]) == ("llm_apology", "cache")
    assert not any(reply.instructions for reply in s.session.replies[1:])  # after the greeting


async def test_a_slow_model_is_covered_by_one_moment_within_2s(tmp_path: Path, kind: Kind) -> None:
    """A model 3 s late: the failure policy hears the end of the caller's turn (the
    service's, or our endpointer's), counts the wait from their last loud frame and says
    "one moment" from memory within 2 s; the answer follows (the audit found 4.3 s of
    silence and no decision)."""
    async with s2s_stack(tmp_path, kind) as s:
        s.fake.script([FakeReply("Your order has shipped.", reply_delay=3.0)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await end_of_turn(phone)
        one_moment = await phone.wait_for_tone(ONE_MOMENT_HZ, within=5)
        first = phone.first_heard(said)
        assert first is not None and phone.heard[first].at >= one_moment - 0.05  # nothing before
        assert 1.3 <= one_moment - said <= 2.0 + loop_stall(phone, said, one_moment), (
            one_moment - said
        )
        answer = await phone.wait_for_tone(REPLY_HZ, within=5)
        assert answer - said >= 2.9
        await hang_up(caller, phone)
    decisions = [line["decision"] for line in s.record() if line["type"] == "failure"]
    assert decisions == ["hold_line"]


async def test_a_model_that_never_answers_gets_one_moment_then_the_apology(
    tmp_path: Path, kind: Kind
) -> None:
    """No reply audible within the reply timeout (3 s here) after the caller stopped: the
    stalled reply is given up (cut, so nothing of it plays late) and the apology said,
    counted as an LLM failure (``llm_max_failures`` of them move the call on)."""
    async with s2s_stack(tmp_path, kind, reply_timeout=3.0) as s:
        s.fake.script([FakeReply("Your order has shipped.", reply_delay=30.0)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await end_of_turn(phone)
        one_moment = await phone.wait_for_tone(ONE_MOMENT_HZ, within=5)
        sorry = await phone.wait_for_tone(SORRY_HZ, within=6)
        assert one_moment - said <= 2.0 + loop_stall(phone, said, one_moment), one_moment - said
        assert 2.9 <= sorry - said <= 3.6 + loop_stall(phone, said, sorry), sorry - said
        await hang_up(caller, phone)
    record = s.record()
    decisions = [line["decision"] for line in record if line["type"] == "failure"]
    assert decisions == ["hold_line", "llm_apology"]
    assert any(line["type"] == "error" and "no reply within 3 s" in line["error"]
               for line in record)  # fmt: skip
    if isinstance(s.fake, FakeRealtime):
        assert s.session.received("response.cancel")  # the stalled response was cancelled


async def test_a_quiet_caller_is_checked_on_by_the_model_then_hung_up_on(
    tmp_path: Path, kind: Kind
) -> None:
    check, goodbye = "Are you still there?", "You seem to have stepped away. Goodbye."
    idle = IdleSettings(after=0.8, checks=1, check_line=check, goodbye_line=goodbye)
    async with s2s_stack(tmp_path, kind, idle=idle) as s:
        s.fake.map_text("still there", CHECK_HZ)
        caller, ok, phone = await s.call()
        await greeted(phone)
        bye, arrived = await request_from_gateway(caller, "BYE", 8)  # the caller says nothing
        caller.send(make_response(bye, 200).serialize())
        checks, goodbyes = phone.tone_spans(CHECK_HZ), phone.tone_spans(GOODBYE_HZ)
        greeting = phone.tone_spans(GREETING_HZ)
        assert len(checks) == 1 and len(goodbyes) == 1, (checks, goodbyes)
        # Each comes the idle span after the agent's last audio, and the BYE once the
        # goodbye was heard.
        for before, after in ((greeting[-1], checks[0]), (checks[0], goodbyes[0])):
            assert 0.8 - 0.1 <= after[0] - before[1] <= 0.8 + 0.5, (before, after)
        assert goodbyes[0][1] <= arrived
        asked = [(r.trigger, quoted_line(r.instructions)) for r in s.session.replies]
        assert asked[1:] == [("create", check), ("create", goodbye)], asked
        await phone.stop_audio()
        await asyncio.sleep(0.2)
    record = s.record()
    assert [(r["step"], r.get("number")) for r in record if r["type"] == "idle"] == [
        ("check_in", 1), ("hang_up", None),
    ]  # fmt: skip
    (hangup,) = [r for r in record if r["type"] == "hangup"]
    assert hangup["reason"] == "idle"
    assert record[-1]["type"] == "end" and record[-1]["hung_up_for"] == "idle"
