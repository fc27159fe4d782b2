"""AssemblyAI streaming STT client against the fake server, over real loopback sockets.

The production client is used unchanged; only its URL points at the fake,
which enforces the real service's rules (50-1000 ms frames, real-time rate,
auth) and turns synthesized μ-law tone bursts into scripted transcripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from sipgw.agent.services.assemblyai.stt import (
    API_VERSION,
    PACING_BURST_SECONDS,
    RATE_LIMIT_BACKOFF_CAP,
    RATE_LIMIT_BACKOFF_FIRST,
    AssemblyAISettings,
    AssemblyAISTTService,
    is_rate_limited,
)
from sipgw.agent.services.stt.base import (
    GIVE_UP_GRACE,
    SttConnectError,
    SttEvent,
    SttFailed,
    SttPartialTranscript,
    SttReconnected,
    SttSessionBegan,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.services.websocket_client import VendorConnection
from sipgw.app.evaluation.audio import encode, tone_samples
from sipgw.app.evaluation.fakes.assemblyai import (
    CONCURRENCY_REASON,
    RATE_VIOLATION,
    REQUIRED_PARAMS,
    FakeAssemblyAI,
    FakeSession,
    PartialDue,
    SpeechBegan,
    TurnDetector,
    TurnDue,
    duration_violation,
)
from sipgw.foundation.redact import websocket_logger
from tests.refcycles import garbage_of_ours
from tests.toolkit.canaries import ASSEMBLYAI_KEY

pytestmark = pytest.mark.timeout(20)

KEY = ASSEMBLYAI_KEY
CLIENT_BURST = 0.2  # how far ahead of real time the client may run (PACING_BURST_SECONDS)
FRAME = 160
SILENCE_FRAME = b"\xff" * FRAME
E = TypeVar("E")


# --------------------------------------------------------------------------- audio helpers


def tone(ms: int, freq: float = 440.0) -> bytes:
    """A μ-law sine burst at -13.5 dBFS: speech as far as the fake is concerned."""
    return encode(tone_samples(freq, ms / 1000, -13.5))


def silence(ms: int) -> bytes:
    return b"\xff" * (ms * 8)


def split_frames(audio: bytes) -> list[bytes]:
    return [audio[i : i + FRAME] for i in range(0, len(audio), FRAME)]


class Ticker:
    """Calls ``send_audio`` every 20 ms at absolute deadlines, like the media ticker.

    Frames queued with :meth:`say` go first; silence fills the rest.
    """

    def __init__(self, stt: AssemblyAISTTService, audio: bytes = b"") -> None:
        self._stt = stt
        self._frames: deque[bytes] = deque(split_frames(audio))
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task})

    def say(self, audio: bytes) -> None:
        self._frames.extend(split_frames(audio))
        self._idle.clear()

    async def drained(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            self.frames_sent += 1
            await asyncio.sleep(max(0.0, start + self.frames_sent * 0.020 - loop.time()))
            frame = self._frames.popleft() if self._frames else SILENCE_FRAME
            if not self._frames:
                self._idle.set()
            self._stt.send_audio(frame)


class Events:
    """Collects a service's events in a task, so tests can wait for them."""

    def __init__(self, stt: AssemblyAISTTService) -> None:
        self.items: list[SttEvent] = []
        self.ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(stt))

    async def _run(self, stt: AssemblyAISTTService) -> None:
        try:
            async for event in stt.events():
                self.items.append(event)
                self._changed.set()
        finally:
            self.ended = True
            self._changed.set()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.items if isinstance(e, kind)]

    async def wait(self, kind: type[E], count: int = 1, within: float = 5.0) -> E:
        """Return the ``count``-th event of ``kind``."""
        async with asyncio.timeout(within):
            while len(self.of(kind)) < count:
                assert not self.ended, f"events ended before {count} {kind.__name__}: {self.items}"
                self._changed.clear()
                await self._changed.wait()
        return self.of(kind)[count - 1]

    async def wait_end(self, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not self.ended:
                self._changed.clear()
                await self._changed.wait()

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})


def assert_real_time(session: FakeSession, allowance: float) -> None:
    """Audio received never ran ahead of the session's age by more than ``allowance``."""
    total = 0
    for size, at in zip(session.chunk_sizes, session.chunk_times, strict=True):
        total += size
        assert total / 8000 <= at + allowance, (total / 8000, at)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Every task the client, the fake or a test helper created is gone at the end."""
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not pending, pending


@pytest.fixture
async def fake() -> AsyncIterator[FakeAssemblyAI]:
    async with FakeAssemblyAI(api_key=KEY) as server:
        yield server


@pytest.fixture
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as exit_stack:
        yield exit_stack


class Sleeps:
    """An injected backoff clock: records each wait and takes ``real`` seconds instead."""

    def __init__(self, real: float = 0.0) -> None:
        self.real = real
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(self.real)


async def open_stt(
    fake: FakeAssemblyAI, stack: contextlib.AsyncExitStack, **options: Any
) -> tuple[AssemblyAISTTService, Events]:
    """A connected service plus its event collector, both cleaned up by ``stack``.

    ``sleep=`` (a :class:`Sleeps`) replaces the reconnect backoff's waits.
    """
    sleep = options.pop("sleep", asyncio.sleep)
    settings = AssemblyAISettings(api_key=options.pop("api_key", KEY), url=fake.url, **options)
    stt = AssemblyAISTTService(settings, sleep=sleep)
    stack.push_async_callback(stt.close)
    await stt.connect()
    events = Events(stt)
    stack.push_async_callback(events.aclose)
    return stt, events


async def raw_close(fake: FakeAssemblyAI, frames: list[bytes]) -> tuple[int | None, str | None]:
    """Send ``frames`` back to back over a bare WebSocket; return how the fake closed."""
    url = f"{fake.url}?{urlencode(REQUIRED_PARAMS)}"
    logger = websocket_logger("websockets.client.test")  # masks the key in DEBUG header lines
    async with ws_connect(url, additional_headers={"Authorization": KEY}, logger=logger) as ws:
        assert json.loads(await ws.recv())["type"] == "Begin"
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await ws.send(frame)
            async for _ in ws:
                pass
        return ws.close_code, ws.close_reason


# --------------------------------------------------------------------------- settings, pure parts


def test_pacing_burst_is_well_inside_the_fakes_allowance() -> None:
    assert PACING_BURST_SECONDS == CLIENT_BURST < FakeAssemblyAI().rate_allowance


def test_fake_turn_detector_follows_u3_punctuation_rule() -> None:
    texts = ["no punctuation here"]
    detector = TurnDetector(
        min_turn_silence_ms=100,
        max_turn_silence_ms=400,
        ends_sentence=lambda speech_ms: texts[0][-1] in ".?!",
    )
    assert detector.feed(silence(100) + tone(100)) == [SpeechBegan(100)]
    assert detector.feed(silence(100)) == [PartialDue(100, 200, silence=True)]  # not a sentence yet
    assert detector.feed(silence(200)) == []
    assert detector.feed(silence(100)) == [TurnDue(100, 200)]  # max_turn_silence
    texts[0] = "A sentence."
    # 40 ms of tone is too short to count as speech (min_speech_ms = 60).
    assert detector.feed(tone(40) + silence(20) + tone(100)) == [SpeechBegan(660)]
    assert detector.feed(silence(100)) == [TurnDue(660, 760)]


def test_fake_sentence_of_clauses_ends_only_after_its_speech() -> None:
    """script_sentence: a pause before the sentence's speech was heard is between its
    clauses (a partial); the first pause after it ends the turn."""
    fake = FakeAssemblyAI(api_key="k")
    fake.script_sentence("Hello, this is Doctor Smith's office, how can I help you?",
                         speech_ms=300)  # fmt: skip
    detector = TurnDetector(min_turn_silence_ms=100, ends_sentence=fake.sentence_ends)
    assert detector.feed(tone(200)) == [SpeechBegan(0)]
    assert detector.feed(silence(100)) == [PartialDue(0, 200, silence=True)]  # "Hello,"
    assert detector.feed(tone(200) + silence(100)) == [TurnDue(0, 500)]
    assert fake.next_transcript().startswith("Hello, this is")
    fake.script(["A sentence."])  # any pause ends a plain transcript's turn
    assert fake.sentence_ends(20)


def test_fake_sentence_ended_in_a_pause_gives_the_words_said_so_far() -> None:
    """ForceEndpoint in a pause between a sentence's clauses: the final has the words said
    so far (their share of its speech); the rest is the next turn's, its next pause ends it."""
    fake = FakeAssemblyAI(api_key="k")
    fake.script_sentence("I would like a table for two people.", speech_ms=800)
    detector = TurnDetector(min_turn_silence_ms=100, ends_sentence=fake.sentence_ends)
    assert detector.feed(tone(400) + silence(100)) == [
        SpeechBegan(0), PartialDue(0, 400, silence=True)
    ]  # fmt: skip
    assert detector.force_endpoint() == [TurnDue(0, 400)]
    assert fake.take_transcript(400, start_ms=0) == "I would like a"
    fake.turn_began(600)  # the rest's first loud frame, 200 ms after the pause began
    assert not fake.sentence_ends(100)  # a gap between the rest's words
    assert fake.sentence_ends(200)  # the sentence's end: 800 ms after its first word
    assert fake.take_transcript(200, start_ms=600) == "table for two people."
    assert fake.take_transcript(300) == fake.default_transcript


def test_fake_rest_of_a_split_sentence_ends_after_its_last_word_not_in_a_word_gap() -> None:
    """The rest of a sentence split by ForceEndpoint in its pause keeps the sentence's
    scripted timing: u3-rt-pro ends a turn at ``min_turn_silence`` of silence only where
    its words end a sentence, so a gap between the rest's words gets a partial and the
    turn ends once the caller has been silent that long after the rest's last word."""
    fake = FakeAssemblyAI(api_key="k")
    fake.script_sentence("The package arrived yesterday but the box was damaged.", speech_ms=1700)
    detector = TurnDetector(min_turn_silence_ms=100, ends_sentence=fake.sentence_ends)

    def act(actions: list[Any]) -> list[Any]:  # what the session does with them
        for action in actions:
            if isinstance(action, SpeechBegan):
                fake.turn_began(action.at_ms)
            elif isinstance(action, TurnDue):
                fake.take_transcript(action.end_ms - action.start_ms, start_ms=action.start_ms)
        return actions

    assert act(detector.feed(tone(700) + silence(100))) == [
        SpeechBegan(0), PartialDue(0, 700, silence=True)
    ]  # fmt: skip
    assert act(detector.force_endpoint()) == [TurnDue(0, 700)]
    # the pause goes on to 300 ms; "but the box was damaged." in three runs, 120 ms gaps,
    # the sentence's scripted end (1700) inside the last
    assert act(detector.feed(silence(200) + tone(200))) == [SpeechBegan(1000)]
    assert act(detector.feed(silence(120))) == [PartialDue(1000, 1200, silence=True)]
    assert act(detector.feed(tone(200) + silence(120))) == [PartialDue(1000, 1520, silence=True)]
    assert act(detector.feed(tone(200) + silence(80))) == []  # the last word; 80 ms < 100
    assert act(detector.feed(silence(20))) == [TurnDue(1000, 1840)]
    assert fake.next_transcript() == fake.default_transcript  # the rest was taken whole


async def test_fake_session_ends_a_split_sentences_rest_after_its_last_word() -> None:
    """Over the wire: ForceEndpoint in the pause of a sentence; the rest's final comes
    after its last word, with all its words, not at the first gap between them."""
    async with FakeAssemblyAI(api_key=KEY, check_rate=False) as fake:
        fake.script_sentence("The package arrived yesterday but the box was damaged.",
                             speech_ms=1700)  # fmt: skip
        url = f"{fake.url}?{urlencode(REQUIRED_PARAMS)}"
        logger = websocket_logger("websockets.client.test")  # masks the key in DEBUG lines
        headers = {"Authorization": KEY}
        async with ws_connect(url, additional_headers=headers, logger=logger) as ws:
            assert json.loads(await ws.recv())["type"] == "Begin"
            await ws.send(tone(700) + silence(100))
            await ws.send(json.dumps({"type": "ForceEndpoint"}))
            rest = tone(200) + silence(120) + tone(200) + silence(120) + tone(200)
            for frame in (silence(200), rest, silence(300)):
                await ws.send(frame)
            finals: list[dict[str, Any]] = []
            async with asyncio.timeout(5):
                while len(finals) < 2:
                    message = json.loads(await ws.recv())
                    if message.get("end_of_turn"):
                        finals.append(message)
    first, rest_turn = finals
    assert first["transcript"] == "The package arrived yesterday"
    assert rest_turn["transcript"] == "but the box was damaged."
    assert rest_turn["words"][0]["start"] == 1000
    assert rest_turn["words"][-1]["end"] == 1840  # the last word's end, not 1200


def test_fake_early_partial_is_tried_again_until_it_has_words() -> None:
    """AssemblyAI, "Universal-3 Pro Streaming Partial Transcripts and Turn Detection"
    (https://assemblyai.com/docs/streaming/universal-3-pro/turn-detection-and-partials):
    an early partial after 750 ms of continuous speech; "If the first attempt returns
    empty, it retries at 1500ms, 2250ms, and so on until text is produced. Only one
    early partial is emitted per turn"."""
    attempts = ["", "", "where is my", "never asked"]
    detector = TurnDetector(partial_after_ms=750, early_text=lambda: attempts.pop(0))
    assert detector.feed(tone(740)) == [SpeechBegan(0)]
    assert detector.feed(tone(20)) == []  # 760 ms: the first attempt came back empty
    assert detector.feed(tone(1480)) == []  # 1500 ms: empty again
    assert detector.feed(tone(20)) == [PartialDue(0, 2260, text="where is my")]  # 2260 ms
    assert detector.feed(tone(1000)) == []  # one per turn
    assert attempts == ["never asked"]


def test_fake_continuous_partials_come_every_3_s_of_speech() -> None:
    """The same page: with continuous_partials, a partial about every 3 s while speech
    goes on, on top of the early one."""
    detector = TurnDetector(partial_after_ms=750, early_text=lambda: "hi",
                            continuous_partial_ms=3000)  # fmt: skip
    actions = detector.feed(tone(6100))
    assert actions == [
        SpeechBegan(0), PartialDue(0, 760, text="hi"), PartialDue(0, 3000, continuous=True),
        PartialDue(0, 6000, continuous=True),
    ]  # fmt: skip


async def test_speech_partials_follow_interruption_delay_and_the_model_latency(fake, stack) -> None:
    """interruption_delay 0 gives the early partial ~300 ms into the speech ("The server
    adds a minimum of 300ms on top", the same page); continuous_partials=true one every
    3 s; each partial leaves ``partial_latency`` after the audio that completed it. The
    client reports where each partial's words end in the audio stream."""
    fake.partial_latency = 0.2
    fake.continuous_partial_ms = 1000  # 3 s in the service; shorter here
    fake.script(["Where is my order 1234."])
    fake.script_speech_partials(["where is", "where is my order"])
    stt, events = await open_stt(fake, stack, interruption_delay=0, continuous_partials=True)
    (session,) = fake.sessions
    assert (session.params["interruption_delay"], session.params["continuous_partials"]) == (
        "0", "true",
    )  # fmt: skip
    async with Ticker(stt, silence(200) + tone(1200) + silence(200)):
        await events.wait(SttTurnEnded)
    early, continuous = events.of(SttPartialTranscript)[:2]
    assert (early.text, early.audio_end_ms) == ("where is", 200 + 300)
    assert (continuous.text, continuous.audio_end_ms) == ("where is my order", 200 + 1000)
    sent = fake.sessions[0]
    partials = [at for m, at in zip(sent.sent, sent.sent_at, strict=True)
                if m.get("type") == "Turn" and not m["end_of_turn"]]  # fmt: skip
    # The early one's audio (500 ms of stream) arrived 200 ms late at the earliest.
    assert partials[0] - sent.started_at >= 0.5 + 0.2 - 0.05


# --------------------------------------------------------------------------- connecting


async def test_connect_sends_documented_headers_and_query(fake, stack) -> None:
    stt, events = await open_stt(
        fake,
        stack,
        keyterms_prompt=("Acme", "Sonny"),
        prompt="Order numbers are four digits.",
        min_turn_silence=160,
        max_turn_silence=2400,
        extra_params={"vad_threshold": "0.4"},
    )
    began = await events.wait(SttSessionBegan)
    (session,) = fake.sessions
    assert session.path == "/v3/ws"
    assert session.headers["Authorization"] == KEY  # bare key, no "Bearer"
    assert session.headers["AssemblyAI-Version"] == API_VERSION
    assert session.query == (
        "speech_model=u3-rt-pro&encoding=pcm_mulaw&sample_rate=8000"
        "&keyterms_prompt=%5B%22Acme%22%2C+%22Sonny%22%5D"
        "&prompt=Order+numbers+are+four+digits."
        "&min_turn_silence=160&max_turn_silence=2400&vad_threshold=0.4"
    )
    assert began.session_id == session.session_id
    assert began.expires_at > time.time()
    assert stt.connected and stt.stats.sessions == 1


def test_the_latest_end_of_turn_is_max_turn_silence_as_configured_or_updated() -> None:
    assert AssemblyAISTTService(AssemblyAISettings(api_key=KEY)).turn_end_silence == 1.0
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, max_turn_silence=2400))
    assert stt.turn_end_silence == 2.4


def test_the_first_end_of_turn_check_is_min_turn_silence_as_configured() -> None:
    assert AssemblyAISTTService(AssemblyAISettings(api_key=KEY)).turn_check_silence == 0.1
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, min_turn_silence=400))
    assert stt.turn_check_silence == 0.4


async def test_an_updated_max_turn_silence_is_the_latest_end_of_turn(fake, stack) -> None:
    stt, _events = await open_stt(fake, stack, max_turn_silence=2400)
    await stt.update_configuration(max_turn_silence=700)
    assert stt.turn_end_silence == 0.7


async def test_connect_omits_unset_optional_params(fake, stack) -> None:
    await open_stt(fake, stack)
    assert fake.sessions[0].params == REQUIRED_PARAMS


async def test_bad_key_closed_1008_raises_without_retry(fake) -> None:
    stt = AssemblyAISTTService(AssemblyAISettings(api_key="wrong", url=fake.url))
    with pytest.raises(SttConnectError, match=r"1008 Unauthorized Connection") as caught:
        await stt.connect()
    assert caught.value.close_code == 1008 and not caught.value.retryable
    assert fake.connection_attempts == 1
    assert fake.sessions[0].rejected_with == 1008
    await stt.close()


async def test_bad_key_rejected_401_raises_without_retry() -> None:
    async with FakeAssemblyAI(api_key=KEY, auth_failure="http") as fake:
        stt = AssemblyAISTTService(AssemblyAISettings(api_key="wrong", url=fake.url))
        with pytest.raises(SttConnectError, match=r"HTTP 401 \(authentication failed") as caught:
            await stt.connect()
        assert caught.value.status == 401 and not caught.value.retryable
        assert fake.connection_attempts == 1 and fake.http_rejections == [401]
        assert fake.sessions == []
        await stt.close()


async def test_fake_refuses_wrong_audio_params_with_http_400(fake) -> None:
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url, sample_rate=16000))
    with pytest.raises(SttConnectError, match=r"HTTP 400 .*sample_rate='16000'") as caught:
        await stt.connect()
    assert not caught.value.retryable and fake.http_rejections == [400]


async def test_unreachable_server_raises_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = AssemblyAISettings(api_key=KEY, url=f"ws://127.0.0.1:{port}/v3/ws")
    with pytest.raises(SttConnectError, match="could not connect"):
        await AssemblyAISTTService(settings).connect()


# --------------------------------------------------------------------------- audio framing


@pytest.mark.parametrize(("chunk_ms", "seconds"), [(100, 2.0), (50, 1.0)])
async def test_frames_are_batched_and_sent_at_real_time(fake, stack, chunk_ms, seconds) -> None:
    stt, _ = await open_stt(fake, stack, chunk_ms=chunk_ms)
    total = int(seconds * 8000)
    async with Ticker(stt, tone(int(seconds * 1000))) as ticker:
        await ticker.drained()
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes == total)
    (session,) = fake.sessions
    assert set(session.chunk_sizes) == {chunk_ms * 8}
    assert session.violation is None and session.open
    assert_real_time(session, CLIENT_BURST + 0.02)
    assert stt.stats.bytes_sent == total and stt.stats.chunks_sent == total // (chunk_ms * 8)


async def wait_for_idle_sender(stt: AssemblyAISTTService) -> None:
    """Until the sender task waits for audio (it has started and found none queued)."""
    for _ in range(100):
        if stt._connection._sender_idle:  # the state wake_sender reads
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the sender task never waited for audio")


async def test_a_chunk_goes_out_from_send_audio_at_once_while_the_sender_waits(fake, stack) -> None:
    """No task step between the chunk's last frame and its frame on the socket."""
    stt, _ = await open_stt(fake, stack, chunk_ms=100)
    await wait_for_idle_sender(stt)
    frames = split_frames(tone(200))
    for frame in frames[:4]:
        stt.send_audio(frame)
    assert stt.stats.chunks_sent == 0  # 80 ms: not a chunk yet
    stt.send_audio(frames[4])
    assert stt.stats.chunks_sent == 1 and stt.stats.bytes_sent == 800  # written, no await
    for frame in frames[5:]:
        stt.send_audio(frame)  # the next chunk: the burst allows it too
    assert stt.stats.chunks_sent == 2
    await fake.wait_for(lambda: fake.sessions[0].audio_bytes == 1600)
    (session,) = fake.sessions
    assert session.chunk_sizes == [800, 800] and session.violation is None and session.open


async def test_a_declined_write_leaves_the_chunk_to_the_sender_task(
    fake, stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the connection will not take a frame at once (its write buffer is not empty,
    say), the chunk waits for the sender task and goes through the library's send."""
    stt, _ = await open_stt(fake, stack, chunk_ms=100)
    ws = stt._connection.ws
    assert isinstance(ws, VendorConnection)
    monkeypatch.setattr(ws, "send_binary_now", lambda payload: False)
    await wait_for_idle_sender(stt)
    for frame in split_frames(tone(200)):
        stt.send_audio(frame)
    assert stt.stats.chunks_sent == 0  # nothing went inline
    await fake.wait_for(lambda: fake.sessions[0].audio_bytes == 1600)
    assert fake.sessions[0].chunk_sizes == [800, 800]
    assert stt.stats.chunks_sent == 2 and stt.stats.backlog_seconds == 0


async def test_smaller_chunks_mid_session_keep_up_with_live_audio(fake, stack) -> None:
    """Switching to 50 ms chunks must not slow sending (each chunk is charged its length)."""
    stt, _ = await open_stt(fake, stack, chunk_ms=100)
    stt.set_chunk_ms(50)
    total = 1500 * 8
    async with Ticker(stt, tone(1500)) as ticker:
        await ticker.drained()
        # Live audio leaves as each 50 ms chunk completes: nothing waits behind it.
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes >= total, timeout=0.25)
    (session,) = fake.sessions
    assert set(session.chunk_sizes) == {400}
    assert session.violation is None
    assert_real_time(session, CLIENT_BURST + 0.02)
    assert stt.stats.backlog_seconds < 0.1


def test_set_chunk_ms_none_goes_back_to_the_configured_size() -> None:
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, chunk_ms=100))
    stt.set_chunk_ms(50)
    for _ in range(5):
        stt.send_audio(b"\xff" * 160)
    stt.set_chunk_ms(None)
    for _ in range(5):
        stt.send_audio(b"\xff" * 160)
    sizes = []
    while (chunk := stt._audio.pop()) is not None:
        sizes.append(len(chunk))
    assert sizes == [400, 400, 800]


@pytest.mark.parametrize(("size", "ms"), [(160, 20), (392, 49), (8008, 1001)])
async def test_fake_closes_3007_on_frames_outside_50_to_1000_ms(fake, size, ms) -> None:
    code, reason = await raw_close(fake, [b"\xff" * size])
    assert (code, reason) == (3007, duration_violation(ms))
    assert reason == f"Input duration violation: {ms} ms. Expected between 50 and 1000 ms"


async def test_fake_closes_3007_on_a_burst(fake) -> None:
    code, reason = await raw_close(fake, [b"\xff" * 800] * 8)  # 0.8 s of audio at once
    assert (code, reason) == (3007, RATE_VIOLATION)


async def test_client_paces_a_burst_of_queued_audio(fake, stack) -> None:
    stt, _ = await open_stt(fake, stack)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for frame in split_frames(tone(1500)):  # a stalled ticker catching up all at once
        stt.send_audio(frame)
    await fake.wait_for(lambda: fake.sessions[0].audio_bytes == 12_000)
    assert loop.time() - started >= 1.5 - CLIENT_BURST - 0.1 - 0.02
    (session,) = fake.sessions
    assert session.violation is None
    assert_real_time(session, CLIENT_BURST + 0.02)


# --------------------------------------------------------------------------- speech and turns


async def test_speech_becomes_speech_started_partial_and_turn(fake, stack) -> None:
    fake.partial_after_ms = 200
    fake.script(["I'd like to check order 1234.", "Yes please."])
    stt, events = await open_stt(fake, stack)
    async with Ticker(stt, silence(200) + tone(400) + silence(200)) as ticker:
        first = await events.wait(SttTurnEnded)
        ticker.say(tone(300) + silence(200))
        second = await events.wait(SttTurnEnded, count=2)
    kinds = [type(e) for e in events.items]
    assert kinds == [
        SttSessionBegan,
        SttSpeechStarted,
        SttPartialTranscript,
        SttTurnEnded,
        SttSpeechStarted,
        SttPartialTranscript,
        SttTurnEnded,
    ]
    assert events.of(SttSpeechStarted)[0].timestamp_ms == 200
    assert events.of(SttPartialTranscript)[0].text == "I'd like to"
    assert (first.text, first.turn_order, first.audio_end_ms) == (
        "I'd like to check order 1234.",
        0,
        600,
    )
    assert [w.text for w in first.words][-1] == "1234." and first.words[0].start_ms == 200
    assert (second.text, second.turn_order) == ("Yes please.", 1)
    assert first.received_at <= second.received_at


async def test_update_configuration_is_applied_and_force_endpoint_ends_the_turn(
    fake, stack
) -> None:
    fake.script(["Cut short."])
    stt, events = await open_stt(fake, stack)
    await stt.update_configuration(min_turn_silence=2000, max_turn_silence=3000)
    async with Ticker(stt, tone(300) + silence(400)) as ticker:
        await events.wait(SttSpeechStarted)
        await ticker.drained()
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes >= 6400)
        assert events.of(SttTurnEnded) == []  # 400 ms of silence < the new 2000 ms
        await stt.force_endpoint()
        turn = await events.wait(SttTurnEnded)
    assert turn.text == "Cut short."
    assert fake.sessions[0].messages == [
        {"type": "UpdateConfiguration", "min_turn_silence": 2000, "max_turn_silence": 3000},
        {"type": "ForceEndpoint"},
    ]


async def test_a_fixed_turn_silence_ignores_what_the_client_asks(fake, stack) -> None:
    """``fixed_turn_silence``: the fake's own 100 ms end of turn, whatever the client's
    query and UpdateConfiguration say (a comparison's service, the same for every client)."""
    fake.fixed_turn_silence = True
    fake.script(["Done."])
    stt, events = await open_stt(fake, stack)
    await stt.update_configuration(min_turn_silence=2000, max_turn_silence=3000)
    async with Ticker(stt, tone(300) + silence(400)):
        turn = await events.wait(SttTurnEnded)
    assert turn.text == "Done."
    assert fake.sessions[0].received_of_type("ForceEndpoint") == []


async def test_end_turn_now_sends_force_endpoint_and_the_turn_ends_with_the_words_so_far(
    fake, stack
) -> None:
    """The turn-taking machine's early end (agent/turns/early_end.py): returns at once, the
    ForceEndpoint goes out from a task, and the fake ends the turn as the service does."""
    fake.script(["I would like"])  # no sentence end: the fake waits for max_turn_silence
    stt, events = await open_stt(fake, stack)
    async with Ticker(stt, tone(300) + silence(200)) as ticker:
        await events.wait(SttSpeechStarted)
        await ticker.drained()
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes >= 4000)
        assert events.of(SttTurnEnded) == []  # 200 ms of silence < the fake's 1000 ms max
        stt.end_turn_now()
        turn = await events.wait(SttTurnEnded)
    assert turn.text == "I would like"
    assert fake.sessions[0].received_of_type("ForceEndpoint") == [{"type": "ForceEndpoint"}]


async def test_tolerates_errors_warnings_and_unknown_messages(fake, stack) -> None:
    stt, events = await open_stt(fake, stack)
    fake.inject({"type": "Warning", "warning_code": 1, "warning": "heads up"})
    fake.inject({"type": "Surprise", "what": 1})
    fake.inject("this is not JSON")
    fake.inject({"type": "Turn", "turn_order": "zero?", "end_of_turn": True, "words": "x"})
    fake.inject({"error": "bare error"})
    fake.inject({"type": "Error", "error_code": 3005, "error": "something broke"})
    async with Ticker(stt, tone(200) + silence(200)):
        turn = await events.wait(SttTurnEnded, count=2)
    malformed = events.of(SttTurnEnded)[0]
    assert (malformed.text, malformed.turn_order, malformed.words) == ("", 0, ())
    assert (turn.text, turn.turn_order) == ("hello", 1)  # our counter, not the server's 0
    assert stt.stats.last_error == "server error 3005: something broke"
    assert stt.connected


# --------------------------------------------------------------------------- outages


async def test_reconnects_and_transcribes_speech_from_the_outage(fake, stack) -> None:
    fake.script(["First turn.", "Said during the outage."])
    stt, events = await open_stt(fake, stack)
    async with Ticker(stt, silence(200) + tone(400) + silence(200)) as ticker:
        await events.wait(SttTurnEnded)
        fake.reject_next(2, 503)  # a longer outage: the first two retries fail
        fake.drop_connections()  # TCP abort: 1006 at the client
        ticker.say(tone(800) + silence(100))  # spoken while disconnected
        reconnected = await events.wait(SttReconnected)
        second = await events.wait(SttTurnEnded, count=2)
    assert reconnected.outage_seconds >= 0.2 + 0.4 + 0.8 - 0.05
    # More than the fake's 0.5 s rate allowance: sent in one burst it would get 3007.
    assert reconnected.backlog_seconds >= 0.8
    assert reconnected.dropped_seconds == 0
    assert reconnected.silence_skipped_seconds > 0
    assert (second.text, second.turn_order) == ("Said during the outage.", 1)
    assert [type(e) for e in events.items].count(SttSessionBegan) == 2
    assert fake.http_rejections == [503, 503]
    first_session, second_session = fake.sessions
    assert first_session.close_code == 1006
    assert second_session.violation is None and second_session.open
    assert set(second_session.chunk_sizes) == {800}
    assert_real_time(second_session, CLIENT_BURST + 0.02)
    assert second_session.sent_of_type("SpeechStarted")
    stats = stt.stats
    assert stats.reconnects == 1 and stats.sessions == 2 and stats.backlog_dropped_seconds == 0
    assert stats.last_error is not None and "HTTP 503" in stats.last_error
    # Word times continue across sessions instead of restarting at 0.
    first_end = events.of(SttTurnEnded)[0].audio_end_ms
    assert first_end is not None and second.words[0].start_ms > first_end


async def test_backlog_beyond_the_cap_is_dropped_oldest_first_and_reported(fake, stack) -> None:
    """The whole tone falls in the outage (the reconnect's backoff lasts until the ticker has
    said it), so every drop is the outage's: on a loaded run a reconnect within the tone left
    its last frames to come while the backlog was sent, and the cap dropped 0.1 s more after
    the event had been emitted (0.4 s in the stats, 0.3 s in the event)."""
    tickers: list[Ticker] = []

    async def until_the_tone_is_said(seconds: float) -> None:
        await tickers[0].drained()

    stt, events = await open_stt(fake, stack, max_backlog_seconds=0.3, sleep=until_the_tone_is_said)
    async with Ticker(stt) as ticker:
        tickers.append(ticker)
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes >= 800)
        fake.reject_next(1, 503)
        fake.drop_connections()
        ticker.say(tone(700))
        reconnected = await events.wait(SttReconnected)
    assert reconnected.dropped_seconds >= 0.1
    assert reconnected.backlog_seconds <= 0.3 + 0.1
    assert stt.stats.backlog_dropped_seconds == pytest.approx(reconnected.dropped_seconds)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1011, "internal error"),
        (1013, "Try again later"),
        (3005, "Internal server error"),
        (3006, "Invalid message"),
        (3007, "Input duration violation"),
        (3008, "Session expired: maximum session duration exceeded"),
        (1008, "Too many concurrent sessions"),
        (3009, "Too many concurrent sessions"),
    ],
)
async def test_transient_closes_are_retried(fake, stack, code, reason) -> None:
    sleeps = Sleeps()
    stt, events = await open_stt(fake, stack, sleep=sleeps)
    fake.drop_connections(code, reason)
    await events.wait(SttReconnected)
    assert len(fake.sessions) == 2 and stt.connected
    assert stt.stats.last_error is not None and str(code) in stt.stats.last_error
    limited = "concurrent" in reason
    assert sleeps.delays == ([RATE_LIMIT_BACKOFF_FIRST] if limited else [0.2])


async def test_a_session_rate_limit_backs_off_across_the_window(fake, stack) -> None:
    # The fake answers like the service: over its new-sessions-per-minute limit, the
    # upgrade is accepted and closed before Begin with 1008 "Too many concurrent
    # sessions". The window is 0.4 s here; the backoff clock is injected (each wait
    # really takes 0.15 s), and the retries must spread out, not hammer.
    sleeps = Sleeps(real=0.15)
    fake.sessions_per_minute, fake.rate_window = 1, 0.4
    stt, events = await open_stt(fake, stack, sleep=sleeps, reconnect_for=200.0)
    fake.drop_connections(1008, CONCURRENCY_REASON)
    await events.wait(SttReconnected)
    assert stt.connected and events.of(SttFailed) == []
    refused = [s.rejected_with for s in fake.sessions[1:-1]]
    assert refused and set(refused) == {1008}
    assert fake.sessions[-1].rejected_with is None
    assert sleeps.delays[:3] == [5.0, 10.0, 20.0][: len(sleeps.delays[:3])]
    assert len(sleeps.delays) == len(refused) + 1


@pytest.mark.parametrize("where", ["mid-call", "before Begin"])
async def test_a_1008_is_judged_by_the_error_frame_before_it(fake, stack, where) -> None:
    # The docs: an error "triggers on_error just prior to on_close" (common-errors.mdx);
    # the SDK takes the Error frame as the cause and the close as its effect. A 1008
    # whose text came in that frame is a session-rate refusal, retried after the
    # rate-limit backoff, not an authentication failure that ends the call's STT.
    sleeps = Sleeps()
    stt, events = await open_stt(fake, stack, sleep=sleeps)
    if where == "before Begin":
        fake.reject_next(1, 1008, "", error=f"Unauthorized connection: {CONCURRENCY_REASON}")
        fake.drop_connections(1011, "")
    else:
        fake.drop_connections(1008, "", error=f"Unauthorized connection: {CONCURRENCY_REASON}")
    await events.wait(SttReconnected)
    assert events.of(SttFailed) == [] and stt.connected
    assert RATE_LIMIT_BACKOFF_FIRST in sleeps.delays
    assert stt.stats.last_error is not None and CONCURRENCY_REASON in stt.stats.last_error


async def test_an_older_error_frame_does_not_explain_a_later_close(fake, stack) -> None:
    stt, events = await open_stt(fake, stack)
    fake.inject({"type": "Error", "error": CONCURRENCY_REASON})
    fake.inject({"type": "Warning", "warning_code": 1, "warning": "something else"})
    await fake.wait_for(lambda: len(fake.sessions[0].sent) >= 3)  # Begin, Error, Warning
    fake.drop_connections(1008, "")
    failed = await events.wait(SttFailed)
    assert failed.code == 1008 and CONCURRENCY_REASON not in failed.reason


async def test_a_1008_whose_error_frame_is_about_the_key_is_final(fake, stack) -> None:
    stt, events = await open_stt(fake, stack)
    fake.drop_connections(1008, "", error="Unauthorized connection: Invalid API key")
    failed = await events.wait(SttFailed)
    assert failed.code == 1008 and "Invalid API key" in failed.reason
    assert fake.connection_attempts == 1


def test_rate_limit_backoff_reaches_the_window_and_stops_there() -> None:
    assert RATE_LIMIT_BACKOFF_FIRST == 5.0 and RATE_LIMIT_BACKOFF_CAP == 60.0
    assert is_rate_limited(3009) and is_rate_limited(429)
    assert is_rate_limited(1008, "Too many concurrent sessions")
    assert not is_rate_limited(1008, "Unauthorized Connection: Invalid API key")
    assert not is_rate_limited(1011, "internal error")


async def test_rate_limit_waits_are_capped_at_the_window(fake, stack) -> None:
    sleeps = Sleeps()
    stt, events = await open_stt(fake, stack, sleep=sleeps, reconnect_for=200.0)
    fake.reject_next(10, 3009, CONCURRENCY_REASON)
    fake.drop_connections(3009, CONCURRENCY_REASON)
    failed = await events.wait(SttFailed)
    assert "gave up after 200 s of reconnect attempts (7)" in failed.reason
    # > 60 s in all: the service's window; the last wait cut short to the outage's end.
    assert sleeps.delays[:6] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert 4.5 < sleeps.delays[6] <= 5.0 and len(sleeps.delays) == 7


@pytest.mark.parametrize(
    ("reject", "drop", "code", "attempts"),
    [
        (None, (1008, "Unauthorized Connection: Invalid API key"), 1008, 1),
        ((1, 401), (None, ""), 401, 2),
        ((1, 1008), (1011, ""), 1008, 2),
    ],
)
async def test_auth_failure_mid_call_is_final(fake, stack, reject, drop, code, attempts) -> None:
    stt, events = await open_stt(fake, stack)
    if reject is not None:
        fake.reject_next(*reject)
    fake.drop_connections(*drop)
    failed = await events.wait(SttFailed)
    await events.wait_end()
    assert failed.code == code
    assert fake.connection_attempts == attempts
    await asyncio.sleep(0.3)  # longer than the first backoff: no further attempts
    assert fake.connection_attempts == attempts
    assert not stt.connected


async def test_gives_up_after_the_reconnect_window(fake, stack) -> None:
    stt, events = await open_stt(fake, stack, reconnect_for=0.5)
    fake.reject_next(10, 503)
    fake.drop_connections()
    failed = await events.wait(SttFailed)
    assert failed.reason.startswith("gave up after 0.5 s of reconnect attempts (2)")
    assert "HTTP 503" in failed.reason
    await events.wait_end()
    assert fake.connection_attempts == 3  # after 0.2 s, then at the window's end
    stt.send_audio(SILENCE_FRAME)  # ignored after failure, no error


async def test_an_outage_is_retried_as_long_as_the_policy_keeps_the_caller(fake, stack) -> None:
    """docs/assistant.md: the failure policy moves the call on after
    SIPGW_STT_GIVE_UP_AFTER_MS (20 s) of speech recognition down, and the caller's audio
    is kept 30 s for long outages; the client must not give up first (it gave up after 5
    attempts, about 5 s). The window is set per call, here the policy's 20 s plus the
    grace: waits and attempts fill it, and the last attempt starts at its end."""
    sleeps = Sleeps()
    stt, events = await open_stt(fake, stack, sleep=sleeps, reconnect_for=5.0)
    stt.set_reconnect_window(20.0 + GIVE_UP_GRACE)
    fake.reject_next(100, 503)
    fake.drop_connections()
    failed = await events.wait(SttFailed)
    assert "gave up after 21 s" in failed.reason
    assert sleeps.delays[:5] == [0.2, 0.4, 0.8, 1.6, 2.0]
    assert set(sleeps.delays[5:-1]) == {2.0} and 0 < sleeps.delays[-1] <= 2.0
    assert 20.5 < sum(sleeps.delays) <= 21.0  # the rest was the attempts' own time
    assert fake.connection_attempts == 1 + len(sleeps.delays)


async def test_a_flapping_server_does_not_restart_the_window(fake, stack) -> None:
    """A session that dies within STABLE_SESSION_SECONDS of opening does not start a new
    outage: the window goes on counting, so the client gives up in the end."""
    sleeps = Sleeps()
    stt, events = await open_stt(fake, stack, sleep=sleeps, reconnect_for=1.0)
    for _ in range(3):
        fake.drop_connections(1011, "internal error")
        await events.wait(SttReconnected)
        await fake.wait_for(lambda: stt.connected)
    fake.reject_next(100, 503)
    fake.drop_connections(1011, "internal error")
    await events.wait(SttFailed)
    assert sum(sleeps.delays) <= 1.0


# --------------------------------------------------------------------------- closing


async def test_close_terminates_the_session(fake, stack) -> None:
    stt, events = await open_stt(fake, stack)
    async with Ticker(stt, tone(300) + silence(700)) as ticker:
        await ticker.drained()
        await fake.wait_for(lambda: fake.sessions[0].audio_bytes >= 8000)
    await stt.close()
    await events.wait_end()
    await fake.wait_for(lambda: not fake.sessions[0].open)
    (session,) = fake.sessions
    assert session.messages[-1] == {"type": "Terminate"}
    (termination,) = session.sent_of_type("Termination")
    assert termination["audio_duration_seconds"] == 1
    assert termination["session_duration_seconds"] >= 1
    assert session.close_code == 1000
    assert stt.stats.server_audio_duration_seconds == 1
    assert not stt.connected
    await stt.close()  # idempotent
    stt.send_audio(SILENCE_FRAME)  # ignored after close


async def test_close_while_reconnecting_does_not_hang(fake, stack) -> None:
    stt, events = await open_stt(fake, stack)
    fake.reject_next(100, 503)
    fake.drop_connections()
    await fake.wait_for(lambda: fake.connection_attempts >= 2)
    async with asyncio.timeout(1.0):
        await stt.close()
    await events.wait_end()
    assert events.of(SttFailed) == []
    attempts = fake.connection_attempts
    await asyncio.sleep(0.5)
    assert fake.connection_attempts == attempts


async def closed_while_reconnecting(fake: FakeAssemblyAI) -> None:
    """A client whose session dropped, closed while the service refuses it again: its
    supervisor task is cancelled in its reconnection (the soak's stt.disconnect and
    stt.5xx faults, a call ending meanwhile)."""
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
    await stt.connect()
    fake.reject_next(100, 503)
    attempts = fake.connection_attempts
    fake.drop_connections()
    await fake.wait_for(lambda: fake.connection_attempts >= attempts + 2)
    await stt.close()
    await asyncio.sleep(0.05)  # the lost connection reported, the finished tasks let go


async def test_a_session_closed_while_reconnecting_leaves_no_cycle(fake) -> None:
    with garbage_of_ours() as leftovers:
        await closed_while_reconnecting(fake)
    assert leftovers == []


async def test_close_before_connect_and_concurrent_closes(fake) -> None:
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
    await stt.close()
    with pytest.raises(RuntimeError):
        await stt.connect()
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
    await stt.connect()
    await asyncio.gather(stt.close(), stt.close())
    assert [type(e) async for e in stt.events()] == [SttSessionBegan]
    await fake.wait_for(lambda: fake.sessions[0].close_code == 1000)


async def test_close_during_connect_terminates_the_session(fake) -> None:
    # The upgrade is done and the server's session exists, but Begin is late: a hang-up
    # now must still end that session (it would keep billing otherwise).
    fake.begin_delay = 0.3
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
    connecting = asyncio.ensure_future(stt.connect())
    await fake.wait_for(lambda: len(fake.sessions) == 1)
    await stt.close()
    assert connecting.done() and connecting.exception() is None
    (session,) = fake.sessions
    assert session.received_of_type("Terminate") == [{"type": "Terminate"}]
    await fake.wait_for(lambda: not fake.sessions[0].open)
    assert fake.sessions[0].close_code == 1000 and not stt.connected


async def test_a_connect_timeout_after_the_upgrade_terminates_the_session(fake) -> None:
    fake.begin_delay = 2.0
    settings = AssemblyAISettings(api_key=KEY, url=fake.url, connect_timeout=0.3)
    stt = AssemblyAISTTService(settings)
    with pytest.raises(SttConnectError, match="sent no Begin"):
        await stt.connect()
    (session,) = fake.sessions
    assert session.received_of_type("Terminate") == [{"type": "Terminate"}]
    await stt.close()


async def test_a_cancelled_connect_terminates_the_session(fake) -> None:
    fake.begin_delay = 2.0
    stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
    connecting = asyncio.ensure_future(stt.connect())
    await fake.wait_for(lambda: len(fake.sessions) == 1)
    await asyncio.sleep(0.2)  # the client has read the 101 by now: it waits for Begin
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    assert fake.sessions[0].received_of_type("Terminate") == [{"type": "Terminate"}]
    await stt.close()


class FailingOnce:
    """The client's audio uplink, whose first ``pop`` raises (the uplink may be compiled:
    its methods cannot be patched, so the client gets this stand-in instead)."""

    def __init__(self, uplink: object, error: Exception) -> None:
        self._uplink = uplink
        self._errors = [error]

    def pop(self) -> bytes | None:
        if self._errors:
            raise self._errors.pop()
        return self._uplink.pop()  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._uplink, name)


async def test_a_send_error_terminates_the_session_before_replacing_it(
    fake, stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stt, events = await open_stt(fake, stack)
    connection = stt._connection  # its sender pops the uplink
    monkeypatch.setattr(connection, "audio", FailingOnce(connection.audio, RuntimeError("boom")))
    async with Ticker(stt, tone(300) + silence(200)):
        await events.wait(SttReconnected)
    first, second = fake.sessions[:2]
    assert first.received_of_type("Terminate") == [{"type": "Terminate"}]
    assert first.sent_of_type("Termination") and second.rejected_with is None
    assert stt.stats.last_error is not None


# --------------------------------------------------------------------------- thread mode


async def test_fake_runs_in_a_thread_for_subprocess_gateways() -> None:
    fake = await asyncio.to_thread(FakeAssemblyAI(api_key=KEY).start_in_thread)
    try:
        fake.script(["From another thread."])
        stt = AssemblyAISTTService(AssemblyAISettings(api_key=KEY, url=fake.url))
        await stt.connect()
        events = Events(stt)
        try:
            async with Ticker(stt, tone(300) + silence(200)):
                turn = await events.wait(SttTurnEnded)
            assert turn.text == "From another thread."
            fake.reject_next(1, 503)
            fake.drop_connections(1012, "service restart")
            await events.wait(SttReconnected)
            await asyncio.to_thread(fake.wait_for_blocking, lambda: len(fake.sessions) == 2, 5.0)
            await fake.wait_for(lambda: fake.http_rejections == [503])
        finally:
            await stt.close()
            await events.aclose()
    finally:
        await asyncio.to_thread(fake.stop)


def test_fake_silence_partials_scripted_full_or_half() -> None:
    fake = FakeAssemblyAI(default_transcript="Where is my order, 1234?")
    assert fake.partial_text(silence=True) == "Where is"  # the first half, by default
    fake.full_silence_partials = True
    assert fake.partial_text(silence=True) == "where is my order 1234"  # unformatted
    assert fake.partial_text(silence=False) == "Where is"  # early partials stay halves
    fake.script_partials(["where is my"])
    assert fake.partial_text(silence=True) == "where is my"
    assert fake.partial_text(silence=True) == "where is my order 1234"


async def test_an_error_in_the_inline_send_is_the_senders_and_never_outlives_its_session(
    fake, stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error raised while send_audio writes a chunk at once is handed to the sender task;
    if the session ends before the task runs, it is reported then (not raised in the next
    session's sender)."""
    stt, _ = await open_stt(fake, stack)
    connection = stt._connection  # its sender pops the uplink
    await wait_for_idle_sender(stt)
    monkeypatch.setattr(connection, "audio", FailingOnce(connection.audio, RuntimeError("boom")))
    for frame in split_frames(tone(100)):
        stt.send_audio(frame)  # the chunk's pop raises inside send_audio: caught
    assert stt.stats.chunks_sent == 0 and stt.stats.last_error is None
    await stt.close()  # before the sender task could raise it
    assert stt.stats.last_error == "sender failed: RuntimeError('boom')"
    assert fake.sessions[0].received_of_type("Terminate") == [{"type": "Terminate"}]
