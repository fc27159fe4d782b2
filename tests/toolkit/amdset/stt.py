"""What a streaming speech recognizer would send for speech whose words and times are known.

A stand-in for AssemblyAI's u3-rt-pro as ``docs/cloud-apis.md`` describes it,
driven by the words' times instead of by audio:

* a pause of at least ``min_turn_silence`` (the server's default, 100 ms)
  brings a *partial* with the turn's words so far, lower case, no punctuation;
* a pause after a word that ends a sentence (. ? !) ends the *turn*: the final,
  formatted, comes instead of that partial; without such a word the turn ends
  after ``max_turn_silence`` (the default, 1 s);
* during speech, partials without a pause, as u3-rt-pro sends them: one *early*
  partial per turn once ``early_partial_after`` (750 ms) of continuous speech has
  been heard (tried again at twice, three times ... that point while no word of it
  has ended), and, with ``continuous_partials_every`` (3 s, the service's default
  since 2026; None: off), one more every that much of the turn while it goes on;
* each message arrives ``latency`` after the moment it describes (the pause's
  ``min_turn_silence``, or the early partial's time): drawn uniformly from
  120-300 ms, so about 310 ms after the speech stops at the median, in line
  with the vendor's "307 ms P50" and the P99 of 420 ms Pipecat measured
  (``/work/shared/docs/anchors.md``).

What it leaves out (``docs/amd.md`` says so): recognition errors (every word
is right), noise (speech in noise is recognized as well as clean speech), and
the recognizer's own speech detection (pauses are taken from the known times).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tests.toolkit.amdset.speech import Word

__all__ = ["SimulatedTranscript", "SttTiming", "simulate"]

_PUNCTUATION = re.compile(r"[^\w' ]+")


@dataclass(frozen=True, slots=True)
class SttTiming:
    """The simulated service's timing (seconds)."""

    min_turn_silence: float = 0.1
    max_turn_silence: float = 1.0
    latency: tuple[float, float] = (0.12, 0.30)
    early_partial_after: float = 0.75
    """Continuous speech before the turn's one early partial (``interruption_delay``'s
    default 500 ms, plus the 250-300 ms the service adds: "an early partial is emitted
    after 750ms of continuous speech")."""
    continuous_partials_every: float | None = 3.0
    """A partial this often while a turn goes on, paused or not (``continuous_partials``:
    "approximately every 3 seconds while speech continues"; on by the server's default
    since 2026, per LiveKit agents #6401); None: off."""


@dataclass(frozen=True, slots=True)
class SimulatedTranscript:
    """One message: a partial or a turn's final, and when it arrives."""

    at: float
    turn: int
    text: str
    final: bool


def _unformatted(words: Sequence[Word]) -> str:
    return " ".join(_PUNCTUATION.sub("", w.text).lower() for w in words).strip()


def _formatted(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def simulate(
    words: Sequence[Word], rng: random.Random, timing: SttTiming | None = None
) -> list[SimulatedTranscript]:
    """The messages for ``words`` (in time order), in arrival order."""
    timing = timing or SttTiming()
    low, high = timing.latency
    out: list[SimulatedTranscript] = []

    def send(moment: float, turn: int, text: str, final: bool) -> None:
        at = moment + rng.uniform(low, high)
        if out:
            at = max(at, out[-1].at + 0.001)  # one socket: messages keep their order
        out.append(SimulatedTranscript(at, turn, text, final))

    turn, turn_words = 0, list[Word]()  # words of the current turn
    early_sent = False  # this turn's early partial went out
    next_early: float | None = None  # its next attempt, in this run of continuous speech
    next_continuous: float | None = None  # this turn's next continuous partial

    def during_speech(until: float) -> None:
        """The early and continuous partials due before ``until`` (the turn goes on)."""
        nonlocal early_sent, next_early, next_continuous
        due = []
        while next_early is not None and next_early < until:
            if any(w.end <= next_early for w in turn_words):
                due.append(next_early)
                next_early, early_sent = None, True
            else:  # no word heard yet: tried again (750, 1500, 2250 ms ...)
                next_early += timing.early_partial_after
        every = timing.continuous_partials_every
        while every is not None and next_continuous is not None and next_continuous < until:
            due.append(next_continuous)
            next_continuous += every
        for moment in sorted(due):
            heard = [w for w in turn_words if w.end <= moment]
            if heard:
                send(moment, turn, _unformatted(heard), False)

    for index, word in enumerate(words):
        if next_early is None and not early_sent:
            next_early = word.start + timing.early_partial_after
        if next_continuous is None and timing.continuous_partials_every is not None:
            next_continuous = word.start + timing.continuous_partials_every
        during_speech(word.start)
        turn_words.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        pause = following.start - word.end if following is not None else None
        if pause is not None and pause < timing.min_turn_silence:
            continue
        during_speech(word.end)  # the run of speech ends with this word
        if not early_sent:
            next_early = None  # the next run of speech counts again
        ends_sentence = word.text.rstrip()[-1:] in ".?!"
        if ends_sentence or pause is None or pause >= timing.max_turn_silence:
            wait = timing.min_turn_silence if ends_sentence else timing.max_turn_silence
            send(word.end + wait, turn, _formatted(turn_words), True)
            turn, turn_words = turn + 1, []
            early_sent, next_early, next_continuous = False, None, None
        else:
            send(word.end + timing.min_turn_silence, turn, _unformatted(turn_words), False)
    return out
