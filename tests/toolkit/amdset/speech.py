"""Speech from local TTSs (Debian) at 8 kHz, with the time of every word.

A text is cut into clauses at its punctuation; each clause is synthesized on
its own by one of three engines (:attr:`Voice.engine`): ``espeak-ng`` (a formant
synthesizer: voice and variant, words per minute, pitch), ``flite`` (CMU's
diphone and clustergen voices kal, awb, rms, slt: speed by ``duration_stretch``,
pitch by ``int_f0_target_mean``) or ``festival``'s ``text2wave`` (the festvox
diphone voices kal and ked, and the HTS voice cmu_us_slt_arctic_hts: speed by
``Duration_Stretch``, which the HTS voice ignores (it speaks at its own pace); pitch
shifted by sox), resampled to 8 kHz
16-bit and band-limited to the telephone band (300-3400 Hz) by ``sox``, and
trimmed of its leading and trailing silence. The clauses are joined with
pauses the caller chooses, so where every clause starts and ends is known
exactly. Within a clause, a word's time is its share of the clause's speech in
proportion to its letters: an estimate (espeak-ng does not report word times
on its command line), good to a syllable or so.

All are deterministic (``sox -D``: no dither), so the same arguments give the
same samples on every run with the same package versions; festival starts slowly
(0.5 s a call), so clauses are kept in a cache directory (``SIPGW_AMDSET_CACHE``,
default ``~/.cache/sipgw-amdset``; ``off`` keeps none).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENGINES",
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
ENGINES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}
"""Each engine and the Debian package that has it (festival's voices: festvox-kallpc16k,
festvox-kdlpc16k, festvox-us-slt-hts)."""
_CLAUSE = re.compile(r"[^,.;:?!]+[,.;:?!]*")
_TRIM_WINDOW = 40  # 5 ms
_TRIM_DBFS = -50.0  # below the clause's peak window


class SpeechError(RuntimeError):
    """espeak-ng or sox is missing or failed; the message names the Debian package."""


@dataclass(frozen=True, slots=True)
class Voice:
    """How a voice speaks: ``name`` as its engine takes it (espeak-ng's ``-v``:
    ``en-us+f3``; flite's ``-voice``: ``slt``; festival's voice function without
    ``voice_``: ``kal_diphone``), speed, pitch."""

    name: str
    words_per_minute: int = 160
    pitch: int = 50
    """0-99 (espeak-ng's ``-p``; the others map it to a pitch around their own)."""
    engine: str = "espeak-ng"


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


def synthesize_clause(text: str, voice: Voice, low_hz: int = 300) -> Clause:
    """One clause, spoken by ``voice``, at 8 kHz, telephone band (``low_hz`` to 3400 Hz:
    300 is the analogue line's, ITU-T G.712; a digital or mobile line keeps more of the
    voice's fundamental), trimmed.

    Raises:
        SpeechError: espeak-ng or sox is missing or failed.
    """
    raw = _cached(text, voice, low_hz)
    pcm = array("h")
    pcm.frombytes(raw[: len(raw) // 2 * 2])
    samples = trim(pcm.tolist())
    return Clause(text, tuple(samples), _word_times(text, len(samples) / RATE))


def cache_dir() -> Path | None:
    """Where clauses (and the labelled set's samples) are kept; None when ``off``."""
    where = os.environ.get("SIPGW_AMDSET_CACHE", "")
    if where == "off":
        return None
    return Path(where) if where else Path.home() / ".cache" / "sipgw-amdset"


def _cached(text: str, voice: Voice, low_hz: int = 300) -> bytes:
    """The clause as 8 kHz band-limited PCM, from the cache when it was made before."""
    made = (text, voice, 1) if low_hz == 300 else (text, voice, 1, low_hz)
    key = hashlib.sha256(repr(made).encode()).hexdigest()
    directory = cache_dir()
    path = directory / f"{key}.raw" if directory is not None else None
    if path is not None and path.exists():
        return path.read_bytes()
    raw = _band_limited(_wav(text, voice), voice, low_hz)
    if len(raw) < RATE // 10:  # under 50 ms: nothing was said
        raise SpeechError(f"{voice.engine} said nothing for {text!r} ({voice.name})")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(raw)
        partial.replace(path)
    return raw


def _wav(text: str, voice: Voice) -> bytes:
    """The engine's WAV of ``text``."""
    stretch = 165.0 / voice.words_per_minute  # 165 wpm: the engines' own pace, about
    if voice.engine == "espeak-ng":
        argv = ["espeak-ng", "-v", voice.name, "-s", str(voice.words_per_minute),
                "-p", str(voice.pitch), "--stdout", text]  # fmt: skip
        return _run(argv, None, "espeak-ng")
    if voice.engine == "flite":
        f0 = 80 + 1.2 * voice.pitch  # Hz: 80-200
        slower = 0.85  # flite's own pace is slower than the others'
        argv = ["flite", "-voice", voice.name, "--setf",
                f"duration_stretch={stretch * slower:.3f}", "--setf",
                f"int_f0_target_mean={f0:.0f}", "-t", text, "-o", "/dev/stdout"]  # fmt: skip
        return _run(argv, None, "flite")
    if voice.engine == "festival":
        with tempfile.TemporaryDirectory(prefix="amdset-") as tmp:  # it seeks in its output
            out = Path(tmp) / "clause.wav"
            stretch_it = f"(Parameter.set 'Duration_Stretch {stretch:.3f})"
            argv = ["text2wave", "-eval", f"(voice_{voice.name})", "-eval", stretch_it,
                    "-o", str(out)]  # fmt: skip
            _run(argv, text.encode(), "festival")
            return out.read_bytes()
    raise SpeechError(f"unknown speech engine {voice.engine!r} (one of {', '.join(ENGINES)})")


def _band_limited(wav: bytes, voice: Voice, low_hz: int = 300) -> bytes:
    """8 kHz, 16-bit, ``low_hz``-3400 Hz; festival's pitch moved by sox (-300..+300 cents)."""
    effects = ["sinc", f"{low_hz}-3400"]
    if voice.engine == "festival":
        effects = ["pitch", str((voice.pitch - 50) * 6), *effects]
    argv = ["sox", "-D", "-t", "wav", "-", "-r", str(RATE), "-e", "signed", "-b", "16",
            "-c", "1", "-t", "raw", "-", *effects]  # fmt: skip
    return _run(argv, wav, "sox")
