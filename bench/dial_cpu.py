"""CPU per bridged ``<Dial>`` call against an echo call, in the gateway process.

Run from the repository root::

    .venv/bin/python -m bench.dial_cpu                        # 10 calls, 10 s each way
    .venv/bin/python -m bench.dial_cpu --calls 20 --seconds 20 --json bench/results/dial_cpu.json

Two gateways run as subprocesses (``python -m sipgw serve``, no ``timeout`` wrapper, so
their pids are theirs):

- **the called party**: ``--agent echo``; its CPU is not counted in the bridged run;
- **the gateway measured**: ``--agent twiml``, its webhook (an aiohttp app in this process)
  answering ``<Dial><Sip>`` to the echo gateway: each call is two legs (the caller's and the
  one it places), relayed by the agent (:mod:`sipgw.agent.twiml.dial.bridge`).

Echo run: ``--calls`` scripted phones (:mod:`sipgw.app.evaluation.phone`, one 20 ms RTP
packet each way, a tone) call the echo gateway; its CPU over ``--seconds`` once they all
talk, minus its idle CPU over as long, per call. Bridged run: the same phones call the
twiml gateway; its CPU likewise. ``ratio`` is bridged per call over echo per call: a relay
of two legs should cost at most about twice an echo call (two RTP sessions, two jitter
buffers, one relay). CPU is utime + stime from ``/proc/PID/stat`` (clock ticks).

``--codec G722``: the phones and both gateways (``--codecs G722,PCMU,PCMA``) speak G.722, so
each bridged call is two G.722 legs, which the relay carries as 16 kHz linear audio
(media/bridge.py ``bridge_format``); the phones send a 700 Hz tone G.722-encoded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from bench._harness import format_table, log, machine_info, read_proc, write_json
from sipgw.app.evaluation.audio import tone_frames, tone_samples
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.phone import Phone
from sipgw.media.codecs import G722

__all__ = ["build_parser", "main", "run"]

TOKEN = "bench-dial-auth-token-0123456789ab"
ACCOUNT = "AC" + "d" * 32
TONE = tone_frames(700, 1.0, -12.0)


def g722_tone() -> list[bytes]:
    """One second of the 700 Hz tone (16 kHz), as 50 G.722 packets of one stream."""
    samples = tone_samples(700, 1.0, -12.0, rate=16000)
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    encoder = G722.encoder()
    return [encoder.encode(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]


UNLIMITED = ("--rate-invite", "1000:1000", "--calls-per-caller", "1000:1000")
"""Every phone calls from 127.0.0.1 with one From: the per-source and per-caller limits
would refuse most."""


@asynccontextmanager
async def webhook(target: str) -> AsyncIterator[str]:
    """The app: every call is ``<Dial><Sip>target</Sip></Dial>``; yields its URL."""

    async def voice(request: web.Request) -> web.Response:
        await request.post()
        twiml = f"<Response><Dial><Sip>{target}</Sip></Dial></Response>"
        return web.Response(text=twiml, content_type="application/xml")

    server = web.Application()
    server.router.add_post("/voice", voice)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/voice"
    finally:
        await runner.cleanup()


def cpu_seconds(pid: int) -> float:
    sample = read_proc(pid)
    if sample is None:
        raise RuntimeError(f"process {pid} is gone")
    return sample.cpu_s


async def measure(
    gateway: GatewayProcess, calls: int, seconds: float, codec: str = "PCMU"
) -> dict[str, Any]:
    """``calls`` phones to ``gateway`` on ``codec``; its CPU per call (idle subtracted)."""
    pid = gateway.pid
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    idle = cpu_seconds(pid) - before
    tone = g722_tone() if codec == "G722" else TONE
    phones = [
        Phone(gateway.address, user="bench", codec=codec, idle=lambda n: tone[n % len(tone)])
        for _ in range(calls)
    ]
    try:
        answers = await asyncio.gather(*(p.invite(within=15.0) for p in phones))
        up = [p for p, a in zip(phones, answers, strict=True) if a.status == 200]
        statuses = sorted(a.status for a in answers)
        for phone in up:
            phone.start_audio()
        await asyncio.sleep(2.0)  # every second leg answered and bridged; buffers settled
        heard_before = sum(len(p.heard) for p in up)
        start, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        busy, wall = cpu_seconds(pid) - start, time.monotonic() - t0
        heard = sum(len(p.heard) for p in up) - heard_before
    finally:
        for phone in phones:
            await phone.stop_audio()
        await asyncio.gather(*(p.hang_up() for p in phones), return_exceptions=True)
        for phone in phones:
            phone.close()
    answered = len(up)
    per_call = (busy - idle) / answered / wall * 100 if answered else None
    return {
        "calls": calls, "answered": answered, "statuses": statuses, "seconds": round(wall, 2),
        "cpu_s": round(busy, 3), "idle_cpu_s": round(idle, 3),
        "cpu_percent_per_call": None if per_call is None else round(per_call, 3),
        "packets_heard_per_call_per_s": round(heard / max(answered, 1) / wall, 1),
    }  # fmt: skip


async def run(calls: int, seconds: float, codec: str = "PCMU") -> dict[str, Any]:
    """Both runs; the figures as a JSON-ready dict."""
    params = {"calls": calls, "seconds": seconds, "codec": codec}
    result: dict[str, Any] = {"bench": "dial_cpu", "machine": machine_info(), "params": params}
    codecs = ("--codecs", "G722,PCMU,PCMA") if codec == "G722" else ()
    with tempfile.TemporaryDirectory(prefix="sipgw-dial-cpu-") as tmp:
        work = Path(tmp)
        echo = GatewayProcess(work / "echo", name="echo", lifetime=None, rtp_port_count=4 * calls,
                              extra_args=(*UNLIMITED, *codecs))  # fmt: skip
        with echo:
            log(f"echo: {calls} calls for {seconds} s")
            result["echo"] = await measure(echo, calls, seconds, codec)
            async with webhook(echo.uri("echo")) as url:
                bridged = GatewayProcess(
                    work / "twiml", name="twiml", agent="twiml", allow_from="127.0.0.0/8",
                    lifetime=None, rtp_port_count=4 * calls, extra_args=(*UNLIMITED, *codecs),
                    extra_env={
                        "SIPGW_TWIML_URL": url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
                        "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_DIAL_ALLOW": echo.uri("echo"),
                        "SIPGW_TWIML_RECORD_DIR": "",
                    },
                )  # fmt: skip
                with bridged:
                    log(f"bridged: {calls} calls for {seconds} s")
                    result["bridged"] = await measure(bridged, calls, seconds, codec)
    echo_cost = result["echo"]["cpu_percent_per_call"]
    bridged_cost = result["bridged"]["cpu_percent_per_call"]
    result["ratio"] = (
        round(bridged_cost / echo_cost, 2) if echo_cost and bridged_cost is not None else None
    )
    return result


def table(result: dict[str, Any]) -> str:
    rows = [
        [name, str(r["answered"]), f"{r['cpu_percent_per_call']}",
         f"{r['packets_heard_per_call_per_s']}"]
        for name in ("echo", "bridged")
        if (r := result.get(name))
    ]  # fmt: skip
    text = format_table(["call", "answered", "CPU % per call", "packets/s heard"], rows)
    return f"{text}\nbridged / echo: {result.get('ratio')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.dial_cpu", description=__doc__)
    parser.add_argument("--calls", type=int, default=10, help="calls at once (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured (default 10)")
    parser.add_argument("--codec", choices=("PCMU", "G722"), default="PCMU",
                        help="the phones' and gateways' codec (default PCMU)")  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write the JSON there")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(max(1, min(args.calls, 200)), max(0.5, args.seconds), args.codec))
    print(table(result))
    path = write_json(result, args.json, "dial_cpu")
    print(f"JSON: {path}")
    print(json.dumps({k: result[k] for k in ("echo", "bridged", "ratio")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
