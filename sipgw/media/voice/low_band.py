"""The 100-300 Hz level of a 20 ms μ-law frame: where a nasal onset rises over babble.

A caller's first sound is often a nasal murmur ("n", "m": "No, no, I wanted..."), 12-14 dB
under their level, no louder than café babble 10 dB under them on the whole band; but its
energy is under 300 Hz, where babble has little, so on a line that carries 100-300 Hz
(G.711 does; SIP softphones and most VoIP paths pass it; an analogue line's G.712 band
does not) the murmur's 100-300 Hz level rises over the babble's loudest there
(docs/performance.md, "Barge-in and noisy callers").

:class:`LowBand` filters the frame's samples through a cascade of three biquads: a
4th-order Butterworth low-pass at :data:`HIGH_HZ` (two sections, 24 dB an octave over it:
a 500 Hz formant is 18 dB down, 1 kHz 42 dB) and a 2nd-order Butterworth high-pass at
:data:`LOW_HZ` (hum and a line's DC), and returns the filtered samples' mean square in
dBFS, referenced as :func:`sipgw.media.g711.rms_dbfs` is (a full-scale square wave is 0).
The filter's state carries from frame to frame (the frames of one stream, in order);
nothing is allocated per frame. Sans-IO: one call per frame, no clock.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["HIGH_HZ", "LOW_HZ", "LowBand"]

LOW_HZ: Final = 100
"""The band's low edge (the high-pass's -3 dB point), Hz."""
HIGH_HZ: Final = 300
"""The band's high edge (the low-pass's -3 dB point), Hz."""
SILENT_DBFS: Final = -100.0
"""The level of a frame with nothing in the band."""

# The sections' coefficients (a0 normalised to 1; b1 = 2 b0 for a low-pass, -2 b0 for a
# high-pass, b2 = b0), at 8 kHz, from the Audio EQ Cookbook's formulas (tests/media/
# test_low_band.py recomputes them): the low-pass's two Q of a 4th-order Butterworth
# (1 / (2 cos(pi/8)), 1 / (2 cos(3 pi/8))), the high-pass's Q 1 / sqrt(2).
_LP1_B0: Final = 0.011364086065733525
_LP1_A1: Final = -1.5997196710501607
_LP1_A2: Final = 0.6451760153130949
_LP2_B0: Final = 0.012682077840817653
_LP2_A1: Final = -1.7852530572537355
_LP2_A2: Final = 0.835981368617006
_HP_B0: Final = 0.9459768560027901
_HP_A1: Final = -1.8890330793945247
_HP_A2: Final = 0.8948743446166357

_SCALE: Final = 1.0 / 32768.0
"""A 16-bit sample's full scale."""


class LowBand:
    """Per frame: :meth:`level` is its 100-300 Hz level in dBFS (the filter runs on)."""

    __slots__ = ("_h1", "_h2", "_p1", "_p2", "_q1", "_q2")

    def __init__(self) -> None:
        # Each section's state (transposed direct form II): two floats.
        self._p1 = self._p2 = 0.0  # the first low-pass section
        self._q1 = self._q2 = 0.0  # the second
        self._h1 = self._h2 = 0.0  # the high-pass

    def reset(self) -> None:
        """Forget the samples heard (a gap in the stream)."""
        self._p1 = self._p2 = self._q1 = self._q2 = self._h1 = self._h2 = 0.0

    def level(self, frame: bytes) -> float:
        """The frame's (μ-law) level in 100-300 Hz, dBFS; :data:`SILENT_DBFS` at most."""
        p1, p2, q1, q2, h1, h2 = self._p1, self._p2, self._q1, self._q2, self._h1, self._h2
        total = 0.0
        for i in range(len(frame)):
            # G.711 μ-law decoding (as audioop's), full scale 1.
            code = ~frame[i] & 0xFF
            magnitude = ((((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)) - 0x84
            x = (-magnitude if code & 0x80 else magnitude) * _SCALE
            y = _LP1_B0 * x + p1
            p1 = 2.0 * _LP1_B0 * x - _LP1_A1 * y + p2
            p2 = _LP1_B0 * x - _LP1_A2 * y
            z = _LP2_B0 * y + q1
            q1 = 2.0 * _LP2_B0 * y - _LP2_A1 * z + q2
            q2 = _LP2_B0 * y - _LP2_A2 * z
            w = _HP_B0 * z + h1
            h1 = -2.0 * _HP_B0 * z - _HP_A1 * w + h2
            h2 = _HP_B0 * z - _HP_A2 * w
            total += w * w
        self._p1, self._p2, self._q1, self._q2, self._h1, self._h2 = p1, p2, q1, q2, h1, h2
        if not frame or total <= 0.0:
            return SILENT_DBFS
        # A full-scale square wave (mean square 1) is 0 dBFS.
        return max(10.0 * math.log10(total / len(frame)), SILENT_DBFS)
