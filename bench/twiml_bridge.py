"""What the ``twiml`` agent's bridge adds beyond the app's own time, side by side.

Run from the repository root::

    .venv/bin/python -m bench.twiml_bridge                      # 20 bursts a leg
    .venv/bin/python -m bench.twiml_bridge --bursts 50 --json bench/results/twiml_bridge.json

The app is one small Media Streams app (an echo: each ``media`` message it gets is sent back
at once, so its own time is the loopback's), reached two ways, one after the other:

- **Twilio fake**: sipgw's Twilio fake (``tests.toolkit.fakes.twilio``) posts the app's voice
  webhook, follows its ``<Connect><Stream>`` and streams the caller at real time; a burst's
  time is its first ``media`` message sent -> the first loud ``media`` message read back.
  This is the app as Twilio reaches it, minus the phone network.
- **twiml agent**: ``--agent twiml`` with ``SIPGW_TWIML_URL`` the same webhook, in-process,
  called by the toolkit's scripted phone (``sipgw.app.evaluation.phone``) over RTP; a
  burst's time is its first RTP packet sent -> the first loud RTP packet received (kernel
  timestamps). It adds the gateway's jitter buffer, the 20 ms ticker, the agent's stream
  both ways.

For reference, a third leg is the gateway alone: the same SIP bursts to the echo agent (no
delay, no app): the jitter buffer and the ticker that every SIP call goes through.

Each burst is 200 ms of a 1 kHz tone after 600 ms of silence. Like is compared with like:
``added_ms``, what the bridge adds, is the twiml leg's figure minus the echo leg's over the
same SIP path (median and p90; the issue's target is one frame, 20 ms). The Twilio fake has
neither a jitter buffer nor a ticker (a WebSocket round trip on loopback), so the twiml leg
minus it (``vs_twilio_fake_ms``) also counts the SIP call's own path; ``floor_model_ms`` is
that path's arithmetic, the jitter buffer's least depth (``SIPGW_JITTER_MIN_MS``) plus half a
tick on average. When this checkout has no ``twiml`` agent the second leg reports the error
and no ``added_ms``: the other legs still run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web

from bench._harness import machine_info, summarize, write_json
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.settings import CallSection
from sipgw.media.g711 import rms_dbfs
from tests.toolkit.fakes.twilio import SILENCE, FakeTwilioStream, call_the_webhook

__all__ = ["EchoApp", "build_parser", "main", "run"]

LOUD_DBFS = -40.0
TOKEN = "bench-twiml-auth-token-0123456789"
ACCOUNT = "AC" + "b" * 32
BURST = b"".join(tone_frames(1000, 0.2, -12.0))
GAP_FRAMES = 30  # 600 ms of silence before each burst
JITTER_MIN_MS = int({f.name: f.default for f in fields(CallSection)}["jitter_min_ms"])  # type: ignore[arg-type]
"""The gateway's SIPGW_JITTER_MIN_MS default: the floor's jitter buffer depth."""
TICK_MS = 20


@dataclass
class EchoApp:
    """The app: its webhook answers ``<Connect><Stream>`` to its socket, which echoes."""

    webhook_url: str = ""
    stream_url: str = ""
    streams: int = 0
    handled_ms: list[float] = field(default_factory=list)
    """The app's own time per ``media`` message: read -> its echo written."""

    async def voice(self, request: web.Request) -> web.Response:
        await request.post()
        twiml = f'<Response><Connect><Stream url="{self.stream_url}"/></Connect></Response>'
        return web.Response(text=twiml, content_type="application/xml")

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.streams += 1
        sid = ""
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            start = time.perf_counter()
            event = json.loads(message.data)
            if event.get("event") == "start":
                sid = event["start"]["streamSid"]
            elif event.get("event") == "media":
                payload = event["media"]["payload"]
                await ws.send_str(json.dumps(
                    {"event": "media", "streamSid": sid, "media": {"payload": payload}}
                ))  # fmt: skip
                self.handled_ms.append((time.perf_counter() - start) * 1000)
        return ws


@asynccontextmanager
async def running_app() -> AsyncIterator[EchoApp]:
    app = EchoApp()
    server = web.Application()
    server.router.add_post("/voice", app.voice)
    server.router.add_get("/ws", app.stream)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    app.webhook_url = f"http://127.0.0.1:{port}/voice"
    app.stream_url = f"ws://127.0.0.1:{port}/ws"
    try:
        yield app
    finally:
        await runner.cleanup()


def _sent_past(call: FakeTwilioStream, index: int) -> bool:
    return len(call.sent_at) > index


def _loud(payload: bytes) -> bool:
    return rms_dbfs(payload) >= LOUD_DBFS


async def twilio_fake_leg(app: EchoApp, bursts: int) -> list[float]:
    """Burst -> echo times (ms) with sipgw's Twilio fake as the caller's side."""
    import aiohttp

    form = {"CallSid": "CA" + "a" * 32, "AccountSid": ACCOUNT, "From": "+15551230001",
            "To": "+15557650002", "CallStatus": "ringing", "Direction": "inbound",
            "ApiVersion": "2010-04-01"}  # fmt: skip
    async with aiohttp.ClientSession() as http:
        answer = await call_the_webhook(http, app.webhook_url, TOKEN, app.webhook_url, form)
    times: list[float] = []
    async with answer.stream(app.stream_url, TOKEN) as call:
        for _ in range(bursts):
            call.say(SILENCE * GAP_FRAMES)
            first = call.say(BURST)
            await call.wait_for(partial(_sent_past, call, first), within=10)
            sent = call.sent_at[first]

            def echoed(after: float = sent) -> float | None:
                for at, message in call.received:
                    if at > after and message.get("event") == "media":
                        if _loud(base64.b64decode(message["media"]["payload"])):
                            return at
                return None

            await call.wait_for(lambda: echoed() is not None, within=10)
            times.append((echoed() or sent) * 1000 - sent * 1000)
            last = first + len(BURST) // 160
            await call.wait_for(partial(_sent_past, call, last), within=10)
    return times


async def twiml_agent_leg(app: EchoApp, bursts: int) -> list[float]:
    """Burst -> echo times (ms) with a SIP caller and the gateway's ``twiml`` agent."""
    env = {"SIPGW_TWIML_URL": app.webhook_url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
           "SIPGW_TWIML_AUTH_TOKEN": TOKEN}  # fmt: skip
    return await sip_leg("twiml", env, bursts, app)


async def sip_echo_leg(bursts: int) -> list[float]:
    """The gateway's own floor: the same bursts to the echo agent (no delay), no app."""
    return await sip_leg("echo", {"SIPGW_ECHO_DELAY_MS": "0"}, bursts, None)


async def sip_leg(agent: str, env: dict[str, str], bursts: int, app: EchoApp | None) -> list[float]:
    """Burst -> echo times (ms) of a SIP caller to ``agent``."""
    from tests.toolkit.gateway_in_process import running_gateway

    times: list[float] = []
    async with running_gateway(agent=agent, env=env) as (_, new_phone):
        phone = await new_phone()
        answer = await phone.invite(within=10)
        assert answer.status == 200, answer
        phone.start_audio()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while app is not None and app.streams < 1:  # the agent posted the webhook, streams
            assert loop.time() < deadline, "the twiml agent opened no stream"
            await asyncio.sleep(0.02)
        silence = tone_frames(1000, GAP_FRAMES * 0.02, -120.0)
        burst = tone_frames(1000, 0.2, -12.0)
        for n in range(bursts):
            phone.say(silence, tag=2 * n)
            phone.say(burst, tag=2 * n + 1)
            first = await phone.wait_said(2 * n + 1, within=10) - len(burst) + 1
            sent = phone.sent_at[first]
            index = await phone.wait_heard(after=sent, loud=True, within=10)
            times.append((phone.heard[index].at - sent) * 1000)
        await phone.hang_up()
    return times


async def run(bursts: int) -> dict[str, Any]:
    """Both legs; the figures as a JSON-ready dict."""
    result: dict[str, Any] = {
        "bench": "twiml_bridge", "bursts": bursts, "target_added_ms": TICK_MS,
        # the echo floor: a frame waits the jitter buffer's depth, then 0-20 ms for its tick
        "floor_model_ms": {"jitter_buffer": JITTER_MIN_MS, "tick_mean": TICK_MS / 2,
                           "total": JITTER_MIN_MS + TICK_MS / 2},
    }  # fmt: skip
    async with running_app() as app:
        fake = await twilio_fake_leg(app, bursts)
        result["twilio_fake_ms"] = summarize(fake, 1)
        result["sip_echo_floor_ms"] = summarize(await sip_echo_leg(bursts), 1)
        try:
            agent = await twiml_agent_leg(app, bursts)
        except Exception as exc:  # no twiml agent on this checkout, or it failed
            result["twiml_agent_ms"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            result["twiml_agent_ms"] = summarize(agent, 1)
            result["added_ms"] = _minus(result, "twiml_agent_ms", "sip_echo_floor_ms")
            result["vs_twilio_fake_ms"] = _minus(result, "twiml_agent_ms", "twilio_fake_ms")
        result["app_own_ms"] = summarize(app.handled_ms, 3)
    result["machine"] = machine_info()
    return result


def _minus(result: dict[str, Any], leg: str, base: str) -> dict[str, float]:
    return {q: round(result[leg][q] - result[base][q], 1) for q in ("p50", "p90")}


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    rows = ["| leg | bursts | p50 ms | p90 ms | max ms |", "|---|---|---|---|---|"]
    for name, key in (("Twilio fake -> app", "twilio_fake_ms"),
                      ("SIP -> twiml agent -> app", "twiml_agent_ms"),
                      ("SIP -> echo agent (the gateway's floor, no app)",
                       "sip_echo_floor_ms")):  # fmt: skip
        figures = result[key]
        if "error" in figures:
            rows.append(f"| {name} | - | not run: {figures['error']} | | |")
        else:
            rows.append(f"| {name} | {figures['count']} | {figures['p50']} | {figures['p90']} "
                        f"| {figures['max']} |")  # fmt: skip
    added = result.get("added_ms")
    if added is not None:
        rows.append(f"| added by the bridge (twiml - echo floor, same SIP path) | "
                    f"| {added['p50']} | {added['p90']} | |")  # fmt: skip
        fake = result["vs_twilio_fake_ms"]
        rows.append(f"| twiml - Twilio fake (counts the SIP path too) | | {fake['p50']} "
                    f"| {fake['p90']} | |")  # fmt: skip
    model = result["floor_model_ms"]
    rows.append(f"\nfloor arithmetic: jitter buffer {model['jitter_buffer']} ms + tick "
                f"{model['tick_mean']} ms on average = {model['total']} ms; the Twilio fake: "
                "no jitter buffer, no tick")  # fmt: skip
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.twiml_bridge", description=__doc__)
    parser.add_argument("--bursts", type=int, default=20, help="bursts per leg (default 20)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON there")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(max(1, min(args.bursts, 500))))
    print(json.dumps(result, indent=2))
    print(table(result))
    if args.json:
        write_json(result, args.json, "twiml_bridge")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
