"""A speech-to-speech call's audio on an HD-voice call: CPU per call per 20 ms, 24 kHz PCM
sessions against μ-law ones.

    python -m bench.s2s_hd_voice [--calls 20] [--seconds 2] [--repeats 3] [--chunk-ms 100]
                                 [--json PATH]

What one call's audio costs at each 20 ms tick, both ways, in the gateway's own objects
(this process's media path: native, or pure with ``SIPGW_PURE_PYTHON=1``):

* **in**: the caller's packet through the call's :class:`~sipgw.media.codecs.convert.ToAgent`
  (the codec decoded and resampled to the session's format, once per call's decision),
  on an HD call the agent's 8 kHz μ-law copy for its voice detector
  (:class:`~sipgw.media.codecs.convert.Reformat`), then the Realtime client's
  ``send_audio`` (20 ms frames joined into ``input_audio_buffer.append`` messages, base64
  and the JSON the writer sends);
* **out**: every ``--chunk-ms`` a ``response.output_audio.delta`` message as the service
  sends it (``json.loads`` and the base64 decode), pushed into the call's playout; at every
  tick the playout's next frame and the media session's packet for it (converted into the
  codec, :class:`~sipgw.media.codecs.convert.ToWire`, then the RTP sender).

The variants: ``pcmu / audio/pcmu`` (a G.711 call: μ-law passes through both ways, no
conversion), ``g722 / audio/pcmu`` (a G.722 call with a μ-law session, what the agents did
before: 8 kHz both ways, resampled to and from 16 kHz) and ``g722 / audio/pcm 24 kHz`` (a
G.722 call today: 16 kHz resampled to and from 24 kHz, six times the octets through
base64). Each runs ``--calls`` calls for ``--seconds`` of ticks, ``--repeats`` times,
alternating. CPU is ``time.process_time``.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench._voice_ticks import buzz, call_audio, measure_alternating
from sipgw.agent.services.openai.realtime import OpenAIRealtime, RealtimeSettings
from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_24K, PCMU, ULAW_8K, AudioFormat, Codec
from sipgw.media.codecs.convert import Reformat, ToAgent


@dataclass(frozen=True)
class Variant:
    """One call's codec and its session's format."""

    name: str
    codec: Codec
    audio: AudioFormat


VARIANTS = (
    Variant("pcmu / audio/pcmu", PCMU, ULAW_8K),
    Variant("g722 / audio/pcmu", G722, ULAW_8K),
    Variant("g722 / audio/pcm 24 kHz", G722, PCM16_24K),
)


class _Wired(OpenAIRealtime):
    """The Realtime client with its messages serialized as the writer would, not sent."""

    sent = 0

    def _send(self, message: Any, audio: bool = False) -> None:
        self.sent += len(json.dumps(message))

    @property
    def connected(self) -> bool:
        return True


def _wire_packets(codec: Codec, seconds: float) -> list[bytes]:
    """The caller's packets: ``seconds`` of speech in ``codec``, 20 ms each."""
    pcm = buzz(codec.sample_rate, seconds)
    size = codec.sample_rate // 50 * 2
    encoder = codec.encoder()
    return [encoder.encode(pcm[k : k + size]) for k in range(0, len(pcm) - size + 1, size)]


def _reply_message(audio: AudioFormat, chunk_ms: int) -> bytes:
    """A ``response.output_audio.delta`` carrying ``chunk_ms`` of the model's audio."""
    pcm = buzz(audio.sample_rate, chunk_ms / 1000)
    data = g711.linear_to_ulaw(pcm) if audio.encoding == "ulaw" else pcm
    return json.dumps({"type": "response.output_audio.delta", "event_id": "event_1",
                       "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
                       "content_index": 0,
                       "delta": base64.b64encode(data).decode("ascii")}).encode()  # fmt: skip


def run_variant(variant: Variant, calls: int, ticks: int, chunk_ms: int) -> float:
    """µs of CPU per call per 20 ms tick for ``variant`` (see the module docstring)."""
    every = chunk_ms // 20
    packets = _wire_packets(variant.codec, 1.0)
    message = _reply_message(variant.audio, chunk_ms)
    narrowband = variant.audio == ULAW_8K
    calls_made = []
    for k in range(calls):
        playout, media = call_audio(k, variant.codec, variant.audio)
        client = _Wired(RealtimeSettings(api_key="bench", chunk_ms=chunk_ms))
        if not narrowband:
            client.use_audio_format(variant.audio)
        narrow = None if narrowband else Reformat(variant.audio, ULAW_8K)
        calls_made.append((ToAgent(variant.codec, variant.audio), narrow, client, playout, media))
    sent = 0
    heard = 0
    start = time.process_time()
    for t in range(ticks):
        now = t * 0.02
        packet = packets[t % len(packets)]
        for to_agent, narrow, client, playout, media in calls_made:
            frame = packet if to_agent.passthrough else to_agent.convert(packet)
            if narrow is not None:
                heard += len(narrow.convert(frame))  # the voice detector's 8 kHz μ-law
            client.send_audio(frame)
            if t % every == 0:  # the client's work on the service's audio message
                audio = base64.b64decode(json.loads(message)["delta"])
                playout.push_audio("r1", audio)
            sent += len(media.packets_for(playout.next_frame(now), now))
    elapsed = time.process_time() - start
    assert sent == calls * ticks, (variant.name, sent)  # a packet per call per tick
    assert narrowband or heard == calls * ticks * 160
    assert all(c[2].sent for c in calls_made)
    return elapsed / (calls * ticks) * 1e6


def measure(calls: int, ticks: int, repeats: int, chunk_ms: int) -> dict[str, Any]:
    """Every variant ``repeats`` times, alternating."""

    def against_pcmu(values: list[float], base: float) -> dict[str, float]:
        return {"over_pcmu_ratio": round(statistics.median(values) / base, 2)}

    return measure_alternating(
        [v.name for v in VARIANTS],
        lambda i: run_variant(VARIANTS[i], calls, ticks, chunk_ms),
        repeats,
        against_pcmu,
    )


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and the JSON's place."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=2.0, help="of ticks per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-ms", type=int, default=100, choices=(20, 40, 100, 200),
                        help="audio per message, both ways (a multiple of 20 ms)")  # fmt: skip
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    ticks = max(1, round(args.seconds / 0.02))
    machine = machine_info()
    log(f"{len(VARIANTS)} variants x {args.repeats}, {args.calls} calls, {ticks} ticks")
    result = measure(args.calls, ticks, args.repeats, args.chunk_ms)
    rows = [
        [name, fmt(figures["us_per_call_per_tick_median"], ".1f"),
         fmt(figures["over_pcmu_ratio"], ".2f"), fmt(figures["core_percent_per_call"], ".3f")]
        for name, figures in result["variants"].items()
    ]  # fmt: skip
    print(f"media path: {result['path']}")
    print(format_table(["call / session", "µs/call/20 ms (median)", "x pcmu",
                        "% of a core per call"], rows))  # fmt: skip
    print(f"load at start {machine['loadavg_at_start']}, {machine['cpu_model']}")
    data = {"machine": machine, "params": vars(args) | {"ticks": ticks}, "result": result}
    print(f"JSON: {write_json(data, args.json, 's2s_hd_voice')}")


if __name__ == "__main__":
    main()
