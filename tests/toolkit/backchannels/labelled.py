"""Backchannels and real interruptions, as a caller says them while the agent talks.

Each :class:`Item` is a thing a caller says over the agent's reply, labelled
``backchannel`` (the caller listens on: "uh-huh", "right", "okay", "mm-hmm", "yeah"...;
the agent must not stop, nor lose anything of its reply) or ``interruption`` (the
caller wants the floor: "wait", "stop", "no, that's wrong", a real sentence; the agent
must stop within the barge-in figures). Each is spoken by every voice of
:data:`VOICES` (espeak-ng, flite and festival voices: :mod:`tests.toolkit.amdset.speech`)
at a speed and pitch drawn from a seed, at 8 kHz in the analogue line's band (300-3400 Hz),
at a level drawn from :data:`LEVELS_DBFS` whatever its label (so that level alone tells
nothing), then through one :class:`Condition`: clean (line hiss at -65 dBFS) or under
babble (:mod:`tests.toolkit.turnset.labelled`'s four voices) at 10 dB under the caller's
-20 dBFS, and encoded as μ-law (:func:`make_sample`: :data:`LEAD_SECONDS` of line, the
words, :data:`TAIL_SECONDS` of line). :func:`said` gives the levelled words alone, for a
benchmark that lays many of them over one continuous background (``bench/backchannels.py``).

``words`` is what a streaming recognizer's partial would say. Everything is deterministic:
the same seed gives the same samples; nothing generated is committed.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sipgw.app.evaluation.audio import encode
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import RATE, Voice, synthesize_clause
from tests.toolkit.turnset.labelled import TEST_VOICES, TRAIN_VOICES
from tests.toolkit.turnset.labelled import _babble as babble
from tests.toolkit.turnset.labelled import _hiss as hiss

__all__ = [
    "BACKCHANNEL",
    "BACKCHANNELS",
    "CONDITIONS",
    "INTERRUPTION",
    "INTERRUPTIONS",
    "LEVELS_DBFS",
    "VOICES",
    "Condition",
    "Item",
    "Sample",
    "build",
    "items",
    "make_sample",
    "said",
]

BACKCHANNEL = "backchannel"
INTERRUPTION = "interruption"
BACKCHANNELS = (
    "uh-huh", "mm-hmm", "right", "okay", "yeah", "yep", "sure", "mhm", "I see", "oh, okay",
    "got it", "alright", "yes", "uh-huh, yeah",
)  # fmt: skip
INTERRUPTIONS = (
    "wait", "stop", "no", "hold on", "no, that's wrong", "wait, what?", "stop, please",
    "sorry, can I ask something?", "no, no, the other one", "actually I need a different day",
    "hang on a second", "excuse me", "what did you say?", "that is not what I asked for",
)  # fmt: skip
VOICES = TRAIN_VOICES + TEST_VOICES
"""Every voice of the turn set (its train and test voices alike: nothing here is trained)."""
LEVELS_DBFS = (-24.0, -18.0)
"""The range each item's active level is drawn from, whatever its label."""
LEAD_SECONDS = 0.3
TAIL_SECONDS = 0.7
HISS_DBFS = -65.0
CALLER_DBFS = -20.0


@dataclass(frozen=True, slots=True)
class Condition:
    """The line: clean, or babble ``snr_db`` under the caller's -20 dBFS."""

    snr_db: float | None

    @property
    def name(self) -> str:
        """``clean`` or ``babble10``."""
        return "clean" if self.snr_db is None else f"babble{self.snr_db:g}"


CONDITIONS = (Condition(None), Condition(10.0))


@dataclass(frozen=True, slots=True)
class Item:
    """One thing said by one voice, with its label."""

    text: str
    label: str
    voice: Voice
    level_dbfs: float

    @property
    def words(self) -> str:
        """What was said without punctuation (a partial transcript of it)."""
        return " ".join(w.strip(",.?!") for w in self.text.split())

    @property
    def key(self) -> str:
        """Unique in the set: label, text, voice."""
        return f"{self.label}/{self.text}/{self.voice.engine}:{self.voice.name}"


@dataclass(frozen=True, slots=True)
class Sample:
    """An item through a condition: μ-law, the words from :data:`LEAD_SECONDS` to ``end``."""

    item: Item
    condition: Condition
    ulaw: bytes
    end: float
    """Seconds from the start to the words' end."""


def items(seed: int = 1, voices: Sequence[tuple[str, str]] = VOICES) -> list[Item]:
    """Every text of both labels said by every voice (voice speed, pitch and the item's
    level drawn from ``seed``)."""
    out = []
    for engine, name in voices:
        for label, texts in ((BACKCHANNEL, BACKCHANNELS), (INTERRUPTION, INTERRUPTIONS)):
            for text in texts:
                rng = random.Random(f"{seed}/{engine}/{name}/{text}")
                voice = Voice(name, rng.randint(140, 190), rng.randint(35, 65), engine)
                out.append(Item(text, label, voice, rng.uniform(*LEVELS_DBFS)))
    return out


def said(item: Item) -> list[float]:
    """The item's words at 8 kHz (300-3400 Hz, trimmed) at its level (active RMS)."""
    samples = [float(v) for v in synthesize_clause(item.text, item.voice).samples]
    return channel.scale_to(samples, item.level_dbfs + _peak_to_active(samples))


def _peak_to_active(samples: Sequence[float]) -> float:
    """dB from the words' active level (20 ms windows within 30 dB of the loudest) up to
    their plain RMS level: :func:`channel.scale_to` sets the plain one."""
    powers = [sum(s * s for s in samples[i : i + 160]) / 160
              for i in range(0, len(samples) - 159, 160)]  # fmt: skip
    peak = max(powers, default=0.0)
    loud = [p for p in powers if p > peak * 1e-3]
    if not loud or not any(powers):
        return 0.0
    active = sum(loud) / len(loud)
    plain = sum(powers) / len(powers)
    return 10 * math.log10(plain / active)


def make_sample(item: Item, condition: Condition, seed: int = 1) -> Sample:
    """The item through the condition (deterministic in seed, item and condition)."""
    rng = random.Random(f"{seed}/{item.key}/{condition.name}")
    words = said(item)
    lead = round(LEAD_SECONDS * RATE)
    total = lead + len(words) + round(TAIL_SECONDS * RATE)
    signal = [0.0] * lead + words + [0.0] * round(TAIL_SECONDS * RATE)
    line = hiss()
    start = rng.randrange(0, len(line) - total)
    mixed = list(map(operator.add, signal, line[start : start + total]))
    if condition.snr_db is not None:
        room = babble(300)
        at = rng.randrange(0, len(room) - total)
        part = room[at : at + total]
        level = CALLER_DBFS - condition.snr_db
        mixed = list(map(operator.add, mixed, channel.scale_to(part, level)))
    ulaw = encode(max(-32768, min(32767, round(v))) for v in mixed)
    return Sample(item, condition, ulaw, (lead + len(words)) / RATE)


def build(conditions: Sequence[Condition] = CONDITIONS, seed: int = 1) -> Iterator[Sample]:
    """Every item under each condition."""
    for item in items(seed):
        for condition in conditions:
            yield make_sample(item, condition, seed)
