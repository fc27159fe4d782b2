"""The Voice Agent API client: its messages, the tool-result rule, resume, against the fake."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sipgw.agent.services.assemblyai import voice_agent as assemblyai
from sipgw.agent.services.assemblyai.voice_agent import (
    AssemblyAIVoiceAgent,
    VoiceAgentSettings,
    session_update,
)
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    CallerSpeechStopped,
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
    SessionInterrupted,
    SessionReconnected,
    ToolCallRequested,
    ToolSpec,
)
from sipgw.media.codecs import PCM16_16K, PCM16_24K, ULAW_8K
from tests.agent.s2s.parts import linear_tone
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent
from tests.toolkit.fakes.voice_base import FakeReply

KEY = "aai-key"
TOOL = ToolSpec("get_order_status", "Look up an order.", {"type": "object", "properties": {}})
CONFIG = SessionConfig("Be brief.", "Hi there.", (TOOL,))


def test_settings_refuse_what_the_service_would() -> None:
    with pytest.raises(ValueError, match="voice names are lower case"):
        VoiceAgentSettings(voice="Ivy")
    with pytest.raises(ValueError, match="multiple of 20"):
        VoiceAgentSettings(chunk_ms=50)
    with pytest.raises(ValueError, match="vad_threshold"):
        VoiceAgentSettings(vad_threshold=1.5)


def test_the_session_update_asks_for_mulaw_both_ways() -> None:
    message = session_update(VoiceAgentSettings(voice="claire", vad_threshold=0.6), CONFIG)
    assert message == {
        "type": "session.update",
        "session": {
            "system_prompt": "Be brief.",
            "greeting": "Hi there.",
            "input": {"format": {"encoding": "audio/pcmu"},
                      "turn_detection": {"vad_threshold": 0.6}},
            "output": {"voice": "claire", "format": {"encoding": "audio/pcmu"}},
            "tools": [
                {"type": "function", "name": "get_order_status", "description": "Look up an order.",
                 "parameters": {"type": "object", "properties": {}}}
            ],
        },
    }  # fmt: skip
    quiet = session_update(VoiceAgentSettings(), SessionConfig("p"))["session"]
    assert "greeting" not in quiet and "turn_detection" not in quiet["input"]


class Captured(AssemblyAIVoiceAgent):
    """The client without a connection: what it would send, and what it emits."""

    def __init__(self) -> None:
        super().__init__(VoiceAgentSettings(api_key=KEY))
        self.sent: list[dict[str, Any]] = []
        self.emitted: list[S2sEvent] = []

    def _send(self, message: Any, audio: bool = False) -> None:
        self.sent.append(dict(message))

    def _emit(self, event: S2sEvent) -> None:
        self.emitted.append(event)

    def feed(self, *messages: dict[str, Any]) -> None:
        for message in messages:
            self._dispatch(message, 1.0)


def test_tool_results_wait_until_reply_done_is_the_latest_event() -> None:
    client = Captured()
    client.feed(
        {"type": "reply.started", "reply_id": "r1"},
        {"type": "tool.call", "call_id": "c1", "name": "get_order_status",
         "arguments": {"order_id": "1234"}},
    )  # fmt: skip
    (call,) = [e for e in client.emitted if isinstance(e, ToolCallRequested)]
    assert call == ToolCallRequested("r1", "c1", "get_order_status", '{"order_id": "1234"}')
    client.send_tool_result("c1", '{"status": "shipped"}')
    assert client.sent == []  # the reply is still going on
    client.feed({"type": "reply.done", "reply_id": "r1", "status": "completed"})
    assert client.sent == [
        {"type": "tool.result", "call_id": "c1", "result": '{"status": "shipped"}'}
    ]
    # A result that arrives later, while reply.done is still the latest event, goes at once.
    client.feed({"type": "reply.started", "reply_id": "r2"})
    client.feed({"type": "tool.call", "call_id": "c2", "name": "x", "arguments": {}})
    client.feed({"type": "reply.done", "reply_id": "r2"})
    client.send_tool_result("c2", "{}")
    assert client.sent[-1] == {"type": "tool.result", "call_id": "c2", "result": "{}"}


def test_results_of_an_interrupted_reply_are_dropped() -> None:
    client = Captured()
    client.feed(
        {"type": "reply.started", "reply_id": "r1"},
        {"type": "tool.call", "call_id": "c1", "name": "x", "arguments": {}},
        {"type": "input.speech.started"},
        {"type": "reply.done", "reply_id": "r1", "status": "interrupted"},
    )
    client.send_tool_result("c1", "{}")
    assert client.sent == []
    done = [e for e in client.emitted if isinstance(e, ReplyDone)]
    assert done[0].status == "interrupted"
    assert any(isinstance(e, CallerSpeechStarted) for e in client.emitted)


def test_events_without_a_reply_id_belong_to_the_current_reply() -> None:
    client = Captured()
    client.feed(
        {"type": "reply.audio", "data": "AAE="},  # audio with no reply.started before it
        {"type": "transcript.agent", "text": "Hi."},
        {"type": "reply.done"},
    )
    audio, text, done = client.emitted
    assert isinstance(audio, ReplyAudio) and audio.audio == b"\x00\x01"
    assert isinstance(text, ReplyText) and text.reply_id == audio.reply_id and text.final
    assert isinstance(done, ReplyDone) and done.reply_id == audio.reply_id


def test_a_session_error_during_a_reply_fails_that_reply() -> None:
    """The events reference (https://www.assemblyai.com/docs/voice-agents/voice-agent-api/
    events-reference; docs/cloud-apis.md, "AssemblyAI Voice Agent API") documents
    ``reply.done`` with ``completed`` or ``interrupted`` only: a reply that fails is a
    ``session.error`` between its ``reply.started`` and its end, and nothing says a
    ``reply.done`` follows. The reply ends ``failed`` at the error; whatever of it comes
    later (audio, tool calls, a ``reply.done``) is dropped."""
    client = Captured()
    client.feed(
        {"type": "input.speech.stopped"},
        {"type": "reply.started", "reply_id": "r1"},
        {"type": "reply.audio", "reply_id": "r1", "data": "AAE="},
        {"type": "session.error", "code": "server_error", "message": "model overloaded"},
        {"type": "reply.audio", "reply_id": "r1", "data": "AAE="},
        {"type": "tool.call", "reply_id": "r1", "call_id": "c1", "name": "x", "arguments": {}},
        {"type": "reply.done", "reply_id": "r1", "status": "completed"},
    )
    kinds = [type(e).__name__ for e in client.emitted]
    assert kinds == ["CallerSpeechStopped", "CallerTurnOver", "ReplyStarted", "ReplyAudio",
                     "ReplyDone"]  # fmt: skip
    done = client.emitted[-1]
    assert done == ReplyDone("r1", "failed", 1.0, "server_error: model overloaded")
    assert client.stats.errors == {"server_error": 1}


def test_a_session_error_after_the_callers_turn_loses_the_reply() -> None:
    """After ``input.speech.stopped`` (or our ``reply.create``) and before any
    ``reply.started``, an error means the reply the caller waits for will not come."""
    client = Captured()
    client.feed(
        {"type": "input.speech.stopped"},
        {"type": "session.error", "error": {"code": "x", "message": "gone"}},
    )
    assert client.emitted[-1] == ServiceError("x", "gone", reply_lost=True)
    client.request_reply("say hi")
    client.feed({"type": "session.error", "code": "y", "message": "again"})
    assert client.emitted[-1] == ServiceError("y", "again", reply_lost=True)
    # Nobody waits (the reply came, or the caller speaks again): only counted.
    client.feed({"type": "session.error", "code": "z", "message": "later"})
    client.feed({"type": "input.speech.stopped"}, {"type": "input.speech.started"},
                {"type": "session.error", "code": "w", "message": "while talking"})  # fmt: skip
    assert [e.reply_lost for e in client.emitted if isinstance(e, ServiceError)] == [
        True, True, False, False]  # fmt: skip
    assert isinstance(client.emitted[0], CallerSpeechStopped)
    assert any(isinstance(e, CallerTurnOver) for e in client.emitted)


def test_reply_create_and_mid_session_updates() -> None:
    client = Captured()
    client.request_reply()
    client.request_reply("Say goodbye.")
    client.add_caller_text("[The caller pressed keypad keys: 1]")
    client.update_instructions("New prompt.")
    assert client.sent == [
        {"type": "reply.create"},
        {"type": "reply.create", "instructions": "Say goodbye."},
        {"type": "reply.create",
         "instructions": "The caller's side reports: [The caller pressed keypad keys: 1] "
                         "Respond to that."},
        {"type": "session.update", "session": {"system_prompt": "New prompt."}},
    ]  # fmt: skip


# -- against the fake ---------------------------------------------------------------


async def collect(client: AssemblyAIVoiceAgent, until: type, within: float = 5.0) -> list[S2sEvent]:
    events: list[S2sEvent] = []
    async with asyncio.timeout(within):
        async for event in client.events():
            events.append(event)
            if isinstance(event, until):
                break
    return events


async def test_a_session_opens_greets_and_ends_cleanly() -> None:
    async with FakeVoiceAgent(KEY, speed=None) as fake:
        client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY, url=fake.url))
        await client.connect(CONFIG)
        events = await collect(client, ReplyDone)
        assert isinstance(events[0], ReplyStarted)
        assert b"".join(e.audio for e in events if isinstance(e, ReplyAudio)) == (
            fake.voice.speak("Hi there.")
        )
        await client.close()
        await fake.wait_for(lambda: fake.sessions[0].ended)
        record = fake.sessions[0]
        assert record.headers["Authorization"] == f"Bearer {KEY}"
        assert [m["type"] for m in record.messages] == ["session.update", "session.end"]
        assert client.session_id == record.session_id


async def test_a_session_the_service_refuses_raises_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeVoiceAgent(KEY) as fake:
        settings = VoiceAgentSettings(api_key=KEY, url=fake.url)
        bad = session_update(settings, CONFIG)
        bad["session"]["output"]["voice"] = "Ivy"  # our settings refuse it; the service too
        monkeypatch.setattr(assemblyai, "session_update", lambda *_: bad)
        with pytest.raises(S2sConnectError, match="invalid_value") as refused:
            await AssemblyAIVoiceAgent(settings).connect(CONFIG)
        assert refused.value.code == "invalid_value"
        fake.reject_next(1, 401)
        with pytest.raises(S2sConnectError, match="HTTP 401") as rejected:
            await AssemblyAIVoiceAgent(settings).connect(CONFIG)
        assert rejected.value.status == 401


async def test_a_dropped_connection_resumes_the_same_session() -> None:
    async with FakeVoiceAgent(KEY, speed=None) as fake:
        client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY, url=fake.url))
        await client.connect(SessionConfig("p"))
        fake.drop_connections()
        interrupted, event = await collect(client, SessionReconnected)
        assert isinstance(interrupted, SessionInterrupted)  # said at once: the caller waits
        assert isinstance(event, SessionReconnected) and event.outage_seconds < 2
        record = fake.sessions[0]
        assert record.resumed == 1 and len(fake.sessions) == 1
        assert record.messages[-1] == {"type": "session.resume", "session_id": record.session_id}
        assert client.stats.reconnects == 1
        await client.close()


async def test_a_session_that_expired_fails() -> None:
    async with FakeVoiceAgent(KEY, resume_window=0.0) as fake:
        client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY, url=fake.url))
        await client.connect(SessionConfig("p"))
        fake.drop_connections()
        interrupted, event = await collect(client, SessionFailed)
        assert isinstance(interrupted, SessionInterrupted)
        assert isinstance(event, SessionFailed) and "session_not_found" in event.reason
        await client.close()


async def test_tools_are_declared_again_mid_session() -> None:
    async with FakeVoiceAgent(KEY, speed=None) as fake:
        client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY, url=fake.url))
        await client.connect(SessionConfig("p", "", (TOOL,)))
        client.update_tools(())
        await fake.wait_for(lambda: len(fake.sessions[0].messages) == 2, 5)
        assert fake.sessions[0].messages[-1] == {"type": "session.update",
                                                 "session": {"tools": []}}  # fmt: skip
        await fake.wait_for(lambda: fake.sessions[0].config.get("tools") == [], 5)
        assert client.stats.errors == {}
        await client.close()


# -- HD-voice calls: 24 kHz linear audio --------------------------------------------


def test_an_hd_call_s_session_update_asks_for_24_khz_pcm_both_ways() -> None:
    session = session_update(VoiceAgentSettings(), CONFIG, PCM16_24K)["session"]
    assert session["input"]["format"] == {"encoding": "audio/pcm", "sample_rate": 24000}
    assert session["output"]["format"] == {"encoding": "audio/pcm"}
    narrow = session_update(VoiceAgentSettings(), CONFIG, ULAW_8K)["session"]
    assert narrow["input"]["format"] == narrow["output"]["format"] == {"encoding": "audio/pcmu"}
    client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY))
    with pytest.raises(ValueError, match="does not carry"):
        client.use_audio_format(PCM16_16K)  # the API's linear audio is 24 kHz only


async def test_a_24_khz_session_hears_and_speaks_linear_audio_through_the_fake() -> None:
    async with FakeVoiceAgent(KEY, speed=None, keep_audio=True) as fake:
        fake.script([FakeReply("Your order has shipped.")])
        client = AssemblyAIVoiceAgent(VoiceAgentSettings(api_key=KEY, url=fake.url))
        client.use_audio_format(PCM16_24K)
        await client.connect(CONFIG)
        greeting = await collect(client, ReplyDone)
        audio = b"".join(e.audio for e in greeting if isinstance(e, ReplyAudio))
        assert audio == fake.voice.speak("Hi there.", linear=True)
        assert len(audio) % 48 == 0 and len(audio) // 48 >= 200  # 48 octets a millisecond
        speech = linear_tone(300, 600) + bytes(48 * 900)
        for offset in range(0, len(speech), 960):  # 20 ms frames of 24 kHz s16le
            client.send_audio(speech[offset : offset + 960])
        answer = await collect(client, ReplyDone)
        assert any(isinstance(e, CallerSpeechStarted) for e in answer)
        reply = b"".join(e.audio for e in answer if isinstance(e, ReplyAudio))
        assert reply == fake.voice.speak("Your order has shipped.", linear=True)
        assert client.stats.audio_in_seconds == pytest.approx(1.5, abs=0.02)
        assert fake.sessions[0].audio == speech[: len(fake.sessions[0].audio)]
        await client.close()
