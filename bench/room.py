"""The room is not the caller: a TV or voices across the room, transcribed, and no answer.

    python -m bench.room [--seconds 60] [--snr 10 5] [--json PATH]

A call where the caller says nothing while a TV or café babble talks in the room
(:mod:`tests.toolkit.noisy_audio`, at ``--snr`` dB under a caller's -20 dBFS), fed one
20 ms μ-law frame per 20 ms through the assistant's caller path
(:class:`sipgw.agent.conversation.caller_audio.CallerAudio`, then
:class:`sipgw.agent.turns.machine.TurnTaker`, with ``room_gate`` for the model detector, as the
assistant builds it). The agent greets for :data:`GREETING_S`, then waits; each turn it
answers plays a reply of :data:`REPLY_S`.

The speech-to-text service is a fake that transcribes the room as readily as a caller:
each stretch of the room's voices (its frames within 20 dB of their active level, a gap of
:data:`STT_GAP_S` ending it, at most :data:`STT_MAX_TURN_S` long) gives a speech start
0.3 s in, a three-word partial 0.8 s in and a finished turn 0.5 s after its end. Per
background, SNR and detector:

* **false barge-ins per minute**: the agent's audio paused (the caller hears it stop);
* **cut replies per minute**: a reply cut off for the room;
* **answered turns per minute**: the room's transcripts the agent answered (the issue:
  none); **heard from the room per minute**: those recorded and not answered.

And the other side (``caller`` rows): the caller says a short answer ("Yes.", "No.") or a
sentence, in turn, every :data:`CALLER_EVERY_S` over the same room with the agent silent
(its replies aside), the fake STT sending a finished turn 0.5 s after each: the share answered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench.noise import INTERRUPTIONS, PIPELINES, _ulaw_frames
from sipgw.agent.conversation.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.services.stt.base import (
    SttEvent,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.turns.machine import (
    CommitBargeIn,
    HeardFromRoom,
    PauseAgent,
    ResumeAgent,
    StartReply,
    TurnTaker,
)
from sipgw.media.voice.vad import ModelVadConfig
from tests.toolkit.noisy_audio import RATE, _active_rms, background, mix, speech

GREETING_S = 3.0
"""The agent's greeting, over the room, from the call's first frame."""
REPLY_S = 3.0
"""Each answered turn's reply."""
STT_GAP_S = 0.7
"""A pause in the room's voices this long ends the fake STT's turn."""
STT_MAX_TURN_S = 6.0
"""The fake STT ends a turn of continuous voices (babble) after this long."""
CALLER_EVERY_S = 7.0
ANSWERS = (("en-us", "Yes."), ("en+f3", "No."), ("en-us+m4", "Okay."), ("en-gb-x-rp", "Sure."),
           ("en-us+f2", "Yeah."))  # fmt: skip
"""Short answers, the caller's turns that hold the least speech, between the sentences, in
:data:`bench.noise.INTERRUPTIONS`' voices: none is a room's (this espeak-ng ignores the
variants of ``en-gb``; ``en-gb+f3`` and ``en-gb``, the TV's reader, said "No." and "Sure."
until 2026-11-27)."""
FRAME = 160


class Agent:
    """The agent's side: the greeting, then a reply for each answered turn."""

    def __init__(self, greeting_s: float = GREETING_S) -> None:
        self.started = 0.0  # when its latest audio (the greeting, then a reply) started (s)
        self.until = greeting_s  # its audio plays until then (s), unless cut
        self.paused = False
        self.now = 0.0

    def play(self, now: float, seconds: float) -> None:
        """A reply's audio starts at ``now`` (s) and plays for ``seconds``, unless cut."""
        self.started = now
        self.until = now + seconds

    @property
    def pending(self) -> bool:
        return self.now < self.until

    @property
    def audible(self) -> bool:
        return self.pending and not self.paused

    def active_reply_started_at(self) -> float | None:
        """When the audio still pending started (the assistant's reply's start): speech that
        began before it is the turn it answers, not an interruption of it."""
        return self.started if self.pending else None


def voiced_spans(samples: Sequence[int]) -> list[tuple[float, float]]:
    """The stretches (s) where ``samples`` (the room alone) has voices, as the fake STT's
    turns: frames within 20 dB of the active level, split at :data:`STT_GAP_S` of gaps and
    at :data:`STT_MAX_TURN_S`."""
    floor = _active_rms(samples) * 0.1
    spans: list[tuple[float, float]] = []
    start = last = None
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        t = i / RATE
        frame = samples[i : i + FRAME]
        voiced = (sum(s * s for s in frame) / FRAME) ** 0.5 >= floor
        if voiced:
            if start is None or t - (last or t) >= STT_GAP_S or t - start >= STT_MAX_TURN_S:
                if start is not None and last is not None:
                    spans.append((start, last))
                start = t
            last = t + 0.02
    if start is not None and last is not None:
        spans.append((start, last))
    return [(a, b) for a, b in spans if b - a >= 0.3]


def stt_events(spans: Sequence[tuple[float, float]], words: str) -> list[tuple[float, SttEvent]]:
    """The fake STT's events for ``spans`` (time ordered)."""
    out: list[tuple[float, SttEvent]] = []
    for n, (start, end) in enumerate(spans):
        out.append((start + 0.3, SttSpeechStarted(timestamp_ms=int(start * 1000),
                                                  received_at=start + 0.3)))  # fmt: skip
        if end - start > 0.8:
            first = " ".join(words.split()[:3])
            out.append((start + 0.8, SttPartialTranscript(first, n, start + 0.8)))
        out.append((end + 0.5, SttTurnEnded(words, n, (), end + 0.5, None)))
    out.sort(key=lambda e: e[0])
    return out


def run(
    frames: Sequence[bytes], events: Sequence[tuple[float, SttEvent]], pipeline: str
) -> dict[str, int]:
    """Feed the call; count pauses, cuts, answered turns and turns heard from the room."""
    kind, suppress = PIPELINES[pipeline]
    stage = CallerAudio(NoiseSettings(suppression=suppress, detector=kind, model=ModelVadConfig()))
    agent = Agent()
    vad = BargeInSettings().vad
    detector = stage.detector(vad, lambda: agent.audible, lambda: agent.pending)
    turns = TurnTaker(agent, detector=detector, room_gate=kind == "model")
    counts = {"pauses": 0, "cuts": 0, "answered": 0, "room": 0}
    queue = list(events)
    for i, frame in enumerate(frames):
        now = agent.now = (i + 1) * 0.02
        actions = list(turns.receive_audio(stage.process(frame), now))
        while queue and queue[0][0] <= now:
            actions += turns.receive_stt(queue.pop(0)[1], now)
        for action in actions:
            if isinstance(action, PauseAgent):
                agent.paused = True
                counts["pauses"] += 1
            elif isinstance(action, ResumeAgent):
                agent.paused = False
            elif isinstance(action, CommitBargeIn):
                agent.paused = False
                if agent.pending:
                    counts["cuts"] += 1
                agent.until = now
            elif isinstance(action, StartReply):
                counts["answered"] += 1
                agent.play(now, REPLY_S)
            elif isinstance(action, HeardFromRoom):
                counts["room"] += 1
    stage.close()
    return counts


def measure(kind: str, snr: float, seconds: float, pipelines: Sequence[str]) -> dict[str, Any]:
    """One background at one SNR: the room alone, and the caller's turns over it."""
    noise = background(kind, seconds)
    silence = [0] * len(noise)
    room = mix(silence, noise, snr)
    alone = _ulaw_frames(room)
    room_events = stt_events(voiced_spans(room), "and the council voted on the bridge")
    voice = [0] * len(noise)
    spans = []
    at, n = GREETING_S + 2.0, 0
    while at + 4.0 < seconds:
        voice_name, text = (INTERRUPTIONS if n % 2 else ANSWERS)[n // 2 % 5]
        said = speech(text, voice_name)
        start = int(at * RATE)
        voice[start : start + len(said)] = said
        spans.append((at, at + len(said) / RATE))
        at += CALLER_EVERY_S
        n += 1
    caller = _ulaw_frames(mix(voice, noise, snr))
    caller_events = stt_events(spans, "yes")
    out: dict[str, Any] = {}
    minutes = seconds / 60
    for pipeline in pipelines:
        r = run(alone, room_events, pipeline)
        c = run(caller, caller_events, pipeline)
        out[pipeline] = {
            "room_turns": len(room_events)
            and sum(isinstance(e, SttTurnEnded) for _, e in room_events),  # fmt: skip
            "false_barge_ins_per_min": round(r["pauses"] / minutes, 2),
            "cut_replies_per_min": round(r["cuts"] / minutes, 2),
            "answered_per_min": round(r["answered"] / minutes, 2),
            "heard_from_room_per_min": round(r["room"] / minutes, 2),
            "caller_turns": len(spans),
            "caller_answered": c["answered"],
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per background and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, 5.0])
    parser.add_argument("--backgrounds", nargs="+", default=["babble", "tv"])
    parser.add_argument("--pipelines", nargs="+", default=["energy", "model"],
                        choices=list(PIPELINES))  # fmt: skip
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    rows = []
    for snr in args.snr:
        for kind in args.backgrounds:
            log(f"{kind} at {snr:g} dB under the caller")
            figures = results[f"{kind}@{snr:g}dB"] = measure(
                kind, snr, args.seconds, args.pipelines
            )
            for pipeline, f in figures.items():
                rows.append([
                    kind, f"{snr:g}", pipeline, str(f["room_turns"]),
                    fmt(f["false_barge_ins_per_min"]), fmt(f["cut_replies_per_min"]),
                    fmt(f["answered_per_min"]), fmt(f["heard_from_room_per_min"]),
                    f"{f['caller_answered']}/{f['caller_turns']}",
                ])  # fmt: skip
    machine = machine_info()
    print(f"CPU {machine.get('cpu_model')}, load average {machine.get('loadavg_at_start')}")
    print(format_table(
        ["room", "dB under caller", "detector", "room's STT turns", "false barge-ins/min",
         "cut replies/min", "answered/min", "heard from room/min", "caller turns answered"],
        rows,
    ))  # fmt: skip
    path = write_json(
        {"machine": machine, "seconds": args.seconds, "results": results}, args.json, "room"
    )
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
