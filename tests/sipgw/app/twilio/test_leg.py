"""A Twilio Media Stream as a call (sipgw/app/twilio/leg.py), its frames from a script.

The frames are Twilio's messages as its "Media Streams - WebSocket Messages" page shows them;
what the endpoint sends back is kept. The gateway runs in-process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.variables import MAX_VARIABLES
from sipgw.app.legs.calls import LegCalls
from sipgw.app.security.trust import TrustStore
from sipgw.app.twilio.leg import TwilioStream, stream_variables, twilio_party
from sipgw.sip.ratelimit import CallRateConfig, CallRateLimiter, Rate
from sipgw.twilio.stream import MediaStreamConfig
from sipgw.twilio.token import TOKEN_PARAMETER, StreamTokens
from tests.sipgw.app.legs.doubles import NotingAgent, noting, until
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

SID = "MZ" + "a" * 32
CALL = "CA" + "b" * 32


def tokens() -> StreamTokens:
    return StreamTokens(b"k" * 32)


def signed(issuer: StreamTokens, call: str = CALL, **parameters: str) -> dict[str, str]:
    """``parameters`` with the token our webhook would have passed with them."""
    return {**parameters, TOKEN_PARAMETER: issuer.issue(call, parameters, time.time())}


def start(parameters: dict[str, str] | None = None, call: str = CALL) -> str:
    parameters = parameters or {}
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": SID,
        "start": {"accountSid": "AC" + "c" * 32, "streamSid": SID, "callSid": call,
                  "tracks": ["inbound"], "customParameters": parameters,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    })  # fmt: skip


def media(chunk: int) -> str:
    payload = base64.b64encode(b"\x11" * 160).decode()
    return json.dumps({
        "event": "media", "streamSid": SID,
        "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(20 * chunk - 20),
                  "payload": payload},
    })  # fmt: skip


DTMF = json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"track": "inbound_track",
                                                                "digit": "7"}})  # fmt: skip
STOP = json.dumps({"event": "stop", "streamSid": SID, "stop": {"callSid": CALL}})


class Socket:
    """The WebSocket's two ends: frames Twilio sends (queued by the test), frames we send."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def frames(self) -> AsyncIterator[str]:
        while (frame := await self.incoming.get()) is not None:
            yield frame

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self) -> None:
        self.closed = True
        self.incoming.put_nowait(None)


def test_twilios_parties_become_uris() -> None:
    assert twilio_party("+15551234567", CALL) == "tel:+15551234567"
    assert twilio_party("client:alice", CALL) == "client:alice"
    assert twilio_party("sip:bob@example.com", CALL) == "sip:bob@example.com"
    assert twilio_party("", CALL) == f"twilio:{CALL}"  # anonymous


def test_custom_parameters_become_variables_under_the_one_rule() -> None:
    given = {"From": "+15551234567", "lang": "de", "customer-id": "7", "note": "a\nb"}
    assert stream_variables(given) == (
        {"From": "+15551234567", "lang": "de"}, ("customer-id", "note"))  # fmt: skip
    many = {f"p{n}": "x" for n in range(MAX_VARIABLES + 2)}
    kept, left_out = stream_variables(many)
    assert len(kept) == MAX_VARIABLES and left_out == (f"p{MAX_VARIABLES}", f"p{MAX_VARIABLES + 1}")
    assert stream_variables({}) == ({}, ())


async def test_a_stream_is_a_call_with_its_parameters_its_digits_and_its_end() -> None:
    async with running_gateway(noting([b"\x22" * 160] * 6)) as (gw, _):
        calls = LegCalls(gw)
        socket = Socket()
        issuer = tokens()
        stream = TwilioStream(calls, socket.send, socket.close, MediaStreamConfig(), issuer)
        run = asyncio.ensure_future(stream.run(socket.frames()))
        passed = signed(issuer, From="+15551234567", To="+15557654321", CallerName="Ann", lang="de")
        for frame in (
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            start(passed),
        ):
            socket.incoming.put_nowait(frame)  # fmt: skip
        await until(lambda: stream.handle is not None and stream.handle.answered)
        for n in range(1, 20):
            socket.incoming.put_nowait(media(n))
        handle = stream.handle
        assert handle is not None
        assert (handle.caller, handle.called, handle.call.caller.display_name) == (
            "tel:+15551234567", "tel:+15557654321", "Ann")  # fmt: skip
        assert handle.call.call_id == CALL and handle.details.variables["lang"] == "de"
        assert TOKEN_PARAMETER not in handle.details.variables  # the token is ours alone
        agent = handle.agent
        assert isinstance(agent, NotingAgent)
        await until(lambda: len(agent.arrived) >= 10)  # the caller's audio, at arrival
        socket.incoming.put_nowait(DTMF)
        await until(lambda: agent.digits == ["7"])
        await until(lambda: sum(m["event"] == "media" for m in socket.sent) == 6)
        assert any(m["event"] == "mark" for m in socket.sent)
        socket.incoming.put_nowait(STOP)
        await asyncio.wait_for(run, 5)
        assert handle.ended and handle.end_reason == "remote-hangup" and socket.closed


async def test_a_stream_the_gateway_refuses_is_closed_without_a_call() -> None:
    async with running_gateway(noting()) as (gw, _):
        gw.ua.draining = True
        socket = Socket()
        issuer = tokens()
        stream = TwilioStream(LegCalls(gw), socket.send, socket.close, MediaStreamConfig(), issuer)
        run = asyncio.ensure_future(stream.run(socket.frames()))
        socket.incoming.put_nowait(start(signed(issuer)))
        await asyncio.wait_for(run, 5)
        assert "draining" in stream.refused and stream.handle is None and socket.closed
        assert not gw.handles


async def started(
    gw: Any,
    issuer: StreamTokens,
    parameters: dict[str, str],
    call: str = CALL,
    own_twiml: bool = False,
    taken: Callable[[str, float], Awaitable[bool]] | None = None,
) -> TwilioStream:
    """A stream that sent ``start`` with ``parameters``: a call, or refused and closed."""
    socket = Socket()
    calls = LegCalls(gw)
    stream = TwilioStream(calls, socket.send, socket.close, MediaStreamConfig(), issuer,
                          own_twiml=own_twiml, taken=taken)  # fmt: skip
    run = asyncio.ensure_future(stream.run(socket.frames()))
    socket.incoming.put_nowait(start(parameters, call))
    await until(lambda: stream.handle is not None or socket.closed)
    if stream.handle is not None:
        socket.incoming.put_nowait(STOP)
    await asyncio.wait_for(run, 5)
    return stream


async def test_a_stream_without_our_webhooks_token_is_refused_before_any_agent() -> None:
    """Issue 39: the handshake's signature covers the URL only, so one replayed handshake
    opened a paid stream per try; now ``start`` must carry the webhook's one-time token."""
    NotingAgent.built.clear()
    async with running_gateway(noting()) as (gw, _):
        issuer = tokens()
        ours = signed(issuer, From="+15551234567")
        other_call = "CA" + "b" * 22 + "c" * 10  # the first 24 characters alike
        late = {"From": "+15551234567", TOKEN_PARAMETER: issuer.issue(CALL, {
            "From": "+15551234567"}, time.time() - 31)}  # fmt: skip
        for parameters, call, why in [
            ({"From": "+15551234567"}, CALL, "no stream token"),
            ({**ours, "From": "+15550000000"}, CALL, "parameters changed"),
            (ours, other_call, f"for call {CALL}, not this one"),
            (signed(StreamTokens(b"x" * 32), From="+15551234567"), CALL, "not ours"),
            (late, CALL, "expired"),
        ]:
            refused = await started(gw, issuer, parameters, call)
            assert why in refused.refused and refused.handle is None, (why, refused.refused)
        assert NotingAgent.built == [] and not gw.handles
        first = await started(gw, issuer, ours)  # the real one, still unused
        assert first.refused == "" and first.handle is not None and len(NotingAgent.built) == 1
        replayed = await started(gw, issuer, ours)
        assert "used already" in replayed.refused and replayed.handle is None
        assert len(NotingAgent.built) == 1


async def test_a_token_one_gateway_issued_opens_one_stream_on_any(tmp_path: Path) -> None:
    """Two gateways share the key and the store (sipgw/app/security/trust.py): a token
    gateway A issued opens a stream on B once; replayed to A (whose own memory never saw
    it), it is refused; the store is a SQLite file (tests/sipgw/app/security/test_trust.py
    runs the store on PostgreSQL too)."""
    store = TrustStore(tmp_path / "trust.sqlite3")
    key = b"s" * 32
    on_a, on_b = StreamTokens(key), StreamTokens(key)

    async def taken(call_sid: str, expires: float) -> bool:
        return await store.take_token(call_sid, expires, time.time())

    async with running_gateway(noting()) as (gw, _):
        ours = signed(on_a, From="+15551234567")
        first = await started(gw, on_b, ours, taken=taken)
        assert first.refused == "" and first.handle is not None
        replayed = await started(gw, on_a, ours, taken=taken)
        assert "used already (by another gateway)" in replayed.refused
        assert replayed.handle is None and len(gw.handles) <= 1


async def test_own_twiml_lets_streams_without_a_token_in_and_charges_them() -> None:
    async with running_gateway(noting()) as (gw, _):
        now = asyncio.get_running_loop().time()
        gw.ua.call_rate = CallRateLimiter(CallRateConfig(Rate(0, 0), Rate(6, 1)), now)
        issuer = tokens()
        first = await started(gw, issuer, {"From": "+15551234567"}, own_twiml=True)
        assert first.refused == "" and first.handle is not None
        again = await started(gw, issuer, {"From": "+15551234567"}, own_twiml=True)
        assert "SIPGW_CALLS_PER_CALLER" in again.refused and again.handle is None
        other = await started(gw, issuer, {"From": "+15550000000"}, own_twiml=True)
        assert other.refused == ""
        # one our webhook admitted (and charged) is not charged again at its start
        webhooked = await started(gw, issuer, signed(issuer, From="+15551234567"), own_twiml=True)
        assert webhooked.refused == "" and len(issuer) == 1
        assert gw.ua.call_rate.limited_caller == 1
        # a token that is there is checked, setting or not: a replay is refused
        replayed = await started(gw, issuer, signed(issuer, From="+15551234567"), own_twiml=True)
        assert "used already" in replayed.refused


async def test_a_stream_error_ends_the_call() -> None:
    async with running_gateway(noting()) as (gw, _):
        socket = Socket()
        issuer = tokens()
        stream = TwilioStream(LegCalls(gw), socket.send, socket.close, MediaStreamConfig(), issuer)
        run = asyncio.ensure_future(stream.run(socket.frames()))
        socket.incoming.put_nowait(start(signed(issuer)))
        await until(lambda: stream.handle is not None)
        socket.incoming.put_nowait(start())  # a second start: not Twilio's protocol
        await asyncio.wait_for(run, 5)
        assert stream.handle is not None and stream.handle.end_reason == "stream-error"


async def test_a_clear_before_the_stream_started_sends_nothing() -> None:
    async with running_gateway(noting()) as (gw, _):
        socket = Socket()
        config = MediaStreamConfig()
        stream = TwilioStream(LegCalls(gw), socket.send, socket.close, config, tokens())
        assert stream.media.clear() == 0 and socket.sent == []
        assert stream.media.describe()["transport"] == "Twilio Media Streams"
        await stream.connection.close()


async def test_a_stream_for_an_agent_whose_legs_lack_twilio_is_refused_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 40: the record's ``legs`` is read: an agent that declares SIP calls only gets
    no Twilio stream (closed before any agent is built, a log line naming it)."""
    NotingAgent.built.clear()
    sip_only = PluginFactory(
        noting().make, AgentCapabilities(legs=frozenset({"sip"})), name="sip-only"
    )
    async with running_gateway(sip_only) as (gw, _):
        issuer = tokens()
        with caplog.at_level("WARNING", logger="sipgw"):
            refused = await started(gw, issuer, signed(issuer, From="+15551234567"))
        assert refused.handle is None and NotingAgent.built == [] and not gw.handles
        assert "agent sip-only takes no twilio calls (its record's legs: sip)" in refused.refused
        assert "agent sip-only takes no twilio calls" in caplog.text
    async with running_gateway(noting()) as (gw, _):  # the default record takes every leg
        issuer = tokens()
        taken = await started(gw, issuer, signed(issuer, From="+15551234567"))
        assert taken.refused == "" and taken.handle is not None
