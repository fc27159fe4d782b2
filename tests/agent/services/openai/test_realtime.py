"""The Realtime API client: URL, configuration, responses, truncation and tools."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import pytest

from sipgw.agent.services.openai.realtime import (
    NoiseReduction,
    OpenAIRealtime,
    RealtimeSettings,
    realtime_url,
    session_update,
)
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    CallerTranscript,
    CallerTurnOver,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ReplyText,
    S2sConnectError,
    S2sEvent,
    ServiceError,
    SessionConfig,
    SessionFailed,
    ToolCallRequested,
    ToolSpec,
)
from sipgw.media.codecs import PCM16_24K
from tests.agent.s2s.parts import linear_tone
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_base import FakeReply, FakeToolCall

KEY = "sk-rt"
TOOL = ToolSpec("end_call", "End the call.", {"type": "object", "properties": {}})


def test_the_url_is_built_as_the_sdk_builds_it() -> None:
    assert realtime_url(RealtimeSettings(model="m1")) == (
        "wss://api.openai.com/v1/realtime?model=m1"
    )
    assert realtime_url(RealtimeSettings(base_url="http://127.0.0.1:9/v1/", model="m")) == (
        "ws://127.0.0.1:9/v1/realtime?model=m"
    )
    with pytest.raises(ValueError, match="must be http"):
        RealtimeSettings(base_url="ftp://x/v1")
    with pytest.raises(ValueError, match="turn_detection"):
        RealtimeSettings(turn_detection="vad")  # type: ignore[arg-type]


def test_the_session_update_for_each_turn_detection() -> None:
    config = SessionConfig("Be brief.", tools=(TOOL,))
    server = session_update(RealtimeSettings(silence_ms=600, vad_threshold=0.7), config)
    session = server["session"]
    assert session["type"] == "realtime" and session["instructions"] == "Be brief."
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "marin"}
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "create_response": True, "interrupt_response": True,
        "silence_duration_ms": 600, "threshold": 0.7,
    }  # fmt: skip
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert session["tools"] == [
        {"type": "function", "name": "end_call", "description": "End the call.",
         "parameters": {"type": "object", "properties": {}}}
    ]  # fmt: skip
    semantic = session_update(RealtimeSettings(turn_detection="semantic_vad", eagerness="low"),
                              config)["session"]  # fmt: skip
    assert semantic["audio"]["input"]["turn_detection"]["eagerness"] == "low"
    local = session_update(RealtimeSettings(turn_detection="local", transcription_model=""),
                           config)["session"]  # fmt: skip
    assert local["audio"]["input"]["turn_detection"] is None
    assert "transcription" not in local["audio"]["input"]
    assert "noise_reduction" not in local["audio"]["input"]  # not asked for: not sent


@pytest.mark.parametrize("kind", ["near_field", "far_field"])
def test_the_api_s_own_noise_reduction_when_asked_for(kind: NoiseReduction) -> None:
    update = session_update(RealtimeSettings(noise_reduction=kind), SessionConfig("Hi."))
    assert update["session"]["audio"]["input"]["noise_reduction"] == {"type": kind}
    with pytest.raises(ValueError, match="noise_reduction"):
        RealtimeSettings(noise_reduction=cast(NoiseReduction, "on"))


class Captured(OpenAIRealtime):
    """The client without a connection: what it would send, and what it emits."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(RealtimeSettings(api_key=KEY, **settings))
        self.sent: list[dict[str, Any]] = []
        self.emitted: list[S2sEvent] = []

    def _send(self, message: Any, audio: bool = False) -> None:
        self.sent.append(dict(message))

    def _emit(self, event: S2sEvent) -> None:
        self.emitted.append(event)

    @property
    def connected(self) -> bool:
        return True

    def feed(self, *messages: dict[str, Any]) -> None:
        for message in messages:
            self._dispatch(message, 1.0)

    def sent_types(self) -> list[str]:
        return [m["type"] for m in self.sent]


def audio_delta(response: str, item: str, ms: int) -> dict[str, Any]:
    delta = base64.b64encode(bytes(8 * ms)).decode()
    return {"type": "response.output_audio.delta", "response_id": response, "item_id": item,
            "delta": delta}  # fmt: skip


def done(response: str, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"type": "response.done", "response": {"id": response, "status": status, **extra}}


def test_a_response_becomes_reply_events_and_its_tools_come_from_response_done() -> None:
    client = Captured()
    call = {"type": "function_call", "call_id": "c1", "name": "end_call", "arguments": "{}",
            "status": "completed"}  # fmt: skip
    client.feed(
        {"type": "response.created", "response": {"id": "r1"}},
        audio_delta("r1", "i1", 100),
        {"type": "response.output_audio_transcript.delta", "response_id": "r1", "delta": "Bye"},
        # Also sent for cancelled responses: not what dispatches a call.
        {"type": "response.function_call_arguments.done", "response_id": "r1", "call_id": "c1",
         "name": "end_call", "arguments": "{}"},
        done("r1", output=[call]),
    )  # fmt: skip
    started, audio, text, tool, finished = client.emitted
    assert started == ReplyStarted("r1", 1.0)
    assert isinstance(audio, ReplyAudio) and len(audio.audio) == 800
    assert text == ReplyText("r1", "Bye")
    assert tool == ToolCallRequested("r1", "c1", "end_call", "{}")
    assert finished == ReplyDone("r1", "completed", 1.0, "")
    client.send_tool_result("c1", '{"ok": true}')
    assert client.sent == [
        {"type": "conversation.item.create",
         "item": {"type": "function_call_output", "call_id": "c1", "output": '{"ok": true}'}},
        {"type": "response.create"},  # all its calls answered: the model goes on
    ]  # fmt: skip


def test_calls_of_a_cancelled_response_are_not_dispatched() -> None:
    client = Captured()
    call = {"type": "function_call", "call_id": "c1", "name": "end_call", "arguments": "{",
            "status": "incomplete"}  # fmt: skip
    client.feed({"type": "response.created", "response": {"id": "r1"}},
                done("r1", "cancelled", output=[call],
                     status_details={"type": "cancelled", "reason": "turn_detected"}))  # fmt: skip
    assert not any(isinstance(e, ToolCallRequested) for e in client.emitted)
    assert client.emitted[-1] == ReplyDone("r1", "interrupted", 1.0, "")


def test_a_barge_in_cancels_and_truncates_to_what_was_heard() -> None:
    client = Captured(turn_detection="local")
    client.feed({"type": "response.created", "response": {"id": "r1"}},
                audio_delta("r1", "i1", 300), audio_delta("r1", "i1", 200))  # fmt: skip
    client.cancel_reply("r1", played_ms=240)
    assert client.sent == [
        {"type": "response.cancel", "response_id": "r1"},
        {"type": "conversation.item.truncate", "item_id": "i1", "content_index": 0,
         "audio_end_ms": 240},
    ]  # fmt: skip


def test_the_server_cancels_its_own_response_and_never_more_than_was_received() -> None:
    client = Captured()  # server VAD: speech_started cancels the response in progress
    client.feed({"type": "response.created", "response": {"id": "r1"}},
                audio_delta("r1", "i1", 300),
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": 10})  # fmt: skip
    assert isinstance(client.emitted[-1], CallerSpeechStarted)
    client.cancel_reply("r1", played_ms=900)  # cannot exceed the audio received
    assert client.sent == [
        {"type": "conversation.item.truncate", "item_id": "i1", "content_index": 0,
         "audio_end_ms": 300}
    ]  # fmt: skip


def test_a_reply_heard_to_its_end_is_not_truncated() -> None:
    client = Captured()
    client.feed({"type": "response.created", "response": {"id": "r1"}},
                audio_delta("r1", "i1", 300), done("r1"))  # fmt: skip
    client.cancel_reply("r1", played_ms=300)
    client.cancel_reply("unknown", played_ms=10)
    assert client.sent == []


def test_replies_asked_for_during_a_response_wait_for_its_end() -> None:
    client = Captured(turn_detection="local")
    client.end_turn()
    assert client.sent_types() == ["input_audio_buffer.commit", "response.create"]
    client.request_reply("Say hi.")  # one is in progress: this one waits
    client.add_caller_text("[The caller pressed keypad keys: 1]")
    assert client.sent_types()[2:] == ["conversation.item.create"]
    client.feed({"type": "response.created", "response": {"id": "r1"}}, done("r1"))
    assert client.sent[3] == {"type": "response.create", "response": {"instructions": "Say hi."}}
    client.feed({"type": "response.created", "response": {"id": "r2"}}, done("r2"))
    assert client.sent[4] == {"type": "response.create"}


def test_a_refused_response_create_does_not_block_later_ones() -> None:
    client = Captured()
    client.request_reply()
    client.feed({"type": "error", "error": {"type": "invalid_request_error",
                                            "code": "conversation_already_has_active_response",
                                            "message": "busy"}})  # fmt: skip
    assert client.emitted == [
        ServiceError("conversation_already_has_active_response", "busy", status=400)
    ]
    client.request_reply()
    assert client.sent_types() == ["response.create", "response.create"]


def test_errors_transcripts_and_the_end_of_a_turn() -> None:
    """``input_audio_buffer.committed`` is the server's end of the caller's turn (with
    semantic VAD possibly well after ``speech_stopped``): the failure policy's wait."""
    client = Captured()
    client.feed(
        {"type": "error", "error": {"type": "invalid_request_error",
                                    "code": "response_cancel_not_active", "message": "none"}},
        {"type": "error", "error": {"type": "server_error", "message": "boom"}},
        {"type": "input_audio_buffer.committed", "item_id": "item_1"},
        {"type": "conversation.item.input_audio_transcription.completed", "transcript": " Hi. "},
    )  # fmt: skip
    assert client.emitted == [ServiceError("server_error", "boom"), CallerTurnOver(1.0),
                              CallerTranscript("Hi.")]  # fmt: skip
    assert client.stats.errors == {"response_cancel_not_active": 1, "server_error": 1}


# -- against the fake ---------------------------------------------------------------


async def test_a_session_opens_configured_and_greets() -> None:
    async with FakeRealtime(KEY, speed=None) as fake:
        settings = RealtimeSettings(api_key=KEY, base_url=fake.base_url, model="gpt-test")
        client = OpenAIRealtime(settings)
        await client.connect(SessionConfig("Be brief.", "Hi there.", (TOOL,)))
        events: list[S2sEvent] = []
        async with asyncio.timeout(5):
            async for event in client.events():
                events.append(event)
                if isinstance(event, ReplyDone):
                    break
        audio = b"".join(e.audio for e in events if isinstance(e, ReplyAudio))
        assert audio == fake.voice.speak("Hi there.")
        record = fake.sessions[0]
        assert record.model == "gpt-test"
        assert record.headers["Authorization"] == f"Bearer {KEY}"
        assert record.session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        (create,) = record.received("response.create")
        assert '"Hi there."' in create["response"]["instructions"]
        await client.close()


async def test_a_session_the_service_refuses_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeRealtime(KEY) as fake:
        settings = RealtimeSettings(api_key=KEY, base_url=fake.base_url)
        bad = session_update(settings, SessionConfig("p"))
        bad["session"]["audio"]["output"]["format"] = {"type": "audio/opus"}
        monkeypatch.setattr("sipgw.agent.services.openai.realtime.session_update", lambda *_: bad)
        with pytest.raises(S2sConnectError, match="invalid_value") as refused:
            await OpenAIRealtime(settings).connect(SessionConfig("p"))
        assert refused.value.code == "invalid_value"
        fake.reject_next(1, 401)
        with pytest.raises(S2sConnectError, match="HTTP 401"):
            await OpenAIRealtime(RealtimeSettings(api_key="wrong",
                                                  base_url=fake.base_url)).connect(
                SessionConfig("p"))  # fmt: skip


async def test_tools_round_trip_through_the_fake_and_a_dropped_socket_fails() -> None:
    async with FakeRealtime(KEY, speed=None) as fake:
        fake.script([FakeReply(tool_calls=[FakeToolCall("end_call", {"reason": "x"})]),
                     FakeReply("Goodbye.")])  # fmt: skip
        client = OpenAIRealtime(RealtimeSettings(api_key=KEY, base_url=fake.base_url))
        await client.connect(SessionConfig("p", tools=(TOOL,)))
        client.request_reply()
        async with asyncio.timeout(5):
            async for event in client.events():
                if isinstance(event, ToolCallRequested):
                    client.send_tool_result(event.call_id, '{"ok": true}')
                if isinstance(event, ReplyDone) and event.status == "completed":
                    if fake.sessions[0].replies[-1].text == "Goodbye.":
                        break
        record = fake.sessions[0]
        assert [o["output"] for o in record.tool_outputs] == ['{"ok": true}']
        assert record.errors == []
        fake.drop_connections()
        async with asyncio.timeout(5):
            failures = [e async for e in client.events() if isinstance(e, SessionFailed)]
        assert failures  # the Realtime API has no resume
        await client.close()


async def test_tools_are_declared_again_mid_session_and_the_session_id_kept() -> None:
    async with FakeRealtime(KEY, speed=None) as fake:
        settings = RealtimeSettings(api_key=KEY, base_url=fake.base_url, model="gpt-test")
        client = OpenAIRealtime(settings)
        await client.connect(SessionConfig("Be brief.", "", (TOOL,)))
        assert client.session_id is not None and client.session_id.startswith("sess_")
        other = ToolSpec("mcp__lookup", "Look it up.", {"type": "object", "properties": {}})
        client.update_tools((other,))
        await fake.wait_for(
            lambda: (
                [t["name"] for t in fake.sessions[0].session.get("tools", ())] == ["mcp__lookup"]
            ),
            5,
        )
        (update,) = fake.sessions[0].received("session.update")[1:]
        assert update["session"] == {"type": "realtime", "tools": [
            {"type": "function", "name": "mcp__lookup", "description": "Look it up.",
             "parameters": {"type": "object", "properties": {}}}]}  # fmt: skip
        assert client.stats.errors == {}
        await client.close()


def test_a_filler_is_a_marked_response_and_the_result_s_reply_waits_for_its_end() -> None:
    client = Captured()
    call = {"type": "function_call", "call_id": "c1", "name": "end_call", "arguments": "{}",
            "status": "completed"}  # fmt: skip
    client.feed({"type": "response.created", "response": {"id": "r1"}}, done("r1", output=[call]))
    assert client.request_filler("One moment.")
    assert client.sent == [{"type": "response.create", "response": {
        "instructions": 'A tool you called is still running. Say exactly these words to the '
                        'caller and nothing else: "One moment."',
        "tool_choice": "none", "metadata": {"sipgw": "filler"}}}]  # fmt: skip
    assert not client.request_filler("Again.")  # one response at a time
    client.feed({"type": "response.created",
                 "response": {"id": "f1", "metadata": {"sipgw": "filler"}}})  # fmt: skip
    assert client.emitted[-1] == ReplyStarted("f1", 1.0, filler=True)
    client.send_tool_result("c1", "{}")  # the filler does not answer it: asked for after it
    assert client.sent_types() == ["response.create", "conversation.item.create"]
    client.feed(audio_delta("f1", "i1", 200), done("f1"))
    assert client.sent[-1] == {"type": "response.create"}
    client.feed({"type": "response.created", "response": {"id": "r2", "metadata": None}})
    assert client.emitted[-1] == ReplyStarted("r2", 1.0)
    client.cancel_reply("f1", played_ms=120)  # the answer came: the filler cut where it was
    assert client.sent[-1] == {"type": "conversation.item.truncate", "item_id": "i1",
                               "content_index": 0, "audio_end_ms": 120}  # fmt: skip


async def test_the_fake_echoes_a_filler_s_metadata_and_calls_no_tool_for_it() -> None:
    async with FakeRealtime(KEY, speed=None) as fake:
        fake.script([FakeReply(tool_calls=[FakeToolCall("end_call", {"reason": "x"})])])
        client = OpenAIRealtime(RealtimeSettings(api_key=KEY, base_url=fake.base_url))
        await client.connect(SessionConfig("p", tools=(TOOL,)))
        client.request_reply()
        started: list[ReplyStarted] = []
        async with asyncio.timeout(5):
            async for event in client.events():
                if isinstance(event, ToolCallRequested):
                    assert client.request_filler("Just a second.")
                if isinstance(event, ReplyStarted):
                    started.append(event)
                if isinstance(event, ReplyDone) and len(started) == 2:
                    break
        assert [s.filler for s in started] == [False, True]
        spoken = fake.sessions[0].replies[-1]
        assert (spoken.text, spoken.tool_calls) == ("Just a second.", [])
        assert fake.sessions[0].errors == []
        await client.close()


# -- HD-voice calls: 24 kHz linear audio --------------------------------------------

PCM = {"type": "audio/pcm", "rate": 24000}


def test_an_hd_call_s_session_update_asks_for_24_khz_pcm_both_ways() -> None:
    config = SessionConfig("Be brief.")
    audio = session_update(RealtimeSettings(), config, PCM16_24K)["session"]["audio"]
    assert audio["input"]["format"] == audio["output"]["format"] == PCM
    narrow = session_update(RealtimeSettings(), config)["session"]["audio"]
    assert narrow["input"]["format"] == narrow["output"]["format"] == {"type": "audio/pcmu"}


def test_a_24_khz_session_counts_milliseconds_at_48_octets() -> None:
    """What was heard of a cut reply (``audio_end_ms``) is in milliseconds whatever the
    format: 300 ms of 24 kHz audio is 14400 octets, and no more than that is truncated."""
    client = Captured(turn_detection="local")
    client.use_audio_format(PCM16_24K)
    delta = base64.b64encode(bytes(48 * 300)).decode()
    client.feed({"type": "response.created", "response": {"id": "r1"}},
                {"type": "response.output_audio.delta", "response_id": "r1", "item_id": "i1",
                 "delta": delta})  # fmt: skip
    client.cancel_reply("r1", played_ms=240)
    assert client.sent[-1]["audio_end_ms"] == 240
    client.feed({"type": "response.created", "response": {"id": "r2"}},
                {"type": "response.output_audio.delta", "response_id": "r2", "item_id": "i2",
                 "delta": delta})  # fmt: skip
    client.cancel_reply("r2", played_ms=900)
    assert client.sent[-1]["audio_end_ms"] == 300
    assert client.stats.audio_out_seconds == pytest.approx(0.6)


async def test_a_24_khz_session_hears_and_speaks_linear_audio_through_the_fake() -> None:
    async with FakeRealtime(KEY, speed=None, keep_audio=True) as fake:
        fake.script([FakeReply("Your order has shipped.")])
        client = OpenAIRealtime(RealtimeSettings(api_key=KEY, base_url=fake.base_url))
        client.use_audio_format(PCM16_24K)
        await client.connect(SessionConfig("Be brief.", "Hi there."))
        record = fake.sessions[0]
        assert record.session["audio"]["input"]["format"] == PCM
        assert record.session["audio"]["output"]["format"] == PCM
        greeting = await until_done(client)
        audio = b"".join(e.audio for e in greeting if isinstance(e, ReplyAudio))
        assert audio == fake.voice.speak("Hi there.", linear=True)
        speech = linear_tone(300, 600) + bytes(48 * 900)
        for offset in range(0, len(speech), 960):  # 20 ms frames of 24 kHz s16le
            client.send_audio(speech[offset : offset + 960])
        answer = await until_done(client)
        assert any(isinstance(e, CallerSpeechStarted) for e in answer)  # the server VAD heard it
        reply = b"".join(e.audio for e in answer if isinstance(e, ReplyAudio))
        assert reply == fake.voice.speak("Your order has shipped.", linear=True)
        assert client.stats.audio_in_seconds == pytest.approx(1.5, abs=0.02)
        await client.close()


async def test_the_fake_refuses_a_pcm_rate_the_api_does_not_have(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeRealtime(KEY) as fake:
        settings = RealtimeSettings(api_key=KEY, base_url=fake.base_url)
        bad = session_update(settings, SessionConfig("p"), PCM16_24K)
        bad["session"]["audio"]["input"]["format"] = {"type": "audio/pcm", "rate": 16000}
        monkeypatch.setattr("sipgw.agent.services.openai.realtime.session_update", lambda *_: bad)
        with pytest.raises(S2sConnectError, match="invalid_value"):
            await OpenAIRealtime(settings).connect(SessionConfig("p"))


async def until_done(client: OpenAIRealtime) -> list[S2sEvent]:
    events: list[S2sEvent] = []
    async with asyncio.timeout(5):
        async for event in client.events():
            events.append(event)
            if isinstance(event, ReplyDone):
                return events
    return events
