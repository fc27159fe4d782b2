"""Backchannels and real interruptions over the agent's reply: both errors, and the silence.

    python -m bench.backchannels [--voices 11] [--duck-ms 200] [--json PATH]

The labelled set of :mod:`tests.toolkit.backchannels.labelled` ("uh-huh", "right",
"okay"... against "wait", "stop", "no, that's wrong", real sentences; every text said by
every voice at a level drawn from the same range whatever its label) is laid over a call,
one voice a call: the agent's greeting, the caller's first turn with the agent silent,
then the agent's reply playing, and the voice's items one every :data:`EVERY_S` in a fixed
shuffled order, over line hiss (``clean``) or café babble 10 dB under the caller
(``babble10``). Frames go one per 20 ms through the assistant's caller path
(:class:`~sipgw.agent.conversation.caller_audio.CallerAudio`, then
:class:`~sipgw.agent.turns.machine.TurnTaker`, ``room_gate`` with the model detector, as the
assistant builds it, ducking an undecided pause after ``--duck-ms``, the assistant's
default; 0: never), with a fake speech-to-text service: a partial of the first word
``--partial-s`` (:data:`FIRST_PARTIAL_S`) after the words begin (or
:data:`PARTIAL_AFTER_S` after a shorter item ends; AssemblyAI's early partial comes
300-800 ms into a turn), one of all the words :data:`PARTIAL_AFTER_S` after they end, the
finished turn :data:`FINAL_AFTER_S` after they end. Per detector and line:

* **backchannel taken for an interruption**: the share of backchannels after which the
  reply was cut off (a commit); **silence**: how long the reply was paused around each
  backchannel, from each pause to the resume or the duck that ended it (a ducked reply
  plays, softer: no silence), summed over the item's pauses (p50, p95, max; the share at
  most 300 ms);
* **interruption taken for a backchannel**: the share of interruptions that did not cut the
  reply off within 1.5 s of their end; **stop**: from the words' onset to the end of the
  last agent frame at full level the caller hears (the first tick after the pause, over
  ten ticker phases as in ``bench/noise.py``), p50 and p95; **heard again**: the share of
  interruptions after whose first pause the reply played on (ducked, or resumed) before
  it was cut; **last heard**: from the onset to the end of the last agent frame heard at
  any level (the pause or the cut that silenced it for good), p50 and p95.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.noise import PIPELINES, TICK_PHASES_MS, stop_after
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
    DuckAgent,
    IgnoreBackchannel,
    PauseAgent,
    ResumeAgent,
    StartReply,
    TurnTaker,
    UnduckAgent,
)
from sipgw.app.evaluation.audio import encode
from sipgw.media.voice.vad import ModelVadConfig
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import RATE, Voice, synthesize_clause
from tests.toolkit.backchannels.labelled import (
    BACKCHANNEL,
    CONDITIONS,
    VOICES,
    Condition,
    Item,
    items,
    said,
)
from tests.toolkit.turnset.labelled import _babble as babble
from tests.toolkit.turnset.labelled import _hiss as hiss

EVERY_S = 3.0
"""One item every this many seconds of the reply."""
GREETING_S = 2.0
"""The agent's greeting, from the call's first frame; the caller's first turn follows."""
OPENING_S = 6.0
"""When the reply starts (the caller's first turn is over)."""
OPENING = "Hi, I am calling about the order I placed last week."
FIRST_PARTIAL_S = 0.45
PARTIAL_AFTER_S = 0.2
FINAL_AFTER_S = 0.6
FRAME = 160
DUCK_AFTER_MS = BargeInSettings().duck_after_ms
"""The assistant's default (``SIPGW_BARGE_IN_DUCK_AFTER_MS``)."""


class Speaking:
    """The agent's side: silent through the opening, then a reply playing on, paused from a
    pause to its resume; after a cut, the next reply plays once the caller is quiet."""

    def __init__(self) -> None:
        self.audible = self.pending = self.ducked = False

    def heard_over(self) -> bool:
        """What the detector is told: the agent's audio plays over the caller (a ducked
        reply does not: the caller has the floor until their words decide)."""
        return self.audible and not self.ducked

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.pending else None


def call_track(
    voice: tuple[str, str], condition: Condition, seed: int
) -> tuple[bytes, list[tuple[Item, float, float]]]:
    """One voice's call: the opening, then its items; the μ-law and each item's (item,
    onset, end) in seconds from the call's start."""
    chosen = items(seed, [voice])
    random.Random(f"{seed}/{voice}").shuffle(chosen)
    total = round((OPENING_S + (len(chosen) + 1) * EVERY_S) * RATE)
    track = [0.0] * total
    engine, name = voice
    opening = channel.scale_to(
        [float(v) for v in synthesize_clause(OPENING, Voice(name, 160, 50, engine)).samples],
        -22.0,  # about -20 dBFS active
    )
    at = round((GREETING_S + 0.2) * RATE)
    track[at : at + len(opening)] = opening
    spans = []
    for n, item in enumerate(chosen):
        words = said(item)
        at = round((OPENING_S + 1.0 + n * EVERY_S) * RATE)
        track[at : at + len(words)] = words
        spans.append((item, at / RATE, (at + len(words)) / RATE))
    line = hiss()
    for i in range(0, total, len(line)):
        part = line[: min(len(line), total - i)]
        for j, v in enumerate(part):
            track[i + j] += v
    if condition.snr_db is not None:
        room = channel.scale_to(list(babble(300)), -20.0 - condition.snr_db)
        for i in range(total):
            track[i] += room[i % len(room)]
    ulaw = encode(max(-32768, min(32767, round(v))) for v in track)
    return ulaw, spans


def stt_events(
    spans: Sequence[tuple[Item, float, float]], first_partial_s: float = FIRST_PARTIAL_S
) -> list[tuple[float, SttEvent]]:
    """The fake STT's events for the items, time ordered (see the module docstring)."""
    out: list[tuple[float, SttEvent]] = []
    for n, (item, onset, end) in enumerate(spans):
        words = item.words.split()
        out.append((onset + 0.25, SttSpeechStarted(int(onset * 1000), onset + 0.25)))
        first = min(onset + first_partial_s, end + PARTIAL_AFTER_S)
        out.append((first, SttPartialTranscript(words[0], n + 1, first)))
        if len(words) > 1:
            at = end + PARTIAL_AFTER_S
            out.append((at, SttPartialTranscript(" ".join(words), n + 1, at)))
        at = end + FINAL_AFTER_S
        out.append((at, SttTurnEnded(item.text, n + 1, (), at, None)))
    out.sort(key=lambda e: e[0])
    return out


class Played:
    """When the agent was paused, played on (resumed, or ducked), ducked and cut off."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.resumes: list[float] = []
        self.ducks: list[float] = []
        self.cuts: list[float] = []


def play(
    ulaw: bytes,
    events: Sequence[tuple[float, SttEvent]],
    pipeline: str,
    duck_after_ms: int | None = DUCK_AFTER_MS,
) -> Played:
    """The call through one pipeline: when the agent was paused, resumed, ducked, cut off."""
    kind, suppress = PIPELINES[pipeline]
    stage = CallerAudio(NoiseSettings(suppression=suppress, detector=kind, model=ModelVadConfig()))
    agent = Speaking()
    detector = stage.detector(BargeInSettings().vad, agent.heard_over, lambda: agent.pending)
    turns = TurnTaker(
        agent, detector=detector, room_gate=kind == "model", duck_after_ms=duck_after_ms
    )
    out = Played()
    queue = list(events)
    opening = round(OPENING_S / 0.02)
    agent.audible = agent.pending = True  # the greeting
    for i in range(len(ulaw) // FRAME):
        now = (i + 1) * 0.02
        if i == round(GREETING_S / 0.02):
            agent.audible = agent.pending = False
        actions = list(turns.receive_audio(stage.process(ulaw[i * FRAME : (i + 1) * FRAME]), now))
        while queue and queue[0][0] <= now:
            actions += turns.receive_stt(queue.pop(0)[1], now)
        if i == opening:
            agent.audible = agent.pending = True
        elif i > opening and turns.paused_at is None and not turns.vad.speaking:
            agent.audible = True  # resumed, or the next reply after a cut
        if i < opening:
            continue
        for action in actions:
            if isinstance(action, PauseAgent):
                agent.audible = False
                out.pauses.append(now)
            elif isinstance(action, ResumeAgent):
                agent.audible = True
                out.resumes.append(now)
            elif isinstance(action, DuckAgent):
                agent.audible = agent.ducked = True  # softer, but heard: no silence
                out.resumes.append(now)
                out.ducks.append(now)
            elif isinstance(action, UnduckAgent):
                agent.ducked = False  # back to full level
            elif isinstance(action, CommitBargeIn):
                if agent.ducked:  # cut off where a pause would have been: silent
                    agent.audible = agent.ducked = False
                out.cuts.append(now)
            elif isinstance(action, StartReply | IgnoreBackchannel):
                agent.audible = agent.pending = True  # the reply to it, or the same goes on
    stage.close()
    return out


def measure(voices: Sequence[tuple[str, str]], condition: Condition, pipeline: str,
            first_partial_s: float = FIRST_PARTIAL_S, seed: int = 1,
            duck_after_ms: int | None = DUCK_AFTER_MS) -> dict[str, Any]:  # fmt: skip
    """Every voice's call on one line through one pipeline: the errors and the silence."""
    silences: list[float] = []
    stops: list[float] = []
    last_heard: list[float] = []
    ducked_interruptions = 0
    backchannels = interruptions = cut_backchannels = missed = 0
    errors: list[str] = []
    for voice in voices:
        ulaw, spans = call_track(voice, condition, seed)
        played = play(ulaw, stt_events(spans, first_partial_s), pipeline, duck_after_ms)
        resumes = played.resumes
        for item, onset, end in spans:
            window = (onset - 0.1, end + 1.5)
            paused = [t for t in played.pauses if window[0] <= t <= window[1]]
            cut = [t for t in played.cuts if window[0] <= t <= window[1]]
            if item.label == BACKCHANNEL:
                backchannels += 1
                if cut:
                    cut_backchannels += 1
                    errors.append(f"cut: {item.key}")
                    continue
                silence = 0.0
                for t in paused:
                    back = [r for r in resumes if r >= t]
                    silence += ((back[0] if back else window[1]) - t) * 1000
                silences.append(silence)
            else:
                interruptions += 1
                if not cut:
                    missed += 1
                    errors.append(f"missed: {item.key}")
                if paused:
                    stops += [(stop_after(paused[0], p) - onset) * 1000 for p in TICK_PHASES_MS]
                    # The last agent frame heard at any level: a reply that played on
                    # (ducked, or resumed) after the first pause stops for good only at the
                    # last pause or the cut, whichever silenced it.
                    again = [t for t in resumes if paused[0] <= t <= (cut[0] if cut else window[1])]
                    if again:
                        ducked_interruptions += 1
                        after = [t for t in paused if t >= again[-1]] + cut[:1]
                        final = min(after, default=window[1])
                    else:
                        final = paused[0]
                    last_heard += [(stop_after(final, p) - onset) * 1000 for p in TICK_PHASES_MS]
    return {
        "backchannels": backchannels,
        "backchannel_taken_for_interruption": round(cut_backchannels / max(backchannels, 1), 3),
        "interruptions": interruptions,
        "interruption_taken_for_backchannel": round(missed / max(interruptions, 1), 3),
        "silence_ms_p50": percentile(silences, 50),
        "silence_ms_p95": percentile(silences, 95),
        "silence_ms_max": max(silences, default=None),
        "silence_at_most_300ms": round(sum(s <= 300 for s in silences) / max(len(silences), 1), 3),
        "stop_ms_p50": percentile(stops, 50),
        "stop_ms_p95": percentile(stops, 95),
        "interruption_heard_again": round(ducked_interruptions / max(interruptions, 1), 3),
        "last_heard_ms_p50": percentile(last_heard, 50),
        "last_heard_ms_p95": percentile(last_heard, 95),
        "errors": errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=len(VOICES), help="the first N voices")
    parser.add_argument("--pipelines", nargs="+", default=["energy", "model"],
                        choices=list(PIPELINES))  # fmt: skip
    parser.add_argument(
        "--partial-s",
        type=float,
        default=FIRST_PARTIAL_S,
        help="the fake STT's first partial, seconds after the words begin",
    )
    parser.add_argument(
        "--duck-ms",
        type=int,
        default=DUCK_AFTER_MS,
        help="an undecided pause plays on ducked after this many ms (0: never ducks)",
    )
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    args = parser.parse_args(argv)
    voices = VOICES[: args.voices]
    results: dict[str, Any] = {}
    rows = []
    for condition in CONDITIONS:
        for pipeline in args.pipelines:
            log(f"{condition.name}, {pipeline}: {len(voices)} voices")
            f = results[f"{condition.name}/{pipeline}"] = measure(
                voices, condition, pipeline, args.partial_s, duck_after_ms=args.duck_ms or None
            )
            rows.append([
                condition.name, pipeline,
                f"{f['backchannel_taken_for_interruption']:.1%} of {f['backchannels']}",
                f"{f['interruption_taken_for_backchannel']:.1%} of {f['interruptions']}",
                fmt(f["silence_ms_p50"], ".0f"), fmt(f["silence_ms_p95"], ".0f"),
                fmt(f["silence_ms_max"], ".0f"), f"{f['silence_at_most_300ms']:.0%}",
                fmt(f["stop_ms_p50"], ".0f"), fmt(f["stop_ms_p95"], ".0f"),
                f"{f['interruption_heard_again']:.0%}",
                fmt(f["last_heard_ms_p50"], ".0f"), fmt(f["last_heard_ms_p95"], ".0f"),
            ])  # fmt: skip
    machine = machine_info()
    print(f"CPU {machine.get('cpu_model')}, load average {machine.get('loadavg_at_start')}, "
          f"first partial {args.partial_s:g} s after the words begin, "
          f"ducking after {args.duck_ms or None} ms")  # fmt: skip
    print(format_table(
        ["line", "detector", "backchannel taken for interruption",
         "interruption taken for backchannel", "silence p50 ms", "p95", "max",
         "silence <= 300 ms", "stop p50 ms", "p95", "heard again",
         "last heard p50 ms", "p95"],
        rows,
    ))  # fmt: skip
    path = write_json({"machine": machine, "first_partial_s": args.partial_s,
                       "duck_after_ms": args.duck_ms or None,
                       "results": results}, args.json, "backchannels")  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
