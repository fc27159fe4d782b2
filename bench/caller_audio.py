"""Noisy callers for the load generator: a loop of speech over background noise, as μ-law.

``bench.capacity --audio noisy --snr 10`` (also spelt ``--caller-audio``) makes one loop
here before its steps and hands it to ``bench.loadgen --audio-file``, which sends it from
memory, each call from its own point of the loop (the load generator stays as cheap as with
a tone). The loop is a segment per background (:data:`BACKGROUNDS`: café babble, street,
TV speech, music; ``--noise`` picks), each ``every`` seconds long: the caller says a sentence
(espeak-ng voices in turn, the sentences of :mod:`bench.noise`'s interruptions) at its start,
then the background goes on alone. Speech is at -20 dBFS active RMS, the background ``snr_db``
below it (:func:`tests.toolkit.noisy_audio.mix`); no frame is silent, so a model voice
detector steps every one, as on the noisy lines of ``bench.noise``.

A recorded caller (``voice``: 8 kHz mono 16-bit WAV) takes the synthesized sentences' place,
said once in every segment (a segment is then at least as long as the recording).

The loop's script (:func:`noisy_script`, :func:`write_loop`'s ``script``): per segment, the
sentence the caller says and the frames its voice is in (from the clean voice, before the
mix), and the room's words where the background has voices; the fake speech-to-text service
reads it to transcribe what each caller said, when they said it
(:mod:`sipgw.app.evaluation.fakes.assemblyai_script`). A recorded caller's words are not
known: its segments are scripted as ``"(recorded caller)."``.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.fakes.assemblyai_script import CallerScript, ScriptedSentence
from sipgw.media import g711
from tests.toolkit.noisy_audio import NOISES, RATE, background, mix, speech

BACKGROUNDS = ("babble", "street", "tv", "music")
"""The backgrounds of the loop, in turn (those of ``bench.noise``'s noisy line)."""
SENTENCES = (
    ("en-us", "Sorry, can I stop you there for a second?"),
    ("en+f3", "Wait, that is not the address I gave you."),
    ("en-us+m4", "No, no, I wanted the earlier appointment."),
    ("en-gb-x-rp", "Hold on, can you repeat the last part please?"),
    ("en-us+f2", "Actually I would rather pay by card today."),
)
"""What the synthesized caller says, one sentence a segment in turn: the voices and sentences
of :data:`bench.noise.INTERRUPTIONS`, none of them a room's voice (``en+f3`` and
``en-gb-x-rp`` are British: this espeak-ng ignores the variants of ``en-gb``, whose plain
voice reads the TV and says two of the babble's lines)."""
FRAME = 160  # 20 ms at 8 kHz
ROOM_TEXTS = {
    "babble": "So I told him the meeting had moved to Thursday.",
    "tv": "Good evening.",
}
"""What the fake service hears of a background with voices (``--stt-room transcribed``): a
line of the café's, the TV's first sentence; the other backgrounds have no words."""
VOICED_DB = 30.0
"""A frame of the clean voice within this many dB of its loudest frame is the caller's voice
(as :func:`tests.toolkit.noisy_audio.mix` measures the voice's level)."""


@dataclass(frozen=True)
class NoisyCaller:
    """What the loop is made of."""

    snr_db: float = 10.0
    backgrounds: tuple[str, ...] = BACKGROUNDS
    every: float = 6.0
    """Seconds a segment lasts (a sentence at its start, then the background alone)."""
    voice: Path | None = None
    """A recorded caller (8 kHz mono 16-bit WAV) instead of the synthesized sentences."""

    def __post_init__(self) -> None:
        unknown = [b for b in self.backgrounds if b not in NOISES]
        if unknown or not self.backgrounds:
            raise ValueError(f"backgrounds: one or more of {', '.join(NOISES)}, not {unknown}")
        if self.every <= 0:
            raise ValueError("every: a positive number of seconds")


def read_voice(path: Path) -> list[int]:
    """The samples of an 8 kHz mono 16-bit WAV.

    Raises:
        ValueError: another format.
    """
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"{path}: 8 kHz mono 16-bit WAV needed")
        data = w.readframes(w.getnframes())
    return [int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 2)]


def _ulaw(samples: Sequence[int]) -> bytes:
    pcm = b"".join(int(s).to_bytes(2, "little", signed=True) for s in samples)
    return g711.linear_to_ulaw(pcm)


def voiced_ranges(voice: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The 20 ms frames of a clean ``voice`` that hold its voice (within :data:`VOICED_DB`
    of its loudest), as ``[start, end)`` frame ranges."""
    levels = [sum(s * s for s in voice[i : i + FRAME]) / FRAME for i in range(0, len(voice), FRAME)]
    floor = max(levels, default=0.0) * 10 ** (-VOICED_DB / 10)
    ranges: list[tuple[int, int]] = []
    for f, level in enumerate(levels):
        if level <= floor or level == 0:
            continue
        if ranges and ranges[-1][1] == f:
            ranges[-1] = (ranges[-1][0], f + 1)
        else:
            ranges.append((f, f + 1))
    return tuple(ranges)


def noisy_script(caller: NoisyCaller) -> tuple[bytes, list[ScriptedSentence]]:
    """The loop as μ-law, a whole number of 20 ms frames (:class:`NoisyCaller`), and its
    script: a :class:`ScriptedSentence` per segment."""
    recorded = read_voice(caller.voice) if caller.voice is not None else None
    out = bytearray()
    script: list[ScriptedSentence] = []
    for i, kind in enumerate(caller.backgrounds):
        if recorded is not None:
            voice: Sequence[int] = recorded
            text = "(recorded caller)."
        else:
            name, text = SENTENCES[i % len(SENTENCES)]
            voice = speech(text, name)
        seconds = max(caller.every, len(voice) / RATE)
        frames = int(seconds * RATE) // FRAME
        noise = background(kind, frames * FRAME / RATE)[: frames * FRAME]
        script.append(
            ScriptedSentence(
                first_frame=len(out) // FRAME,
                frames=frames,
                text=text,
                voiced=voiced_ranges(voice),
                room_text=ROOM_TEXTS.get(kind),
            )
        )
        out += _ulaw(mix(voice, noise, caller.snr_db))
    return bytes(out[: len(out) // FRAME * FRAME]), script


def noisy_loop(caller: NoisyCaller) -> bytes:
    """The loop as μ-law, a whole number of 20 ms frames (:class:`NoisyCaller`)."""
    return noisy_script(caller)[0]


def write_loop(caller: NoisyCaller, path: Path, script: Path | None = None) -> Path:
    """:func:`noisy_loop` written to ``path`` (raw μ-law), and with ``script`` its script
    there (JSON, :meth:`CallerScript.load` reads it); ``path``."""
    loop, sentences = noisy_script(caller)
    path.write_bytes(loop)
    if script is not None:
        data = CallerScript.to_json(path.name, sentences)
        script.write_text(json.dumps(data, indent=1))
    return path
