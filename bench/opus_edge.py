"""The browser leg's Opus edge: what decoding one packet to 8 kHz μ-law costs on the loop.

    python -m bench.opus_edge [--packets 2000] [--repeats 3] [--json PATH]

A browser that insists on Opus sends a 20 ms packet per 50th of a second; the leg decodes each
one on the event loop (:class:`sipgw.media.opus.OpusDecoder`: libopus through PyAV, FFmpeg's
resampler to 8 kHz, μ-law). This encodes ``--packets`` packets of speech-like audio (a 200 Hz
buzz with harmonics, at 32 kb/s, what a browser sends) once, then times the decoder over them,
``--repeats`` times, and compares with the cost of a hop to a worker thread
(``loop.run_in_executor`` of a no-op), the alternative to decoding inline. Needs the
``browser`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import math
import statistics
import time
from typing import Any

from av import AudioResampler, CodecContext
from av.audio.frame import AudioFrame

from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.media import g711
from sipgw.media.opus import OpusDecoder


def _encode(packets: int) -> list[bytes]:
    encoder = CodecContext.create("libopus", "w")
    encoder.bit_rate = 32_000
    encoder.format = "s16"
    encoder.layout = "stereo"
    encoder.sample_rate = 48_000
    encoder.time_base = fractions.Fraction(1, 48_000)
    resampler = AudioResampler(format="s16", layout="stereo", rate=48_000, frame_size=960)
    out: list[bytes] = []
    n = 0
    while len(out) < packets:
        samples = [
            int(3000 * sum(math.sin(2 * math.pi * 200 * k * (n * 160 + i) / 8000) / k
                           for k in range(1, 6)))
            for i in range(160)
        ]  # fmt: skip
        frame = AudioFrame(format="s16", layout="mono", samples=160)
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
        frame.sample_rate = 8000
        frame.pts = n * 160
        frame.time_base = fractions.Fraction(1, 8000)
        for resampled in resampler.resample(frame):
            out += [bytes(p) for p in encoder.encode(resampled)]
        n += 1
    return out[:packets]


async def _hop_us(count: int) -> float:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for _ in range(count):
        await loop.run_in_executor(None, int)
    return (time.perf_counter() - start) / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    log(f"encoding {args.packets} Opus packets")
    packets = _encode(args.packets)
    runs = []
    for _ in range(args.repeats):
        decoder = OpusDecoder()
        start = time.perf_counter()
        out = b"".join(decoder.decode(p) for p in packets)
        runs.append((time.perf_counter() - start) / len(packets) * 1e6)
        assert len(out) == 160 * len(packets) and decoder.failed == 0
        assert g711.rms_dbfs(out[8000:8160]) > -40  # audio came out, not silence
    hop = asyncio.run(_hop_us(min(args.packets, 2000)))
    figures: dict[str, Any] = {
        "us_per_packet_runs": runs,
        "us_per_packet_best": min(runs),
        "us_per_packet_median": statistics.median(runs),
        "core_percent_per_call": statistics.median(runs) / 20_000 * 100,
        "thread_hop_us": hop,
    }
    data = {"machine": machine_info(), "params": vars(args), "figures": figures}
    print(format_table(
        ["decode µs/packet (best)", "median", "% of a core per call", "thread hop µs"],
        [[fmt(figures["us_per_packet_best"], ".1f"), fmt(figures["us_per_packet_median"], ".1f"),
          fmt(figures["core_percent_per_call"], ".2f"), fmt(hop, ".1f")]],
    ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'opus_edge')}")


if __name__ == "__main__":
    main()
