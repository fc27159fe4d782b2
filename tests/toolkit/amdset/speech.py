"""Speech from a local TTS (espeak-ng, Debian) at 8 kHz, with the time of every word.

A text is cut into clauses at its punctuation; each clause is synthesized on
its own by ``espeak-ng`` (voice, words per minute, pitch), resampled to 8 kHz
16-bit and band-limited to the telephone band (300-3400 Hz) by ``sox``, and
trimmed of its leading and trailing silence. The clauses are joined with
pauses the caller chooses, so where every clause starts and ends is known
exactly. Within a clause, a word's time is its share of the clause's speech in
proportion to its letters: an estimate (espeak-ng does not report word times
on its command line), good to a syllable or so.

Both programs are deterministic (``sox -D``: no dither), so the same arguments
give the same samples on every run with the same package versions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from array import array
from dataclasses import dataclass

__all__ = [
    "RATE",
    "Clause",
    "SpeechError",
    "Voice",
    "Word",
    "clauses",
    "synthesize_clause",
    "trim",
]

RATE = 8000
_CLAUSE = re.compile(r"[^,.;:?!]+[,.;:?!]*")
_TRIM_WINDOW = 40  # 5 ms
_TRIM_DBFS = -50.0  # below the clause's peak window


class SpeechError(RuntimeError):
    """espeak-ng or sox is missing or failed; the message names the Debian package."""


@dataclass(frozen=True, slots=True)
class Voice:
    """How espeak-ng speaks: ``voice`` as ``-v`` takes it (``en-us+f3``), speed, pitch."""

    name: str
    words_per_minute: int = 160
    pitch: int = 50
    """0-99 (``-p``)."""


@dataclass(frozen=True, slots=True)
class Word:
    """A word and its time in the sample (seconds)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Clause:
    """A clause's audio (8 kHz signed 16-bit, trimmed) and its words, timed from 0."""

    text: str
    samples: tuple[int, ...]
    words: tuple[Word, ...]

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.samples) / RATE

    @property
    def ends_sentence(self) -> bool:
        """It ends with a full stop, a question or an exclamation mark."""
        return self.text.rstrip()[-1:] in ".?!"


def clauses(text: str) -> list[str]:
    """``text`` cut after each run of punctuation: "Hi, you." -> ["Hi,", "you."]."""
    return [m.group(0).strip() for m in _CLAUSE.finditer(text) if m.group(0).strip(" ,.;:?!")]


def _run(argv: list[str], data: bytes | None, package: str) -> bytes:
    if shutil.which(argv[0]) is None:
        raise SpeechError(f"{argv[0]} is not installed (Debian package {package})")
    done = subprocess.run(argv, input=data, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise SpeechError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout


def trim(samples: list[int]) -> list[int]:
    """``samples`` without the leading and trailing windows 50 dB below the loudest one."""
    windows = [
        max((abs(s) for s in samples[i : i + _TRIM_WINDOW]), default=0)
        for i in range(0, len(samples), _TRIM_WINDOW)
    ]
    peak = max(windows, default=0)
    if peak == 0:
        return []
    floor = peak * 10 ** (_TRIM_DBFS / 20)
    loud = [i for i, w in enumerate(windows) if w > floor]
    return samples[loud[0] * _TRIM_WINDOW : (loud[-1] + 1) * _TRIM_WINDOW]


def _word_times(text: str, duration: float) -> tuple[Word, ...]:
    """Words of ``text`` over ``duration`` seconds, each in proportion to its letters + 1."""
    words = [w for w in re.split(r"\s+", text) if any(c.isalnum() for c in w)]
    weights = [sum(c.isalnum() for c in w) + 1 for w in words]
    total = sum(weights)
    timed, at = [], 0.0
    for word, weight in zip(words, weights, strict=True):
        length = duration * weight / total
        timed.append(Word(word, at, at + length))
        at += length
    return tuple(timed)


def synthesize_clause(text: str, voice: Voice) -> Clause:
    """One clause, spoken by ``voice``, at 8 kHz, telephone band, trimmed.

    Raises:
        SpeechError: espeak-ng or sox is missing or failed.
    """
    wav = _run(
        ["espeak-ng", "-v", voice.name, "-s", str(voice.words_per_minute),
         "-p", str(voice.pitch), "--stdout", text],
        None, "espeak-ng",
    )  # fmt: skip
    raw = _run(
        ["sox", "-D", "-t", "wav", "-", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1",
         "-t", "raw", "-", "sinc", "300-3400"],
        wav, "sox",
    )  # fmt: skip
    pcm = array("h")
    pcm.frombytes(raw[: len(raw) // 2 * 2])
    samples = trim(pcm.tolist())
    return Clause(text, tuple(samples), _word_times(text, len(samples) / RATE))
