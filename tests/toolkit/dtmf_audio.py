"""Audio for the in-band DTMF detector's tests and bench (sipgw/media/tones/dtmf_detect.py).

:func:`key_tones` makes key presses as their two tones, with any level, twist, frequency
error, length and pause; :func:`heard` passes samples through μ-law (as a caller's
G.711 audio arrives) and runs a detector over them in 20 ms frames. :func:`talk_off_set`
makes the labelled set of audio that holds no key press, made at test time with the
local programs (nothing of it is committed):

- ``speech``: sentences said by every espeak-ng voice variant listed, and by flite's and
  festival's voices when those programs are there (tests.toolkit.amdset.speech);
- ``music``: chords of three and four notes with harmonics (sawtooth, square, pluck),
  sweeps across the DTMF band, a melody with a pulse (sox ``synth``);
- ``babble``: several voices talking at once, mixed by sox (tests.toolkit.noisy_audio's
  café), and a TV voice over street noise.

Every sample is 8 kHz signed 16-bit, made deterministic (``sox -D``, fixed seeds).
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.media import g711
from sipgw.media.tones.dtmf_detect import DtmfToneDetected, DtmfToneDetector
from sipgw.media.tones.dtmf_tones import DTMF_FREQUENCIES

__all__ = [
    "RATE",
    "Labelled",
    "dbm0_amplitude",
    "heard",
    "key_tones",
    "noise",
    "talk_off_set",
    "to_ulaw",
]

RATE = 8000
_DBM0_TO_DBFS = -3.17  # μ-law's full-scale sine is +3.17 dBm0 (ITU-T G.711)


def dbm0_amplitude(level_dbm0: float) -> float:
    """The peak amplitude (16-bit) of a sine at ``level_dbm0``."""
    return 32767 * 10 ** ((level_dbm0 + _DBM0_TO_DBFS) / 20)


def key_tones(
    digits: str,
    tone_ms: float = 100,
    gap_ms: float = 100,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    low_error: float = 0.0,
    high_error: float = 0.0,
    rate: int = RATE,
    lead_ms: float = 50,
    phase_seed: int = 1,
) -> list[int]:
    """Samples of ``digits`` pressed one after the other.

    Args:
        tone_ms: each press's length; ``gap_ms``: the pause after each.
        level_dbm0: the low tone's level; the high tone is ``twist_db`` below it
            (negative: above it, reverse twist).
        low_error, high_error: each tone's frequency error, as a fraction (0.015 = +1.5 %).
        lead_ms: silence before the first press (presses start anywhere in a block).
    """
    rng = random.Random(phase_seed)
    out = [0.0] * int(lead_ms * rate / 1000)
    low_amp = dbm0_amplitude(level_dbm0)
    high_amp = dbm0_amplitude(level_dbm0 - twist_db)
    for digit in digits:
        low, high = DTMF_FREQUENCIES[digit]
        f1, f2 = low * (1 + low_error), high * (1 + high_error)
        p1, p2 = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
        count = round(tone_ms * rate / 1000)
        out += [
            low_amp * math.sin(2 * math.pi * f1 * n / rate + p1)
            + high_amp * math.sin(2 * math.pi * f2 * n / rate + p2)
            for n in range(count)
        ]
        out += [0.0] * round(gap_ms * rate / 1000)
    return [max(-32768, min(32767, round(v))) for v in out]


def noise(samples: Sequence[int], snr_db: float, seed: int = 7) -> list[int]:
    """``samples`` with white Gaussian noise ``snr_db`` below their power over the
    samples that are not silent."""
    active = [s for s in samples if s]
    power = sum(s * s for s in active) / max(1, len(active))
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    rng = random.Random(seed)
    return [max(-32768, min(32767, round(s + rng.gauss(0, sigma)))) for s in samples]


def to_ulaw(samples: Sequence[int]) -> bytes:
    """``samples`` as μ-law."""
    return g711.linear_to_ulaw(array("h", samples).tobytes())


def heard(samples: Sequence[int], rate: int = RATE, ulaw: bool = True) -> list[DtmfToneDetected]:
    """The presses a detector hears in ``samples`` fed as 20 ms frames (through μ-law at
    8 kHz unless ``ulaw`` is False), then 200 ms of silence so the last press ends."""
    if ulaw and rate == 8000:
        pcm = g711.ulaw_to_linear(to_ulaw(samples))
    else:
        pcm = array("h", samples).tobytes()
    pcm += bytes(rate // 5 * 2)
    detector = DtmfToneDetector(rate)
    frame = rate // 50 * 2
    found: list[DtmfToneDetected] = []
    for offset in range(0, len(pcm) - frame + 1, frame):
        found += detector.push(pcm[offset : offset + frame])
    return found


# --------------------------------------------------------------------------- talk-off


@dataclass(frozen=True, slots=True)
class Labelled:
    """One sample of the talk-off set: its group (speech, music, babble), what it is."""

    group: str
    name: str
    samples: tuple[int, ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


_SENTENCES = (
    "Hello, I would like to check the status of my order, number four five six.",
    "Yes. No. Maybe later, thank you very much for your help today.",
    "The quick brown fox jumps over the lazy dog, again and again.",
    "Please call me back at nine one seven, two three four, five six seven eight.",
    "Oh! Really? Wow, that is amazing. Hmm, well, I'm not so sure about it.",
    "Eeeee, ooooo, aaaaa, mmmmm, how are you doing this fine evening?",
)
_ESPEAK_VOICES = (
    ("en-us", 50),
    ("en-us+f3", 70),
    ("en+m3", 30),
    ("en-us+f4", 90),
    ("en+f2", 60),
    ("en-us+m1", 20),
    ("en-us+klatt", 50),
    ("fr-fr", 55),
    ("de", 45),
    ("es", 65),
)
_FLITE_VOICES = ("kal", "slt", "awb", "rms")
_FESTIVAL_VOICES = ("kal_diphone", "ked_diphone")


def _sox(synth: Sequence[str], effects: Sequence[str] = (), channels: int = 1) -> tuple[int, ...]:
    """sox's ``synth`` of ``channels`` channels (one a tone) at 48 kHz (its ``pluck`` needs
    it), mixed to one, ``effects``, resampled to 8 kHz."""
    raw = ["-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-t", "raw", "-"]
    source = ["-c", str(channels), "-r", "48000", "-n"]
    mixed = ["remix", "-"] if channels > 1 else []
    out = subprocess.run(
        ["sox", "-D", "-R", *source, *raw, "synth", *synth, *mixed, *effects, "rate", str(RATE)],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    pcm = array("h")
    pcm.frombytes(out[: len(out) // 2 * 2])
    return tuple(pcm)


def _normalized(samples: Sequence[int], dbfs: float = -12.0) -> tuple[int, ...]:
    """``samples`` with their peak at ``dbfs`` (loud: well above the tones' lowest level)."""
    peak = max((abs(s) for s in samples), default=0) or 1
    gain = 32767 * 10 ** (dbfs / 20) / peak
    return tuple(max(-32768, min(32767, round(s * gain))) for s in samples)


def _speech() -> Iterator[Labelled]:
    from tests.toolkit.amdset.speech import Voice, synthesize_clause

    engines: list[tuple[str, str, int]] = [("espeak-ng", v, p) for v, p in _ESPEAK_VOICES]
    if shutil.which("flite"):
        engines += [("flite", v, 50) for v in _FLITE_VOICES]
    if shutil.which("text2wave"):
        engines += [("festival", v, 50) for v in _FESTIVAL_VOICES]
    for engine, name, pitch in engines:
        for number, text in enumerate(_SENTENCES):
            try:
                clause = synthesize_clause(text, Voice(name, pitch=pitch, engine=engine), 200)
            except Exception:  # a voice this machine lacks: the set says what it had
                continue
            yield Labelled("speech", f"{engine}:{name}:{number}", _normalized(clause.samples))


_CHORDS = (
    ("C5", "E5", "G5"),
    ("F5", "A5", "C6"),
    ("G5", "B5", "D6", "F6"),
    ("A4", "C#5", "E5", "A5"),
    ("D5", "F#5", "A5"),
    ("E5", "G#5", "B5", "E6"),
    ("F5", "A#5", "D6"),
    ("A#5", "D6", "F6"),
)


def _music() -> Iterator[Labelled]:
    band = ["sinc", "200-3400"]
    for wave in ("sawtooth", "square", "pluck", "triangle"):
        for chord in _CHORDS:
            tones = [arg for note in chord for arg in (wave, note)]
            samples = _sox(["0.6", *tones], band, channels=len(chord))
            yield Labelled("music", f"chord:{wave}:{'-'.join(chord)}", _normalized(samples))
    for wave in ("sine", "sawtooth", "square"):
        for sweep in ("600-1800", "1800-600", "650:1700", "300-3400"):
            samples = _sox(["1.5", wave, sweep], band)
            yield Labelled("music", f"sweep:{wave}:{sweep}", _normalized(samples))
    # Two sweeps at once, one through each group, fast enough that no key's pair stays
    # within 3.5 % for 40 ms (slower, the pair is a key press by Q.24's rules, and heard so).
    samples = _sox(["0.5", "sine", "600-1000", "sine", "1100-1800"], band, channels=2)
    yield Labelled("music", "sweeps:one-in-each-group", _normalized(samples))
    from tests.toolkit.noisy_audio import background

    yield Labelled("music", "melody:sawtooth-pulse", _normalized(background("music", 6.0, 200)))


def _babble() -> Iterator[Labelled]:
    from tests.toolkit.noisy_audio import background

    yield Labelled("babble", "cafe:five-voices", _normalized(background("babble", 8.0, 200)))
    yield Labelled("babble", "tv:one-voice", _normalized(background("tv", 10.0, 200)))
    tv, street = background("tv", 8.0, 200), background("street", 8.0, 200)
    mixed = [max(-32768, min(32767, a + b)) for a, b in zip(tv, street, strict=True)]
    yield Labelled("babble", "tv-over-street", _normalized(mixed))


def talk_off_set(groups: Sequence[str] = ("speech", "music", "babble")) -> list[Labelled]:
    """The labelled talk-off set (see the module docstring); ``groups`` to make."""
    makers = {"speech": _speech, "music": _music, "babble": _babble}
    return [sample for group in groups for sample in makers[group]()]


def write_wav(path: Path, samples: Sequence[int], rate: int = RATE) -> Path:
    """``samples`` as a 16-bit mono WAV file (for a peer to play)."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(array("h", samples).tobytes())
    return path
