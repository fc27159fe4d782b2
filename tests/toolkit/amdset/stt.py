"""What a streaming speech recognizer would send for speech whose words and times are known.

A stand-in for AssemblyAI's u3-rt-pro as ``docs/cloud-apis.md`` describes it,
driven by the words' times instead of by audio:

* a pause of at least ``min_turn_silence`` (the server's default, 100 ms)
  brings a *partial* with the turn's words so far, lower case, no punctuation;
* a pause after a word that ends a sentence (. ? !) ends the *turn*: the final,
  formatted, comes instead of that partial; without such a word the turn ends
  after ``max_turn_silence`` (the default, 1 s);
* during long speech an early partial comes every ``early_partial_every``;
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
    early_partial_every: float = 1.0


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
    next_early: float | None = None  # the next early partial of this run of speech
    for index, word in enumerate(words):
        if next_early is None:
            next_early = word.start + timing.early_partial_every
        while next_early < word.start:  # this run of speech goes on: early partials
            heard = [w for w in turn_words if w.end <= next_early]
            if heard:
                send(next_early, turn, _unformatted(heard), False)
            next_early += timing.early_partial_every
        turn_words.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        pause = following.start - word.end if following is not None else None
        if pause is not None and pause < timing.min_turn_silence:
            continue
        next_early = None
        ends_sentence = word.text.rstrip()[-1:] in ".?!"
        if ends_sentence or pause is None or pause >= timing.max_turn_silence:
            wait = timing.min_turn_silence if ends_sentence else timing.max_turn_silence
            send(word.end + wait, turn, _formatted(turn_words), True)
            turn, turn_words = turn + 1, []
        else:
            send(word.end + timing.min_turn_silence, turn, _unformatted(turn_words), False)
    return out
