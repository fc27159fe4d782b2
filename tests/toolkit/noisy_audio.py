"""Noisy caller audio for the noise tests and bench: espeak-ng speech over sox noise.

Every sound is made at test time, 8 kHz signed 16-bit, telephone band, with the
same programs as :mod:`tests.toolkit.amdset.speech` (deterministic: ``sox -D``,
fixed seeds):

- ``babble``: a café, five espeak-ng voices saying different sentences at once;
- ``street``: brown noise with pink noise swelling and fading (traffic);
- ``tv``: one voice reading on, with short pauses (a TV in the room);
- ``babble2``, ``tv2``: the same with other voices (:data:`BABBLE2_VOICES`, :data:`TV2_VOICE`);
- ``music``: a melody of sawtooth notes with a pulse under it;
- ``pink``: stationary pink noise (a fan, a car).

:func:`mix` puts speech over noise at a signal-to-noise ratio measured as speech
RMS against noise RMS, each over its active part (the 20 ms frames within 30 dB of
the loudest): for voices in the background (babble, TV) that is their level while
they talk, not diluted by their pauses.
"""

from __future__ import annotations

import math
import subprocess
from array import array
from collections.abc import Sequence
from functools import cache

from tests.toolkit.amdset.speech import RATE, Voice, synthesize_clause

__all__ = [
    "BABBLE2_VOICES",
    "NOISES",
    "RATE",
    "TV2_VOICE",
    "TV_VOICE",
    "background",
    "mix",
    "rms",
    "room_voices",
    "scaled",
    "speech",
]

NOISES = ("babble", "street", "tv", "music", "pink", "babble2", "tv2")
"""The backgrounds :func:`background` makes."""

_BABBLE_LINES = (
    ("en-us+m3", "So I told him the meeting had moved to Thursday, and he just laughed about it."),
    ("en-gb", "Could we get two more coffees and the bill, please, when you have a moment."),
    ("en-us+f4", "The train was late again this morning, the third time in one week already."),
    ("en-gb", "Honestly the best part of the holiday was the food, every single evening."),
    ("en-us+m1", "She says the new flat is bigger but the street outside is very noisy."),
)
"""The café's voices (at pitch 40, 48, 56, 64, 72). The second and fourth are plain ``en-gb``
(the TV's reader at other pitches): this espeak-ng ignores the variants of ``en-gb``
(``en-gb``, ``en-gb+f2``, ``en-gb+m5`` give the same samples), which these lines once named.
``babble2`` has those variants as they were meant (:data:`BABBLE2_VOICES`)."""
TV_VOICE = "en-gb"
"""The TV's reader (at pitch 45); ``tv2``'s is :data:`TV2_VOICE`."""
BABBLE2_VOICES = ("en+f2", "en+m5")
TV2_VOICE = "en+m3"
"""``babble2``'s second and fourth voices and ``tv2``'s reader: British English as ``en``
with a variant, which this espeak-ng applies (``en`` alone is ``en-gb``)."""
_TV_TEXT = (
    "Good evening. Tonight, the council voted on the new bridge across the river. "
    "Residents have waited for more than ten years. The work begins in the spring, "
    "and the road will be closed for six months. In sport, the home team won again."
)


def _sox(args: Sequence[str], data: bytes | None = None) -> list[int]:
    """Run sox with raw 8 kHz 16-bit mono output on stdout; the samples."""
    out = subprocess.run(
        ["sox", "-D", "-R", *args], input=data, capture_output=True, timeout=120, check=True
    ).stdout
    pcm = array("h")
    pcm.frombytes(out[: len(out) // 2 * 2])
    return pcm.tolist()


_RAW_OUT = ["-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-t", "raw", "-"]


def rms(samples: Sequence[int]) -> float:
    """Root mean square of ``samples`` (0 for none)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def _active_rms(samples: Sequence[int]) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest one (speech, not its gaps)."""
    frames = [rms(samples[i : i + 160]) for i in range(0, len(samples) - 159, 160)]
    top = max(frames, default=0.0)
    active = [f for f in frames if f > top * 10 ** (-30 / 20)]
    return math.sqrt(sum(f * f for f in active) / len(active)) if active else 0.0


def scaled(samples: Sequence[int], gain: float) -> list[int]:
    """``samples`` times ``gain``, clipped to 16 bits."""
    return [max(-32768, min(32767, round(s * gain))) for s in samples]


def _loop(samples: Sequence[int], length: int) -> list[int]:
    out: list[int] = []
    while len(out) < length:
        out.extend(samples[: length - len(out)])
    return out


def _sum(tracks: Sequence[Sequence[int]], length: int) -> list[int]:
    out = [0] * length
    for track in tracks:
        for i, s in enumerate(_loop(track, length)):
            out[i] += s
    return [max(-32768, min(32767, s)) for s in out]


@cache
def speech(text: str, voice: str = "en-us", pitch: int = 50, low_hz: int = 300) -> tuple[int, ...]:
    """``text`` said by one espeak-ng voice (telephone band from ``low_hz``, trimmed)."""
    return synthesize_clause(text, Voice(voice, pitch=pitch), low_hz).samples


def room_voices() -> dict[str, Voice]:
    """Every voice of the rooms :func:`background` makes, each at its pitch: ``babble 0`` to
    ``babble 4``, ``babble2 1`` and ``babble2 3`` (its own two), ``tv`` and ``tv2``."""
    voices = {f"babble {i}": Voice(v, pitch=40 + 8 * i) for i, (v, _) in enumerate(_BABBLE_LINES)}
    voices |= {f"babble2 {i}": Voice(v, pitch=40 + 8 * i)
               for i, v in ((1, BABBLE2_VOICES[0]), (3, BABBLE2_VOICES[1]))}  # fmt: skip
    return voices | {"tv": Voice(TV_VOICE, pitch=45), "tv2": Voice(TV2_VOICE, pitch=45)}


@cache
def background(kind: str, seconds: float, low_hz: int = 300) -> tuple[int, ...]:
    """``seconds`` of the background ``kind`` (one of :data:`NOISES`), at about -30 dBFS RMS,
    in the telephone band from ``low_hz`` to 3400 Hz.

    Raises:
        ValueError: an unknown kind.
    """
    length = int(seconds * RATE)
    band = ["sinc", f"{low_hz}-3400"]
    if kind in ("babble", "babble2"):
        lines = list(_BABBLE_LINES)
        if kind == "babble2":
            second, fourth = BABBLE2_VOICES
            lines[1], lines[3] = (second, lines[1][1]), (fourth, lines[3][1])
        voices = [
            list(speech(text, voice, 40 + 8 * i, low_hz)) for i, (voice, text) in enumerate(lines)
        ]
        # Each voice starts at another point of its line, so the gaps never line up.
        tracks = [v[(i * len(v)) // len(voices) :] + v[: (i * len(v)) // len(voices)]
                  for i, v in enumerate(voices)]  # fmt: skip
        samples = _sum(tracks, length)
    elif kind in ("tv", "tv2"):
        reader = TV_VOICE if kind == "tv" else TV2_VOICE
        sentences = [s.strip() + "." for s in _TV_TEXT.split(".") if s.strip()]
        pause = [0] * (RATE * 3 // 10)
        track: list[int] = []
        for sentence in sentences:
            track += list(speech(sentence, reader, 45, low_hz)) + pause
        samples = _loop(track, length)
    elif kind == "street":
        length_s = f"{seconds}"
        samples = _sox(["-n", *_RAW_OUT, "synth", length_s, "brownnoise", "synth", length_s,
                        "pinknoise", "mix", "tremolo", "0.3", "60", *band])  # fmt: skip
    elif kind == "music":
        notes = ["C4", "E4", "G4", "C5", "A4", "F4", "D4", "G4"]
        melody: list[int] = []
        for note in notes:
            melody += _sox(["-n", *_RAW_OUT, "synth", "0.25", "sawtooth", note, "synth",
                            "0.25", "sine", "fmod", "110", "fade", "0.01", "0.25", "0.05",
                            *band])  # fmt: skip
        samples = _loop(melody, length)
    elif kind == "pink":
        samples = _sox(["-n", *_RAW_OUT, "synth", f"{seconds}", "pinknoise", *band])
    else:
        raise ValueError(f"unknown background {kind!r}: one of {', '.join(NOISES)}")
    samples = _loop(samples, length)
    level = rms(samples) or 1.0
    return tuple(scaled(samples, 1038.0 / level))  # -30 dBFS


def mix(
    voice: Sequence[int], noise: Sequence[int], snr_db: float, speech_dbfs: float = -20.0
) -> list[int]:
    """``voice`` at ``speech_dbfs`` (active RMS) over ``noise`` at ``snr_db`` below it.

    The result is as long as ``noise``; ``voice`` (which may be silence: all zeros)
    starts at its beginning.
    """
    target = 32768 * 10 ** (speech_dbfs / 20)
    active = _active_rms(voice)
    gain = target / active if active else 0.0
    noise_gain = target * 10 ** (-snr_db / 20) / (_active_rms(noise) or 1.0)
    out = []
    for i, n in enumerate(noise):
        v = voice[i] * gain if i < len(voice) else 0.0
        out.append(max(-32768, min(32767, round(v + n * noise_gain))))
    return out
