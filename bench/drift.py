"""Clock drift: the jitter buffer's delay and adjustments with a caller clock off by ±ppm.

Run: ``.venv/bin/python -m bench.drift`` (10 simulated minutes at -0.5 % and +0.5 %, a few
seconds of CPU). Sans-IO on a fake clock: the caller talks in bursts (1.5 s of speech-level
tone, 0.5 s of low noise), its packets come every 20 ms / (1 + ppm), with optional uniform
network jitter; the buffer is popped every 20 ms. Reported per run and per minute: the
buffered delay (mean, max), frames inserted (quiet frames played twice) and dropped, how many
of those were loud (mid-word), underruns and concealed frames.
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from bench._harness import fmt, format_table, machine_info, write_json
from sipgw.app.evaluation.audio import noise_frame, tone_frame
from sipgw.media.jitterbuffer import JitterBuffer
from sipgw.media.rtp import RtpPacket

TICK = 0.020


def run(ppm: int, minutes: float, jitter_ms: float, seed: int = 1) -> dict[str, Any]:
    """One simulated call; the summary and a row per minute."""
    rng = random.Random(seed)
    loud = tone_frame(440, -15.0)
    quiet = noise_frame(-60.0, rng)
    period = TICK / (1 + ppm / 1e6)
    count = int(minutes * 60 / period)
    arrivals = sorted(
        (0.003 + k * period + rng.uniform(0, jitter_ms / 1000), k) for k in range(count)
    )
    jb = JitterBuffer()
    per_minute: list[dict[str, Any]] = []
    delays: list[float] = []
    last = {"inserted": 0, "dropped": 0, "loud": 0}
    i, now, pops = 0, 0.0, 0
    while i < len(arrivals):
        while i < len(arrivals) and arrivals[i][0] <= now:
            at, k = arrivals[i]
            payload = loud if k % 100 < 75 else quiet
            jb.push(RtpPacket(0, k & 0xFFFF, (k * 160) & 0xFFFFFFFF, 7, payload=payload), at)
            i += 1
        jb.pop(now)
        pops += 1
        if jb.started:
            delays.append(jb.stats.current_delay)
        if pops % 3000 == 0:  # a minute of ticks
            st = jb.stats
            per_minute.append(
                {
                    "minute": pops // 3000,
                    "delay_mean_ms": round(sum(delays) / max(1, len(delays)) * 1000, 1),
                    "delay_max_ms": round(max(delays, default=0.0) * 1000, 1),
                    "inserted": st.inserted_frames - last["inserted"],
                    "dropped": st.compressed_frames - last["dropped"],
                    "loud": st.loud_adjustments - last["loud"],
                }
            )
            last = {
                "inserted": st.inserted_frames,
                "dropped": st.compressed_frames,
                "loud": st.loud_adjustments,
            }
            delays = []
        now += TICK
    st = jb.stats
    return {
        "ppm": ppm,
        "minutes": minutes,
        "jitter_ms": jitter_ms,
        "packets": count,
        "expected_adjustments": round(minutes * 60 / TICK * abs(ppm) / 1e6),
        "inserted_frames": st.inserted_frames,
        "dropped_frames": st.compressed_frames,
        "loud_adjustments": st.loud_adjustments,
        "underruns": st.underruns,
        "concealed_frames": st.concealed_frames,
        "target_delay_ms": round(st.target_delay * 1000, 1),
        "delay_max_ms": max((m["delay_max_ms"] for m in per_minute), default=None),
        "per_minute": per_minute,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--ppm", type=int, nargs="+", default=[-5000, 5000], help="clock error")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform network jitter")
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")
    args = p.parse_args(argv)
    runs = [run(ppm, args.minutes, args.jitter_ms) for ppm in args.ppm]
    report = {
        "machine": machine_info(),
        "params": {"minutes": args.minutes, "ppm": args.ppm, "jitter_ms": args.jitter_ms},
        "runs": runs,
    }
    headers = ["ppm", "minute", "delay mean ms", "delay max ms", "inserted", "dropped", "loud"]
    rows = [
        [str(r["ppm"]), str(m["minute"]), fmt(m["delay_mean_ms"]), fmt(m["delay_max_ms"]),
         str(m["inserted"]), str(m["dropped"]), str(m["loud"])]
        for r in runs
        for m in r["per_minute"]
    ]  # fmt: skip
    print(format_table(headers, rows))
    print()
    totals = ["ppm", "expected", "inserted", "dropped", "loud", "underruns", "max delay ms"]
    print(
        format_table(
            totals,
            [
                [
                    str(r["ppm"]),
                    str(r["expected_adjustments"]),
                    str(r["inserted_frames"]),
                    str(r["dropped_frames"]),
                    str(r["loud_adjustments"]),
                    str(r["underruns"]),
                    fmt(r["delay_max_ms"]),
                ]
                for r in runs
            ],  # fmt: skip
        )
    )
    print(f"\nJSON: {write_json(report, args.json, 'drift')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
