"""ElevenLabs TTS client against the loopback fake, over real sockets, both transports.

The client under test is the production code, configured only through ``base_url``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
import websockets

from sipgw.agent.services.elevenlabs.tts import (
    ElevenLabsSettings,
    ElevenLabsTTSService,
    _parse_alignment,
)
from sipgw.agent.services.tts.base import (
    TtsAlignment,
    TtsAudio,
    TtsConnectError,
    TtsError,
    TtsReply,
)
from sipgw.app.evaluation.audio import goertzel_dbfs, rms_dbfs
from sipgw.app.evaluation.fakes.elevenlabs import (
    DEFAULT_TONES,
    FakeElevenLabs,
    synth_tone,
    tone_duration_ms,
)
from sipgw.app.evaluation.ports import free_port
from sipgw.media.codecs import PCM16_16K, ULAW_8K

pytestmark = pytest.mark.timeout(20)

TRANSPORTS = ["websocket", "http"]
VOICE = "voice-123"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def make_fake() -> AsyncIterator[Callable[..., Awaitable[FakeElevenLabs]]]:
    fakes: list[FakeElevenLabs] = []

    async def make(**kwargs: Any) -> FakeElevenLabs:
        kwargs.setdefault("speed", None)  # as fast as possible unless a test paces
        fake = FakeElevenLabs(**kwargs)
        await fake.start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        await fake.aclose()


@pytest.fixture
async def make_tts() -> AsyncIterator[Callable[..., ElevenLabsTTSService]]:
    services: list[ElevenLabsTTSService] = []

    def make(fake: FakeElevenLabs, **kwargs: Any) -> ElevenLabsTTSService:
        kwargs.setdefault("api_key", fake.api_key)
        kwargs.setdefault("voice_id", VOICE)
        kwargs.setdefault("base_url", fake.base_url)
        service = ElevenLabsTTSService(ElevenLabsSettings(**kwargs))
        services.append(service)
        return service

    yield make
    for service in services:
        await service.close()


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    yield
    # Fixtures finalize in reverse order, so services and fakes are closed by now.
    me = asyncio.current_task()
    for _ in range(50):
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not left:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"tasks left running: {left}")


async def collect(reply: TtsReply) -> list[TtsAudio]:
    return [piece async for piece in reply.audio()]


async def speak(tts: ElevenLabsTTSService, *sentences: str) -> tuple[TtsReply, bytes]:
    reply = tts.start_reply()
    for sentence in sentences:
        await reply.send_text(sentence)
    await reply.finish()
    pieces = await collect(reply)
    return reply, b"".join(p.audio for p in pieces)


def expected_audio(freq: float, *sentences: str) -> bytes:
    return b"".join(synth_tone(freq, tone_duration_ms(s)) for s in sentences)


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll state that the fake or the client updates (neither exposes an event for it)."""
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110 - polling on purpose, see docstring
            await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- settings


def test_urls_are_derived_from_base_url() -> None:
    s = ElevenLabsSettings(api_key="k", voice_id="v 1", language_code="de")
    assert s.ws_url() == (
        "wss://api.elevenlabs.io/v1/text-to-speech/v%201/multi-stream-input"
        "?model_id=eleven_flash_v2_5&output_format=ulaw_8000&inactivity_timeout=180"
        "&auto_mode=true&language_code=de"
    )
    manual = ElevenLabsSettings(api_key="k", voice_id="v", auto_mode=False)
    assert "auto_mode" not in manual.ws_url()
    assert "apply_text_normalization" not in manual.ws_url()
    spelled = ElevenLabsSettings(api_key="k", voice_id="v", text_normalization="on")
    assert spelled.ws_url().endswith("&apply_text_normalization=on")
    assert s.keepalive_seconds() == 90 and manual.keepalive_seconds() == 90
    assert (
        ElevenLabsSettings(api_key="k", voice_id="v", keepalive_interval=0).keepalive_seconds() == 0
    )
    eu = ElevenLabsSettings(
        api_key="k", voice_id="v", base_url="https://api.eu.residency.elevenlabs.io"
    )
    assert eu.ws_url().startswith("wss://api.eu.residency.elevenlabs.io/v1/")
    local = ElevenLabsSettings(api_key="k", voice_id="v", base_url="http://127.0.0.1:9/")
    assert local.ws_url().startswith("ws://127.0.0.1:9/v1/text-to-speech/v/multi-stream-input?")
    assert local.http_base() == "http://127.0.0.1:9"
    bad_values: tuple[dict[str, Any], ...] = (
        {"transport": "grpc"}, {"inactivity_timeout": 181}, {"base_url": "ftp://x"},
        {"keepalive_interval": -1}, {"text_normalization": "yes"},
    )  # fmt: skip
    for bad in bad_values:
        with pytest.raises(ValueError):
            ElevenLabsSettings(api_key="k", voice_id="v", **bad)


def test_the_output_format_is_one_a_call_can_play() -> None:
    """μ-law for G.711 calls, 16 kHz PCM for HD-voice ones; anything else (an mp3) is
    refused when the settings are made, naming it and the two."""
    narrow = ElevenLabsSettings(api_key="k", voice_id="v")
    assert narrow.audio_format == ULAW_8K and "output_format=ulaw_8000" in narrow.ws_url()
    wide = ElevenLabsSettings(api_key="k", voice_id="v", output_format="pcm_16000")
    assert wide.audio_format == PCM16_16K and "output_format=pcm_16000" in wide.ws_url()
    with pytest.raises(ValueError, match="ulaw_8000, pcm_16000, not 'mp3_44100_128'"):
        ElevenLabsSettings(api_key="k", voice_id="v", output_format="mp3_44100_128")


# --------------------------------------------------------------------------- WebSocket wire format


async def test_ws_wire_format_and_byte_exact_audio(make_fake, make_tts) -> None:
    fake = await make_fake()
    tts = make_tts(
        fake,
        voice_settings={"stability": 0.5, "similarity_boost": 0.75, "use_speaker_boost": True},
        chunk_length_schedule=(50, 90),
        language_code="en",
    )
    await tts.connect()
    assert tts.connected
    (handshake,) = fake.requests
    assert handshake.method == "GET"
    assert handshake.path == f"/v1/text-to-speech/{VOICE}/multi-stream-input"
    assert handshake.query == {
        "model_id": "eleven_flash_v2_5",
        "output_format": "ulaw_8000",
        "inactivity_timeout": "180",
        "auto_mode": "true",  # whole sentences are sent: the docs' recommendation
        "language_code": "en",
    }
    assert handshake.headers["xi-api-key"] == fake.api_key
    await asyncio.sleep(0.05)
    assert fake.sockets[0].messages == []  # connecting opens no context and bills nothing

    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    reply, audio = await speak(tts, "Hello there.", "  How are you?  ")
    assert reply.id == "r1"
    assert fake.sockets[0].messages == [
        {
            "text": " ",
            "context_id": "r1",
            "voice_settings": {
                "stability": 0.5,
                "similarity_boost": 0.75,
                "use_speaker_boost": True,
            },
            "generation_config": {"chunk_length_schedule": [50, 90]},
        },
        {"text": "Hello there. ", "context_id": "r1", "flush": True},
        {"text": "How are you? ", "context_id": "r1", "flush": True},
        {"context_id": "r1", "close_context": True},
    ]
    ctx = fake.context("r1")
    assert [u.text for u in ctx.utterances] == ["Hello there. ", "How are you? "]
    assert audio == ctx.audio == expected_audio(DEFAULT_TONES[0], "Hello there.", "How are you?")
    assert ctx.final_sent
    assert reply.first_audio_at is not None and reply.first_audio_at >= sent_at
    assert reply.done


@pytest.mark.parametrize(
    ("final_key", "durations_key"),
    [("isFinal", "charDurationsMs"), ("is_final", "charsDurationsMs")],
)
async def test_ws_accepts_both_spellings_and_reads_alignment(
    make_fake, make_tts, final_key: str, durations_key: str
) -> None:
    fake = await make_fake(final_key=final_key, durations_key=durations_key, chunk_bytes=(200, 400))
    tts = make_tts(fake)
    reply = tts.start_reply()
    await reply.send_text("Good morning.")
    await reply.send_text("Bye now.")
    await reply.finish()
    pieces = await collect(reply)
    assert len(pieces) > 2
    assert "".join(p.text or "" for p in pieces) == "Good morning. Bye now. "
    total_ms = sum(sum(p.alignment.durations_ms) for p in pieces if p.alignment)
    expected_ms = tone_duration_ms("Good morning.") + tone_duration_ms("Bye now.")
    assert abs(total_ms - expected_ms) < 2 * len("Good morning. Bye now. ")
    assert b"".join(p.audio for p in pieces) == fake.context("r1").audio


async def test_ws_without_alignment_gives_no_text(make_fake, make_tts) -> None:
    fake = await make_fake(alignment=False)
    tts = make_tts(fake)
    reply = tts.start_reply()
    await reply.send_text("No timing here.")
    await reply.finish()
    pieces = await collect(reply)
    assert pieces and all(p.text is None and p.alignment is None for p in pieces)


async def test_ws_two_replies_at_once_are_demultiplexed(make_fake, make_tts) -> None:
    fake = await make_fake(speed=20.0, chunk_bytes=(100, 300))
    tts = make_tts(fake)
    first, second = tts.start_reply(), tts.start_reply()
    await first.send_text("The first reply is somewhat longer.")
    await second.send_text("Second reply.")
    await first.finish()
    await second.finish()
    a, b = await asyncio.gather(collect(first), collect(second))
    assert b"".join(p.audio for p in a) == expected_audio(
        440, "The first reply is somewhat longer."
    )
    assert b"".join(p.audio for p in b) == expected_audio(550, "Second reply.")
    assert len(fake.sockets) == 1


async def test_map_text_pins_a_tone(make_fake, make_tts) -> None:
    fake = await make_fake()
    fake.map_text("goodbye", 1200)
    tts = make_tts(fake)
    _, audio = await speak(tts, "Thanks, GOODBYE.")
    assert audio == expected_audio(1200, "Thanks, GOODBYE.")
    _, audio = await speak(tts, "Next one.")
    assert audio == expected_audio(DEFAULT_TONES[1], "Next one.")


# --------------------------------------------------------------------------- HTTP wire format


async def test_http_wire_format_and_byte_exact_audio(make_fake, make_tts) -> None:
    fake = await make_fake()
    tts = make_tts(
        fake,
        transport="http",
        voice_settings={"stability": 0.4},
        language_code="en",
        text_normalization="off",
    )
    await tts.connect()
    assert tts.connected
    assert fake.requests == []  # no request before the first sentence
    sentences = ["Hello caller.", "Your order shipped.", "Anything else?"]
    reply, audio = await speak(tts, *sentences)
    posts = fake.stream_requests
    assert len(posts) == 3
    for request in posts:
        assert request.path == f"/v1/text-to-speech/{VOICE}/stream"
        assert request.query == {"output_format": "ulaw_8000"}
        assert request.headers["xi-api-key"] == fake.api_key
        assert request.headers["content-type"] == "application/json"
        assert request.completed
    bodies = sorted((r.body for r in posts), key=lambda b: sentences.index(b["text"]))
    assert bodies == [
        {
            "text": "Hello caller.",
            "model_id": "eleven_flash_v2_5",
            "voice_settings": {"stability": 0.4},
            "language_code": "en",
            "apply_text_normalization": "off",
        },
        {
            "text": "Your order shipped.",
            "model_id": "eleven_flash_v2_5",
            "voice_settings": {"stability": 0.4},
            "previous_text": "Hello caller.",
            "language_code": "en",
            "apply_text_normalization": "off",
        },
        {
            "text": "Anything else?",
            "model_id": "eleven_flash_v2_5",
            "voice_settings": {"stability": 0.4},
            "previous_text": "Hello caller. Your order shipped.",
            "language_code": "en",
            "apply_text_normalization": "off",
        },
    ]
    assert audio == expected_audio(DEFAULT_TONES[0], *sentences)
    assert reply.first_audio_at is not None


async def test_http_pipelined_sentences_come_out_in_order(make_fake, make_tts) -> None:
    # Sentence 1 streams slowly; sentence 2 is short and finishes first on the wire.
    fake = await make_fake(speed=8.0, chunk_bytes=(400, 400))
    tts = make_tts(fake, transport="http", http_max_parallel=2)
    long = "This first sentence is deliberately rather long to stream slowly."
    reply = tts.start_reply()
    await reply.send_text(long)
    await reply.send_text("Short.")
    await reply.send_text("Third.")
    await reply.finish()
    pieces = await collect(reply)
    audio = b"".join(p.audio for p in pieces)
    assert audio == expected_audio(DEFAULT_TONES[0], long, "Short.", "Third.")
    by_text = {r.body["text"]: r for r in fake.stream_requests}
    first, second, third = by_text[long], by_text["Short."], by_text["Third."]
    assert second.received_at < first.finished_at  # pipelined
    assert second.finished_at < first.finished_at  # ... and overtook sentence 1
    assert third.received_at >= first.finished_at  # at most 2 in flight


# --------------------------------------------------------------------------- cancel (barge-in)


async def test_ws_cancel_drops_late_audio_and_socket_is_reused(make_fake, make_tts) -> None:
    fake = await make_fake(speed=4.0, chunk_bytes=(300, 300))
    tts = make_tts(fake)
    reply = tts.start_reply()
    await reply.send_text("This reply will be interrupted by the caller quite soon.")
    stream = reply.audio()
    first = await anext(stream)
    assert first.audio
    await reply.cancel()
    await reply.cancel()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 0.01)  # stops at once, even with audio queued
    ctx = fake.context("r1")
    await wait_until(lambda: ctx.final_sent)
    close_messages = [m for m in fake.sockets[0].messages if m.get("close_context")]
    assert close_messages == [{"context_id": "r1", "close_context": True}]  # sent once
    late = ctx.utterances[0].chunks_after_close
    assert late > 0  # the fake kept flushing after close_context (spec behaviour) ...
    await wait_until(lambda: reply.dropped_chunks >= late)  # ... and the client dropped it

    _, audio = await speak(tts, "Sure, go ahead.")
    assert audio == expected_audio(DEFAULT_TONES[1], "Sure, go ahead.")
    assert len(fake.sockets) == 1


async def test_http_cancel_closes_the_stream(make_fake, make_tts) -> None:
    fake = await make_fake(speed=4.0, chunk_bytes=(300, 300))
    tts = make_tts(fake, transport="http")
    reply = tts.start_reply()
    await reply.send_text("This reply will be interrupted by the caller quite soon.")
    await reply.send_text("And this sentence is pipelined behind it.")
    stream = reply.audio()
    await anext(stream)
    await reply.cancel()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 0.01)
    await wait_until(lambda: all(r.finished_at is not None for r in fake.stream_requests))
    assert all(r.aborted and not r.completed for r in fake.stream_requests)

    _, audio = await speak(tts, "Sure, go ahead.")
    assert audio == expected_audio(DEFAULT_TONES[1], "Sure, go ahead.")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel_before_any_text_sends_nothing(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake()
    tts = make_tts(fake, transport=transport)
    await tts.connect()
    reply = tts.start_reply()
    await reply.cancel()
    await reply.send_text("Too late.")  # ignored
    await reply.finish()
    assert await collect(reply) == []
    assert reply.cancelled
    assert fake.stream_requests == []
    assert all(s.messages == [] for s in fake.sockets)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_finish_without_text_ends_at_once(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake()
    tts = make_tts(fake, transport=transport)
    reply = tts.start_reply()
    await reply.finish()
    assert await collect(reply) == []
    with pytest.raises(TtsError):
        await reply.send_text("after finish")


# --------------------------------------------------------------------------- context limit


async def test_ws_seven_sequential_replies_never_exceed_five_contexts(make_fake, make_tts) -> None:
    fake = await make_fake(speed=6.0, chunk_bytes=(300, 300))
    tts = make_tts(fake)
    for n in range(7):
        reply = tts.start_reply()
        await reply.send_text(f"Reply number {n} talks for a while before it is cut off.")
        if n % 3 == 2:  # every third reply plays to the end
            await reply.finish()
            await collect(reply)
        else:  # the others are barged in on after their first chunk
            await anext(reply.audio())
            await reply.cancel()
        assert reply.first_audio_at is not None
    assert fake.peak_open_contexts <= 5
    assert [c.context_id for c in fake.contexts] == [f"r{n}" for n in range(1, 8)]
    assert not any(m.get("error") for s in fake.sockets for m in s.sent)


@pytest.mark.parametrize(("wait", "sockets"), [(2.0, 1), (0.0, 2)])
async def test_ws_barge_in_storm_waits_for_a_slot_or_moves_socket(
    make_fake, make_tts, wait: float, sockets: int
) -> None:
    """Six replies cancelled in a row leave five contexts draining on the server.

    The seventh waits for one to drain; with no patience it moves to a fresh socket
    (only cancelled contexts are lost with the old one). Each cancelled context drains
    for about 1.5 s (0.5 s of audio at six times real time, then a final sent a second
    later), so the six cancellations need not fit in half a second on a loaded machine
    (they did not once: the peak was 4).
    """
    fake = await make_fake(speed=6.0, chunk_bytes=(300, 300), final_delay=1.0)
    tts = make_tts(fake, context_wait_timeout=wait)
    loop = asyncio.get_running_loop()
    took = []
    for n in range(7):
        reply = tts.start_reply()
        start = loop.time()
        await reply.send_text(f"Reply number {n} talks for a while before it is cut off.")
        took.append(loop.time() - start)
        if n < 6:
            await anext(reply.audio())
            await reply.cancel()
    await reply.finish()
    audio = b"".join(p.audio for p in await collect(reply))
    assert audio == fake.context("r7").audio and audio
    assert fake.peak_open_contexts == 5
    assert len(fake.sockets) == sockets and tts.reconnects == sockets - 1
    if sockets == 1:
        assert took[5] > 0.05  # r6 waited for a cancelled context to drain
    assert not any(m.get("error") for s in fake.sockets for m in s.sent)


async def test_ws_max_active_conversations_error(make_fake, make_tts) -> None:
    fake = await make_fake(max_contexts=2, speed=2.0)
    tts = make_tts(fake)  # believes the server allows 5
    replies = [tts.start_reply() for _ in range(3)]
    for reply in replies[:2]:
        await reply.send_text("A reply that keeps its context open.")
    await replies[2].send_text("One too many.")
    for reply in replies:
        with pytest.raises(TtsError) as caught:
            await collect(reply)
        assert caught.value.error == "max_active_conversations"
        assert "Maximum simultaneous contexts" in str(caught.value)
    assert fake.sockets[0].close_code == 1008
    with pytest.raises(TtsError):
        await replies[0].send_text("The failed reply cannot continue.")
    _, audio = await speak(tts, "Fresh start.")  # reconnects
    assert audio == fake.context("r4").audio
    assert len(fake.sockets) == 2 and tts.reconnects == 1


async def test_ws_too_many_live_replies_is_refused_locally(make_fake, make_tts) -> None:
    fake = await make_fake(speed=1.0)
    tts = make_tts(fake, max_contexts=2, context_wait_timeout=0.05)
    for _ in range(2):
        await tts.start_reply().send_text("Still talking, not finished.")
    with pytest.raises(TtsError) as caught:
        await tts.start_reply().send_text("No slot for me.")
    assert caught.value.error == "max_active_conversations"
    assert fake.peak_open_contexts == 2


# --------------------------------------------------------------------------- errors


async def test_ws_bad_key_raises_connect_error(make_fake, make_tts) -> None:
    fake = await make_fake()
    tts = make_tts(fake, api_key="wrong")
    with pytest.raises(TtsConnectError) as caught:
        await tts.connect()
    assert caught.value.status == 401
    assert "Invalid API key" in str(caught.value)
    assert not tts.connected


async def test_http_bad_key_fails_the_reply(make_fake, make_tts) -> None:
    fake = await make_fake()
    tts = make_tts(fake, api_key="wrong", transport="http")
    await tts.connect()  # only creates the client
    reply = tts.start_reply()
    await reply.send_text("Hello.")
    await reply.finish()
    with pytest.raises(TtsError) as caught:
        await collect(reply)
    assert caught.value.status == 401
    assert "Invalid API key" in str(caught.value)
    assert caught.value.error == "invalid_api_key"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unsupported_output_format_is_a_422(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake(formats=("ulaw_8000",))
    tts = make_tts(fake, transport=transport, output_format="pcm_16000")
    with pytest.raises(TtsError) as caught:
        await tts.connect()
        await speak(tts, "Hello.")
    assert caught.value.status == 422
    assert "'pcm_16000'" in str(caught.value) and "ulaw_8000" in str(caught.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pcm_16000_comes_as_16_khz_little_endian_samples(
    make_fake, make_tts, transport: str
) -> None:
    """An HD-voice call's client asks for ``pcm_16000`` and hands its raw s16le out as it
    came (chunks of any size, some ending mid-sample): a 6 kHz tone, which 8 kHz audio
    cannot carry, is all there."""
    fake = await make_fake(chunk_bytes=(301, 701))  # odd sizes: samples split across chunks
    fake.map_text("Hello", 6000)
    tts = make_tts(fake, transport=transport, output_format="pcm_16000")
    reply, audio = await speak(tts, "Hello there.")
    assert reply.format == PCM16_16K
    (request,) = [r for r in fake.requests if r.status in (101, 200)]
    assert request.query["output_format"] == "pcm_16000"
    assert len(audio) == tone_duration_ms("Hello there.") * 32  # 16,000 two-octet samples a s
    samples = memoryview(audio).cast("h").tolist()  # little-endian, as this machine
    assert abs(goertzel_dbfs(samples, 6000, 16000) - rms_dbfs(samples)) < 1.5


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_injected_server_error_then_recovery(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake()
    tts = make_tts(fake, transport=transport)
    fake.fail_next(503, "The system is overloaded")
    with pytest.raises(TtsError) as caught:
        await speak(tts, "Hello.")
    assert caught.value.status == 503
    assert "The system is overloaded" in str(caught.value)
    _, audio = await speak(tts, "Hello again.")
    assert audio == expected_audio(DEFAULT_TONES[0], "Hello again.")


async def test_connection_refused(make_tts) -> None:
    class Nowhere:
        api_key = "k"
        base_url = f"http://127.0.0.1:{free_port()}"

    tts = make_tts(Nowhere, connect_timeout=1.0)
    with pytest.raises(TtsConnectError, match="cannot open ws://127.0.0.1"):
        await tts.connect()


# --------------------------------------------------------------------------- dropped sockets


async def test_ws_drop_between_replies_reconnects(make_fake, make_tts) -> None:
    fake = await make_fake()
    tts = make_tts(fake)
    _, first = await speak(tts, "Before the drop.")
    fake.drop_connections()
    await wait_until(lambda: not tts.connected)
    _, second = await speak(tts, "After the drop.")
    assert second == expected_audio(DEFAULT_TONES[1], "After the drop.")
    assert len(fake.sockets) == 2 and tts.reconnects == 1


async def test_ws_drop_mid_reply_fails_it_then_recovers(make_fake, make_tts) -> None:
    fake = await make_fake(speed=2.0, chunk_bytes=(300, 300))
    tts = make_tts(fake)
    reply = tts.start_reply()
    await reply.send_text("This reply is cut by a network failure.")
    await reply.finish()
    stream = reply.audio()
    await anext(stream)
    fake.drop_connections()
    with pytest.raises(TtsError, match="closed"):
        async for _ in stream:
            pass
    _, audio = await speak(tts, "Back again.")
    assert audio == expected_audio(DEFAULT_TONES[1], "Back again.")


async def test_ws_idle_socket_closed_by_server_reconnects(make_fake, make_tts) -> None:
    fake = await make_fake(inactivity_override=0.1)
    tts = make_tts(fake)
    await tts.connect()
    await wait_until(lambda: bool(fake.sockets) and fake.sockets[0].closed)
    assert fake.sockets[0].sent[-1]["error"] == "input_timeout_exceeded"
    await wait_until(lambda: not tts.connected)
    _, audio = await speak(tts, "Still here.")
    assert audio == expected_audio(DEFAULT_TONES[0], "Still here.")


async def test_ws_idle_socket_is_kept_alive_and_reused(make_fake, make_tts) -> None:
    # A long caller monologue: the socket stays silent for several times the server's
    # inactivity timeout, and the next reply still needs no new handshake.
    fake = await make_fake(inactivity_override=0.6)
    tts = make_tts(fake, keepalive_interval=0.1)
    _, first = await speak(tts, "Before the monologue.")
    await asyncio.sleep(1.8)
    _, second = await speak(tts, "After it.")
    assert second == expected_audio(DEFAULT_TONES[1], "After it.")
    assert len(fake.sockets) == 1 and not fake.sockets[0].closed and tts.reconnects == 0
    keepalives = [m for m in fake.sockets[0].messages
                  if str(m.get("context_id", "")).startswith("keepalive")]  # fmt: skip
    assert len(keepalives) >= 2 * 3  # opened and closed, every ~0.1 s
    assert not any(m.get("flush") for m in keepalives)  # nothing is synthesized


async def test_ws_keepalive_is_the_sdks_keep_context_alive_message(make_fake, make_tts) -> None:
    # elevenlabs-python's KeepContextAlive model (src/elevenlabs/types/keep_context_alive.py):
    # {"text": "", "context_id": ...}; "Empty text is ignored but resets the clock".
    fake = await make_fake(inactivity_override=0.6)
    tts = make_tts(fake, keepalive_interval=0.05)
    await tts.connect()
    await wait_until(lambda: any(c.final_sent for c in fake.sockets[0].contexts))
    opened, closed = fake.sockets[0].messages[:2]
    context_id = opened["context_id"]
    assert opened == {"text": "", "context_id": context_id}
    assert closed == {"context_id": context_id, "close_context": True}
    assert not fake.sockets[0].contexts[0].texts  # nothing to synthesize


async def test_ws_keepalive_context_counts_against_the_limit(make_fake, make_tts) -> None:
    # A keep-alive context is a context on the server until its final message: with it
    # and one live reply on a 2-context socket, a new reply must wait for that final
    # (else the server refuses a third context and closes the socket under both replies).
    fake = await make_fake(max_contexts=2, final_delay=0.4)
    tts = make_tts(fake, max_contexts=2, keepalive_interval=0.05)
    first = tts.start_reply()
    await first.send_text("A reply waiting for its next sentence.")
    await wait_until(lambda: any(c.context_id.startswith("keepalive")
                                 for c in fake.sockets[0].contexts))  # fmt: skip
    second, audio = await speak(tts, "The next reply.")
    await first.finish()
    assert b"".join(p.audio for p in await collect(first)) == fake.context("r1").audio
    assert audio == fake.context("r2").audio
    assert len(fake.sockets) == 1 and not fake.sockets[0].closed
    assert not any(m.get("error") for m in fake.sockets[0].sent)
    assert fake.peak_open_contexts == 2


async def test_ws_error_for_a_finished_context_fails_no_live_reply(make_fake, make_tts) -> None:
    # An error naming a context that already had its final (the server is done with
    # it, so is the client) concerns no live reply: the socket and the live reply go on.
    fake = await make_fake(speed=2.0, chunk_bytes=(300, 300))
    tts = make_tts(fake)
    await speak(tts, "An earlier reply.")
    live = tts.start_reply()
    await live.send_text("The reply the caller is hearing now.")
    await live.finish()
    stream = live.audio()
    pieces = [await anext(stream)]
    fake.fail_context("r1")
    pieces += [piece async for piece in stream]
    assert b"".join(p.audio for p in pieces) == fake.context("r2").audio
    assert fake.sockets[0].sent[0]["contextId"] == "r1"
    assert len(fake.sockets) == 1 and tts.connected and tts.reconnects == 0


async def test_ws_error_for_the_keepalive_context_fails_no_live_reply(make_fake, make_tts) -> None:
    fake = await make_fake(speed=2.0, chunk_bytes=(300, 300))
    tts = make_tts(fake, keepalive_interval=0.05)
    await tts.connect()
    await wait_until(lambda: any(c.final_sent for c in fake.sockets[0].contexts))
    keepalive = fake.sockets[0].contexts[0].context_id
    live = tts.start_reply()
    await live.send_text("The reply the caller is hearing now.")
    await live.finish()
    stream = live.audio()
    pieces = [await anext(stream)]
    fake.fail_context(keepalive)
    pieces += [piece async for piece in stream]
    assert b"".join(p.audio for p in pieces) == fake.context("r1").audio
    assert any(m.get("contextId") == keepalive for m in fake.sockets[0].sent if m.get("error"))
    assert len(fake.sockets) == 1 and tts.connected


async def test_ws_error_for_a_live_context_fails_only_that_reply(make_fake, make_tts) -> None:
    fake = await make_fake(speed=1.0, chunk_bytes=(300, 300))
    tts = make_tts(fake)
    doomed = tts.start_reply()
    await doomed.send_text("This reply meets a server error.")
    other = tts.start_reply()
    await other.send_text("This one is fine.")
    await other.finish()
    stream = doomed.audio()
    await anext(stream)
    fake.fail_context("r1", "Something went wrong", "generation_failed")
    with pytest.raises(TtsError, match="Something went wrong") as caught:
        async for _ in stream:
            pass
    assert caught.value.error == "generation_failed"
    assert b"".join(p.audio for p in await collect(other)) == fake.context("r2").audio
    _, audio = await speak(tts, "And the call goes on.")
    assert audio == fake.context("r3").audio
    assert len(fake.sockets) == 1 and tts.reconnects == 0


async def test_ws_without_keepalive_the_idle_socket_is_closed(make_fake, make_tts) -> None:
    fake = await make_fake(inactivity_override=0.3)
    tts = make_tts(fake, keepalive_interval=0)
    await speak(tts, "Before the monologue.")
    await wait_until(lambda: fake.sockets[0].closed)
    assert fake.sockets[0].sent[-1]["error"] == "input_timeout_exceeded"
    await wait_until(lambda: not tts.connected)
    await speak(tts, "After it.")
    assert len(fake.sockets) == 2 and tts.reconnects == 1


async def test_ws_context_expired_by_server_is_reopened(make_fake, make_tts) -> None:
    fake = await make_fake(inactivity_override=0.15)
    tts = make_tts(fake)
    reply = tts.start_reply()
    await reply.send_text("First part.")
    await wait_until(lambda: bool(fake.sockets and fake.sockets[0].contexts))
    ctx = fake.context("r1")
    await wait_until(lambda: ctx.final_sent)  # the server gave up on the idle context
    assert ctx.closed_by == "timeout"
    # and the client has read that final message: text sent before it would race it (under
    # load the final can still be in flight while the test sends)
    await wait_until(lambda: not reply._open_on_server)
    await reply.send_text("Second part.")
    await reply.finish()
    audio = b"".join(p.audio for p in await collect(reply))
    assert audio == expected_audio(DEFAULT_TONES[0], "First part.") + expected_audio(
        DEFAULT_TONES[1], "Second part."
    )
    inits = [m for m in fake.sockets[0].messages if m.get("text") == " "]
    assert len(inits) == 2 and len(fake.sockets) == 1


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_close_is_idempotent_and_ends_replies(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake(speed=1.0)
    tts = make_tts(fake, transport=transport)
    reply = tts.start_reply()
    await reply.send_text("A reply still streaming when the call ends.")
    consumer = asyncio.create_task(collect(reply))
    await wait_until(lambda: reply.first_audio_at is not None)
    await tts.close()
    await tts.close()
    with pytest.raises(TtsError):
        await consumer
    assert not tts.connected
    with pytest.raises(TtsError):
        tts.start_reply()
    if transport == "websocket":
        assert fake.sockets[0].messages[-1] == {"close_socket": True}


async def test_fake_in_a_thread_with_cross_thread_control(make_tts) -> None:
    fake = FakeElevenLabs(speed=None)
    fake.start_in_thread()
    try:
        fake.map_text("thread", 1000)
        tts = make_tts(fake)
        _, audio = await speak(tts, "From another thread.")
        assert audio == expected_audio(1000, "From another thread.")
        fake.drop_connections()  # called from this loop's thread, runs on the fake's
        await wait_until(lambda: not tts.connected)
        _, audio = await speak(tts, "And back.")
        assert audio == expected_audio(DEFAULT_TONES[1], "And back.")
        await tts.close()
    finally:
        fake.stop()


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_first_audio_latency_follows_the_server(make_fake, make_tts, transport: str) -> None:
    fake = await make_fake(first_byte_latency=0.08)
    tts = make_tts(fake, transport=transport)
    await tts.connect()
    loop = asyncio.get_running_loop()
    reply = tts.start_reply()
    sent_at = loop.time()
    await reply.send_text("Latency check.")
    await reply.finish()
    await collect(reply)
    assert reply.first_audio_at is not None
    assert reply.first_audio_at - sent_at >= 0.08  # not before the server's latency
    # and the client's own share is small: the first chunk read soon after the fake wrote it.
    # Bounded from the fake's write, not from send_text(): a loaded CI run once took 0.285 s
    # end to end, the fake oversleeping its 0.08 s on a busy loop (the server's lateness).
    (spoken,) = fake.utterances
    assert spoken.first_audio_at is not None
    assert reply.first_audio_at - spoken.first_audio_at < 0.1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_overhead_on_first_audio(make_fake, make_tts, transport: str) -> None:
    """Median time from send_text() to the first audio chunk against a 0 ms fake."""
    fake = await make_fake()
    tts = make_tts(fake, transport=transport)
    await tts.connect()
    loop = asyncio.get_running_loop()
    delays = []
    for n in range(50):
        reply = tts.start_reply()
        sent_at = loop.time()
        await reply.send_text(f"Reply {n}.")
        stream = reply.audio()
        first = await anext(stream)
        delays.append(first.received_at - sent_at)
        await reply.cancel()
    median = statistics.median(delays)
    print(f"\n{transport}: first audio after {median * 1000:.2f} ms (median of 50)")
    assert median < 0.05


# --------------------------------------------------------------------------- the fake itself


async def test_fake_ws_auth_in_first_message_and_unflushed_text(make_fake) -> None:
    """Raw protocol: key in the first message; close_context drops unflushed text."""
    fake = await make_fake()
    url = fake.base_url.replace("http", "ws") + f"/v1/text-to-speech/{VOICE}/multi-stream-input"
    url += "?model_id=eleven_flash_v2_5&output_format=ulaw_8000"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " ", "context_id": "a", "xi-api-key": fake.api_key}))
        await ws.send(json.dumps({"text": "Spoken. ", "context_id": "a", "flush": True}))
        await ws.send(json.dumps({"text": "Never flushed. ", "context_id": "a"}))
        await ws.send(json.dumps({"context_id": "a", "close_context": True}))
        messages = [json.loads(m) async for m in _until_final(ws)]
    audio = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    assert audio == expected_audio(DEFAULT_TONES[0], "Spoken.")
    assert messages[-1] == {"isFinal": True, "contextId": "a"}
    assert fake.context("a").texts == ["Spoken. ", "Never flushed. "]

    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " ", "context_id": "a", "xi-api-key": "wrong"}))
        error = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert error["error"] == "invalid_api_key" and error["code"] == 1008
    assert ws.close_code == 1008


async def _until_final(ws: websockets.ClientConnection) -> AsyncIterator[str | bytes]:
    async for raw in ws:
        yield raw
        if json.loads(raw).get("isFinal"):
            return


async def test_fake_http_rejects_bad_bodies(make_fake) -> None:
    fake = await make_fake()
    url = f"{fake.base_url}/v1/text-to-speech/{VOICE}/stream?output_format=ulaw_8000"
    headers = {"xi-api-key": fake.api_key}
    async with httpx2.AsyncClient() as client:
        missing_text = await client.post(url, headers=headers, json={"model_id": "x"})
        bad_model = await client.post(url, headers=headers, json={"text": "Hi.", "model_id": "x"})
        no_key = await client.post(url, json={"text": "Hi."})
    assert missing_text.status_code == 422 and missing_text.json()["detail"][0]["loc"]
    assert bad_model.status_code == 422 and "Unknown model_id" in bad_model.text
    assert no_key.status_code == 401
    assert no_key.json()["detail"]["status"] == "needs_authorization"


# --------------------------------------------------------------------------- the close race


async def collect_audio(reply: TtsReply, within: float = 5.0) -> bytes:
    async with asyncio.timeout(within):
        return b"".join([piece.audio async for piece in reply.audio()])


@pytest.mark.parametrize("race", ["empty_final", "silent"])
async def test_close_context_waits_for_the_first_audio(
    make_fake: Any, make_tts: Any, race: str
) -> None:
    """pipecat-ai/pipecat#4681 (production telemetry, ~2.5 % of peak-hour calls) and #5271:
    a close_context sent right after the last text can reach ElevenLabs before synthesis
    has registered the text; the server then closes the context with no audio (and, in
    #4681, no final either): a silent turn. The close waits for the first audio (as
    pipecat#5282 does); once audio streams, the final comes after the last byte."""
    fake = await make_fake(first_byte_latency=0.2, close_race=race)
    tts = make_tts(fake)
    await tts.connect()
    reply = tts.start_reply()
    await reply.send_text("Hello there, how can I help?")
    await reply.finish()
    audio = await collect_audio(reply)
    (ctx,) = [c for c in fake.contexts if c.texts]
    assert audio == ctx.audio and audio, "the reply was lost to the close race"
    assert ctx.close_requested and not ctx.lost_to_race and ctx.final_sent


async def test_a_context_that_never_speaks_fails_within_the_first_audio_timeout(
    make_fake: Any, make_tts: Any
) -> None:
    """No audio, no error, no final (#4681's symptom, whatever its cause): the reply fails
    instead of hanging, so the caller hears the apology from memory, not dead air."""
    fake = await make_fake(first_byte_latency=30.0)
    tts = make_tts(fake, first_audio_timeout=0.3)
    await tts.connect()
    reply = tts.start_reply()
    await reply.send_text("Hello there.")
    await reply.finish()
    with pytest.raises(TtsError, match="no audio .* within 0.3 s"):
        await collect_audio(reply)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # what ElevenLabs sends: a string a character, whole milliseconds
        ({"chars": ["H", "i", " "], "charStartTimesMs": [0, 70, 140],
          "charDurationsMs": [70, 70, 30]},
         TtsAlignment("Hi ", (0, 70, 140), (70, 70, 30))),
        # anything else as text, times truncated to whole milliseconds (the older spelling)
        ({"chars": ["a", 1, None], "charStartTimesMs": [0.9, 10, "20"],
          "charsDurationsMs": [10, 10.5, 10]},
         TtsAlignment("a1None", (0, 10, 20), (10, 10, 10))),
        ({"chars": ["a"]}, TtsAlignment("a", (), ())),
        # a time that is no number: no alignment
        ({"chars": ["a", "b"], "charStartTimesMs": [0, "x"]}, None),
        ({"chars": ["a"], "charDurationsMs": [None]}, None),
    ],
)  # fmt: skip
def test_alignment_is_read_as_sent(value: dict[str, Any], expected: TtsAlignment | None) -> None:
    assert _parse_alignment({"alignment": value}) == expected
    assert _parse_alignment({"normalizedAlignment": value}) == expected
    assert _parse_alignment({"alignment": {"chars": "no list"}, "normalized_alignment": value}) == (
        expected
    )
