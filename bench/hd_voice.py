"""The assistant's voice on an HD-voice call: CPU per call per 20 ms, 16 kHz TTS against 8 kHz.

    python -m bench.hd_voice [--calls 100] [--seconds 4] [--repeats 5] [--chunk-ms 100]
                             [--json PATH]

What one call's voice costs at each 20 ms tick, from the text-to-speech's message to the
RTP packet, in the gateway's own objects: every ``--chunk-ms`` the ElevenLabs client's
share of an audio message (``json.loads`` and the base64 decode,
:mod:`sipgw.agent.services.elevenlabs.tts`) and the push into the call's playout (re-cut, and
converted when the audio is not in the playout's format: :mod:`sipgw.agent.playout`); at
every tick the playout's next frame and the media session's packet for it (converted into
the codec, :mod:`sipgw.media.codecs.convert`, then the RTP sender). The variants:

* ``pcmu / ulaw_8000``: a G.711 call, as ever (μ-law passes through: no conversion);
* ``g722 / ulaw_8000``: a G.722 call with the 8 kHz voice (the media decodes
  μ-law, resamples to 16 kHz and encodes G.722);
* ``g722 / pcm_16000``: a G.722 call with the 16 kHz voice (ElevenLabs ``pcm_16000``: the
  media only encodes G.722; four times the octets through base64);
* ``g722 / line at 16 kHz``: the same call playing a line recorded in 8 kHz μ-law (the
  fallback lines, hold music): converted once at the playout, then encoded.

Each variant runs ``--calls`` calls for ``--seconds`` of ticks, ``--repeats`` times, the
variants alternating within each repeat (a busy machine's noise falls on all of them).
Both media paths are measured, each in a process of its own: ``native`` (the mypyc build
of ``scripts/build-native``; the agent's playout and the ElevenLabs client are Python on
both) and ``pure`` (``SIPGW_PURE_PYTHON=1``). CPU is ``time.process_time``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench._voice_ticks import buzz, call_audio, measure_alternating
from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_16K, PCMU, ULAW_8K, AudioFormat, Codec


@dataclass(frozen=True)
class Variant:
    """One way a call's voice goes out."""

    name: str
    codec: Codec
    playout: AudioFormat
    """The agent's frames (its ``audio_format``)."""
    audio: AudioFormat
    """What is pushed into the playout (the TTS's, or the recorded line's)."""
    from_tts: bool = True
    """It comes as the ElevenLabs client's audio messages (else from memory: a line)."""


VARIANTS = (
    Variant("pcmu / ulaw_8000", PCMU, ULAW_8K, ULAW_8K),
    Variant("g722 / ulaw_8000", G722, ULAW_8K, ULAW_8K),
    Variant("g722 / pcm_16000", G722, PCM16_16K, PCM16_16K),
    Variant("g722 / line at 16 kHz", G722, PCM16_16K, ULAW_8K, from_tts=False),
)


def _speech(audio: AudioFormat, seconds: float) -> bytes:
    """The buzz in ``audio``."""
    pcm = buzz(audio.sample_rate, seconds)
    return g711.linear_to_ulaw(pcm) if audio.encoding == "ulaw" else pcm


def _message(audio: bytes) -> bytes:
    """An ElevenLabs multi-context audio message carrying ``audio`` (docs/cloud-apis.md)."""
    chars = "Sure, let me check"
    alignment = {"chars": list(chars), "charStartTimesMs": list(range(0, 90, 5)),
                 "charDurationsMs": [5] * len(chars)}  # fmt: skip
    return json.dumps({"audio": base64.b64encode(audio).decode("ascii"), "isFinal": False,
                       "contextId": "r1", "alignment": alignment}).encode()  # fmt: skip


def run_variant(variant: Variant, calls: int, ticks: int, chunk_ms: int) -> float:
    """µs of CPU per call per 20 ms tick for ``variant`` (see the module docstring)."""
    every = chunk_ms // 20
    chunk = _speech(variant.audio, chunk_ms / 1000)
    message = _message(chunk)
    sessions = [call_audio(k, variant.codec, variant.playout) for k in range(calls)]
    sent = 0
    start = time.process_time()
    for t in range(ticks):
        now = t * 0.02
        for playout, session in sessions:
            if t % every == 0:
                if variant.from_tts:  # the client's work on the audio message
                    audio = base64.b64decode(json.loads(message)["audio"])
                else:
                    audio = chunk  # a line from memory
                playout.push_audio("r1", audio, None, variant.audio)
            sent += len(session.packets_for(playout.next_frame(now), now))
    elapsed = time.process_time() - start
    assert sent == calls * ticks, (variant.name, sent)  # a packet per call per tick
    return elapsed / (calls * ticks) * 1e6


def measure(calls: int, ticks: int, repeats: int, chunk_ms: int) -> dict[str, Any]:
    """Every variant ``repeats`` times on this process's media path, alternating."""

    def against_pcmu(values: list[float], base: float) -> dict[str, float]:
        return {
            "us_per_call_per_tick_best": round(min(values), 3),
            "over_pcmu_us": round(statistics.median(values) - base, 3),
        }

    return measure_alternating(
        [v.name for v in VARIANTS],
        lambda i: run_variant(VARIANTS[i], calls, ticks, chunk_ms),
        repeats,
        against_pcmu,
    )


def _child(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`measure` in a process of its own on media path ``path``."""
    env = {k: v for k, v in os.environ.items() if k != "SIPGW_PURE_PYTHON"}
    if path == "pure":
        env["SIPGW_PURE_PYTHON"] = "1"
    argv = [sys.executable, "-m", "bench.hd_voice", "--child", "--calls", str(args.calls),
            "--seconds", str(args.seconds), "--repeats", str(args.repeats),
            "--chunk-ms", str(args.chunk_ms)]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> None:
    """Measure both media paths and print the table and the JSON's place."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=4.0, help="of ticks per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk-ms", type=int, default=100, choices=(20, 40, 100, 200, 500),
                        help="audio per TTS message (a multiple of 20 ms)")  # fmt: skip
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ticks = max(1, round(args.seconds / 0.02))
    if args.child:
        print(json.dumps(measure(args.calls, ticks, args.repeats, args.chunk_ms)))
        return
    machine = machine_info()
    paths: dict[str, Any] = {}
    for path in ("native", "pure"):
        log(f"{path}: {len(VARIANTS)} variants x {args.repeats}, {args.calls} calls")
        paths[path] = _child(path, args)
    rows = []
    for path, result in paths.items():
        for name, figures in result["variants"].items():
            rows.append([f"{path} ({result['path']})", name,
                         fmt(figures["us_per_call_per_tick_median"], ".2f"),
                         fmt(figures["us_per_call_per_tick_best"], ".2f"),
                         fmt(figures["over_pcmu_us"], "+.2f"),
                         fmt(figures["core_percent_per_call"], ".3f")])  # fmt: skip
    print(format_table(["media path", "call / voice", "µs/call/20 ms (median)", "best",
                        "vs pcmu µs", "% of a core per call"], rows))  # fmt: skip
    print(f"load at start {machine['loadavg_at_start']}, {machine['cpu_model']}")
    data = {"machine": machine, "params": vars(args) | {"ticks": ticks}, "paths": paths}
    print(f"JSON: {write_json(data, args.json, 'hd_voice')}")


if __name__ == "__main__":
    main()
