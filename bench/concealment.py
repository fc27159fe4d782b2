"""Concealment: how level-true a caller's tone reaches the agent and the STT under loss.

    python -m bench.concealment [--seconds 60] [--seeds 3] [--loss 0.05] [--jitter-ms 40]

The real receive path: a scripted phone sends a continuous 440 Hz tone (-15 dBFS,
μ-law, 20 ms packets) through the userspace impairment relay
(:class:`tests.toolkit.peers.relay.UdpRelay`: ``--loss``, a delay of ``--jitter-ms``
± ``--jitter-ms`` and ``--reorder`` packets held back 40 ms) to an in-process
gateway whose agent is the echo agent with a tap. The tap records the two streams
the gateway hands an agent: the playout path (jitter buffer, ``on_caller_frame``,
what the echo agent plays back) and the listeners' path (``on_caller_audio``, what
a speech recogniser gets). For each, the stream after a 0.5 s warm-up is cut into
100 ms windows and the share of windows whose RMS level is within 3 dB of the
tone's is reported (target ≥ 97 %), with the windows' worst level, over
``--seeds`` runs (each its own relay seed). That figure forgives a lot (one
silent 20 ms frame costs a window 1 dB), so two stricter ones come with it:
the share of single 20 ms frames within 3 dB, and clicks (sample-to-sample
steps more than 1.5 times the tone's steepest).

A micro-benchmark of the per-packet cost comes with it: a jitter buffer push and
pop per 20 ms packet without loss (the good-frame path), and one loss event
(concealing a frame and joining the next).

To measure another tree (e.g. the code before a change), copy this file into its
``bench/`` and run it from that tree's root: imports resolve from the current
directory first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import sipgw.media
from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.evaluation.audio import decode, tone_frames
from sipgw.app.evaluation.ports import free_port_range
from sipgw.media import g711
from sipgw.media.jitterbuffer import JitterBuffer
from sipgw.media.rtp import RtpPacket
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.relay import Impairment, UdpRelay

TARGET = 0.97
WINDOW_FRAMES = 5  # 100 ms
WARMUP_FRAMES = 25  # 0.5 s
TONE_HZ = 440.0  # 8.8 cycles per frame: no frame repeats the one before exactly
TONE_DBFS = -15.0


class TapAgent(EchoAgent):
    """The echo agent, recording what it is given on both paths."""

    def __init__(self, call: CallControl, taps: list[TapAgent]) -> None:
        super().__init__(call, delay_ms=200)
        self.playout: list[bytes] = []
        self.listened: list[bytes] = []
        taps.append(self)

    def on_caller_frame(self, frame: bytes | None) -> None:
        self.playout.append(frame if frame is not None else g711.silence_frame("PCMU"))
        super().on_caller_frame(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        self.listened.append(frame)


def measured(frames: list[bytes], windows: int) -> list[bytes]:
    """``windows`` 100 ms of the stream, from the first loud frame plus the warm-up."""
    first = next((k for k, f in enumerate(frames) if g711.rms_dbfs(f) > -40.0), len(frames))
    start = first + WARMUP_FRAMES
    part = frames[start : start + windows * WINDOW_FRAMES]
    return part + [g711.silence_frame("PCMU")] * (windows * WINDOW_FRAMES - len(part))


def path_figures(frames: list[bytes], nominal: float, max_step: int) -> dict[str, Any]:
    """Level of the 100 ms windows and of the 20 ms frames against ``nominal``; clicks.

    A click is a step between two samples more than 1.5 times the tone's own
    steepest step (plus μ-law rounding): a discontinuity a listener hears.
    """
    windows = [
        g711.rms_dbfs(b"".join(frames[i : i + WINDOW_FRAMES]))
        for i in range(0, len(frames), WINDOW_FRAMES)
    ]
    within = [abs(level - nominal) <= 3.0 for level in windows]
    frame_within = [abs(g711.rms_dbfs(f) - nominal) <= 3.0 for f in frames]
    samples = decode(b"".join(frames))
    limit = 1.5 * max_step + 300
    clicks = sum(abs(b - a) > limit for a, b in zip(samples, samples[1:], strict=False))
    return {
        "windows": len(windows),
        "within_3db": sum(within),
        "share_within_3db": round(sum(within) / len(windows), 4) if windows else None,
        "worst_db": round(min(windows) - nominal, 1) if windows else None,
        "frames": len(frames),
        "frames_within_3db": sum(frame_within),
        "clicks": clicks,
    }


async def one_run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One call of ``args.seconds`` through the relay; the two paths' window figures."""
    tone = tone_frames(TONE_HZ, 1.0, TONE_DBFS)  # 1 s of 440 Hz is a whole number of cycles
    nominal = g711.rms_dbfs(b"".join(tone))
    wave = decode(b"".join(tone))
    max_step = max(abs(b - a) for a, b in zip(wave, wave[1:], strict=False))
    ports = free_port_range(40)
    taps: list[TapAgent] = []
    impairment = Impairment(
        loss=args.loss, delay_ms=args.jitter_ms, jitter_ms=args.jitter_ms, reorder=args.reorder
    )
    relay = UdpRelay(ports.ports(), to_gateway=impairment, seed=seed)

    def make(call: CallControl) -> Agent:
        return TapAgent(call, taps)

    factory = PluginFactory(make, AgentCapabilities(arrival_audio=True))

    with relay:
        async with running_gateway(factory, public_ip="127.0.0.2", rtp_ports=tuple(ports)) as (
            _,
            new_phone,
        ):
            phone = await new_phone(idle=lambda index: tone[index % len(tone)])
            ok = await phone.invite()
            if ok.status != 200 or phone.remote_rtp is None:
                raise RuntimeError(f"call not answered: {ok.status}")
            phone.start_audio(("127.0.0.2", phone.remote_rtp[1]))
            await asyncio.sleep(args.seconds)
            await phone.stop_audio()
            await asyncio.sleep(0.3)
            await phone.hang_up()
        totals = relay.totals().to_gateway
    (tap,) = taps
    windows = int((args.seconds - 1.0) / 0.1)
    return {
        "seed": seed,
        "relay": {
            "received": totals.received,
            "dropped": totals.dropped,
            "reordered": totals.reordered,
        },
        "nominal_dbfs": round(nominal, 2),
        "agent": path_figures(measured(tap.playout, windows), nominal, max_step),
        "stt": path_figures(measured(tap.listened, windows), nominal, max_step),
    }


def _timed_run(pkts: list[RtpPacket], drop_every: int) -> tuple[float, int]:
    """Seconds for one jitter buffer to take ``pkts`` (every ``drop_every``-th lost) and
    play them, one push and one pop per 20 ms; and the frames it concealed."""
    jb = JitterBuffer()
    t0 = time.perf_counter()
    for i, p in enumerate(pkts):
        now = i * 0.02
        if not drop_every or i % drop_every != drop_every // 2:
            jb.push(p, now)
        jb.pop(now + 0.045)
    return time.perf_counter() - t0, jb.stats.concealed_frames


def micro(packets: int, repeats: int = 5) -> dict[str, Any]:
    """µs per packet of a jitter buffer push + pop without loss, and µs per loss event.

    The best of ``repeats`` runs each (the machine's other load only adds).
    """
    frames = tone_frames(TONE_HZ, 1.0, TONE_DBFS)
    pkts = [
        RtpPacket(0, i & 0xFFFF, (160 * i) & 0xFFFFFFFF, 1, False, frames[i % 50])
        for i in range(packets)
    ]
    good = min(_timed_run(pkts, 0)[0] for _ in range(repeats))
    lossy_runs = [_timed_run(pkts, 10) for _ in range(repeats)]  # every 10th packet lost
    lossy = min(t for t, _ in lossy_runs)
    concealed = lossy_runs[0][1]
    return {
        "packets": packets,
        "good_path_us_per_packet": round(good / packets * 1e6, 2),
        "lossy_us_per_packet": round(lossy / packets * 1e6, 2),
        "concealed": concealed,
        "us_per_loss_event": round((lossy - good) / max(1, concealed) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="tone per run")
    p.add_argument("--seeds", type=int, default=3, help="runs, each its own relay seed")
    p.add_argument("--loss", type=float, default=0.05)
    p.add_argument("--jitter-ms", type=float, default=40.0)
    p.add_argument("--reorder", type=float, default=0.05)
    p.add_argument("--micro-packets", type=int, default=20000)
    p.add_argument("--label", default="", help="what code this is (e.g. 'before')")
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")
    args = p.parse_args(argv)
    log(f"media from {sipgw.media.__file__}")
    runs = []
    for seed in range(args.seeds):
        log(f"run {seed + 1}/{args.seeds}: {args.seconds:g} s of tone")
        runs.append(asyncio.run(one_run(args, seed)))
    summary: dict[str, Any] = {}
    for path in ("agent", "stt"):
        windows = sum(r[path]["windows"] for r in runs)
        within = sum(r[path]["within_3db"] for r in runs)
        frames = sum(r[path]["frames"] for r in runs)
        summary[path] = {
            "windows": windows,
            "share_within_3db": round(within / windows, 4) if windows else None,
            "frames_share_within_3db": (
                round(sum(r[path]["frames_within_3db"] for r in runs) / frames, 4)
                if frames
                else None
            ),
            "clicks": sum(r[path]["clicks"] for r in runs),
            "worst_db": min(r[path]["worst_db"] for r in runs),
            "meets_target": bool(windows) and within / windows >= TARGET,
        }
    data: dict[str, Any] = {
        "machine": machine_info(),
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "tone": {"hz": TONE_HZ, "dbfs": TONE_DBFS},
        "target_share_within_3db": TARGET,
        "summary": summary,
        "runs": runs,
        "micro": micro(args.micro_packets),
    }
    rows = [
        [
            path,
            str(s["windows"]),
            fmt(100 * s["share_within_3db"], ".1f") if s["share_within_3db"] is not None else "-",
            fmt(s["worst_db"], ".1f"),
            "yes" if s["meets_target"] else "NO",
            fmt(100 * s["frames_share_within_3db"], ".1f")
            if s["frames_share_within_3db"] is not None
            else "-",
            str(s["clicks"]),
        ]
        for path, s in summary.items()
    ]
    print(f"Concealment {args.label}: {args.loss:.0%} loss, {args.jitter_ms:g} ms jitter, "
          f"{args.reorder:.0%} reordering; {data['machine']['cpu_model']}")  # fmt: skip
    headers = ["path", "windows", "% within 3 dB", "worst dB", "≥ 97 %", "% 20 ms frames", "clicks"]
    print(format_table(headers, rows))
    m = data["micro"]
    print(
        f"per packet: {m['good_path_us_per_packet']} µs without loss; "
        f"{m['us_per_loss_event']} µs per loss event"
    )
    print(f"JSON: {write_json(data, args.json, 'concealment')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
