"""In-band DTMF: keypad digits as their two tones in the audio, for legs with no RFC 4733.

A Twilio Media Stream takes only audio from us, and a browser's page has no telephone-event
to read: there a digit the agent keys is played as its pair of tones (ITU-T Q.23: one of the
low group 697, 770, 852, 941 Hz and one of the high group 1209, 1336, 1477, 1633 Hz). As on
SIP (:meth:`sipgw.media.sender.RtpStreamSender.send_dtmf`) each digit lasts 100 ms and is followed
by 60 ms of silence, at -10 dBm0 per tone, and while digits play they replace the agent's audio.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from sipgw.media import g711

__all__ = ["DTMF_FREQUENCIES", "InbandDtmf"]

DTMF_FREQUENCIES: Final[dict[str, tuple[int, int]]] = {
    digit: (low, high)
    for row, low in zip(("123A", "456B", "789C", "*0#D"), (697, 770, 852, 941), strict=True)
    for digit, high in zip(row, (1209, 1336, 1477, 1633), strict=True)
}
"""Each key's low and high tone in Hz (ITU-T Q.23)."""

_RATE: Final = 8000
_FRAME: Final = 160
_TONE_MS: Final = 100
_GAP_MS: Final = 60
_LEVEL_DBM0: Final = -10.0
_DBM0_TO_DBFS: Final = -3.17  # μ-law's full-scale sine is +3.17 dBm0 (ITU-T G.711)


def _tone(digit: str, samples: int) -> bytes:
    """``samples`` of the digit's two tones, as μ-law."""
    low, high = DTMF_FREQUENCIES[digit]
    amplitude = 32767 * 10 ** ((_LEVEL_DBM0 + _DBM0_TO_DBFS) / 20)
    pcm = bytearray()
    for n in range(samples):
        value = amplitude * (
            math.sin(2 * math.pi * low * n / _RATE) + math.sin(2 * math.pi * high * n / _RATE)
        )
        pcm += int(value).to_bytes(2, "little", signed=True)
    return g711.linear_to_ulaw(bytes(pcm))


_TONES: Final = {digit: _tone(digit, _TONE_MS * _RATE // 1000) for digit in DTMF_FREQUENCIES}
_GAP: Final = g711.silence_frame("PCMU", _GAP_MS * _RATE // 1000)
_DIGIT_FRAMES: Final = (_TONE_MS + _GAP_MS) // 20  # 8 whole frames a digit


class InbandDtmf:
    """Digits queued, then one 20 ms μ-law frame of their tones per tick.

    Attributes:
        digits: digits queued so far.
    """

    def __init__(self) -> None:
        self._audio: deque[bytes] = deque()
        self.digits = 0

    def send(self, digits: str) -> None:
        """Queue ``digits`` (``0-9 * # A-D``, case-insensitive; blanks are ignored).

        Raises:
            ValueError: a character that is not a keypad digit (nothing is queued).
        """
        keys = [d.upper() for d in digits if not d.isspace()]
        wrong = [d for d in digits if not d.isspace() and d.upper() not in DTMF_FREQUENCIES]
        if wrong:
            raise ValueError(f"not keypad digits: {''.join(wrong)!r} in {digits!r}")
        for key in keys:
            audio = _TONES[key] + _GAP
            self._audio.extend(audio[i * _FRAME : (i + 1) * _FRAME] for i in range(_DIGIT_FRAMES))
        self.digits += len(keys)

    @property
    def pending(self) -> bool:
        """Whether tones are still to play (they replace the agent's audio meanwhile)."""
        return bool(self._audio)

    def next_frame(self) -> bytes | None:
        """This tick's frame of tones, or None when no digit is playing."""
        return self._audio.popleft() if self._audio else None
