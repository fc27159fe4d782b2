"""The assistant agent end to end in-process: the real gateway and production clients,
the three cloud services replaced by their fakes on real loopback sockets, and a
scripted phone sending and receiving real RTP, all on the test's virtual clock
(:mod:`tests.toolkit.virtual_time`): time moves only while the loop waits, so a busy or
stalled machine changes no verdict, and every bound is the product's rule.

The fake TTS speaks a pure tone per utterance (``map_text``), so what the phone
hears tells which reply played, when, and when it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.assemblyai import BYTES_PER_MS, FakeAssemblyAI, FakeSession
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall
from sipgw.app.evaluation.phone import Phone, sdp_audio_port
from sipgw.app.security.access import AccessConfig
from sipgw.media import g711
from sipgw.sip.message import SipRequest, SipResponse, make_response
from tests.agent.gateway_stack import GatewayStack, send_digits
from tests.refcycles import cycles_left_by_our_code
from tests.toolkit.canaries import ASSEMBLYAI_KEY, ELEVENLABS_KEY, OPENAI_KEY
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.virtual_time import virtual_time

pytestmark = pytest.mark.timeout(60)

GREETING_HZ, REPLY_HZ, LONG_HZ, GOODBYE_HZ, FALLBACK_HZ, SORRY_HZ = 500, 700, 900, 1100, 1300, 1500
SPEECH = 300  # the caller "speaks" a 300 Hz tone
ONE_MOMENT_HZ = 1900
SAID = 1
"""The tag of the caller's speech in :func:`say`."""


@dataclass
class Stack(GatewayStack):
    stt: FakeAssemblyAI
    llm: FakeOpenAI
    tts: FakeElevenLabs


def assistant(tmp_path: Path, **env: str) -> AbstractAsyncContextManager[Stack]:
    """The gateway with the assistant and the fake services (``env``: more settings)."""
    return assistant_behind(tmp_path, None, env)


@asynccontextmanager
async def assistant_behind(
    tmp_path: Path, access: AccessConfig | None, env: Mapping[str, str]
) -> AsyncIterator[Stack]:
    """:func:`assistant` with who may call it (default: the loopback network), on a virtual
    clock."""
    with virtual_time():
        async with _assistant_behind(tmp_path, access, env) as stack:
            yield stack


@asynccontextmanager
async def _assistant_behind(
    tmp_path: Path, access: AccessConfig | None, env: Mapping[str, str]
) -> AsyncIterator[Stack]:
    stt = await FakeAssemblyAI(api_key=ASSEMBLYAI_KEY).start()
    llm = FakeOpenAI(api_key=OPENAI_KEY)
    await llm.start()
    tts = FakeElevenLabs(api_key=ELEVENLABS_KEY, ms_per_char=20, speed=4.0)
    await tts.start()
    tts.map_text("Hi there", GREETING_HZ)
    tts.map_text("shipped", REPLY_HZ)
    tts.map_text("story", LONG_HZ)
    tts.map_text("goodbye", GOODBYE_HZ)
    tts.map_text("having trouble", FALLBACK_HZ)
    tts.map_text("sorry", SORRY_HZ)
    tts.map_text("One moment, please", ONE_MOMENT_HZ)  # a fallback line, made at the start
    environment = {
        "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
        "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": llm.base_url,
        "ELEVENLABS_API_KEY": ELEVENLABS_KEY, "ELEVENLABS_BASE_URL": tts.base_url,
        "SIPGW_GREETING": "Hi there.", "SIPGW_CALL_RECORD_DIR": str(tmp_path / "calls"),
        "SIPGW_CALLBACK_DB": str(tmp_path / "callbacks.sqlite3"),
        "SIPGW_TRANSFER_TARGET": "sip:human@127.0.0.1:5999",
        "SIPGW_VOICE_DETECTOR": "energy",  # the caller "speaks" a tone: no voice to a speech model
        **env,
    }  # fmt: skip
    try:
        async with running_gateway(agent="assistant", env=environment, access=access) as (
            gateway,
            new_caller,
        ):
            yield Stack(gateway, new_caller, tmp_path / "calls", stt, llm, tts)
    finally:
        await asyncio.gather(stt.aclose(), llm.aclose(), tts.aclose())


async def greeted(phone: Phone) -> None:
    """Wait until the greeting has been heard in full (a bound, not a figure: a loaded
    machine starts the gateway's first call slowly)."""
    await phone.wait_for_tone(GREETING_HZ, within=10)
    await phone.wait_until_quiet(0.1, hz=GREETING_HZ)


async def hang_up(caller: Phone, phone: Phone) -> None:
    await phone.stop_audio()
    await caller.bye()


async def test_greeting_plays_right_after_the_answer(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        caller = await s.new_caller()
        caller.send(caller.request("INVITE", caller.sdp()))
        await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 180)
        ok = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 200)
        answered = time.monotonic()
        # The STT session and the TTS socket were opened while it rang.
        assert len(s.stt.sessions) == 1 and s.tts.contexts
        caller.to_tag = ok.to.tag
        caller.send(caller.request("ACK"))
        assert isinstance(ok, SipResponse)
        phone = caller.start_audio(("127.0.0.1", sdp_audio_port(ok)))
        first = await phone.wait_for_tone(GREETING_HZ, within=3)
        assert first - answered < 0.02  # pre-synthesized while ringing: its first frame at once
        await phone.wait_until_quiet(0.1, hz=GREETING_HZ)
        # The talkspurt fast path sent the greeting's first frame before its tick, and the
        # stream stayed continuous: one SSRC, sequence +1 and timestamp +160 every packet.
        assert s.gateway.counters().early_sends >= 1
        packets = [h.packet for h in phone.heard]
        assert len({p.ssrc for p in packets}) == 1
        for a, b in zip(packets, packets[1:], strict=False):
            assert (b.sequence_number - a.sequence_number) % 65536 == 1
            assert (b.timestamp - a.timestamp) % 2**32 == 160
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
        assert s.stt.sessions[0].sent_of_type("Termination")  # Terminate sent on hang-up


async def test_turn_with_tool_call_gets_a_spoken_reply(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Where is my order 1234?"])
        s.llm.script(
            [
                FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
                FakeResponse(text="Your order has shipped and arrives tomorrow."),
            ]
        )
        # the trunk (a source in the allow list) asserts the order owner's number
        caller, ok, phone = await s.call(["P-Asserted-Identity: <tel:+15551234567>"])
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.3)
        first, second = s.llm.requests[:2]
        assert first.body["messages"][-1] == {"role": "user", "content": "Where is my order 1234?"}
        assert first.body["messages"][1]["content"] == "Hi there."  # the greeting is history
        tool_message = second.body["messages"][-1]
        assert tool_message["role"] == "tool" and "shipped" in tool_message["content"]
        assert "DHL" in tool_message["content"]  # from the sample orders file
        # 100 ms chunks while talking or idle, 50 ms right after the caller stopped.
        assert {800, 400} <= set(s.stt.sessions[0].chunk_sizes)
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    kinds = [r["type"] for r in record]
    for kind in ("call", "answered", "user", "tool_call", "assistant", "turn_metrics", "end"):
        assert kind in kinds, kinds
    metrics = next(r for r in record if r["type"] == "turn_metrics")
    for key in ("stt_end_of_turn_ms", "llm_first_token_ms", "tts_first_byte_ms",
                "end_of_speech_to_first_rtp_ms"):  # fmt: skip
        assert metrics[key] is not None and metrics[key] >= 0, metrics
    assert record[-1]["type"] == "end" and record[-1]["reason"] == "remote-bye"
    quality = record[-3]  # the media's figures, then the talk figures, then the end
    assert quality["type"] == "quality" and quality["packets_expected"] > 50, quality
    assert quality["packets_lost"] == 0 and quality["rtt_ms"] is None, quality  # no RTCP here
    assert 4.0 < quality["mos"] <= 4.5, quality
    assert record[-2]["type"] == "talk" and record[-2]["caller_cut_off"] == 0, record[-2]


LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3


async def test_barge_in_stops_the_agent_and_keeps_only_what_was_heard(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        with cycles_left_by_our_code() as leftovers:
            await barge_in_call(s)
    # The call, its agent and its cancelled reply were freed when it ended, without
    # waiting for a garbage collection.
    assert leftovers == []
    barge = next(r for r in s.record() if r["type"] == "barge_in")
    # paused once the detector heard its start_ms (60) of speech, a frame at most later
    assert barge["reaction_ms"] is not None and 60 <= barge["reaction_ms"] <= 60 + 20
    assert barge["heard"] and LONG.startswith(barge["heard"])


def level(phone: Phone, start: float, end: float) -> float:
    """The loudest packet's level (dBFS) the phone received from ``start`` to ``end``."""
    return max(g711.rms_dbfs(h.packet.payload) for h in phone.heard if start <= h.at <= end)


async def barge_in_call(s: Stack) -> None:
    """Greeting, a long reply, the caller talks over it, then hangs up."""
    s.stt.script(["Tell me about shipping.", "Stop, I have a question."])
    s.llm.script([FakeResponse(text=LONG), FakeResponse(text="Sure, go ahead.")])
    caller, ok, phone = await s.call()
    await greeted(phone)
    phone.say(tone_frames(SPEECH, 0.6))
    await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.5)
    onset = time.monotonic()
    phone.say(tone_frames(SPEECH, 1.2))
    await asyncio.sleep(1.6)
    spans = phone.tone_spans(LONG_HZ)
    # The agent's audio stopped soon after the caller started talking (VAD: 60 ms,
    # plus the jitter buffer and a tick or two); undecided 200 ms later, it played on
    # ducked, at least 10 dB softer, until the barge-in committed (600 ms of speech: the
    # fake transcriber sends no partial), and never came back.
    assert spans[0][1] - onset < 0.3, (onset, spans)
    full = level(phone, *spans[0])
    assert len(spans) > 1 and all(level(phone, *span) < full - 10 for span in spans[1:]), spans
    assert spans[-1][1] - onset < 0.6 + 0.3, (onset, spans)
    await s.llm.wait_for_request(2, within=5)
    history = s.llm.requests[1].body["messages"]
    interrupted = next(
        m for m in history if m["role"] == "assistant" and "story" in (m.get("content") or "")
    )
    assert interrupted["content"].endswith("…")
    assert len(interrupted["content"]) < len(LONG.strip())
    assert history[-1] == {"role": "user", "content": "Stop, I have a question."}
    await hang_up(caller, phone)
    await asyncio.sleep(0.3)


async def test_a_short_mm_hm_does_not_cut_the_agent_off(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Tell me about shipping.", "Mm-hmm."])
        s.llm.script([FakeResponse(text=LONG)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.5)
        phone.say(tone_frames(SPEECH, 0.2))
        await phone.wait_until_quiet(1.0, hz=LONG_HZ)  # until the reply has played out
        spans = phone.tone_spans(LONG_HZ)
        heard = sum(end - start for start, end in spans)
        # Paused for the "mm-hm" (a gap in the tone), then the rest of the reply played.
        expected = len(LONG.strip()) * 0.020
        assert len(spans) >= 2, spans
        assert heard > 0.9 * expected, (heard, expected)
        assert len(s.llm.requests) == 1  # no new turn for the backchannel
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    kinds = [r["type"] for r in s.record()]
    assert "barge_in" not in kinds
    # Paused, then (still undecided after 200 ms) ducked until the speech ended.
    assert "barge_in_ducked" in kinds and "backchannel" in kinds


async def test_end_call_says_goodbye_then_hangs_up(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["That's all, thanks."])
        s.llm.script(
            [
                FakeResponse(tool_calls=[FakeToolCall("end_call", {"reason": "caller is done"})]),
                FakeResponse(text="Thanks for calling, goodbye!"),
            ]
        )
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        bye = await caller.answer_bye(within=10)
        bye_at = time.monotonic()
        assert bye.method == "BYE"
        spans = phone.tone_spans(GOODBYE_HZ)
        assert spans and spans[-1][1] <= bye_at  # the goodbye was spoken before the BYE
        await phone.stop_audio()


async def test_drain_limit_speaks_the_goodbye_line_then_bye(tmp_path: Path) -> None:
    """Gateway.drain at its limit: the assistant speaks SIPGW_DRAIN_GOODBYE (the default
    line ends in "Goodbye": the fake TTS's goodbye tone), drain() returns once it has
    played out, and stop()'s BYE comes after it."""
    async with assistant(tmp_path) as s:
        caller, ok, phone = await s.call()
        await greeted(phone)
        assert not phone.tone_spans(GOODBYE_HZ)
        drained = await s.gateway.drain(0.2, asyncio.Event())
        drained_at = time.monotonic()
        assert drained == 1
        runs = phone.tone_runs(GOODBYE_HZ)
        assert sum(audio for _, _, audio in runs) >= 0.5, runs  # the whole line, not a blip
        assert drained_at - runs[-1][1] < 0.5  # drain returned once it had played
        stopping = asyncio.ensure_future(s.gateway.stop())
        bye = await caller.answer_bye(within=5)
        assert bye.method == "BYE" and time.monotonic() >= runs[-1][1]
        await stopping
        await phone.stop_audio()
        goodbye = [line for line in s.record() if line["type"] == "goodbye"]
        assert goodbye and goodbye[0]["text"].endswith("Goodbye.")


async def say(phone: Phone, frames: list[bytes]) -> float:
    """The caller says ``frames``; when the last one was sent. (``Phone.say`` returns when it
    plans to send it: a sender behind its 20 ms deadlines on a loaded machine catches up in a
    burst and ends before that, and the gateway's 1.5 s wait for "one moment", counted from
    the caller's last loud frame, looked 1.39 s long from the plan.)"""
    phone.say(frames, SAID)
    return phone.sent_at[await phone.wait_said(SAID, within=len(frames) * 0.020 + 5)]


async def test_llm_timeout_speaks_the_fallback_phrase(tmp_path: Path) -> None:
    async with assistant(tmp_path, OPENAI_FIRST_TOKEN_TIMEOUT="0.5") as s:
        s.stt.script(["Hello?"])
        s.llm.script([FakeResponse(text="too late", first_chunk_delay=10)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await say(phone, tone_frames(SPEECH, 0.5))
        heard = await phone.wait_for_tone(FALLBACK_HZ, within=5)
        # the turn ends 100 ms into the pause (the fake STT), then the 0.5 s first-token timeout
        assert heard - said == pytest.approx(0.1 + 0.5, abs=0.02)
        await hang_up(caller, phone)


async def answer_after(tmp_path: Path, greeting: str, answer: str) -> tuple[float, str]:
    """The caller says a short ``answer`` (0.4 s of speech) after the opening line
    ``greeting``: when the reply is heard after the caller's last frame, and the turn the
    LLM was asked to answer. The service ends turns only after 1 s of silence, so an end
    sooner is the gateway's early end (``words`` mode, the default)."""
    env = {"ASSEMBLYAI_MIN_TURN_SILENCE": "1000", "ASSEMBLYAI_MAX_TURN_SILENCE": "1000",
           "SIPGW_GREETING": greeting}  # fmt: skip
    async with assistant(tmp_path, **env) as s:
        s.stt.script([answer])
        s.llm.script([FakeResponse(text="Thanks, your order has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await say(phone, tone_frames(SPEECH, 0.4))
        reply = await phone.wait_for_tone(REPLY_HZ, within=5)
        await hang_up(caller, phone)
    turn = s.llm.requests[0].body["messages"][-1]["content"]
    return reply - said, turn


async def test_a_short_answer_to_the_greetings_question_is_answered_at_the_early_end(
    tmp_path: Path,
) -> None:
    """ "Did you get our text?" -> "Yes I did.": the words answer the question, so the final
    forced 200 ms into the pause is answered at once; after a line that asks nothing the
    same words wait for the 1 s hold ("yes I did | not get it" goes on)."""
    asked, turn = await answer_after(
        tmp_path / "a", "Hi there. Did you get our text?", "Yes I did."
    )
    assert turn == "Yes I did."
    told, turn = await answer_after(
        tmp_path / "b", "Hi there. Your order is on its way.", "Yes I did."
    )
    assert turn == "Yes I did."
    assert told == pytest.approx(1.0, abs=0.02), told  # held: the STT's 1 s of quiet
    assert asked == pytest.approx(0.2, abs=0.02), asked  # the early end's 200 ms


async def test_a_name_said_alone_after_a_line_that_asks_nothing_is_answered_at_the_early_end(
    tmp_path: Path,
) -> None:
    """ "Tomasz." after "Your order is on its way.": a name said alone is a whole turn
    without a question too, answered 200 ms into the pause, not after the 1 s hold."""
    told, turn = await answer_after(tmp_path, "Hi there. Your order is on its way.", "Tomasz.")
    assert turn == "Tomasz."
    assert told == pytest.approx(0.2, abs=0.02), told  # the early end; the hold would be 1 s


async def test_a_stalled_llm_after_a_slow_end_of_turn_says_one_moment_within_2s(
    tmp_path: Path,
) -> None:
    """u3-rt-pro ends a turn without a sentence end only after ``max_turn_silence``
    (1000 ms, its default: docs/cloud-apis.md): the failure policy's wait counts from
    the caller's last speech, so "one moment" comes within 2 s of it, not 1.5 s after the
    late end of turn (2.5 s); the gateway's early end is off (it would end it at 200 ms)."""
    env = {"ASSEMBLYAI_MIN_TURN_SILENCE": "1000", "ASSEMBLYAI_MAX_TURN_SILENCE": "1000",
           "SIPGW_EARLY_TURN_END": "off"}  # fmt: skip
    async with assistant(tmp_path, **env) as s:
        s.stt.script(["Where is my order"])  # no sentence end: the turn ends at 1000 ms
        s.llm.script([FakeResponse(text="Your order has shipped.", first_chunk_delay=2.5)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        said = await say(phone, tone_frames(SPEECH, 0.6))
        one_moment = await phone.wait_for_tone(ONE_MOMENT_HZ, within=5)
        first = phone.first_heard(said)
        assert first is not None and phone.heard[first].at >= one_moment - 0.05
        # the failure policy's 1.5 s from the caller's last speech, within a frame
        assert one_moment - said == pytest.approx(1.5, abs=0.02), one_moment - said
        await phone.wait_for_tone(REPLY_HZ, within=5)  # then the answer
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    # The turn ended late: after max_turn_silence of the stream's silence, counted in the
    # STT's own clock (the audio it had received when it sent the final). The gateway's
    # stt_end_of_turn_ms is loop time from the tick that took the caller's last loud frame:
    # a loop stalled 250 ms just after that frame made it 770 ms (845 in a whole run), the
    # stream's silence still 1000 ms.
    assert stream_silence_before_final_ms(s.stt.sessions[-1]) >= 1000
    record = s.record()
    metrics = next(line for line in record if line["type"] == "turn_metrics")
    assert metrics["stt_end_of_turn_ms"] > 0, metrics
    assert [line["decision"] for line in record if line["type"] == "failure"] == ["hold_line"]


def stream_silence_before_final_ms(session: FakeSession) -> int:
    """The audio stream's ms between the end of the final turn's last word and the final:
    what the fake STT had received when it sent it, less where its words ended."""
    index, final = next(
        (i, m) for i, m in enumerate(session.sent) if m.get("type") == "Turn" and m["end_of_turn"]
    )
    received = sum(
        size
        for size, at in zip(session.chunk_sizes, session.chunk_arrived_at, strict=True)
        if at <= session.sent_at[index]
    )
    return received // BYTES_PER_MS - int(final["words"][-1]["end"])


async def test_stt_disconnect_mid_call_is_survived(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Where is my order 1234?"])
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        s.stt.drop_connections()
        phone.say(tone_frames(SPEECH, 0.8))  # spoken during the outage / right after it
        await phone.wait_for_tone(REPLY_HZ, within=10, min_seconds=0.2)
        assert len(s.stt.sessions) >= 2
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    assert any(r["type"] == "stt_reconnected" for r in s.record())


async def test_dtmf_reaches_the_llm_as_text(tmp_path: Path) -> None:
    async with assistant(tmp_path, SIPGW_DTMF_TIMEOUT_MS="300") as s:
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        caller, ok, phone = await s.call()
        await greeted(phone)
        await send_digits(caller, ok, [4, 2, 11])  # 4, 2, #
        request = await s.llm.wait_for_request(1, within=5)
        assert request.body["messages"][-1]["content"] == "[The caller pressed keypad keys: 4 2 #]"
        await phone.wait_for_tone(REPLY_HZ, within=5)
        await hang_up(caller, phone)


async def transfer_call(s: Stack, respond: int) -> tuple[Phone, SipResponse, Phone, SipRequest]:
    s.stt.script(["Can I talk to a person?"])
    transfer = FakeToolCall(
        "transfer_to_human", {"reason": "asked", "summary": "Asked for a person."}
    )
    s.llm.script([FakeResponse(tool_calls=[transfer])])
    caller, ok, phone = await s.call()
    await greeted(phone)
    phone.say(tone_frames(SPEECH, 0.6))
    refer = await caller.expect(lambda m: isinstance(m, SipRequest) and m.method == "REFER", 8)
    assert isinstance(refer, SipRequest)
    assert refer.headers.get("Refer-To") == "<sip:human@127.0.0.1:5999>"
    caller.send(make_response(refer, respond).serialize())
    return caller, ok, phone, refer


async def test_transfer_to_human_sends_refer_and_hangs_up_when_connected(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.llm.responder = lambda body: FakeResponse(text="Transferring you now.")
        caller, ok, phone, refer = await transfer_call(s, 202)
        caller.cseq += 1
        notify = caller.request("NOTIFY", cseq=caller.cseq)
        body = "SIP/2.0 200 OK\r\n"
        notify = notify.replace(b"Content-Length: 0\r\n\r\n", (
            "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
            f"Content-Type: message/sipfrag\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode())  # fmt: skip
        caller.send(notify)
        await caller.answer_bye(within=5)
        await phone.stop_audio()
    assert any(r["type"] == "transfer" and r["accepted"] for r in s.record())


async def test_rejected_transfer_is_told_and_the_call_goes_on(tmp_path: Path) -> None:
    def respond(body: dict[str, Any]) -> FakeResponse:
        if "[The transfer was" in str(body["messages"][-1].get("content")):
            return FakeResponse(text="Sorry, nobody can take the call now.")
        return FakeResponse(text="Transferring you now.")

    async with assistant(tmp_path) as s:
        s.llm.responder = respond
        caller, ok, phone, refer = await transfer_call(s, 603)
        await phone.wait_for_tone(SORRY_HZ, within=5)
        told = s.llm.requests[-1].body["messages"][-1]
        assert told["role"] == "user" and "not accepted" in told["content"]
        await asyncio.sleep(0.5)
        assert not any(isinstance(m, SipRequest) and m.method == "BYE" for m in caller.received)
        await hang_up(caller, phone)


async def test_a_pause_no_speech_confirms_resumes_by_itself(tmp_path: Path) -> None:
    async with assistant(tmp_path) as s:
        s.stt.script(["Tell me about shipping."])
        s.llm.script([FakeResponse(text=LONG)])
        caller, ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.6))
        await phone.wait_for_tone(LONG_HZ, within=8, min_seconds=1.6)  # past STT_SPEECH_ECHO
        # The STT thinks someone started talking; the phone sends only silence.
        s.stt.inject({"type": "SpeechStarted", "timestamp": 99_000, "confidence": 0.9})
        await phone.wait_until_quiet(1.5, hz=LONG_HZ, within=15)
        spans = phone.tone_spans(LONG_HZ)
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
        assert gaps and max(gaps) < 1.0, spans  # paused, then resumed (0.5 s watchdog)
        heard = sum(end - start for start, end in spans)
        assert heard > 0.9 * len(LONG.strip()) * 0.020
        await hang_up(caller, phone)
