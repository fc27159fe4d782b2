"""MediaStreamConnection over a real WebSocket, with Twilio's side played by the fake.

The endpoint here is a ``websockets`` server running the production session and adapter; the
shared ticker drives it as it drives a SIP call. The fake (tests/toolkit/fakes/twilio.py) is
Twilio: it streams the caller, plays our audio back at real time, echoes marks, honours clear.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve

from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.media import g711
from sipgw.media.aio.ticker import Ticker
from sipgw.twilio.aio.connection import MediaStreamConnection
from sipgw.twilio.messages import DtmfReceived, StreamEvent, StreamStarted, StreamStopped
from sipgw.twilio.signature import verify_signature
from sipgw.twilio.stream import MediaStreamConfig, MediaStreamSession, StreamState
from tests.toolkit.fakes.twilio import FakeTwilioStream

pytestmark = pytest.mark.usefixtures("virtual_clock")
"""The endpoint, its ticker and the fake on a virtual clock (tests/toolkit/virtual_time.py):
a stalled machine skips no tick, and every count below is exact."""

TOKEN = "twilio-auth-token"
TONE = tone_frames(440, 1.0)


@dataclass(eq=False)
class Call:
    """One stream at the endpoint: an echo agent, or a scripted reply when ``reply`` is set."""

    session: MediaStreamSession
    connection: MediaStreamConnection
    reply: list[bytes] = field(default_factory=list)
    talking: bool = True
    events: list[StreamEvent] = field(default_factory=list)

    def tick(self, now: float) -> None:
        self.session.poll_ingress(now)
        caller = self.session.caller_frame(now)
        if self.reply:
            # The reply starts with the stream: a tick before ``start`` sends nothing (no
            # stream SID yet), and a loaded loop reads ``start`` a few ticks late.
            streaming = self.session.state is StreamState.STREAMING
            frame = self.reply.pop(0) if self.talking and streaming else None
        elif caller is not None and g711.rms_dbfs(caller) > -50:
            frame = caller  # echo what the caller says, not the line's silence
        else:
            frame = None
        self.connection.send_frame(frame)

    def skip(self, ticks: int) -> None:
        self.session.skip(ticks)


@dataclass
class Endpoint:
    url: str
    calls: list[Call]
    signatures: list[bool]
    ticker: Ticker


@contextlib.asynccontextmanager
async def endpoint(reply: list[bytes] | None = None) -> AsyncIterator[Endpoint]:
    ticker = Ticker()
    ticker.start()
    calls: list[Call] = []
    signatures: list[bool] = []
    url = ""

    async def handle(ws: ServerConnection) -> None:
        signatures.append(
            verify_signature(TOKEN, ws.request.headers.get("X-Twilio-Signature"), url)
            if ws.request is not None
            else False
        )
        loop = asyncio.get_running_loop()
        session = MediaStreamSession(loop.time(), MediaStreamConfig(mark_every=5))
        call = Call(session, MediaStreamConnection(session, ws.send), reply=list(reply or []))
        call.connection.on_event = call.events.append
        calls.append(call)
        ticker.add(call)
        try:
            await call.connection.run(ws)
        finally:
            ticker.remove(call)
            await call.connection.close()

    async with serve(handle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        try:
            yield Endpoint(url, calls, signatures, ticker)
        finally:
            await ticker.stop()


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_caller_is_echoed_paced_and_every_mark_comes_back() -> None:
    async with (
        endpoint() as ep,
        FakeTwilioStream(ep.url, audio=b"".join(TONE), auth_token=TOKEN) as twilio,
    ):
        await twilio.wait_for(lambda: twilio.heard_seconds() >= 0.9, within=10)
        await until(lambda: bool(ep.calls) and ep.calls[0].session.played_out)
        call = ep.calls[0]
    assert ep.ticker.skipped == 0  # on the virtual clock no tick is ever late
    heard = [piece.audio for piece in twilio.heard]
    assert sum(frame in TONE for frame in heard) >= 45  # μ-law passed unchanged
    tone = [frame for frame in heard if frame in TONE]  # 440 Hz repeats every 5 frames
    breaks = sum(b != TONE[TONE.index(a) + 1] for a, b in zip(tone, tone[1:], strict=False))
    assert breaks <= 3 and dominant_tone(tone[0], (440, 1000)) == 440  # in order
    # Paced: each 20 ms frame its own message, one per tick, not one burst.
    times = [t for t, m in twilio.received if m["event"] == "media"]
    gaps = [round(b - a, 4) for a, b in zip(times, times[1:], strict=False)]
    assert set(gaps) == {0.02}, gaps
    assert call.session.frames_played == call.session.frames_sent >= 45
    assert not twilio.protocol_errors and ep.signatures == [True]
    assert isinstance(call.events[1], StreamStarted)


async def test_clear_stops_the_caller_hearing_and_the_marks_bracket_what_was_heard() -> None:
    async with endpoint(reply=tone_frames(440, 3.0)) as ep, FakeTwilioStream(ep.url) as twilio:
        await twilio.wait_for(lambda: twilio.heard_seconds() >= 0.5, within=10)
        call = ep.calls[0]
        call.talking = False  # the barge-in: the agent stops...
        clearing = call.connection.clear()  # ...and what Twilio buffers is dropped
        await twilio.wait_for(lambda: bool(twilio.clears), within=5)
        await until(lambda: call.session.marks_pending == 0)
    session = call.session
    heard_frames = len(twilio.heard_audio()) // 160
    # What the caller heard lies between what the marks confirmed and that plus the dropped.
    assert session.frames_played <= heard_frames <= session.frames_played + clearing.unheard_frames
    assert clearing.unheard_frames <= 15  # paced: only what was in flight, not the reply
    assert session.frames_played + session.frames_dropped == session.frames_sent
    assert all(cleared for _, t, cleared in twilio.echoed if t >= twilio.clears[0])
    assert twilio.heard[-1].end <= twilio.clears[0] + 0.001  # nothing played after the clear
    assert len(twilio.media_received()) == session.frames_sent


async def test_parameters_keys_and_stop_reach_the_endpoint_and_junk_is_dropped() -> None:
    async with endpoint() as ep:
        twilio = FakeTwilioStream(ep.url, custom_parameters={"caller": "+15551234567"})
        async with twilio:
            await until(lambda: bool(ep.calls))
            await twilio.send_raw("not json")
            await twilio.press("5")
            call = ep.calls[0]
            await until(lambda: any(isinstance(e, DtmfReceived) for e in call.events))
        await until(lambda: isinstance(call.events[-1], StreamStopped))
    started = next(e for e in call.events if isinstance(e, StreamStarted))
    assert started.custom_parameters == {"caller": "+15551234567"}
    assert started.call_sid == twilio.call_sid
    assert [e.digit for e in call.events if isinstance(e, DtmfReceived)] == ["5"]
    assert call.connection.malformed == 1 and call.connection.error is None
    assert ep.signatures == [False]  # no token, no signature


async def test_played_out_waits_for_the_last_mark() -> None:
    async with endpoint(reply=tone_frames(440, 0.2)) as ep, FakeTwilioStream(ep.url) as twilio:
        await until(lambda: bool(ep.calls) and ep.calls[0].session.frames_sent >= 10)
        call = ep.calls[0]
        assert await call.connection.played_out(within=5)
        assert twilio.heard_seconds() == pytest.approx(0.2, abs=0.001)
        assert [name for name, _, _ in twilio.echoed] == ["5", "10"]
