"""Noisy callers' turns: how many the assistant answers, and whose they are.

    python -m bench.noisy_turns [--calls 20] [--seconds 30] [--snr 10] [--json PATH]

The callers of ``bench.capacity --caller-audio noisy`` (:mod:`bench.caller_audio`: a
sentence every 6 s over café babble, street, TV or music ``--snr`` dB under it, each call
from its own point of the loop), fed one 20 ms μ-law frame per 20 ms through the
assistant's caller path (:class:`sipgw.agent.conversation.caller_audio.CallerAudio`, then
:class:`sipgw.agent.turns.machine.TurnTaker`, with ``room_gate`` for the model detector, as the
assistant builds it), and to the speech-to-text fake the capacity bench runs
(``bench.fake_services``: :class:`sipgw.app.evaluation.fakes.assemblyai.TurnDetector` with
its defaults there, 100 ms chunks, ``min_turn_silence`` 100 ms, a final 50 ms after the
end of turn). The agent greets (the bench's "Hi.", :data:`GREETING_S`); each turn it
answers plays the fakes' reply (:data:`REPLY_S`).

Per detector: the STT's finished turns, those answered and those recorded as the room's
(``room_speech``), per call-second, against the sentences said; each answered turn sorted
by what its audio held: the first turn over a sentence (the caller's), another turn over
the same sentence (a sentence split), or no sentence at all (the background's).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench.caller_audio import BACKGROUNDS, FRAME, SENTENCES, NoisyCaller, noisy_loop
from bench.noise import PIPELINES
from bench.room import Agent
from sipgw.agent.conversation.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.services.stt.base import SttEvent, SttSpeechStarted, SttTurnEnded
from sipgw.agent.turns.machine import (
    CommitBargeIn,
    HeardFromRoom,
    PauseAgent,
    ResumeAgent,
    StartReply,
    TurnTaker,
)
from sipgw.app.evaluation.fakes.assemblyai import SpeechBegan, TurnDetector, TurnDue
from sipgw.app.evaluation.fakes.services import DEFAULT_REPLY, DEFAULT_TRANSCRIPT, ServiceOptions
from sipgw.media.voice.vad import ModelVadConfig
from tests.toolkit.noisy_audio import RATE, speech

GREETING = "Hi."
"""The capacity bench's greeting (``SIPGW_GREETING``)."""
GREETING_S = len(GREETING) * ServiceOptions().tts_ms_per_char / 1000
"""The greeting's audio, from the call's first frame (the fakes' speech length per character)."""
REPLY_S = len(DEFAULT_REPLY) * ServiceOptions().tts_ms_per_char / 1000
"""Each answered turn's reply: the fakes' reply at their speech length per character."""
CHUNK_FRAMES = 5
"""Frames per STT chunk (the client's 100 ms)."""


@dataclass(frozen=True)
class Loop:
    """The noisy loop's frames and where its sentences are (s from the loop's start)."""

    frames: list[bytes]
    sentences: list[tuple[float, float]]

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME / RATE


def make_loop(snr_db: float) -> Loop:
    """The loop of ``bench.caller_audio`` and its sentences' spans."""
    caller = NoisyCaller(snr_db=snr_db)
    audio = noisy_loop(caller)
    frames = [audio[i : i + FRAME] for i in range(0, len(audio), FRAME)]
    spans, at = [], 0.0
    for i, _ in enumerate(BACKGROUNDS):
        name, text = SENTENCES[i % len(SENTENCES)]
        length = len(speech(text, name)) / RATE
        spans.append((at, at + length))
        at += max(caller.every, length)
    return Loop(frames, spans)


def stt_events(frames: Sequence[bytes]) -> list[tuple[float, SttEvent, tuple[float, float]]]:
    """The STT fake's speech starts and finished turns for the call's audio, as they reach
    the gateway (s), each with the span (s) of the turn's speech."""
    options = ServiceOptions()
    detector = TurnDetector(
        min_turn_silence_ms=options.stt_min_turn_silence_ms,
        max_turn_silence_ms=options.stt_max_turn_silence_ms,
    )
    out: list[tuple[float, SttEvent, tuple[float, float]]] = []
    latency = options.stt_final_latency_ms / 1000
    turns = 0
    for i in range(0, len(frames), CHUNK_FRAMES):
        chunk = b"".join(frames[i : i + CHUNK_FRAMES])
        sent = (i + CHUNK_FRAMES) * 0.02
        for action in detector.feed(chunk):
            if isinstance(action, SpeechBegan):
                event: SttEvent = SttSpeechStarted(action.at_ms, sent)
                out.append((sent, event, (action.at_ms / 1000, action.at_ms / 1000)))
            elif isinstance(action, TurnDue):
                at = sent + latency
                span = (action.start_ms / 1000, action.end_ms / 1000)
                out.append((at, SttTurnEnded(DEFAULT_TRANSCRIPT, turns, (), at, None), span))
                turns += 1
    out.sort(key=lambda e: e[0])
    return out


def run(frames: Sequence[bytes], pipeline: str, greeting_s: float = GREETING_S) -> dict[str, Any]:
    """One call: its STT turns, and what the turn-taking machine did with each."""
    kind, suppress = PIPELINES[pipeline]
    stage = CallerAudio(NoiseSettings(suppression=suppress, detector=kind, model=ModelVadConfig()))
    agent = Agent(greeting_s)
    detector = stage.detector(BargeInSettings().vad, lambda: agent.audible, lambda: agent.pending)
    turns = TurnTaker(agent, detector=detector, room_gate=kind == "model")
    queue = stt_events(frames)
    answered: list[tuple[float, float]] = []
    room: list[tuple[float, float]] = []
    pauses = cuts = 0
    for i, frame in enumerate(frames):
        now = agent.now = (i + 1) * 0.02
        actions = list(turns.receive_audio(stage.process(frame), now))
        span = None
        while queue and queue[0][0] <= now:
            _, event, span = queue.pop(0)
            got = turns.receive_stt(event, now)
            actions += got
            for action in got:
                if isinstance(action, StartReply):
                    answered.append(span)
                elif isinstance(action, HeardFromRoom):
                    room.append(span)
        for action in actions:
            if isinstance(action, PauseAgent):
                agent.paused = True
                pauses += 1
            elif isinstance(action, ResumeAgent):
                agent.paused = False
            elif isinstance(action, CommitBargeIn):
                agent.paused = False
                cuts += int(agent.pending)
                agent.until = now
            elif isinstance(action, StartReply):
                agent.play(now, REPLY_S)
    stage.close()
    stt_turns = [s for _, e, s in stt_events(frames) if isinstance(e, SttTurnEnded)]
    return {"stt_turns": stt_turns, "answered": answered, "room": room, "pauses": pauses,
            "cuts": cuts}  # fmt: skip


def sort_turns(
    answered: Sequence[tuple[float, float]], sentences: Sequence[tuple[float, float]]
) -> dict[str, int]:
    """Answered turns by what their speech spans: a sentence first heard (the caller's), a
    sentence already answered (split), or none (the background's)."""
    seen: set[int] = set()
    out = {"caller": 0, "split": 0, "background": 0}
    for start, end in answered:
        over = [n for n, (a, b) in enumerate(sentences) if start < b and end > a]
        if not over:
            out["background"] += 1
        elif all(n in seen for n in over):
            out["split"] += 1
        else:
            out["caller"] += 1
            seen.update(over)
    return out


def call_audio(
    loop: Loop, calls: int, call: int, seconds: float
) -> tuple[list[bytes], list[tuple[float, float]]]:
    """Call ``call`` of ``calls`` (from 0): its ``seconds`` of frames, from its evenly spaced
    point of the loop, and the spans (s from its start) of the sentences said in it."""
    total = len(loop.frames)
    offset = call * total // calls
    frames = [loop.frames[(offset + i) % total] for i in range(int(seconds / 0.02))]
    shift = offset * FRAME / RATE
    sentences = []
    for k in range(int(seconds // loop.seconds) + 2):
        for a, b in loop.sentences:
            a2, b2 = a + k * loop.seconds - shift, b + k * loop.seconds - shift
            if b2 > 0 and a2 < seconds:
                sentences.append((a2, b2))
    return frames, sentences


def measure(
    loop: Loop,
    calls: int,
    seconds: float,
    pipelines: Sequence[str],
    greeting_s: float = GREETING_S,
) -> dict[str, Any]:
    """``calls`` calls of ``seconds`` each, from evenly spaced points of the loop (as the
    load generator spreads them)."""
    results: dict[str, Any] = {}
    for pipeline in pipelines:
        sums = {"stt_turns": 0, "answered": 0, "room": 0, "caller": 0, "split": 0,
                "background": 0, "sentences": 0, "pauses": 0, "cuts": 0}  # fmt: skip
        for c in range(calls):
            frames, sentences = call_audio(loop, calls, c, seconds)
            r = run(frames, pipeline, greeting_s)
            sums["stt_turns"] += len(r["stt_turns"])
            sums["answered"] += len(r["answered"])
            sums["room"] += len(r["room"])
            sums["pauses"] += r["pauses"]
            sums["cuts"] += r["cuts"]
            sums["sentences"] += len(sentences)
            for key, value in sort_turns(r["answered"], sentences).items():
                sums[key] += value
        call_seconds = calls * seconds
        results[pipeline] = {
            **sums,
            "call_seconds": call_seconds,
            "answered_per_call_s": round(sums["answered"] / call_seconds, 3),
            "stt_turns_per_call_s": round(sums["stt_turns"] / call_seconds, 3),
            "sentences_per_call_s": round(sums["sentences"] / call_seconds, 3),
        }
        log(f"{pipeline}: {results[pipeline]}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls, from evenly spaced points")
    parser.add_argument("--seconds", type=float, default=30.0, help="each call's length")
    parser.add_argument("--snr", type=float, default=10.0, help="dB under the caller's speech")
    parser.add_argument("--greeting", type=float, default=GREETING_S,
                        help="seconds of the agent's greeting (default: the bench's \"Hi.\", "
                        "%(default)s)")  # fmt: skip
    parser.add_argument("--pipelines", nargs="+", default=["energy", "model"],
                        choices=list(PIPELINES))  # fmt: skip
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    loop = make_loop(args.snr)
    results = measure(loop, args.calls, args.seconds, args.pipelines, args.greeting)
    rows = [
        [p, str(f["sentences"]), str(f["stt_turns"]), str(f["answered"]), str(f["caller"]),
         str(f["split"]), str(f["background"]), str(f["room"]), str(f["pauses"]),
         fmt(f["answered_per_call_s"])]
        for p, f in results.items()
    ]  # fmt: skip
    machine = machine_info()
    print(format_table(
        ["detector", "sentences", "STT turns", "answered", "caller's", "split", "background's",
         "room_speech", "pauses", "answered/call-s"],
        rows,
    ))  # fmt: skip
    path = write_json(
        {"machine": machine, "calls": args.calls, "seconds": args.seconds, "snr": args.snr,
         "greeting_s": args.greeting, "results": results}, args.json, "noisy_turns",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
