"""Answering-machine detection on the labelled set: accuracy, timing, beeps, cost.

    python -m bench.amd [--seed 2] [--heldout-seed 13] [--split both] [--per-group N]
                        [--json PATH]

Builds the labelled set's two splits (:mod:`tests.toolkit.amdset`: greetings,
carrier announcements, screener prompts and people picking up, over a noisy
lossy line; ``tune``, the split the rules were written against, spoken by
espeak-ng and two flite voices, and ``heldout``, kept for measuring only: other
generators and voices, rates, pauses, noises and wording, another seed) and
replays every sample into an
:class:`~sipgw.agent.amd.AnsweringMachineDetector` as a call would feed it: each
20 ms μ-law frame at the time its audio ends, and the simulated recognizer's
transcripts at the times they would arrive. Per sample it keeps every decision
and revision, the decision in force at the deadline, when the message could
start, and the beeps heard; then it prints, per class and group:

* accuracy of the first decision, of the decision in force at 4 s, and of the last;
* time to the first decision and to the right one (p50/p95, from the answer);
* people: the *added delay*, from the end of their first words to the first
  decision, and the share recognized with no more than 300 ms added and never
  taken for a machine afterwards (target ≥ 90 %); the false-voicemail rate;
  and, with :class:`~sipgw.agent.amd.policy.AnswerPolicy` in ``leave_message``, the
  share the agent begins speaking to for good within 300 ms of their words'
  end (a decision revised in passing, while they speak, costs nothing there),
  the share it yields to (it began at a pause in their words and they went on:
  its opening starts over once they stop) and the share it still speaks over
  when their words end;
* machines: the share recognized as a machine at 4 s (target ≥ 95 %), the
  share of the right class, how often the first decision was "human" (the
  agent would start speaking over the greeting, until the revision);
* voicemail: beeps found, and when the message may start after the beep's end
  or the greeting's end;
* the detector's cost per frame.

The issue's targets, per split (:func:`targets`): people decided as people (never
taken for a machine, a person at the end) >= 95 %, and recognized within 300 ms of
their greeting's end >= 90 %; machines recognized by 4 s >= 95 %; screeners never
taken for people (the decision at 4 s and the last). The held-out split's figures
are the ones that count.

The people's target counts every person. ``human/long`` (a person whose
pickup sounds like a greeting: "Hello, this is Dr. Smith's office, how can I
help you?") is the hard case: its figures are also printed on their own, and
the target's figure without them beside it. The default seed 2 was not used
while the thresholds were chosen (seed 1 was): ``--seed 1`` shows the set they
were tuned on.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from sipgw.agent.amd import (
    AMD_VAD,
    AmdConfig,
    AnswerClassified,
    AnsweringMachineDetector,
    AnswerKind,
)
from sipgw.agent.amd.events import ReadyForMessage
from sipgw.agent.amd.policy import (
    AnswerPolicy,
    BeginConversation,
    HangUp,
    LeaveMessage,
    StopSpeaking,
    YieldToCallee,
)
from sipgw.agent.amd.settings import AmdMode
from sipgw.agent.services.stt.base import SttPartialTranscript, SttTurnEnded
from sipgw.media.tones.beep import BeepDetected, BeepDetector, SpecialInfoToneDetected
from sipgw.media.voice.vad import VoiceActivityDetector
from tests.toolkit.amdset.channel import mix, noise, tone, transmit
from tests.toolkit.amdset.labelled import GROUPS, SPLITS, Sample, build
from tests.toolkit.amdset.stt import SimulatedTranscript

HUMAN_TARGET = 0.95
"""People decided as people: never a machine, a person at the end."""
HUMAN_IN_TIME_TARGET = 0.90
"""People recognized (a person's first decision) within 300 ms of their greeting's end."""
MACHINE_TARGET = 0.95
"""Machines decided as machines by the deadline (4 s)."""
ADDED_DELAY_LIMIT = 0.3
HARD_GROUP = ("human", "long")
"""People whose pickup sounds like a greeting: counted in the target, also shown apart."""
BEEP_TOLERANCE = 0.1  # a beep found within 100 ms of the true one's start and end


def stt_event(t: SimulatedTranscript) -> SttPartialTranscript | SttTurnEnded:
    """A simulated message as the speech-to-text client reports it."""
    if not t.final:
        return SttPartialTranscript(t.text, t.turn, received_at=t.at)
    return SttTurnEnded(t.text, t.turn, (), received_at=t.at, audio_end_ms=None)


@dataclass(frozen=True, slots=True)
class CalleeSpeaking:
    """The detector's stretch of speech began or ended (``speaking``) at ``at``."""

    at: float
    speaking: bool


SILENT_FRAME = b"\xff" * 160
"""20 ms of μ-law silence: what a sample is followed by while the detector may still
decide (a held greeting, a message waiting for an announced beep)."""


def replay(sample: Sample, config: AmdConfig) -> list[Any]:
    """Every event the detector reports for ``sample`` (decisions, readiness, tones),
    with a :class:`CalleeSpeaking` ahead of the events of the frame that changed it. The
    sample is followed by silence as long as the detector may still decide or become
    ready (``deadline + hold_past_deadline``; ``announced_beep_wait`` after the greeting)."""
    detector = AnsweringMachineDetector(0.0, config)
    transcripts = list(sample.transcripts)
    events: list[Any] = []
    speaking = False
    held = config.deadline + config.hold_past_deadline
    until = max(held, sample.greeting_end + config.announced_beep_wait)
    frames = list(sample.frames)
    frames += [SILENT_FRAME] * max(0, math.ceil((until + 0.5) / 0.02) - len(frames))
    for index, frame in enumerate(frames):
        now = (index + 1) * 0.02
        while transcripts and transcripts[0].at <= now:
            t = transcripts.pop(0)
            events += detector.receive_stt(stt_event(t), t.at)
        decided = detector.receive_audio(frame, now)
        if detector.classifier.in_speech is not speaking:
            speaking = detector.classifier.in_speech
            events.append(CalleeSpeaking(now, speaking))
        events += decided
    return [*events, *detector.tones]


def _decision_at(decisions: Sequence[AnswerClassified], moment: float) -> AnswerClassified | None:
    current = None
    for d in decisions:
        if d.at <= moment + 1e-6:
            current = d
    return current


def agent_begins(events: Sequence[Any], config: AmdConfig) -> tuple[float | None, int]:
    """When the agent of a ``leave_message`` call begins speaking for good (the last
    :class:`BeginConversation`, if nothing stops it after): None if it never does, or is
    stopped, or leaves a message, or hangs up; and how many times it yielded to a callee
    who went on over its beginning. As the assistant does (agent/assistant/answering.py): a person
    decided while speaking is begun on when they stop; a callee who goes on right after the
    agent began is yielded to (its opening, always long enough here, starts over); and once
    the agent speaks and the greeting is over (``greeting_gap`` of silence), detection
    ends."""
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    begun: float | None = None
    speaking = False
    last_voice: float | None = None  # the end of the callee's last stretch
    for event in events:
        if not isinstance(event, CalleeSpeaking | AnswerClassified | ReadyForMessage):
            continue  # the tones heard, reported apart
        at = event.at
        if policy.speaking and not speaking and last_voice is not None:
            if at - last_voice >= config.greeting_gap:
                break  # the greeting is over: detection ended
        if isinstance(event, CalleeSpeaking):
            speaking = event.speaking
            if not speaking:
                last_voice = at - config.human_silence  # the silence that ended it
            actions = policy.receive((), None, callee_speaking=speaking, can_start_over=True)
        else:
            actions = policy.receive((event,), None, callee_speaking=speaking, can_start_over=True)
        for action in actions:
            if isinstance(action, BeginConversation):
                begun = at
            elif isinstance(action, YieldToCallee | StopSpeaking | LeaveMessage | HangUp):
                begun = None
    return (None if policy.finished else begun), policy.yields


def judge(sample: Sample, events: list[Any], config: AmdConfig) -> dict[str, Any]:
    """One sample's figures."""
    decisions = [e for e in events if isinstance(e, AnswerClassified)]
    ready = next((e for e in events if isinstance(e, ReadyForMessage)), None)
    beeps = [e for e in events if isinstance(e, BeepDetected)]
    sits = [e for e in events if isinstance(e, SpecialInfoToneDetected)]
    first = decisions[0] if decisions else None
    at_deadline = _decision_at(decisions, config.deadline)
    last = decisions[-1] if decisions else None
    label = sample.label
    correct_at = None
    if last is not None and last.kind.value == label:
        correct_at = last.at
        for d in reversed(decisions):
            if d.kind.value != label:
                break
            correct_at = d.at
    row: dict[str, Any] = {
        "name": sample.name,
        "label": label,
        "group": sample.group,
        "decisions": [[d.kind.value, round(d.at, 3), d.reason] for d in decisions],
        "first": first.kind.value if first else None,
        "first_at": round(first.at, 3) if first else None,
        "at_deadline": at_deadline.kind.value if at_deadline else None,
        "last": last.kind.value if last else None,
        "correct_at": round(correct_at, 3) if correct_at is not None else None,
        "conditions": sample.conditions,
    }
    if label == "human":
        added = (
            first.at - sample.first_utterance_end
            if first is not None and first.kind is AnswerKind.HUMAN
            else None
        )
        machine_ever = any(d.kind.is_machine for d in decisions)
        begins, yields = agent_begins(events, config)
        agent_after = begins - sample.first_utterance_end if begins is not None else None
        row.update(
            decided_as_person=not machine_ever
            and last is not None
            and last.kind is AnswerKind.HUMAN,
            added_delay=round(added, 3) if added is not None else None,
            recognized=added is not None and added <= ADDED_DELAY_LIMIT + 1e-6 and not machine_ever,
            agent_after=round(agent_after, 3) if agent_after is not None else None,
            agent_in_time=agent_after is not None and agent_after <= ADDED_DELAY_LIMIT + 1e-6,
            agent_over_words=agent_after is not None and agent_after < 0,
            yields=yields,
            yielded=yields > 0,
            false_voicemail=any(d.kind is AnswerKind.VOICEMAIL for d in decisions),
            false_machine=machine_ever,
        )
    else:
        revised = next((d for d in decisions if d.kind.is_machine), None)
        row.update(
            machine_at_deadline=at_deadline is not None and at_deadline.kind.is_machine,
            right_at_deadline=at_deadline is not None and at_deadline.kind.value == label,
            first_human=first is not None and first.kind is AnswerKind.HUMAN,
            taken_for_person=any(
                d is not None and d.kind is AnswerKind.HUMAN for d in (at_deadline, last)
            ),
            talk_over=(
                round(revised.at - first.at, 3)
                if first is not None and first.kind is AnswerKind.HUMAN and revised is not None
                else None
            ),
        )
    if ready is not None:
        row["ready"] = {"at": round(ready.at, 3), "cause": ready.cause, "kind": ready.kind.value}
    if sample.beep is not None:
        start, end, hz = sample.beep
        found = [
            b
            for b in beeps
            if abs(b.start - start) <= BEEP_TOLERANCE + 0.02 and abs(b.end - end) <= BEEP_TOLERANCE
        ]
        row["beep"] = {"hz": hz, "seconds": round(end - start, 3), "found": bool(found)}
        if found:
            row["beep"]["end_error"] = round(found[0].end - end, 3)
        if ready is not None and label == "voicemail":
            row["ready_after_beep"] = round(ready.at - end, 3)
        false_beeps = [b for b in beeps if b not in found]
    else:
        false_beeps = beeps
        if ready is not None and label == "voicemail":
            row["ready_after_greeting"] = round(ready.at - sample.greeting_end, 3)
    row["false_beeps"] = len(false_beeps)
    row["sit"] = {"true": sample.sit is not None, "found": bool(sits)}
    return row


def _share(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 4) if rows else None


def _pcts(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": _round(percentile(values, 50)),
        "p95": _round(percentile(values, 95)),
        "max": _round(max(values)) if values else None,
    }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures for a class or group."""
    out: dict[str, Any] = {"samples": len(rows)}
    if not rows:
        return out
    out["first_accuracy"] = round(sum(r["first"] == r["label"] for r in rows) / len(rows), 4)
    out["deadline_accuracy"] = round(
        sum(r["at_deadline"] == r["label"] for r in rows) / len(rows), 4
    )
    out["final_accuracy"] = round(sum(r["last"] == r["label"] for r in rows) / len(rows), 4)
    out["first_decision"] = _pcts([r["first_at"] for r in rows if r["first_at"] is not None])
    out["right_decision"] = _pcts([r["correct_at"] for r in rows if r["correct_at"] is not None])
    if rows[0]["label"] == "human":
        out["decided_as_person"] = _share(rows, "decided_as_person")
        out["recognized"] = _share(rows, "recognized")
        out["agent_in_time"] = _share(rows, "agent_in_time")
        out["agent_over_words"] = _share(rows, "agent_over_words")
        out["yielded"] = _share(rows, "yielded")
        out["false_voicemail"] = _share(rows, "false_voicemail")
        out["false_machine"] = _share(rows, "false_machine")
        out["added_delay"] = _pcts([r["added_delay"] for r in rows if r["added_delay"] is not None])
    else:
        out["machine_at_deadline"] = _share(rows, "machine_at_deadline")
        out["right_at_deadline"] = _share(rows, "right_at_deadline")
        out["first_human"] = _share(rows, "first_human")
        out["taken_for_person"] = _share(rows, "taken_for_person")
        out["talk_over"] = _pcts([r["talk_over"] for r in rows if r["talk_over"] is not None])
    with_beep = [r for r in rows if "beep" in r]
    if with_beep:
        out["beeps_found"] = round(sum(r["beep"]["found"] for r in with_beep) / len(with_beep), 4)
        out["beep_end_error"] = _pcts(
            [r["beep"]["end_error"] for r in with_beep if "end_error" in r["beep"]]
        )
        out["ready_after_beep"] = _pcts(
            [r["ready_after_beep"] for r in with_beep if "ready_after_beep" in r]
        )
    greeting = [r["ready_after_greeting"] for r in rows if "ready_after_greeting" in r]
    if greeting:
        out["ready_after_greeting"] = _pcts(greeting)
    out["false_beeps"] = sum(r["false_beeps"] for r in rows)
    return out


SWEEP_HZ = (425, 440, 600, 850, 1000, 1200, 1400, 1700, 2000)
SWEEP_SECONDS = (0.1, 0.15, 0.3, 0.6, 1.0, 1.4)
SWEEP_SNR_DB = (10, 15, 25, 40)
SWEEP_LOSS = (0.0, 0.05, 0.15)


def beep_sweep(quick: bool = False) -> dict[str, Any]:
    """Beeps alone: every frequency x duration x signal-to-noise ratio x loss of the sweep
    (one of each with ``quick``), a beep at -20 dBFS after 0.3-0.8 s of white noise, then
    1 s of it, sent over :func:`~tests.toolkit.amdset.channel.transmit`; found means exactly
    one beep reported, within 100 ms of the true one. Per ratio: found, and the largest
    error of its end."""
    rng = random.Random(5)
    grid = [
        (hz, seconds, snr, loss)
        for hz in SWEEP_HZ[:: 4 if quick else 1]
        for seconds in SWEEP_SECONDS[:: 3 if quick else 1]
        for snr in SWEEP_SNR_DB
        for loss in SWEEP_LOSS[:: 2 if quick else 1]
    ]
    by_snr: dict[int, dict[str, Any]] = {}
    for hz, seconds, snr, loss in grid:
        lead = rng.uniform(0.3, 0.8)
        samples = [0.0] * round(lead * 8000) + tone(hz, seconds, -20.0, rng.uniform(0, 6.28))
        samples += [0.0] * 8000
        samples = mix(samples, noise(len(samples), -20.0 - snr, rng))
        frames, _ = transmit(samples, rng, loss)
        detector = BeepDetector()
        found = [
            e
            for n, f in enumerate(frames)
            for e in detector.receive_frame(f, (n + 1) * 0.02)
            if isinstance(e, BeepDetected)
        ]
        figures = by_snr.setdefault(snr, {"beeps": 0, "found": 0, "max_end_error": 0.0})
        figures["beeps"] += 1
        end = lead + seconds
        if len(found) == 1 and abs(found[0].end - end) <= BEEP_TOLERANCE:
            figures["found"] += 1
            figures["max_end_error"] = round(
                max(figures["max_end_error"], abs(found[0].end - end)), 3
            )
    return {str(snr): figures for snr, figures in sorted(by_snr.items())}


def frame_cost(samples: Sequence[Sample], repeats: int = 3) -> dict[str, float]:
    """µs per frame of the beep detector, the VAD and the whole detector (best of ``repeats``)."""
    frames = [f for s in samples for f in s.frames]

    def best(run: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return round(min(times) / max(1, len(frames)) * 1e6, 2)

    def beeps() -> None:
        detector = BeepDetector()
        for i, f in enumerate(frames):
            detector.receive_frame(f, i * 0.02)

    def vad() -> None:
        detector = VoiceActivityDetector()
        for f in frames:
            detector.push(f)

    def whole() -> None:
        detector = AnsweringMachineDetector(0.0)
        for i, f in enumerate(frames):
            detector.receive_audio(f, (i + 1) * 0.02)

    return {
        "frames": len(frames),
        "beep_us": best(beeps),
        "vad_us": best(vad),
        "detector_us": best(whole),
    }


def _config(args: argparse.Namespace) -> AmdConfig:
    changes: dict[str, Any] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        changes[name] = int(value) if name == "machine_words" else float(value)
    if args.vad_margin_db is not None:
        changes["vad"] = replace(AMD_VAD, margin_db=args.vad_margin_db)
    return AmdConfig(**changes)


def targets(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets over every person and machine; the people's figures also
    without the long pickups (:data:`HARD_GROUP`), said as such."""
    people = [r for r in rows if r["label"] == "human"]
    short = [r for r in people if (r["label"], r["group"]) != HARD_GROUP]
    machines = [r for r in rows if r["label"] != "human"]
    screeners = [r for r in machines if r["label"] == "screener"]
    figures: dict[str, Any] = {
        "humans": len(people),
        "humans_decided": _share(people, "decided_as_person"),
        "humans_recognized": _share(people, "recognized"),
        "humans_false_voicemail": _share(people, "false_voicemail"),
        "humans_agent_in_time": _share(people, "agent_in_time"),
        "humans_agent_over_words": _share(people, "agent_over_words"),
        "humans_yielded": _share(people, "yielded"),
        "humans_without_long_pickups": len(short),
        "humans_recognized_without_long_pickups": _share(short, "recognized"),
        "humans_target": HUMAN_TARGET,
        "humans_in_time_target": HUMAN_IN_TIME_TARGET,
        "machines": len(machines),
        "machines_at_deadline": _share(machines, "machine_at_deadline"),
        "machines_right_class_at_deadline": _share(machines, "right_at_deadline"),
        "machines_target": MACHINE_TARGET,
        "screeners": len(screeners),
        "screeners_taken_for_people": sum(bool(r["taken_for_person"]) for r in screeners),
    }
    machines_met = (figures["machines_at_deadline"] or 0) >= MACHINE_TARGET
    screeners_met = figures["screeners_taken_for_people"] == 0
    figures["met"] = (
        (figures["humans_decided"] or 0) >= HUMAN_TARGET
        and (figures["humans_recognized"] or 0) >= HUMAN_IN_TIME_TARGET
        and machines_met
        and screeners_met
    )
    figures["met_within_margin"] = within_margin(figures)
    figures["floors"] = {
        "humans_decided": binomial_floor(len(people), HUMAN_TARGET),
        "humans_recognized": binomial_floor(len(people), HUMAN_IN_TIME_TARGET),
        "machines_at_deadline": binomial_floor(len(machines), MACHINE_TARGET),
    }
    figures["met_without_long_pickups"] = (
        (figures["humans_recognized_without_long_pickups"] or 0) >= HUMAN_IN_TIME_TARGET
        and machines_met
        and screeners_met
    )
    return figures


def binomial_floor(n: int, rate: float, alpha: float = 0.05) -> int:
    """The fewest successes out of ``n`` that a true ``rate`` still gives with probability
    at least ``alpha`` (one-sided): fewer is evidence, at that level, that the rate is
    below ``rate``; as many or more is what a sample of ``n`` cannot tell from it."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * rate**k * (1 - rate) ** (n - k)
        if total >= alpha:
            return k
    return n


def within_margin(figures: dict[str, Any]) -> bool:
    """The targets, with the margin the sample's size allows (:func:`binomial_floor`):
    no screener taken for a person, whatever the size."""
    checks = (
        ("humans_decided", "humans", HUMAN_TARGET),
        ("humans_recognized", "humans", HUMAN_IN_TIME_TARGET),
        ("machines_at_deadline", "machines", MACHINE_TARGET),
    )
    for share, count, target in checks:
        n = figures[count]
        if n and round((figures[share] or 0) * n) < binomial_floor(n, target):
            return False
    return bool(figures["screeners_taken_for_people"] == 0)


def run_split(split: str, seed: int, per_group: int | None, config: AmdConfig) -> dict[str, Any]:
    """One split's figures: targets, per class, per group, per sample."""
    log(f"building the {split} split (seed {seed})")
    started = time.perf_counter()
    samples = list(build(seed, per_group, split=split))
    log(f"{len(samples)} samples in {time.perf_counter() - started:.1f} s; replaying")
    rows = [judge(sample, replay(sample, config), config) for sample in samples]
    classes: dict[str, Any] = {}
    for label in ("human", "voicemail", "announcement", "screener"):
        classes[label] = summarize([r for r in rows if r["label"] == label])
    classes["human, short pickup"] = summarize(
        [r for r in rows if r["label"] == "human" and (r["label"], r["group"]) != HARD_GROUP]
    )
    classes["human, long pickup (hard)"] = summarize(
        [r for r in rows if (r["label"], r["group"]) == HARD_GROUP]
    )
    groups = {
        "/".join(key): summarize([r for r in rows if (r["label"], r["group"]) == key])
        for key in GROUPS
    }
    engines = sorted({str(r["conditions"]["engine"]) for r in rows})
    return {
        "split": split, "seed": seed, "engines": engines, "targets": targets(rows),
        "classes": classes, "groups": groups, "samples": rows, "_frames": samples,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=2, help="the tuning split's seed")
    p.add_argument(
        "--heldout-seed", type=int, default=13, help="the held-out split's seed (never tuned on)"
    )
    p.add_argument("--split", choices=("both", *SPLITS), default="both", help="which splits")
    p.add_argument("--per-group", type=int, default=None, help="samples per group at most")
    p.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="an AmdConfig field for this run, e.g. human_silence=0.5 (repeatable)",
    )  # fmt: skip
    p.add_argument("--vad-margin-db", type=float, default=None, help="the VAD's margin (dB)")
    p.add_argument("--quick-sweep", action="store_true", help="a few beeps of the beep sweep")
    p.add_argument("--label", default="", help="what code this is (e.g. 'before')")
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")
    args = p.parse_args(argv)
    config = _config(args)
    seeds = {"tune": args.seed, "heldout": args.heldout_seed}
    names = list(SPLITS) if args.split == "both" else [args.split]
    splits = {name: run_split(name, seeds[name], args.per_group, config) for name in names}
    frames = [sample for result in splits.values() for sample in result.pop("_frames")]
    params = {"seed": args.seed, "heldout_seed": args.heldout_seed, "split": args.split}
    params.update(per_group=args.per_group, label=args.label)
    params.update(set=args.set, vad_margin_db=args.vad_margin_db)
    data: dict[str, Any] = {
        "machine": machine_info(),
        "params": params,
        "config": asdict(config),
        "splits": splits,
        "cost_per_frame": frame_cost(frames),
        "beep_sweep": beep_sweep(args.quick_sweep),
    }
    cpu = data["machine"]["cpu_model"]
    for name, result in splits.items():
        n = len(result["samples"])
        print(
            f"AMD on the labelled set {args.label}, split {name} (seed {result['seed']}, "
            f"{n} samples; {', '.join(result['engines'])}); {cpu}"
        )
        print(format_table(*_class_table(result["classes"])))
        print()
        print(format_table(*_group_table(result["groups"])))
        print()
    print("the targets, per split:")
    print(format_table(*_target_table(splits)))
    sweep = data["beep_sweep"]
    print(
        "beeps alone (white noise, loss concealed), found by signal-to-noise ratio: "
        + ", ".join(f"{snr} dB {f['found']}/{f['beeps']}" for snr, f in sweep.items())
    )
    cost = data["cost_per_frame"]
    print(
        f"cost per 20 ms frame: beep detector {cost['beep_us']} µs, VAD {cost['vad_us']} µs, "
        f"whole detector {cost['detector_us']} µs"
    )
    print(f"JSON: {write_json(data, args.json, 'amd')}")
    return 0


def _target_table(splits: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "split", "people", f"decided as people % (>= {HUMAN_TARGET:.0%})",
        f"within 300 ms % (>= {HUMAN_IN_TIME_TARGET:.0%})", "without long pickups %",
        "agent in time %", "machines", f"machines by 4 s % (>= {MACHINE_TARGET:.0%})",
        "right kind by 4 s %", "screeners taken for people (0)", "met", "met within margin",
    ]  # fmt: skip
    rows = []
    for name, result in splits.items():
        g = result["targets"]
        rows.append([
            name, str(g["humans"]), _pct(g["humans_decided"]), _pct(g["humans_recognized"]),
            _pct(g["humans_recognized_without_long_pickups"]), _pct(g["humans_agent_in_time"]),
            str(g["machines"]), _pct(g["machines_at_deadline"]),
            _pct(g["machines_right_class_at_deadline"]),
            f"{g['screeners_taken_for_people']} of {g['screeners']}",
            "yes" if g["met"] else "no", "yes" if g["met_within_margin"] else "no",
        ])  # fmt: skip
    return headers, rows


def _pct(value: float | None) -> str:
    return fmt(100 * value, ".1f") if value is not None else "-"


def _ms(figures: dict[str, float | None] | None, key: str) -> str:
    value = figures.get(key) if figures else None
    return fmt(1000 * value, ".0f") if value is not None else "-"


def _p50_p95(figures: dict[str, float | None] | None) -> str:
    return f"{_ms(figures, 'p50')}/{_ms(figures, 'p95')}"


def _accuracies(s: dict[str, Any]) -> list[str]:
    return [_pct(s["first_accuracy"]), _pct(s["deadline_accuracy"]), _pct(s["final_accuracy"])]


def _class_table(classes: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "class", "n", "first %", "at 4 s %", "last %", "decided p50/p95 ms", "right p50/p95 ms",
        "added p50/p95 ms", "as people %", "recognized % / machine at 4 s %", "agent in time %",
        "yielded %", "over words %",
        "false VM %", "taken for human first %",
    ]  # fmt: skip
    rows = []
    for name, s in classes.items():
        if not s["samples"]:
            continue
        human = "recognized" in s
        rows.append([
            name, str(s["samples"]), *_accuracies(s),
            _p50_p95(s["first_decision"]), _p50_p95(s["right_decision"]),
            _p50_p95(s["added_delay"]) if human else "-",
            _pct(s["decided_as_person"]) if human else "-",
            _pct(s["recognized"]) if human else _pct(s["machine_at_deadline"]),
            _pct(s["agent_in_time"]) if human else "-",
            _pct(s["yielded"]) if human else "-",
            _pct(s["agent_over_words"]) if human else "-",
            _pct(s["false_voicemail"]) if human else "-",
            "-" if human else _pct(s["first_human"]),
        ])  # fmt: skip
    return headers, rows


def _group_table(groups: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "group", "n", "first %", "at 4 s %", "last %", "beeps found %",
        "ready after beep p50/p95 ms", "ready after greeting p50/p95 ms", "false beeps",
    ]  # fmt: skip
    rows = []
    for name, s in groups.items():
        if not s["samples"]:
            continue
        rows.append([
            name, str(s["samples"]), *_accuracies(s), _pct(s.get("beeps_found")),
            _p50_p95(s.get("ready_after_beep")), _p50_p95(s.get("ready_after_greeting")),
            str(s["false_beeps"]),
        ])  # fmt: skip
    return headers, rows


if __name__ == "__main__":
    sys.exit(main())
