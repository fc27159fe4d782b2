"""CPU per call per 20 ms for each codec: G.711, G.722 and Opus echo calls.

    python -m bench.codec_cost [--calls 50] [--ticks 250] [--repeats 5] [--json PATH]

Each case is an echo call's 20 ms on the media path's own objects (``bench.media_core``'s
``echo_call_us``: a datagram through the demultiplexer into the session, the call's tick,
the packet out to a socket that sends nowhere), carrying espeak-ng speech, ``--calls`` calls
in turn for ``--ticks`` ticks, in CPU time; the cases alternate, ``--repeats`` rounds, and
the median of the rounds is reported with the calls one core could carry at that cost
(media only: no kernel I/O, no speech services). The echo takes the
codec's own rate (16 kHz for G.722 and Opus) or 8 kHz μ-law (the assistant's voice, and
any agent that declares nothing). Run it on both paths: as is (native, when built) and
with ``SIPGW_PURE_PYTHON=1``.

Opus alone (PyAV's libopus): a packet decoded to the 16 kHz μ-law an Opus call carries,
and 20 ms encoded at 16 and 8 kHz at the complexity calls use
(:data:`sipgw.media.opus.COMPLEXITY`) and at 10 and 0 for comparison. Loss: the speech's
packets decoded with one in twenty lost at random (seeded), each lost one concealed by
Opus (:meth:`~sipgw.media.opus.OpusDecoder.conceal`) or filled with silence (what the
jitter buffer does with a G.722 loss), against the lossless decode: the signal-to-noise
ratio of the whole (a waveform measure, which a concealment that does not keep the phase
cannot win), and the level error of the lost frames (how far each lost 20 ms's level, in
dB floored at -60 dBFS, is from the lossless one's: what a listener hears as a hole).
Needs the ``opus`` extra, and Debian's ``espeak-ng`` and ``sox``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from array import array
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench.media_core import echo_call_us, speech
from sipgw.media import _accel, g711
from sipgw.media.codecs import G722, OPUS, PCMU, Codec
from sipgw.media.opus import COMPLEXITY, OpusDecoder, OpusEncoder

CASES: dict[str, tuple[Codec, bool]] = {
    "PCMU, 8 kHz mu-law echo (passed through)": (PCMU, True),
    "G722, 16 kHz echo": (G722, True),
    "G722, 8 kHz mu-law echo": (G722, False),
    "OPUS, 16 kHz echo": (OPUS, True),
    "OPUS, 8 kHz mu-law echo": (OPUS, False),
}
"""Case -> (the call's codec, whether the echo takes the codec's own rate)."""
TICK_US = 20_000


def _frames(rate: int) -> list[bytes]:
    pcm = speech(rate)
    size = rate // 50 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def _per_item_us(fn: Any, items: list[bytes]) -> float:
    start = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - start) / len(items) * 1e6


def _opus_alone(repeats: int) -> dict[str, float]:
    """Median µs of the decode and of the encodes (see the module docstring)."""
    packets = [OpusEncoder(16000).encode(f) for f in _frames(16000)]
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        decoder = OpusDecoder(16000)
        runs.setdefault("decode, to 16 kHz mu-law", []).append(
            _per_item_us(decoder.decode, packets)
        )
        for rate in (16000, 8000):
            for complexity in dict.fromkeys((COMPLEXITY, 10, 0)):
                encode = OpusEncoder(rate, complexity=complexity).encode
                name = f"encode {rate // 1000} kHz, complexity {complexity}"
                runs.setdefault(name, []).append(_per_item_us(encode, _frames(rate)))
    return {name: statistics.median(values) for name, values in runs.items()}


def _snr_db(reference: list[int], test: list[int]) -> float:
    signal = sum(x * x for x in reference)
    noise = sum((x - y) ** 2 for x, y in zip(reference, test, strict=True))
    return 10 * math.log10(signal / noise) if noise else math.inf


def _loss(every: int = 20, seed: int = 1) -> dict[str, float]:
    """SNR (dB) of the speech's decode with one packet in ``every`` lost, against none."""
    packets = [OpusEncoder(16000).encode(f) for f in _frames(16000)]
    rng = random.Random(seed)
    lost = {n for n in range(5, len(packets) - 1) if rng.randrange(every) == 0}
    reference = OpusDecoder(16000)
    clean = b"".join(reference.decode(p) for p in packets)
    results: dict[str, float] = {"lost_packets": float(len(lost)), "packets": len(packets)}
    for how in ("opus", "silence"):
        decoder = OpusDecoder(16000)
        out = b""
        for n, packet in enumerate(packets):
            if n not in lost:
                out += decoder.decode(packet)
            elif how == "opus":
                out += decoder.conceal()
            else:
                out += bytes([0xFF]) * 320  # 20 ms of μ-law silence
        assert len(out) == len(clean)
        ref = array("h", g711.ulaw_to_linear(clean)).tolist()
        test = array("h", g711.ulaw_to_linear(out)).tolist()
        results[f"snr_db_{how}"] = _snr_db(ref, test)
        errors = [
            abs(_level(ref[n * 320 : (n + 1) * 320]) - _level(test[n * 320 : (n + 1) * 320]))
            for n in sorted(lost)
        ]
        results[f"lost_level_error_db_{how}"] = statistics.mean(errors)
    return results


def _level(samples: list[int]) -> float:
    """RMS level in dBFS, floored at -60."""
    power = sum(x * x for x in samples) / len(samples) / 32768**2
    return max(-60.0, 10 * math.log10(power)) if power > 0 else -60.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    log(f"media path: {_accel.PATH}; {len(CASES)} cases x {args.repeats} rounds")
    runs: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, (codec, own_rate) in CASES.items():
            runs[name].append(echo_call_us(args.calls, args.ticks, codec, own_rate))
    calls: dict[str, dict[str, Any]] = {}
    for name, values in runs.items():
        median = statistics.median(values)
        calls[name] = {
            "us_runs": values,
            "us_median": median,
            "core_percent_per_call": median / TICK_US * 100,
            "calls_per_core": TICK_US / median,
        }
    log("Opus alone, and its loss")
    figures = {
        "path": _accel.PATH,
        "echo_calls": calls,
        "opus_us": _opus_alone(args.repeats),
        "opus_complexity": COMPLEXITY,
        "opus_loss_1_in_20": _loss(),
    }
    data = {"machine": machine_info(), "params": vars(args), "figures": figures}
    print(f"media path: {_accel.PATH}")
    print(format_table(
        ["echo call, 20 ms", "µs/call (median)", "% of a core per call", "calls per core"],
        [[name, fmt(c["us_median"], ".1f"), fmt(c["core_percent_per_call"], ".3f"),
          fmt(c["calls_per_core"], ".0f")] for name, c in calls.items()],
    ))  # fmt: skip
    print(format_table(
        ["Opus alone (PyAV), 20 ms", "µs (median)"],
        [[name, fmt(us, ".1f")] for name, us in figures["opus_us"].items()],  # type: ignore[attr-defined]
    ))  # fmt: skip
    loss = figures["opus_loss_1_in_20"]
    print(format_table(
        ["1 packet in 20 lost", "SNR against no loss, dB", "lost frames' level error, dB"],
        [[name, fmt(loss[f"snr_db_{how}"], ".1f"),  # type: ignore[index]
          fmt(loss[f"lost_level_error_db_{how}"], ".1f")]  # type: ignore[index]
         for how, name in (("opus", "concealed by Opus"), ("silence", "filled with silence"))],
    ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'codec_cost')}")


if __name__ == "__main__":
    main()
