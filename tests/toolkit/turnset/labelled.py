"""Finished and unfinished caller turns, as a gateway hears them 200 ms into the pause.

Every line of ``texts.txt`` is a thing a caller says to a voice agent, with a ``|`` where
they may pause: "I'd like to book a table for | two people at eight tonight.". It gives
two utterances: the words before the ``|`` (*unfinished*: the caller paused there and
will go on) and the whole line (*finished*). Each is spoken by a local speech engine
(:mod:`tests.toolkit.amdset.speech`: espeak-ng, flite, festival) in a voice, speed and
pitch drawn from a seed, at 8 kHz:

* the unfinished one, two times in three, as a clause ending in a comma (the engines'
  continuation tune: the voice stays up or level), and otherwise bare (the engine ends it
  as a sentence, falling: the hard case, where only the words tell);
* the finished one with the same first clause (when it had the comma) and a pause of
  150-500 ms before the rest, as a caller breathes mid-sentence.

Each sample is 300 ms of line before the words, the words at -20 dBFS, and
:data:`PAUSE_SECONDS` of line after them (the moment a turn model decides), through
one :class:`Condition`: the analogue line's band (G.712, 300-3400 Hz) or a wider one
(50-3400 Hz: a digital or mobile line; 8 kHz sampling bounds the top), clean (line hiss
at -65 dBFS) or under babble (four other voices talking at once, TV-like) at 10 or 5 dB
SNR, then encoded as μ-law, as a call delivers it.

Splits (:data:`SPLITS`) hold out both voices and wording: ``train`` is every line but each
fourth, spoken by :data:`TRAIN_VOICES` (two voices a line); ``test`` is each fourth line,
spoken by every one of :data:`TEST_VOICES`, which ``train`` never uses (other engines'
voices among them). The babble's voices are in neither.

Everything is deterministic: the same seed gives the same samples. The engines' clauses
are cached (``SIPGW_TURNSET_CACHE``, default ``~/.cache/sipgw-turnset``; ``off`` keeps
none); nothing generated is committed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import os
import random
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.audio import decode, encode
from tests.toolkit.amdset import channel
from tests.toolkit.amdset.speech import RATE, Voice, clauses, trim
from tests.toolkit.amdset.speech import _band_limited as band_limited
from tests.toolkit.amdset.speech import _wav as engine_wav

__all__ = [
    "BABBLE_VOICES",
    "CONDITIONS",
    "PAUSE_SECONDS",
    "SPLITS",
    "TEST_VOICES",
    "TRAIN_VOICES",
    "Condition",
    "Line",
    "Sample",
    "Utterance",
    "build",
    "load_lines",
    "make_sample",
    "utterances",
]

TEXTS = Path(__file__).with_name("texts.txt")
PAUSE_SECONDS = 0.2
"""Line after the words: Pipecat's and sipgw's early turn end decide 200 ms into a pause."""
LEAD_SECONDS = 0.3
SPEECH_DBFS = -20.0
HISS_DBFS = -65.0
TRAIN_VOICES: tuple[tuple[str, str], ...] = (
    ("espeak-ng", "en-us"), ("espeak-ng", "en-us+f3"), ("espeak-ng", "en-gb"),
    ("espeak-ng", "en-us+m3"), ("flite", "awb"), ("flite", "slt"),
    ("festival", "kal_diphone"),
)  # fmt: skip
TEST_VOICES: tuple[tuple[str, str], ...] = (
    ("espeak-ng", "en-us+Annie"), ("espeak-ng", "en-gb-x-rp+m7"), ("flite", "rms"),
    ("festival", "cmu_us_slt_arctic_hts"),
)  # fmt: skip
BABBLE_VOICES: tuple[tuple[str, str], ...] = (
    ("espeak-ng", "en-029+f1"), ("flite", "kal"), ("espeak-ng", "en-us-nyc"),
    ("festival", "ked_diphone"),
)  # fmt: skip
BABBLE_TEXTS = (
    "And then he told me the whole story about the garden and the neighbours.",
    "The weather tomorrow will be mostly dry with a few showers in the west.",
    "We went to the market on Saturday and bought far too many apples.",
    "In other news, the council has approved the new cycle lanes downtown.",
    "She said she would call back after lunch, but she never did.",
    "Stay tuned, because after the break we have the football results.",
)
SPLITS = ("train", "test")


@dataclass(frozen=True, slots=True)
class Condition:
    """The line a sample comes over."""

    low_hz: int
    """The band's low edge: 300 (G.712, an analogue line) or 50 (wider)."""
    snr_db: float | None
    """Babble this many dB below the speech; None: clean (hiss only)."""

    @property
    def name(self) -> str:
        """The band and the noise: ``g712/clean``, ``wide/babble5``, ..."""
        band = "g712" if self.low_hz >= 300 else "wide"
        noise = "clean" if self.snr_db is None else f"babble{self.snr_db:g}"
        return f"{band}/{noise}"


CONDITIONS = tuple(Condition(low, snr) for low in (300, 50) for snr in (None, 10.0, 5.0))


@dataclass(frozen=True, slots=True)
class Line:
    """A line of ``texts.txt``: the words before the pause and after it."""

    index: int
    head: str
    tail: str

    @property
    def split(self) -> str:
        """``test`` for each fourth line, else ``train``."""
        return "test" if self.index % 4 == 3 else "train"


@dataclass(frozen=True, slots=True)
class Utterance:
    """What one voice says: a line's head alone (unfinished) or all of it (finished)."""

    line: Line
    finished: bool
    voice: Voice
    continuation: bool
    """The head was spoken as a clause ending in a comma (else bare)."""
    mid_pause: float
    """The finished one's pause between head and tail (seconds)."""

    @property
    def words(self) -> str:
        """What was said, without punctuation: a streaming recognizer's partial."""
        said = self.line.head + (" " + self.line.tail if self.finished else "")
        return " ".join(w.strip(",.?!;:") for w in said.split())

    @property
    def key(self) -> str:
        """Unique within a split: line, voice, label."""
        label = "finished" if self.finished else "unfinished"
        return f"{self.line.index}/{self.voice.engine}:{self.voice.name}/{label}"


@dataclass(frozen=True, slots=True)
class Sample:
    """An utterance through a condition: μ-law, :data:`PAUSE_SECONDS` of line at its end."""

    utterance: Utterance
    condition: Condition
    ulaw: bytes
    speech_end: float
    """Seconds from the start to the words' end (the pause's start)."""

    @property
    def finished(self) -> bool:
        """The label."""
        return self.utterance.finished

    def pcm(self) -> list[int]:
        """The μ-law decoded to 16-bit samples, as a listener on the call gets it."""
        return decode(self.ulaw)


def load_lines(path: Path = TEXTS) -> list[Line]:
    """The lines of ``texts.txt`` (comments and blank lines skipped)."""
    lines: list[Line] = []
    for raw in path.read_text().splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        head, _, tail = raw.partition("|")
        if not tail.strip():
            raise ValueError(f"no '|' in {raw!r}")
        lines.append(Line(len(lines), head.strip(), tail.strip()))
    return lines


def _voice(engine: str, name: str, rng: random.Random) -> Voice:
    return Voice(name, rng.randint(140, 190), rng.randint(35, 65), engine)


def utterances(split: str, seed: int = 1, lines: Sequence[Line] | None = None) -> list[Utterance]:
    """The split's utterances, two per (line, voice): unfinished and finished."""
    out = []
    voices = TRAIN_VOICES if split == "train" else TEST_VOICES
    for line in lines if lines is not None else load_lines():
        if line.split != split:
            continue
        if split == "train":
            chosen = [voices[line.index % len(voices)], voices[(line.index + 3) % len(voices)]]
        else:
            chosen = list(voices)
        for engine, name in chosen:
            rng = random.Random(f"{seed}/{line.index}/{engine}/{name}")
            voice = _voice(engine, name, rng)
            continuation = rng.random() < 2 / 3
            mid_pause = rng.uniform(0.15, 0.5)
            for finished in (False, True):
                out.append(Utterance(line, finished, voice, continuation, mid_pause))
    return out


def _cache_dir() -> Path | None:
    where = os.environ.get("SIPGW_TURNSET_CACHE", "")
    if where == "off":
        return None
    return Path(where) if where else Path.home() / ".cache" / "sipgw-turnset"


def _engine_wav(text: str, voice: Voice) -> bytes:
    """The engine's WAV of ``text``, from the cache when it was made before."""
    key = hashlib.sha256(repr((text, voice, 1)).encode()).hexdigest()
    directory = _cache_dir()
    path = directory / f"{key}.wav" if directory is not None else None
    if path is not None and path.exists():
        return path.read_bytes()
    wav = engine_wav(text, voice)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(wav)
        partial.replace(path)
    return wav


@functools.lru_cache(maxsize=4096)
def _clause(text: str, voice: Voice, low_hz: int) -> tuple[int, ...]:
    """One clause at 8 kHz in the band, trimmed of its silence."""
    raw = band_limited(_engine_wav(text, voice), voice, low_hz)
    pcm = array("h")
    pcm.frombytes(raw[: len(raw) // 2 * 2])
    return tuple(trim(pcm.tolist()))


def _pause_at(samples: Sequence[int], near: int) -> tuple[int, int] | None:
    """The silent gap (50 ms or more, 40 dB under the loudest 5 ms) nearest sample
    ``near``: (its first sample, its end); None when there is none."""
    windows = [max((abs(v) for v in samples[i : i + 40]), default=0)
               for i in range(0, len(samples), 40)]  # fmt: skip
    floor = max(windows, default=0) * 0.01
    gaps, start = [], None
    for k, w in enumerate([*windows, floor + 1]):
        if w <= floor and start is None:
            start = k
        elif w > floor and start is not None:
            if k - start >= 10 and start > 0 and k < len(windows):
                gaps.append((start * 40, k * 40))
            start = None
    return min(gaps, key=lambda g: abs((g[0] + g[1]) / 2 - near), default=None)


def _speech(utterance: Utterance, low_hz: int, rng: random.Random) -> list[float]:
    """The utterance's words at 8 kHz (not yet levelled).

    With ``continuation``, the whole line is spoken at once with a comma at the "|" (the
    engine's phrase break inside a sentence: its prosody is mid-sentence), and cut at
    the pause the engine makes there: the unfinished turn is what comes before it, the
    finished one has the pause stretched to ``mid_pause``. Without, the head is spoken on
    its own as a sentence (the unfinished turn), or the line without a break (finished).
    """
    head = utterance.line.head.rstrip(",")
    if utterance.continuation:
        whole = _clause(f"{head}, {utterance.line.tail}", utterance.voice, low_hz)
        share = len(head) / (len(head) + len(utterance.line.tail))
        gap = _pause_at(whole, round(share * len(whole)))
        if gap is not None:
            if not utterance.finished:
                return [float(v) for v in whole[: gap[0]]]
            pause = [0.0] * round(utterance.mid_pause * RATE)
            return [*map(float, whole[: gap[0]]), *pause, *map(float, whole[gap[1] :])]
    text = head + (" " + utterance.line.tail if utterance.finished else "")
    out: list[float] = []
    for i, part in enumerate(clauses(text)):
        if i:  # a comma of the text
            out.extend([0.0] * round(rng.uniform(0.08, 0.2) * RATE))
        out.extend(_clause(part, utterance.voice, low_hz))
    return out


@functools.lru_cache(maxsize=4)
def _babble(low_hz: int) -> tuple[float, ...]:
    """Four voices talking at once, each at the same level, about 20 s."""
    talkers = []
    for k, (engine, name) in enumerate(BABBLE_VOICES):
        voice = Voice(name, 170, 50, engine)
        stream: list[float] = []
        for j in range(len(BABBLE_TEXTS)):
            text = BABBLE_TEXTS[(j + k) % len(BABBLE_TEXTS)]
            for part in clauses(text):
                stream.extend(_clause(part, voice, low_hz))
                stream.extend([0.0] * 400)
        talkers.append(channel.scale_to(stream, -20.0))
    length = min(len(t) for t in talkers)
    return tuple(channel.mix(*(t[:length] for t in talkers)))


def _active_dbfs(samples: Sequence[float]) -> float:
    """The speech's level over its loud 20 ms windows (within 30 dB of the loudest)."""
    powers = [
        sum(s * s for s in samples[i : i + 160]) / 160 for i in range(0, len(samples) - 159, 160)
    ]
    peak = max(powers, default=0.0)
    loud = [p for p in powers if p > peak * 1e-3]
    if not loud:
        return -math.inf
    return 10 * math.log10(sum(loud) / len(loud) / 32768.0**2)


@functools.lru_cache(maxsize=1)
def _hiss() -> tuple[float, ...]:
    """30 s of white line hiss at :data:`HISS_DBFS` (each sample takes a slice)."""
    return tuple(channel.noise(30 * RATE, HISS_DBFS, random.Random("turnset/hiss")))


def _slice_at(track: Sequence[float], count: int, dbfs: float, rng: random.Random) -> list[float]:
    """``count`` samples of ``track`` from a random place, at RMS level ``dbfs``."""
    start = rng.randrange(0, len(track) - count)
    part = track[start : start + count]
    power = sum(map(operator.mul, part, part)) / count
    gain = 32768.0 * 10 ** (dbfs / 20) / math.sqrt(power) if power > 0 else 0.0
    return [v * gain for v in part]


def make_sample(utterance: Utterance, condition: Condition, seed: int = 1) -> Sample:
    """The utterance through the condition (deterministic in seed, utterance, condition)."""
    rng = random.Random(f"{seed}/{utterance.key}/{condition.name}")
    speech = _speech(utterance, condition.low_hz, rng)
    gain = 10 ** ((SPEECH_DBFS - _active_dbfs(speech)) / 20)
    lead = round(LEAD_SECONDS * RATE)
    total = lead + len(speech) + round(PAUSE_SECONDS * RATE)
    signal = [0.0] * lead + [s * gain for s in speech]
    signal += [0.0] * (total - len(signal))
    hiss = _hiss()
    start = rng.randrange(0, len(hiss) - total)
    mixed = list(map(operator.add, signal, hiss[start : start + total]))
    if condition.snr_db is not None:
        level = SPEECH_DBFS - condition.snr_db
        mixed = list(
            map(operator.add, mixed, _slice_at(_babble(condition.low_hz), total, level, rng))
        )
    ulaw = encode(max(-32768, min(32767, round(v))) for v in mixed)
    return Sample(utterance, condition, ulaw, (lead + len(speech)) / RATE)


def build(
    split: str,
    conditions: Sequence[Condition] = CONDITIONS,
    seed: int = 1,
    limit: int | None = None,
) -> Iterator[Sample]:
    """The split's samples under each condition, utterance by utterance (``limit``: the
    first so many utterances only)."""
    chosen = utterances(split, seed)[:limit]
    for utterance in chosen:
        for condition in conditions:
            yield make_sample(utterance, condition, seed)
