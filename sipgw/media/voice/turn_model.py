"""Whether a caller's turn is over, from the audio before a pause and the words so far, sans-IO.

Theory of operation
-------------------
At a pause in the caller's speech (the voice detector's first quiet frames), the
question is: finished, or only breathing mid-sentence? A person signals it in the
voice as much as in the words: a finished statement falls to the bottom of the
speaker's range and fades; a pause in the middle stays up or level, often on a
lengthened word ("a table for... "). This module measures that on telephone audio
(8 kHz, 300-3400 Hz: the fundamental itself is gone, its harmonics are not) and
weighs it with a logistic regression whose weights ship beside it
(``turn_model.json``, made by ``bench/turn_model_train.py`` from the labelled set of
``tests/toolkit/turnset``, docs/quality.md).

The audio features (:func:`audio_features`), over the last 1.2 s of speech before the
pause:

* pitch, by a normalized autocorrelation tracker on the audio decimated to 4 kHz
  (32 ms windows every 20 ms, 70-400 Hz, the shortest strong period kept against
  octave errors), in semitones: the final pitch against the median and against the
  speaker's low end (10th percentile) in the window, the final slope (last 300 ms),
  the range, and the share of speech frames that are voiced;
* level: the last 100 ms against the loud frames (a fade), the slope of the last
  300 ms, and the speech's median level over the pause's (up to :data:`SNR_CAP_DB`);
* timing: the last voiced run's length, and against the mean run (final lengthening),
  and the speaking rate (level peaks a second).

The text features (:func:`text_features`), when a streaming recognizer's partial
transcript is at hand: whether its last word is a conjunction, a preposition, an
article or possessive, a number or a spelled letter, an auxiliary or a verb that wants
its object, or a subject pronoun, and whether it starts as a question. Punctuation is
ignored (partials seldom carry it).

:func:`decide` gives the probability that the turn is finished: the ``audio`` weights
without a transcript, the ``audio+text`` weights with one. Pure Python (no numpy);
one decision costs a few milliseconds of CPU (docs/quality.md has the figure).

Each set of weights carries a *graded wait* (:meth:`TurnModel.wait_ms`): the probability
sets how long the pause must last before the turn counts as over, a likely end soon, a
middling one later, a low one never (the speech-to-text service ends it); each wait's
probability is the lowest at which no more than its share of the training split's
unfinished turns would be ended then (``bench/turn_model_train.py``), the longer waits
allowed more, since a caller cut off there has paused that long.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "AUDIO_FEATURES",
    "RATE",
    "SNR_CAP_DB",
    "TEXT_FEATURES",
    "TurnModel",
    "audio_features",
    "decide",
    "default_model",
    "pitch_track",
    "speech_span",
    "text_features",
    "track_windows",
    "window_pitch",
]

RATE: Final = 8000
WEIGHTS: Final = Path(__file__).with_name("turn_model.json")
_FRAME: Final = 160  # 20 ms at 8 kHz
_HOP4: Final = 80  # 20 ms at 4 kHz
_WIN4: Final = 128  # 32 ms at 4 kHz
_MIN_LAG: Final = 10  # 400 Hz at 4 kHz
_MAX_LAG: Final = 57  # 70 Hz
_VOICED: Final = 0.45  # normalized autocorrelation of a voiced frame
_WINDOW_S: Final = 1.2  # speech before the pause that is measured
_FINAL_S: Final = 0.3
SNR_CAP_DB: Final = 45.0
"""The speech over the pause's level is counted up to this: the labelled set's clean line
(hiss at -65 dBFS under speech at -20) gives 37-46 dB; a pause of digital silence (a
μ-law stream of 0xff, as a Twilio or WebRTC leg sends it) would give 60 and more, a line
the weights never heard, and its regression would read that as "not finished"."""

AUDIO_FEATURES: Final = (
    "final_pitch", "final_above_low", "final_slope", "pitch_range", "voiced_share",
    "final_level", "level_slope", "last_run", "run_ratio", "rate", "snr",
)  # fmt: skip
TEXT_FEATURES: Final = (
    "conjunction", "preposition", "determiner", "number", "auxiliary", "pronoun",
    "question",
)  # fmt: skip

_WORD = re.compile(r"[a-z0-9']+")
_LAST_WORDS: Final = {
    "conjunction": {
        "and", "but", "or", "so", "because", "if", "than", "that", "which", "who", "when",
        "while", "where", "whether", "although", "though", "unless", "until", "since", "then",
    },
    "preposition": {
        "to", "of", "for", "with", "in", "on", "at", "from", "by", "about", "into", "after",
        "before", "between", "under", "near", "like", "through", "behalf", "until", "over",
    },
    "determiner": {
        "the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "these",
        "those", "some", "any", "another", "every", "each", "no",
    },
    "number": {
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "double", "triple", "hundred", "thousand", "twenty", "thirty", "forty",
        "fifty", "sixty", "seventy", "eighty", "ninety", "dot", "point",
    },
    "auxiliary": {
        "is", "are", "was", "were", "be", "been", "am", "have", "has", "had", "do", "does",
        "can", "could", "would", "will", "should", "need", "want", "like", "get", "i'm",
        "i'd", "i've", "it's", "we're", "i'll", "means", "says", "said",
    },
    "pronoun": {"i", "we", "you", "he", "she", "they", "it", "someone", "nobody"},
}  # fmt: skip
_QUESTION_START: Final = {
    "can", "could", "would", "will", "is", "are", "do", "does", "did", "what", "why", "how",
    "when", "where", "who", "which", "should", "may",
}  # fmt: skip


def _decimate(samples: Sequence[float]) -> list[float]:
    """Half the rate with a [1 2 1]/4 low-pass (a zero at the old Nyquist)."""
    n = len(samples)
    return [
        0.25 * samples[i - 1] + 0.5 * samples[i] + 0.25 * samples[i + 1] for i in range(1, n - 1, 2)
    ]


def _frame_pitch(window: Sequence[float]) -> float | None:
    """The frame's F0 in Hz, or None when it is not voiced."""
    mul = operator.mul
    n = len(window)
    squares = [v * v for v in window]
    total = sum(squares)
    if total <= 0.0:
        return None
    # prefix sums of squares: energy of window[:k] and window[k:]
    head = [0.0]
    for s in squares:
        head.append(head[-1] + s)
    scores = [0.0] * (_MAX_LAG + 2)
    for lag in range(_MIN_LAG - 1, _MAX_LAG + 2):
        dot = sum(map(mul, window, window[lag:]))
        e1 = head[n - lag]
        e2 = total - head[lag]
        scores[lag] = dot / math.sqrt(e1 * e2) if e1 > 0 and e2 > 0 else 0.0
    best = max(range(_MIN_LAG, _MAX_LAG + 1), key=scores.__getitem__)
    peak = scores[best]
    if peak < _VOICED:
        return None
    for lag in range(_MIN_LAG, best):  # the shortest strong period: no octave drop
        if (
            scores[lag] >= 0.85 * peak
            and scores[lag] >= scores[lag - 1]
            and scores[lag] >= scores[lag + 1]
        ):
            best = lag
            break
    a, b, c = scores[best - 1], scores[best], scores[best + 1]
    bend = a - 2 * b + c
    shift = 0.5 * (a - c) / bend if bend < 0 else 0.0
    return 4000.0 / (best + max(-0.5, min(0.5, shift)))


def pitch_track(samples: Sequence[float]) -> list[float | None]:
    """F0 (Hz) every 20 ms of 8 kHz ``samples`` (frame k: samples 160k to 160k+256),
    None where unvoiced."""
    low = _decimate(samples)
    track: list[float | None] = []
    for start in range(0, len(low) - _WIN4 + 1, _HOP4):
        track.append(_frame_pitch(low[start : start + _WIN4]))
    return track


def window_pitch(samples: Sequence[float], start: int) -> float | None:
    """F0 (Hz) of the one 32 ms window of :func:`pitch_track` that starts at sample
    ``start`` of ``samples`` (an even offset; it reads 257 samples from there), None where
    unvoiced: the same value as the track's, so a track can be measured a window at a
    time as the audio comes."""
    return _frame_pitch(_decimate(samples[start : start + 2 * _WIN4 + 1]))


def track_windows(length: int) -> int:
    """How many windows :func:`pitch_track` measures in ``length`` samples."""
    return max(0, (len(range(1, length - 1, 2)) - _WIN4) // _HOP4 + 1)


def _smoothed(track: list[float | None]) -> list[float | None]:
    """Each voiced frame's F0 replaced by the median of it and its voiced neighbours
    (an octave error of one frame is gone)."""
    out = list(track)
    for k in range(1, len(track) - 1):
        a, b, c = track[k - 1], track[k], track[k + 1]
        if a is not None and b is not None and c is not None:
            out[k] = sorted((a, b, c))[1]
    return out


def _levels(samples: Sequence[float]) -> list[float]:
    """dBFS of each 20 ms frame."""
    out = []
    for i in range(0, len(samples) - _FRAME + 1, _FRAME):
        frame = samples[i : i + _FRAME]
        power = sum(map(operator.mul, frame, frame)) / _FRAME
        out.append(10.0 * math.log10(power / 32768.0**2 + 1e-12))
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 with fewer than 3)."""
    if len(points) < 3:
        return 0.0
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mx) ** 2 for p in points)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx if sxx > 0 else 0.0


def _clip(value: float, bound: float) -> float:
    return max(-bound, min(bound, value))


def speech_span(length: int, pause_seconds: float = 0.2) -> tuple[int, int]:
    """The samples (start, end) of ``length`` that :func:`audio_features` measures as the
    speech before the pause: the last 1.2 s before the pause's ``pause_seconds``."""
    end = max(0, length - round(pause_seconds * RATE))
    return max(0, end - round(_WINDOW_S * RATE)), end


def audio_features(
    samples: Sequence[int], pause_seconds: float = 0.2,
    track: Sequence[float | None] | None = None,
) -> list[float]:  # fmt: skip
    """:data:`AUDIO_FEATURES` of 8 kHz ``samples`` whose last ``pause_seconds`` are the
    pause (the voice detector's quiet frames so far).

    ``track``: :func:`pitch_track` of the speech (:func:`speech_span`) when it is already
    measured (:class:`sipgw.media.voice.turn_tail.TurnTail` measures it window by window).
    """
    start, end = speech_span(len(samples), pause_seconds)
    speech = [float(s) for s in samples[start:end]]
    levels = _levels(speech)
    if len(levels) < 5:
        return [0.0] * len(AUDIO_FEATURES)
    floor = _quantile(levels, 0.1)
    top = _quantile(levels, 0.9)
    gate = min(max(floor + 6.0, top - 30.0), top - 10.0)  # over the line's floor, or the
    loud = [lv > gate for lv in levels]  # 10 dB under the top on a line full of noise
    track = _smoothed(list(track) if track is not None else pitch_track(speech))
    frames = min(len(track), len(levels))
    pitches = [
        (k * 0.02, 12.0 * math.log2(f0 / 100.0))
        for k in range(frames)
        if loud[k] and (f0 := track[k]) is not None
    ]
    loud_count = sum(loud[:frames]) or 1
    duration = len(levels) * 0.02
    if len(pitches) >= 3:
        tones = [p[1] for p in pitches]
        median = _quantile(tones, 0.5)
        low = _quantile(tones, 0.1)
        final = sorted(tones[-3:])[1]
        last_t = pitches[-1][0]
        tail = [p for p in pitches if p[0] >= last_t - _FINAL_S]
        final_pitch, final_above_low = final - median, final - low
        final_slope = _clip(_slope(tail), 60.0)
        pitch_range = _quantile(tones, 0.9) - low
    else:
        final_pitch = final_above_low = final_slope = pitch_range = 0.0
    voiced = [loud[k] and track[k] is not None for k in range(frames)]
    runs, run = [], 0
    for v in voiced:
        if v:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    if run:
        runs.append(run)
    last_voiced = max((k for k in range(frames) if voiced[k]), default=-1)
    last_run = 0
    for k in range(last_voiced, -1, -1):
        if not voiced[k]:
            break
        last_run += 1
    mean_run = sum(runs) / len(runs) if runs else 1.0
    loud_levels = [lv for lv, is_loud in zip(levels, loud, strict=True) if is_loud]
    final_level = sum(levels[-5:]) / 5 - _quantile(loud_levels or levels, 0.9)
    last_loud = max((k for k in range(len(levels)) if loud[k]), default=len(levels) - 1)
    level_tail = [(k * 0.02, levels[k]) for k in range(max(0, last_loud - 14), last_loud + 1)]
    smooth = [sum(levels[max(0, k - 1) : k + 2]) / len(levels[max(0, k - 1) : k + 2])
              for k in range(len(levels))]  # fmt: skip
    pause_levels = _levels([float(s) for s in samples[end:]])
    pause_level = sum(pause_levels) / len(pause_levels) if pause_levels else floor
    snr = _quantile(loud_levels or levels, 0.5) - pause_level
    peaks = sum(
        1
        for k in range(1, len(smooth) - 1)
        if loud[k] and smooth[k] > smooth[k - 1] and smooth[k] >= smooth[k + 1]
    )
    return [
        _clip(final_pitch, 12.0),
        _clip(final_above_low, 24.0),
        final_slope,
        _clip(pitch_range, 24.0),
        sum(voiced) / loud_count,
        _clip(final_level, 60.0),
        _clip(_slope(level_tail), 300.0),
        last_run * 0.02,
        _clip(last_run / mean_run, 5.0),
        peaks / duration,
        _clip(snr, SNR_CAP_DB),
    ]


def text_features(text: str) -> list[float]:
    """:data:`TEXT_FEATURES` of a partial transcript (its last word, its first)."""
    words = _WORD.findall(text.lower())
    if not words:
        return [0.0] * len(TEXT_FEATURES)
    last = words[-1]
    spelled = len(last) == 1 and last not in ("a", "i")
    out = [float(last in _LAST_WORDS[name]) for name in TEXT_FEATURES[:-1]]
    out[TEXT_FEATURES.index("number")] = float(
        last in _LAST_WORDS["number"] or last.isdigit() or spelled
    )
    out.append(float(words[0] in _QUESTION_START))
    return out


@dataclass(frozen=True, slots=True)
class _Logistic:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    waits: tuple[tuple[int, float], ...]
    """The graded wait: (ms of pause, the probability above which the turn ends then),
    shortest wait first; empty: ``threshold`` at once."""

    @classmethod
    def parse(cls, data: dict[str, Any]) -> _Logistic:
        waits = tuple(sorted((int(ms), float(cut)) for ms, cut in data.get("waits", ())))
        return cls(
            tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
            float(data["bias"]), float(data["threshold"]), waits,
        )  # fmt: skip

    def wait_ms(self, probability: float) -> int | None:
        """The pause after which a turn of this probability ends; None: never early."""
        if not self.waits:
            return 0 if probability > self.threshold else None
        for ms, cut in self.waits:
            if probability > cut:
                return ms
        return None

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias + sum(
            w * (x - m) / s
            for w, x, m, s in zip(self.weights, features, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-_clip(z, 40.0)))


@dataclass(frozen=True, slots=True)
class TurnModel:
    """The shipped weights: one logistic regression on the audio features alone, one on
    the audio and text features, each with the probability above which a turn counts as
    finished (chosen on the training split, docs/quality.md)."""

    audio: _Logistic
    audio_text: _Logistic

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TurnModel:
        """The model of ``turn_model.json``'s content.

        Raises:
            ValueError: the feature names are not this module's.
        """
        if (
            tuple(data["audio_features"]) != AUDIO_FEATURES
            or tuple(data["text_features"]) != TEXT_FEATURES
        ):
            raise ValueError("turn model weights were made for other features")
        return cls(_Logistic.parse(data["audio"]), _Logistic.parse(data["audio+text"]))

    def decide(
        self, audio_tail: Sequence[int], partial_text: str | None = None,
        pause_seconds: float = 0.2,
    ) -> float:  # fmt: skip
        """Probability that the turn is finished.

        Args:
            audio_tail: the call's latest 8 kHz samples (1.5 s or more), ending now.
            partial_text: the recognizer's latest partial transcript of the turn, if any.
            pause_seconds: how much of the tail's end is the pause so far.
        """
        return self.probability(audio_features(audio_tail, pause_seconds), partial_text)

    def probability(self, audio: Sequence[float], partial_text: str | None = None) -> float:
        """:meth:`decide` from :func:`audio_features` already computed."""
        if partial_text is None or not partial_text.strip():
            return self.audio.probability(audio)
        return self.audio_text.probability([*audio, *text_features(partial_text)])

    def finished(self, probability: float, with_text: bool) -> bool:
        """Whether ``probability`` (with or without a transcript) says the turn is over
        at once (over the single decision's threshold)."""
        return probability > (self.audio_text if with_text else self.audio).threshold

    def wait_ms(self, probability: float, with_text: bool) -> int | None:
        """How long the pause must last before the turn counts as over (ms from the
        pause's start), from ``probability`` (with or without a transcript): the graded
        wait of the weights (a likely end soon, a middling one later); None: leave the
        turn to the speech-to-text service. Weights without a graded wait end the turn at
        once over their threshold (0)."""
        return (self.audio_text if with_text else self.audio).wait_ms(probability)


@functools.cache
def default_model() -> TurnModel:
    """The weights shipped in ``turn_model.json``."""
    return TurnModel.parse(json.loads(WEIGHTS.read_text()))


def decide(
    audio_tail: Sequence[int], partial_text: str | None = None, pause_seconds: float = 0.2
) -> float:
    """:meth:`TurnModel.decide` with the shipped weights."""
    return default_model().decide(audio_tail, partial_text, pause_seconds)
