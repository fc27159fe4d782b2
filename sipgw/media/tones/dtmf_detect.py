"""In-band DTMF: keypad digits heard as their two tones in the caller's audio (ITU-T Q.23, Q.24).

Some carriers and PBXs send a key press as its pair of tones in the audio rather than as an
RFC 4733 event (media/tones/dtmf.py). :class:`DtmfToneDetector` hears them: linear samples in
(8 or 16 kHz, what the call's codec decodes to), one :class:`DtmfToneDetected` out per
press, with its start and duration, timed by the samples it was given (no clock).

Theory of operation
-------------------
The audio is cut into 10 ms blocks. Each block is judged on its own (:meth:`_judge`):

1. its mean power must reach twice the lowest tone power, else it holds no digit;
2. its correlations with the four low-group tones (697, 770, 852, 941 Hz), then with the
   four high-group tones (1209, 1336, 1477, 1633 Hz), pick the strongest of each group
   (the high group only when the low tone carries a fair share of the block's power);
3. a least-squares fit of the block by those two tones and their second harmonics (the
   cosine and sine of each; the inverse Gram matrix of each pair is computed once) gives
   each tone's level and phase, free of the leakage between neighbouring frequencies that
   a plain DFT bin has (a low tone's harmonic within :data:`HARMONIC_SPACING` of the high
   tone is left out: one block cannot tell them apart);
4. the block holds that digit when each tone is at least :data:`MIN_LEVEL_DBM0`
   (Q.24: operate from -25 dBm0, never below -35 dBm0), the twist is within
   :data:`NORMAL_TWIST_DB` (high tone weaker) and :data:`REVERSE_TWIST_DB` (high tone
   stronger), the two tones hold :data:`MIN_TONE_SHARE` of the block's energy (talk-off:
   speech and music spread theirs) and each second harmonic is at least
   :data:`HARMONIC_REJECT_DB` below its tone (talk-off: a voice's harmonics).

A tone's frequency is checked from block to block: a tone at exactly f advances its phase by
``2π·f·10 ms`` a block, so the phase advance left over is the frequency error
(:data:`FREQUENCY_TOLERANCE`: Q.24 asks to operate within ±1.5 % and never beyond ±3.5 %).
A block whose digit is the previous block's but whose phase moved too far does not count
as the same tone.

The blocks' verdicts drive one state machine, :data:`TABLE` (``(state, input) ->
(action, next state)``, as sipgw.sip.transaction's): a digit needs
:data:`MIN_BLOCKS` consecutive blocks (30 ms of full blocks: every tone of 40 ms or more
has them wherever it falls, none of 23 ms or less does, since a block only partly covered
holds too little of the tone's energy), and ends after :data:`END_BLOCKS` blocks without
it (a 40 ms pause has them; a drop-out of 10 ms or less does not, so it does not split a
press). The digit is reported once, when it ends, with the time of its first block and
its length.

Cost: the correlations are ``audioop.findfactor`` calls (a C dot product each, through
:func:`sipgw.media.g711.projection`), 8 per block for most speech, 16 when the low tone is
strong, 22 or 24 and the fit when a block might be a digit; silence costs one RMS.
``bench/dtmf_detect.py`` measures it.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from functools import lru_cache
from operator import mul
from typing import Final, TypeAlias

from sipgw.media import g711
from sipgw.media.tones.dtmf_tones import DTMF_FREQUENCIES

__all__ = [
    "DETECT_MODES",
    "END_BLOCKS",
    "FREQUENCY_TOLERANCE",
    "HARMONIC_REJECT_DB",
    "HARMONIC_SPACING",
    "MIN_BLOCKS",
    "MIN_LEVEL_DBM0",
    "MIN_TONE_SHARE",
    "NORMAL_TWIST_DB",
    "REVERSE_TWIST_DB",
    "TABLE",
    "DtmfToneDetected",
    "DtmfToneDetector",
    "Input",
    "State",
    "detects_tones",
]

DETECT_MODES: Final = ("auto", "on", "off")
"""When a call listens for tones (``SIPGW_INBAND_DTMF``): ``auto``, when its SDP agreed no
telephone-event (RFC 4733); ``on``, always (a carrier that sends tones anyway); ``off``."""

LOW_GROUP: Final = (697, 770, 852, 941)
HIGH_GROUP: Final = (1209, 1336, 1477, 1633)
_DIGITS: Final = {
    (low, high): digit for digit, (low, high) in DTMF_FREQUENCIES.items()
}  # fmt: skip

MIN_LEVEL_DBM0: Final = -30.0
"""Each tone's lowest level (Q.24: operate at -25 dBm0 and above, never below -35 dBm0)."""
NORMAL_TWIST_DB: Final = 8.0
"""How much weaker than the low tone the high tone may be (Q.24's normal twist)."""
REVERSE_TWIST_DB: Final = 4.0
"""How much stronger than the low tone the high tone may be (reverse twist)."""
MIN_TONE_SHARE: Final = 0.75
"""The share of a block's energy its two tones must hold (signal to total energy)."""
HARMONIC_REJECT_DB: Final = 15.0
"""How far below its tone each tone's second harmonic must be."""
HARMONIC_SPACING: Final = 120
"""Hz: a low tone's second harmonic this close to the high tone (697 Hz's 1394 and 1336 Hz)
is not looked for: in a 10 ms block it cannot be told from a high tone a little off its
frequency. The high tone's is always looked for."""
FREQUENCY_TOLERANCE: Final = 0.025
"""The largest frequency error of a tone, as a fraction (Q.24: ±1.5 % operate, ±3.5 % not)."""
MIN_BLOCKS: Final = 3
"""Consecutive 10 ms blocks of a digit that make a press (30 ms of full blocks)."""
END_BLOCKS: Final = 3
"""Consecutive blocks without it that end a press."""

BLOCK_SECONDS: Final = 0.010
_DBM0_POWER: Final = (32767 * 10 ** (-3.17 / 20)) ** 2 / 2  # a 0 dBm0 sine's (G.711)
_MIN_POWER: Final = _DBM0_POWER * 10 ** (MIN_LEVEL_DBM0 / 10)
_NORMAL_TWIST: Final = 10 ** (NORMAL_TWIST_DB / 10)
_REVERSE_TWIST: Final = 10 ** (REVERSE_TWIST_DB / 10)
_HARMONIC: Final = 10 ** (-HARMONIC_REJECT_DB / 10)
_LOW_SHARE: Final = 0.12
"""The low tone's rough share of the block's power below which the high group is not
looked at: a digit's is at least ``MIN_TONE_SHARE / (1 + reverse twist)``, 0.21."""
_ROUGH_SHARE: Final = 0.5
"""The two strongest correlations' share of the block's power below which no fit is made:
the fit finds at least :data:`MIN_TONE_SHARE` in a digit's block, and a plain correlation
is off by a quarter at most (leakage between the tones, a tone 3.5 % off)."""
_ROUGH_TWIST: Final = 10 ** ((NORMAL_TWIST_DB + 4) / 10)
_AMPLITUDE: Final = 16384.0
_BIG_ENDIAN: Final = sys.byteorder == "big"


def detects_tones(mode: str, telephone_event_pt: int | None) -> bool:
    """Whether a call listens for tones: ``mode`` of :data:`DETECT_MODES`, and the
    telephone-event payload type its SDP agreed (None: none)."""
    return mode == "on" or (mode == "auto" and telephone_event_pt is None)


@dataclass(frozen=True, slots=True)
class DtmfToneDetected:
    """A key press heard as its two tones.

    Attributes:
        digit: ``0-9 * # A-D``.
        start: seconds from the detector's first sample to the press's first block.
        duration: seconds the tones lasted (in whole 10 ms blocks).
    """

    digit: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        """Seconds from the detector's first sample to the press's end."""
        return self.start + self.duration


# --------------------------------------------------------------------------- the blocks


def _reference(freq: float, rate: int, samples: int, sine: bool) -> bytes:
    wave = math.sin if sine else math.cos
    values = array(
        "h", (round(_AMPLITUDE * wave(2 * math.pi * freq * n / rate)) for n in range(samples))
    )
    return values.tobytes()


def _inverse(matrix: list[list[float]]) -> tuple[tuple[float, ...], ...]:
    """Gauss-Jordan with partial pivoting (8 x 8, once per pair and rate)."""
    size = len(matrix)
    work = [row[:] + [1.0 if i == j else 0.0 for j in range(size)] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(work[r][col]))
        work[col], work[pivot] = work[pivot], work[col]
        lead = work[col][col]
        work[col] = [v / lead for v in work[col]]
        for r in range(size):
            if r != col and work[r][col] != 0.0:
                factor = work[r][col]
                work[r] = [a - factor * b for a, b in zip(work[r], work[col], strict=True)]
    return tuple(tuple(row[size:]) for row in work)


@dataclass(frozen=True, slots=True)
class _Bank:
    """One sample rate's references: each frequency's cosine and sine over a block, their
    energies, and per digit the inverse Gram matrix of its sinusoids (6 or 8)."""

    rate: int
    block: int
    low: tuple[tuple[bytes, bytes, float, float], ...]
    high: tuple[tuple[bytes, bytes, float, float], ...]
    low_harmonic: tuple[tuple[bytes, bytes, float, float], ...]
    high_harmonic: tuple[tuple[bytes, bytes, float, float], ...]
    fits: Mapping[tuple[int, int], tuple[tuple[float, ...], ...]]
    advance: tuple[float, ...]
    """Per tone (low group, then high): ``2π f · block``, the phase (radians) a tone at
    its nominal frequency advances in a block."""


def _energy(ref: bytes) -> float:
    values = array("h", ref)
    return float(sum(v * v for v in values))


def _wrapped(angle: float) -> float:
    """``angle`` in radians, brought into [-π, π)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _strongest(
    block: bytes, group: Sequence[tuple[bytes, bytes, float, float]], scale: float
) -> tuple[int, float, float, float]:
    """The tone of ``group`` (a :class:`_Bank`'s references) strongest in ``block``: its
    index (-1: none above zero), its rough power (correlation² times ``scale``) and its
    cosine and sine correlations."""
    project = g711.projection
    best, best_rough, best_c, best_s = -1, 0.0, 0.0, 0.0
    for index, (cos, sin, cos_energy, sin_energy) in enumerate(group):
        c = project(block, cos) * cos_energy
        s = project(block, sin) * sin_energy
        rough = (c * c + s * s) * scale
        if rough > best_rough:
            best, best_rough, best_c, best_s = index, rough, c, s
    return best, best_rough, best_c, best_s


def _resolved(low: int, high: int) -> bool:
    """Whether the low tone's second harmonic is far enough from the high tone
    (:data:`HARMONIC_SPACING`) to be told from it in one block."""
    return abs(2 * low - high) >= HARMONIC_SPACING


@lru_cache(maxsize=4)
def _bank(rate: int) -> _Bank:
    block = int(rate * BLOCK_SECONDS)

    def pairs(
        freqs: tuple[int, ...], multiple: int
    ) -> tuple[tuple[bytes, bytes, float, float], ...]:
        out = []
        for f in freqs:
            cos = _reference(f * multiple, rate, block, sine=False)
            sin = _reference(f * multiple, rate, block, sine=True)
            out.append((cos, sin, _energy(cos), _energy(sin)))
        return tuple(out)

    fits: dict[tuple[int, int], tuple[tuple[float, ...], ...]] = {}
    for i, low in enumerate(LOW_GROUP):
        for j, high in enumerate(HIGH_GROUP):
            freqs = (
                (low, high, 2 * high, 2 * low) if _resolved(low, high) else (low, high, 2 * high)
            )
            basis = [
                array("h", _reference(f, rate, block, sine))
                for f in freqs
                for sine in (False, True)
            ]
            gram = [
                [float(sum(a * b for a, b in zip(u, v, strict=True))) for v in basis] for u in basis
            ]
            fits[i, j] = _inverse(gram)
    advance = tuple(2 * math.pi * f * block / rate for f in (*LOW_GROUP, *HIGH_GROUP))
    return _Bank(
        rate, block, pairs(LOW_GROUP, 1), pairs(HIGH_GROUP, 1), pairs(LOW_GROUP, 2),
        pairs(HIGH_GROUP, 2), fits, advance,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The digit one block holds: its tones' indexes in their groups, and their phases
    (radians) at the block's first sample."""

    low: int = -1
    high: int = -1
    low_phase: float = 0.0
    high_phase: float = 0.0


# --------------------------------------------------------------------------- the machine


class State(Enum):
    """Where the detector is between presses."""

    IDLE = auto()
    """No digit in the last block."""
    RISING_1 = auto()
    """One block of a digit."""
    RISING_2 = auto()
    """Two consecutive blocks of the same digit, same frequencies."""
    TONE = auto()
    """A press: :data:`MIN_BLOCKS` blocks or more; the last block had it."""
    FADING_1 = auto()
    """A press whose last block lacked it."""
    FADING_2 = auto()
    """A press whose last two blocks lacked it."""


class Input(Enum):
    """What one block holds, compared with the digit being followed."""

    BLOCK_SAME = auto()
    """The digit being followed, its tones where the last block's were."""
    BLOCK_OTHER = auto()
    """A digit, but another one (or the same at another frequency, or none followed)."""
    BLOCK_NONE = auto()
    """No digit."""


Action: TypeAlias = Callable[["DtmfToneDetector"], None]
Table: TypeAlias = Mapping[tuple[State, Input], tuple[Action | None, State]]


def _follow(detector: DtmfToneDetector) -> None:
    """This block's digit is the one followed from now on, starting here."""
    detector._follow_block()


def _extend(detector: DtmfToneDetector) -> None:
    """The press goes on to this block's end."""
    detector._extend_block()


def _report(detector: DtmfToneDetector) -> None:
    """The press is over: report it."""
    detector._report_press()


def _report_follow(detector: DtmfToneDetector) -> None:
    """The press is over, and this block starts another digit."""
    detector._report_press()
    detector._follow_block()


def _forget(detector: DtmfToneDetector) -> None:
    """Too short: nothing followed any more."""
    detector._digit = ""


TABLE: Final[Table] = {
    (State.IDLE, Input.BLOCK_NONE): (None, State.IDLE),
    (State.IDLE, Input.BLOCK_OTHER): (_follow, State.RISING_1),
    (State.RISING_1, Input.BLOCK_SAME): (_extend, State.RISING_2),
    (State.RISING_1, Input.BLOCK_OTHER): (_follow, State.RISING_1),
    (State.RISING_1, Input.BLOCK_NONE): (_forget, State.IDLE),
    (State.RISING_2, Input.BLOCK_SAME): (_extend, State.TONE),
    (State.RISING_2, Input.BLOCK_OTHER): (_follow, State.RISING_1),
    (State.RISING_2, Input.BLOCK_NONE): (_forget, State.IDLE),
    (State.TONE, Input.BLOCK_SAME): (_extend, State.TONE),
    (State.TONE, Input.BLOCK_OTHER): (None, State.FADING_1),
    (State.TONE, Input.BLOCK_NONE): (None, State.FADING_1),
    # a drop-out of up to two blocks (10 ms falling across two) does not split a press
    (State.FADING_1, Input.BLOCK_SAME): (_extend, State.TONE),
    (State.FADING_1, Input.BLOCK_OTHER): (None, State.FADING_2),
    (State.FADING_1, Input.BLOCK_NONE): (None, State.FADING_2),
    (State.FADING_2, Input.BLOCK_SAME): (_extend, State.TONE),
    (State.FADING_2, Input.BLOCK_OTHER): (_report_follow, State.RISING_1),
    (State.FADING_2, Input.BLOCK_NONE): (_report, State.IDLE),
}
"""Every ``(state, input)`` pair but ``(IDLE, BLOCK_SAME)``, which cannot happen (in IDLE
no digit is followed): ``(action or None, next state)``."""

_NO_EVENTS: Final[tuple[DtmfToneDetected, ...]] = ()


class DtmfToneDetector:
    """Key presses in linear audio (see the module docstring).

    Args:
        sample_rate: 8000 or 16000 Hz.
    """

    __slots__ = (
        "_bank",
        "_carry",
        "_digit",
        "_end",
        "_events",
        "_start",
        "_verdict",
        "_last",
        "_last_block",
        "blocks",
        "state",
    )

    def __init__(self, sample_rate: int = 8000) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"in-band DTMF at {sample_rate} Hz: expected 8000 or 16000")
        self._bank = _bank(sample_rate)
        self.state = State.IDLE
        self.blocks = 0
        """10 ms blocks judged so far: the detector's clock."""
        self._carry = b""
        self._digit = ""
        self._start = 0
        self._end = 0
        self._verdict: _Verdict | None = None
        self._last = _Verdict()  # the followed digit's last block
        self._last_block = 0
        self._events: list[DtmfToneDetected] = []

    @property
    def sample_rate(self) -> int:
        """The rate of the samples :meth:`push` takes."""
        return self._bank.rate

    def push(self, pcm: bytes) -> Sequence[DtmfToneDetected]:
        """The next samples (s16le; any length, a 20 ms frame as a rule).

        Returns:
            The presses that ended in them, oldest first (empty as a rule: nothing is
            allocated then).
        """
        size = self._bank.block * 2
        if self._carry:
            pcm = self._carry + pcm
            self._carry = b""
        if _BIG_ENDIAN:
            swapped = array("h", pcm[: len(pcm) & ~1])
            swapped.byteswap()
            pcm = swapped.tobytes()
        whole = len(pcm) - len(pcm) % size
        for offset in range(0, whole, size):
            self._step(pcm[offset : offset + size])
        if whole < len(pcm):
            self._carry = pcm[whole:]
        if not self._events:
            return _NO_EVENTS
        events, self._events = self._events, []
        return events

    def _step(self, block: bytes) -> None:
        verdict = self._judge(block)
        if verdict is None:
            event = Input.BLOCK_NONE
        elif self._digit and self._same(verdict):
            event = Input.BLOCK_SAME
        else:
            event = Input.BLOCK_OTHER
        self._verdict = verdict
        action, self.state = TABLE[self.state, event]
        if action is not None:
            action(self)
        self.blocks += 1

    def _same(self, verdict: _Verdict) -> bool:
        """Whether ``verdict`` is the followed digit's tones, each within the frequency
        tolerance of where its last block left it (the phase a tone at the nominal
        frequency would have advanced since, undone)."""
        last = self._last
        if verdict.low != last.low or verdict.high != last.high:
            return False
        bank = self._bank
        gap = self.blocks - self._last_block
        limit = 2 * math.pi * FREQUENCY_TOLERANCE * BLOCK_SECONDS * gap
        low = _wrapped(verdict.low_phase - last.low_phase - bank.advance[verdict.low] * gap)
        if abs(low) > limit * LOW_GROUP[verdict.low]:
            return False
        high_advance = bank.advance[4 + verdict.high] * gap
        high = _wrapped(verdict.high_phase - last.high_phase - high_advance)
        return abs(high) <= limit * HIGH_GROUP[verdict.high]

    # -- the actions (TABLE's)

    def _follow_block(self) -> None:
        verdict = self._verdict
        assert verdict is not None  # BLOCK_OTHER: a digit
        self._digit = _DIGITS[LOW_GROUP[verdict.low], HIGH_GROUP[verdict.high]]
        self._start = self.blocks
        self._end = self.blocks + 1
        self._last, self._last_block = verdict, self.blocks

    def _extend_block(self) -> None:
        verdict = self._verdict
        assert verdict is not None  # BLOCK_SAME: the digit
        self._end = self.blocks + 1
        self._last, self._last_block = verdict, self.blocks

    def _report_press(self) -> None:
        start = self._start * BLOCK_SECONDS
        self._events.append(
            DtmfToneDetected(self._digit, start, (self._end - self._start) * BLOCK_SECONDS)
        )
        self._digit = ""

    # -- one block

    def _judge(self, block: bytes) -> _Verdict | None:
        """The digit ``block`` holds, with its tones' phases; None when it holds none."""
        power = g711.mean_square(block)
        if power < 2 * _MIN_POWER:
            return None
        bank = self._bank
        n = bank.block
        scale = 2.0 / (n * n * _AMPLITUDE * _AMPLITUDE)  # correlation² to power (amplitude² / 2)
        project = g711.projection
        best_low, low_rough, low_c, low_s = _strongest(block, bank.low, scale)
        if low_rough < _LOW_SHARE * power or low_rough < 0.5 * _MIN_POWER:
            return None
        best_high, high_rough, high_c, high_s = _strongest(block, bank.high, scale)
        if (
            high_rough < 0.5 * _MIN_POWER
            or low_rough + high_rough < _ROUGH_SHARE * power
            or low_rough > high_rough * _ROUGH_TWIST
            or high_rough > low_rough * _ROUGH_TWIST
        ):
            return None
        # The least-squares fit: correlations with the sinusoids, the inverse Gram.
        fits = bank.fits[best_low, best_high]
        cos, sin, cos_energy, sin_energy = bank.high_harmonic[best_high]
        sums = [
            low_c, low_s, high_c, high_s,
            project(block, cos) * cos_energy, project(block, sin) * sin_energy,
        ]  # fmt: skip
        if len(fits) > 6:
            cos, sin, cos_energy, sin_energy = bank.low_harmonic[best_low]
            sums.append(project(block, cos) * cos_energy)
            sums.append(project(block, sin) * sin_energy)
        fit = [sum(map(mul, row, sums)) for row in fits]
        half = _AMPLITUDE * _AMPLITUDE / 2
        low = (fit[0] * fit[0] + fit[1] * fit[1]) * half
        high = (fit[2] * fit[2] + fit[3] * fit[3]) * half
        if low < _MIN_POWER or high < _MIN_POWER:
            return None
        if low > high * _NORMAL_TWIST or high > low * _REVERSE_TWIST:
            return None
        if low + high < MIN_TONE_SHARE * power:
            return None
        if (fit[4] * fit[4] + fit[5] * fit[5]) * half > high * _HARMONIC:
            return None
        if len(fit) > 6 and (fit[6] * fit[6] + fit[7] * fit[7]) * half > low * _HARMONIC:
            return None
        # x = A cos(ωn + φ) fits as (A cos φ) cos ωn - (A sin φ) sin ωn
        low_phase, high_phase = math.atan2(-fit[1], fit[0]), math.atan2(-fit[3], fit[2])
        return _Verdict(best_low, best_high, low_phase, high_phase)
