"""The same scripted conversation over SIP, Twilio Media Streams and the browser, side by side.

Run from the repository root::

    .venv/bin/python -m bench.legs                 # 5 calls a leg
    .venv/bin/python -m bench.legs --calls 10 --json bench/results/legs.json

Set-up: ``sipgw serve --agent assistant`` as a subprocess, its admin server on with Twilio
configured, against the fake AI services in threads of this process (``fakes_in_threads``:
the STT ends a turn after its silence wait, the LLM answers at once, the TTS speaks a tone per
reply). The three callers run on this process's event loop, one call at a time:

- **SIP**: the toolkit's scripted phone (``sipgw.app.evaluation.phone``): RTP, kernel timestamps.
- **Twilio Media Streams**: the Twilio fake (``tests.toolkit.fakes.twilio``) after the signed
  webhook's TwiML, on the admin server's ``/twilio/stream``; times are when the fake read
  each ``media`` message (no playout delay: the wire, as for the others).
- **browser**: an aiortc peer standing in for the browser, through ``/api/phone/calls``,
  PCMU; times are when its DTLS transport handed each decrypted RTP packet over (its own
  jitter buffer is not in the way).

Each call: the greeting; the caller speaks 0.8 s (a 300 Hz tone); the reply is long; after
0.6 s of it the caller talks over it for 1.0 s; the answer to that. Figures (ms):

- ``end_of_speech_to_first_audio_ms``: the caller's last speech frame sent -> the first frame
  of the agent's reply received (both turns of each call). It includes the fakes' delays
  (the STT's silence wait is most of it), the same on every leg: the legs differ by the rest.
- ``barge_in_stop_ms``: the caller's first frame spoken over the reply sent -> the end of the
  last frame of that reply received.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fractions
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bench._harness import fmt, format_table, log, machine_info, summarize, write_json
from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.phone import Phone
from sipgw.app.evaluation.ports import free_port
from sipgw.media import g711
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.fakes.twilio import FakeTwilioStream, call_the_webhook
from tests.toolkit.netns import add_ice_address

GREETING_HZ, LONG_HZ, REPLY_HZ, SPEECH_HZ = 500, 900, 700, 300
TONES = (GREETING_HZ, LONG_HZ, REPLY_HZ, SPEECH_HZ)
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3
SHORT = "Your order has shipped."
ADMIN_TOKEN = "bench-legs-admin-token"
TWILIO_TOKEN = "bench-twilio-token"
PUBLIC = "https://gw.bench.test"
LEGS = ("sip", "twilio", "browser")


def speech(seconds: float) -> list[bytes]:
    return tone_frames(SPEECH_HZ, seconds, -12.0)


class Caller(Protocol):
    """One leg's caller: speaks frames on a 20 ms clock, keeps the agent's frames it gets."""

    async def start(self) -> None: ...

    async def speak(self, frames: list[bytes]) -> tuple[float, float]:
        """Send ``frames``; once sent, when the first and the last went (monotonic)."""
        ...

    def heard(self) -> list[tuple[float, bytes]]:
        """The agent's frames received: (arrival, 160 bytes of μ-law)."""
        ...

    async def close(self) -> None: ...


class SipCaller:
    def __init__(self, address: tuple[str, int]) -> None:
        self.phone = Phone(address, user="agent")
        self._tags = 0

    async def start(self) -> None:
        answer = await self.phone.invite()
        assert answer.status == 200, f"the INVITE got {answer.status} {answer.reason}"
        self.phone.start_audio()

    async def speak(self, frames: list[bytes]) -> tuple[float, float]:
        self._tags += 1
        self.phone.say(frames, self._tags)
        last = await self.phone.wait_said(self._tags, 10 + len(frames) * 0.02)
        return self.phone.sent_at[last - len(frames) + 1], self.phone.sent_at[last]

    def heard(self) -> list[tuple[float, bytes]]:
        return [(h.at, h.packet.payload) for h in self.phone.heard if h.audio]

    async def close(self) -> None:
        await self.phone.bye()
        self.phone.close()


class TwilioCaller:
    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.stream: FakeTwilioStream | None = None

    async def start(self) -> None:
        form = {"CallSid": "CA" + "0" * 32, "From": "+15550001111", "To": "+15550002222"}
        async with aiohttp.ClientSession() as http:
            answer = await call_the_webhook(
                http, f"{self.admin}/twilio/voice", TWILIO_TOKEN, f"{PUBLIC}/twilio/voice", form
            )
        assert answer.stream_url, answer.body
        self.stream = answer.stream(
            self.admin.replace("http://", "ws://") + "/twilio/stream", TWILIO_TOKEN
        )
        await self.stream.__aenter__()

    async def speak(self, frames: list[bytes]) -> tuple[float, float]:
        stream = self.stream
        assert stream is not None
        first = stream.say(b"".join(frames))
        last = first + len(frames) - 1
        await stream.wait_for(lambda: len(stream.sent_at) > last, 10 + len(frames) * 0.02)
        return stream.sent_at[first], stream.sent_at[last]

    def heard(self) -> list[tuple[float, bytes]]:
        assert self.stream is not None
        return [
            (at, base64.b64decode(m["media"]["payload"]))
            for at, m in self.stream.received if m.get("event") == "media"
        ]  # fmt: skip

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.stop()


class BrowserCaller:
    """aiortc as the browser: a paced track of the script out, the RTP tapped in."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.frames: list[tuple[float, bytes]] = []
        self.sent_at: list[float] = []
        self._queue: list[bytes] = []
        self._t0: float | None = None
        self._call = ""
        self.pc: Any = None

    async def start(self) -> None:
        from aiortc import (
            RTCConfiguration,
            RTCPeerConnection,
            RTCRtpSender,
            RTCSessionDescription,
        )
        from aiortc.mediastreams import MediaStreamTrack
        from av.audio.frame import AudioFrame

        caller = self

        class Script(MediaStreamTrack):
            kind = "audio"

            async def recv(self) -> AudioFrame:
                loop = asyncio.get_running_loop()
                n = len(caller.sent_at)
                if caller._t0 is None:
                    caller._t0 = loop.time()
                wait = caller._t0 + n * 0.020 - loop.time()  # real time, absolute deadlines
                if wait > 0:
                    await asyncio.sleep(wait)
                frame = caller._queue.pop(0) if caller._queue else g711.silence_frame("PCMU")
                audio = AudioFrame(format="s16", layout="mono", samples=160)
                audio.planes[0].update(g711.ulaw_to_linear(frame))
                audio.sample_rate, audio.pts = 8000, n * 160
                audio.time_base = fractions.Fraction(1, 8000)
                caller.sent_at.append(loop.time())
                return audio

        # no STUN server (aiortc's default is stun.l.google.com): on loopback it only adds a
        # wait, aioice's 5 s, wherever a route out exists
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver(Script(), direction="sendrecv")
        capabilities = RTCRtpSender.getCapabilities("audio")
        transceiver.setCodecPreferences(
            [c for c in capabilities.codecs if c.mimeType == "audio/PCMU"]
        )
        loop = asyncio.get_running_loop()

        async def tap(packet: Any, arrival_time_ms: int) -> None:
            self.frames.append((loop.time(), bytes(packet.payload)))

        transceiver.receiver._handle_rtp_packet = tap  # type: ignore[method-assign]  # the tap
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.admin}/api/phone/calls", json={"sdp": pc.localDescription.sdp},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as response:  # fmt: skip
                answer = await response.json()
                assert response.status == 201, answer
        self._call = answer["id"]
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def speak(self, frames: list[bytes]) -> tuple[float, float]:
        first = len(self.sent_at) + len(self._queue)
        self._queue.extend(frames)
        last = first + len(frames) - 1
        await until(lambda: len(self.sent_at) > last, 10 + len(frames) * 0.02)
        return self.sent_at[first], self.sent_at[last]

    def heard(self) -> list[tuple[float, bytes]]:
        return list(self.frames)

    async def close(self) -> None:
        async with aiohttp.ClientSession() as http:
            await http.post(
                f"{self.admin}/api/phone/calls/{self._call}/hangup",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
        await self.pc.close()


async def until(condition: Callable[[], bool], within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the conversation did not go as scripted")
        await asyncio.sleep(0.01)


def tone_frames_after(heard: list[tuple[float, bytes]], hz: float, after: float) -> list[float]:
    """Arrival times of the frames carrying ``hz`` received after ``after``."""
    return [at for at, frame in heard if at > after and dominant_tone(frame, TONES) == hz]


@dataclass
class LegFigures:
    leg: str
    first_audio_ms: list[float] = field(default_factory=list)
    barge_stop_ms: list[float] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """Why each failed call failed (the JSON and the smoke test show them)."""


async def converse(caller: Caller, figures: LegFigures) -> None:
    """One scripted call; its figures added to ``figures``."""
    await caller.start()
    try:
        await until(lambda: len(tone_frames_after(caller.heard(), GREETING_HZ, 0)) >= 3, 15)
        await asyncio.sleep(0.3)  # the greeting ends
        _, end1 = await caller.speak(speech(0.8))
        await until(lambda: len(tone_frames_after(caller.heard(), LONG_HZ, end1)) >= 30, 15)
        barge, end2 = await caller.speak(speech(1.0))
        await until(lambda: len(tone_frames_after(caller.heard(), REPLY_HZ, end2)) >= 3, 15)
        heard = caller.heard()
        long = tone_frames_after(heard, LONG_HZ, end1)
        figures.first_audio_ms.append((long[0] - end1) * 1000)
        figures.first_audio_ms.append((tone_frames_after(heard, REPLY_HZ, end2)[0] - end2) * 1000)
        figures.barge_stop_ms.append((long[-1] + 0.020 - barge) * 1000)
    finally:
        await caller.close()


async def run(calls: int, workdir: Path) -> dict[str, Any]:
    add_ice_address()
    tones = {"Hi there": GREETING_HZ, "story": LONG_HZ, "shipped": REPLY_HZ}
    results: dict[str, LegFigures] = {leg: LegFigures(leg) for leg in LEGS}
    with fakes_in_threads(workdir, tones) as fakes:
        env = {
            **fakes.env, "SIPGW_ADMIN_PORT": str(free_port()), "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIPGW_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SIPGW_PUBLIC_URL": PUBLIC,
            "SIPGW_VOICE_DETECTOR": "energy",  # the caller "speaks" a tone: no voice to a model
        }  # fmt: skip
        with GatewayProcess(
            workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env, lifetime=None
        ) as gw:
            admin = gw.wait_log(r"admin listening on (\S+)", 15).group(1)
            for n in range(calls):
                for leg in LEGS:
                    log(f"call {n + 1}/{calls} over {leg}")
                    script(fakes)
                    caller: Caller = (
                        SipCaller(gw.address) if leg == "sip"
                        else TwilioCaller(admin) if leg == "twilio" else BrowserCaller(admin)
                    )  # fmt: skip
                    try:
                        await converse(caller, results[leg])
                    except (TimeoutError, AssertionError) as exc:
                        results[leg].failed += 1
                        results[leg].errors.append(f"{type(exc).__name__}: {exc}"[:500])
                        log(f"  {leg} call failed: {exc}")
                    await asyncio.sleep(0.5)  # the call's end reaches the gateway
            gw.stop()
    return {
        leg: {
            "calls": calls,
            "failed": figures.failed,
            "errors": figures.errors,
            "end_of_speech_to_first_audio_ms": summarize(figures.first_audio_ms, 1),
            "barge_in_stop_ms": summarize(figures.barge_stop_ms, 1),
            "samples": {
                "first_audio_ms": [round(v, 1) for v in figures.first_audio_ms],
                "barge_in_stop_ms": [round(v, 1) for v in figures.barge_stop_ms],
            },
        }  # fmt: skip
        for leg, figures in results.items()
    }


def script(fakes: ThreadedFakes) -> None:
    """One call's lines: two caller turns, the long reply and the short one."""
    fakes.stt.script(["Tell me about shipping.", "Stop, I have a question."])
    fakes.llm.script([FakeResponse(text=LONG), FakeResponse(text=SHORT)])


def table(legs: dict[str, Any]) -> str:
    rows = []
    for leg, data in legs.items():
        first, stop = data["end_of_speech_to_first_audio_ms"], data["barge_in_stop_ms"]
        rows.append([
            leg, fmt(first["p50"], ".0f"), fmt(first["p90"], ".0f"), fmt(first["max"], ".0f"),
            fmt(stop["p50"], ".0f"), fmt(stop["p90"], ".0f"), fmt(stop["max"], ".0f"),
            str(first["count"]), str(data["failed"]),
        ])  # fmt: skip
    headers = ["leg", "first audio p50", "p90", "max", "barge-in stop p50", "p90", "max",
               "turns", "failed"]  # fmt: skip
    return format_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5, help="calls per leg (default 5)")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-legs-") as tmp:
        legs = asyncio.run(run(args.calls, Path(tmp)))
    data = {
        "benchmark": "legs",
        "machine": machine_info(),
        "params": {"calls": args.calls, "speech_s": [0.8, 1.0], "barge_after_s": 0.6},
        "seconds": round(time.time() - started, 1),
        "legs": legs,
    }
    print(table(legs))
    print(f"JSON: {write_json(data, args.json, 'legs')}")


if __name__ == "__main__":
    main()
