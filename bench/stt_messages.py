"""Noisy callers' audio to speech-to-text: how many messages a second, and when.

    python -m bench.stt_messages [--calls 20] [--seconds 30] [--snr 10] [--json PATH]

The calls of ``bench.noisy_turns`` (the callers of ``bench.capacity --caller-audio noisy``:
a sentence every 6 s over café babble, street, TV or music, each call from its own point of
the loop; the capacity bench's STT fake's turns; the agent's greeting and replies), with the
model detector (``--pipelines``), and the assistant's STT uplink
(:class:`sipgw.agent.services.stt.uplink.AudioUplink` as AssemblyAI's client makes it: 100 ms
chunks, 50-1000 ms, a chunk ending where ``min_turn_silence``, 100 ms, is complete after
:class:`~sipgw.agent.turns.machine.MarkSpeechEnd`) following the turn-taking machine's chunk
sizes (:class:`~sipgw.agent.turns.machine.SetSttChunk`). Each message is counted where its audio
ends: in one of the caller's sentences (up to :data:`SPEECH_TAIL_S` after its last word,
the silence that ends its turn), under the agent's audio, or elsewhere (the caller quiet,
the agent too); per second of each, and by length.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench._harness import format_table, log, machine_info, write_json
from bench.noise import PIPELINES
from bench.noisy_turns import GREETING_S, REPLY_S, call_audio, make_loop, stt_events
from bench.room import Agent
from sipgw.agent.conversation.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.services.stt.uplink import AudioFormat, AudioUplink
from sipgw.agent.turns.machine import (
    CommitBargeIn,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartReply,
    TurnTaker,
)
from sipgw.app.evaluation.fakes.services import ServiceOptions
from sipgw.media.voice.vad import ModelVadConfig

__all__ = ["SPEECH_TAIL_S", "measure", "messages"]

SPEECH_TAIL_S = 0.3
"""Seconds after a sentence's end still counted as the caller's speech (its turn's end)."""
PLACES = ("speech", "agent", "quiet")


def messages(
    frames: Sequence[bytes],
    sentences: Sequence[tuple[float, float]],
    pipeline: str,
    greeting_s: float = GREETING_S,
) -> dict[str, Counter[Any]]:
    """One call: its STT messages by where their audio ends, and by length (ms); the
    seconds of each place."""
    kind, suppress = PIPELINES[pipeline]
    stage = CallerAudio(NoiseSettings(suppression=suppress, detector=kind, model=ModelVadConfig()))
    agent = Agent(greeting_s)
    detector = stage.detector(BargeInSettings().vad, lambda: agent.audible, lambda: agent.pending)
    turns = TurnTaker(agent, detector=detector, room_gate=kind == "model")
    options = ServiceOptions()
    uplink = AudioUplink(
        AudioFormat("pcm_mulaw", 8000),
        chunk_ms=100,
        min_chunk_ms=50,
        max_chunk_ms=1000,
        max_backlog_seconds=10,
    )
    queue = stt_events(frames)
    count: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    for i, frame in enumerate(frames):
        now = agent.now = (i + 1) * 0.02
        actions = list(turns.receive_audio(stage.process(frame), now))
        while queue and queue[0][0] <= now:
            actions += turns.receive_stt(queue.pop(0)[1], now)
        for action in actions:
            if isinstance(action, MarkSpeechEnd):
                uplink.mark_speech_end(options.stt_min_turn_silence_ms)
            elif isinstance(action, SetSttChunk):
                uplink.set_chunk_ms(action.chunk_ms)
            elif isinstance(action, PauseAgent):
                agent.paused = True
            elif isinstance(action, ResumeAgent):
                agent.paused = False
            elif isinstance(action, CommitBargeIn):
                agent.paused = False
                agent.until = now
            elif isinstance(action, StartReply):
                agent.until = now + REPLY_S
        uplink.push(frame)
        place = _place(now, sentences, agent)
        seconds[place] += 1
        while (chunk := uplink.pop()) is not None:
            count[place] += 1
            lengths[len(chunk) // 8] += 1
    stage.close()
    return {"messages": count, "frames": seconds, "lengths": lengths}


def _place(now: float, sentences: Sequence[tuple[float, float]], agent: Agent) -> str:
    if any(a <= now <= b + SPEECH_TAIL_S for a, b in sentences):
        return "speech"
    return "agent" if agent.audible else "quiet"


def measure(calls: int, seconds: float, snr: float, pipelines: Sequence[str]) -> dict[str, Any]:
    """``calls`` calls of ``seconds`` each, from evenly spaced points of the loop."""
    loop = make_loop(snr)
    results: dict[str, Any] = {}
    for pipeline in pipelines:
        count: Counter[str] = Counter()
        frames: Counter[str] = Counter()
        lengths: Counter[int] = Counter()
        for c in range(calls):
            audio, sentences = call_audio(loop, calls, c, seconds)
            r = messages(audio, sentences, pipeline)
            count.update(r["messages"])
            frames.update(r["frames"])
            lengths.update(r["lengths"])
        total_s = sum(frames.values()) * 0.02
        results[pipeline] = {
            "call_seconds": round(total_s, 1),
            "messages": sum(count.values()),
            "per_call_s": round(sum(count.values()) / total_s, 2),
            "places": {
                p: {
                    "seconds": round(frames[p] * 0.02, 1),
                    "messages": count[p],
                    "per_s": round(count[p] / (frames[p] * 0.02), 2) if frames[p] else None,
                }
                for p in PLACES
            },  # fmt: skip
            "by_ms": dict(sorted(lengths.items())),
        }
        log(f"{pipeline}: {results[pipeline]}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls, from evenly spaced points")
    parser.add_argument("--seconds", type=float, default=30.0, help="each call's length")
    parser.add_argument("--snr", type=float, default=10.0, help="dB under the caller's speech")
    parser.add_argument("--pipelines", nargs="+", default=["model"], choices=list(PIPELINES))
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    results = measure(args.calls, args.seconds, args.snr, args.pipelines)
    rows = []
    for p, f in results.items():
        places = f["places"]
        rows.append(
            [p, f"{f['per_call_s']:.2f}"]
            + [f"{places[k]['per_s']} ({places[k]['seconds']:.0f} s)" for k in PLACES]
        )
    print(format_table(
        ["detector", "messages/call-s", "per s of speech", "per s under the agent",
         "per s quiet"], rows,
    ))  # fmt: skip
    for p, f in results.items():
        print(f"{p}: messages by length (ms): {f['by_ms']}")
    path = write_json(
        {"machine": machine_info(), "calls": args.calls, "seconds": args.seconds,
         "snr": args.snr, "results": results}, args.json, "stt_messages",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
