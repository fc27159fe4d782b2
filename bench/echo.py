"""The agent's own echo: false pauses on it, and real interruptions over it, guard on and off.

    python -m bench.echo [--seconds 60] [--paths NAME ... | all] [--detectors energy model]
                         [--json PATH]

Over a labelled set of echo paths (:data:`CONDITIONS`: the speakerphone, the 2-wire hybrid
and the loud handset of :mod:`tests.toolkit.echo_paths`, at levels 0-30 dB down and delays of
10-300 ms, one drifting), a call runs frame by frame through the assistant's caller path
(:class:`~sipgw.agent.conversation.caller_audio.CallerAudio` with the echo guard on or off, then
:class:`~sipgw.agent.turns.machine.TurnTaker` with its detector, ``room_gate`` with the model
detector, ducking after the assistant's default), the loop closed: each tick the agent's
frame (its reply, espeak-ng's ``en-us+f3`` at -20 dBFS active, or silence while it is paused
or cut off; softer while ducked) goes to the guard and to the phone's speaker, and the
phone's microphone returns the speaker's echo (:class:`~tests.toolkit.echo_paths.PhoneEcho`)
over line hiss at -60 dBFS, with the caller's voice when they talk. Two runs a path:

* **echo alone**: the agent talks for ``--seconds``, the caller is silent. **False pauses a
  minute**: every :class:`~sipgw.agent.turns.machine.PauseAgent` (the caller hears the agent
  stop for nothing); **false cuts a minute**: every
  :class:`~sipgw.agent.turns.machine.CommitBargeIn` (the reply cut off for good).
* **caller over the echo**: the agent talks, and the caller says a sentence every
  :data:`EVERY_S` (bench/noise.py's five voices in turn, -20 dBFS active). **Caught**: the
  sentences that paused the agent; **cut**: of those, the ones whose speech alone cut the
  reply off within 1 s of the sentence's end (no speech-to-text here: its partial, which cuts
  a paused reply on two words, comes on top); **onset to pause**: from the sentence's onset
  (its first 20 ms within 15 dB of its active level) to the pause, p50 and p95 over the
  caught ones.

And **µs a frame**: the caller stage's process time (the agent's frame to the guard, the
caller's frame through it) per 20 ms frame while the agent talks, with the guard on and off
(off: the stage passes the frame through). No speech-to-text here: what it would transcribe
of the echo is the guard's comfort noise (tests/agent/assistant/test_echo_line.py checks the
turns through the gateway's own assistant and a fake STT).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import INTERRUPTIONS, onset_s
from sipgw.agent.conversation.caller_audio import CallerAudio, DetectorKind, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.turns.machine import CommitBargeIn, DuckAgent, PauseAgent, TurnTaker
from sipgw.media import g711
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import Voice, synthesize_clause
from tests.toolkit.echo_paths import PATHS, EchoPath, PhoneEcho, encode, varied

RATE = 8000
FRAME = 160
EVERY_S = 4.0
"""One caller sentence every this many seconds of the interruption run."""
AGENT_VOICE = Voice("en-us+f3")
AGENT_LINES = (
    "Thanks for calling, this is the order desk. How can I help you today?",
    "Your order left our warehouse on Monday and should arrive by Thursday afternoon.",
    "I can also send you a text message with the tracking number if you like.",
    "Is there anything else I can do for you while I have your order open?",
)
HISS_DBFS = -60.0
DUCK_DB = BargeInSettings().duck_db


def _condition(name: str, down_db: float, delay_ms: float, drift: float = 0.0) -> EchoPath:
    path = varied(PATHS[name], delay_ms, down_db)
    if drift:
        from dataclasses import replace

        path = replace(path, name=f"{path.name} drifting", drift_ms_per_s=drift)
    return path


CONDITIONS: tuple[EchoPath, ...] = (
    _condition("hybrid", 0, 40),
    _condition("hybrid", 6, 40),
    _condition("hybrid", 6, 10),
    _condition("hybrid", 6, 40, drift=1.5),
    _condition("handset", 20, 15),
    _condition("handset", 30, 10),
    _condition("speakerphone", 6, 300),
    _condition("speakerphone", 12, 120),
    _condition("speakerphone", 20, 200),
)
"""The labelled echo paths (levels and delays; the speakerphone's reflections and room)."""
SHORT: tuple[EchoPath, ...] = (CONDITIONS[1], CONDITIONS[7])


def _samples(text: str, voice: Voice, dbfs: float = -20.0) -> np.ndarray:
    said = synthesize_clause(text, voice).samples
    return np.array(channel.scale_to([float(v) for v in said], dbfs - 2.0))  # ~dbfs active


def agent_track() -> list[bytes]:
    """The agent's lines, 300 ms apart, as μ-law frames."""
    gap = np.zeros(round(0.3 * RATE))
    parts = [np.concatenate([_samples(line, AGENT_VOICE), gap]) for line in AGENT_LINES]
    ulaw = encode(np.concatenate(parts))
    return [ulaw[i : i + FRAME] for i in range(0, len(ulaw) - FRAME + 1, FRAME)]


def caller_track(seconds: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The caller's sentences every :data:`EVERY_S` from 2 s on; each (onset, end) in s."""
    track = np.zeros(round(seconds * RATE))
    spans = []
    at, n = 2.0, 0
    while at + 3.0 < seconds:
        name, text = INTERRUPTIONS[n % len(INTERRUPTIONS)]
        said = _samples(text, Voice(name))
        start = round(at * RATE)
        track[start : start + len(said)] = said[: len(track) - start]
        spans.append((at + onset_s([int(v) for v in said]), at + len(said) / RATE))
        at += EVERY_S
        n += 1
    return track, spans


class Agent:
    """The agent's side: a reply playing on (its lines looped), paused from a pause to its
    resume, softer while ducked, silent after a cut until the caller is quiet."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.at = 0
        self.audible = self.pending = True
        self.ducked = False

    def heard_over(self) -> bool:
        """What the detector is told: the agent's audio plays over the caller (a ducked
        reply does not: the caller has the floor until their words decide)."""
        return self.audible and not self.ducked

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.pending else None

    def next_frame(self) -> bytes | None:
        if not self.audible:
            return None
        frame = self.lines[self.at % len(self.lines)]
        self.at += 1
        return g711.softer(frame, DUCK_DB) if self.ducked else frame


@dataclass
class Run:
    pauses: list[float] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    stage_s: float = 0.0
    speaking_frames: int = 0


def play(
    path: EchoPath, lines: list[bytes], caller: np.ndarray, kind: DetectorKind, guard: bool
) -> Run:
    """One call through the caller path (see the module docstring)."""
    stage = CallerAudio(NoiseSettings(detector=kind, echo_guard=guard))
    agent = Agent(lines)
    detector = stage.detector(BargeInSettings().vad, agent.heard_over, lambda: agent.pending)
    turns = TurnTaker(
        agent, detector=detector, room_gate=kind == "model",
        duck_after_ms=BargeInSettings().duck_after_ms,
    )  # fmt: skip
    phone = PhoneEcho(path)
    hiss = np.random.default_rng(5).standard_normal(len(caller)) * 32767 * 10 ** (HISS_DBFS / 20)
    mouth = encode(caller + hiss)
    run = Run()
    committed: set[float | None] = set()
    for i in range(len(caller) // FRAME):
        now = (i + 1) * 0.02
        frame = agent.next_frame()
        phone.played(frame or b"\xff" * FRAME)
        heard = phone.returned(mouth[i * FRAME : (i + 1) * FRAME])
        started = time.perf_counter()
        stage.sent(frame)
        heard = stage.process(heard)
        if frame is not None:
            run.stage_s += time.perf_counter() - started
            run.speaking_frames += 1
        actions = turns.receive_audio(heard, now)
        if not agent.audible and turns.paused_at is None and not turns.vad.speaking:
            agent.audible, agent.ducked = True, False  # resumed, or the next reply after a cut
        for action in actions:
            if isinstance(action, PauseAgent):
                agent.audible = False
                run.pauses.append(now)
            elif isinstance(action, DuckAgent):
                agent.audible = agent.ducked = True
            elif isinstance(action, CommitBargeIn) and turns.speech_started_at not in committed:
                committed.add(turns.speech_started_at)
                agent.audible = agent.ducked = False
                run.commits.append(now)
    return run


def measure(
    path: EchoPath, seconds: float, kind: DetectorKind, guard: bool, lines: list[bytes]
) -> dict[str, Any]:
    """One path, one detector, the guard on or off: both runs' figures."""
    alone = play(path, lines, np.zeros(round(seconds * RATE)), kind, guard)
    voice, spans = caller_track(seconds)
    over = play(path, lines, voice, kind, guard)
    caught, cut, delays = 0, 0, []
    for onset, end in spans:
        pause = next((p for p in over.pauses if onset - 0.1 <= p <= end), None)
        if pause is not None:
            caught += 1
            cut += any(onset <= c <= end + 1.0 for c in over.commits)
            delays.append(max(0.0, pause - onset) * 1000)
    minutes = seconds / 60
    frames = alone.speaking_frames + over.speaking_frames
    return {
        "false_pauses_per_min": len(alone.pauses) / minutes,
        "false_cuts_per_min": len(alone.commits) / minutes,
        "interruptions": len(spans),
        "caught": caught,
        "cut": cut,
        "onset_to_pause_ms_p50": percentile(delays, 50) if delays else None,
        "onset_to_pause_ms_p95": percentile(delays, 95) if delays else None,
        "stage_us_per_frame": (alone.stage_s + over.stage_s) / max(frames, 1) * 1e6,
    }


def run_all(
    paths: Sequence[EchoPath], seconds: float, detectors: Sequence[DetectorKind]
) -> dict[str, Any]:
    """Every path, detector and guard setting."""
    lines = agent_track()
    rows: list[dict[str, Any]] = []
    for path in paths:
        for kind in detectors:
            for guard in (False, True):
                log(f"{path.name} {kind} guard {'on' if guard else 'off'}")
                figures = measure(path, seconds, kind, guard, lines)
                rows.append({"path": path.name, "detector": kind, "guard": guard, **figures})
    return {"machine": machine_info(), "seconds": seconds, "rows": rows}


def table(result: dict[str, Any]) -> str:
    """The figures, one row a path, detector and guard setting."""
    head = ["path", "detector", "guard", "false pauses/min", "false cuts/min", "caught (cut)",
            "onset→pause p50/p95 ms", "µs/frame"]  # fmt: skip
    body = [
        [
            r["path"], r["detector"], "on" if r["guard"] else "off",
            fmt(r["false_pauses_per_min"], ".1f"), fmt(r["false_cuts_per_min"], ".1f"),
            f"{r['caught']}/{r['interruptions']} ({r['cut']})",
            f"{fmt(r['onset_to_pause_ms_p50'], '.0f')}/{fmt(r['onset_to_pause_ms_p95'], '.0f')}",
            fmt(r["stage_us_per_frame"], ".1f"),
        ]
        for r in result["rows"]
    ]  # fmt: skip
    return format_table(head, body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--paths", nargs="*", default=None, help="names (see CONDITIONS), all")
    parser.add_argument("--detectors", nargs="*", default=["energy", "model"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    paths = CONDITIONS
    if args.paths and args.paths != ["all"]:
        paths = tuple(p for p in CONDITIONS if p.name in args.paths)
    result = run_all(paths, args.seconds, args.detectors)
    where = write_json(result, args.json, "echo")
    print(table(result))
    log(f"JSON: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
