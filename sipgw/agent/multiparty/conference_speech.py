"""Who speaks in a conference room: one voice detector per participant, for the room's
``participant-speech-start`` and ``participant-speech-stop`` events (Twilio's ``speaker``
status callback event).

Theory of operation
-------------------
A :class:`SpeechWatch` is one participant's detector: the energy detector with an adaptive
noise floor that the assistant's barge-in uses (:class:`~sipgw.media.voice.vad.
VoiceActivityDetector`), with the barge-in's settings (:data:`SPEAKER_VAD`). The room
(:class:`~sipgw.agent.multiparty.conferences.ConferenceRoom`) feeds it the participant's 20 ms each
tick, in the participant's own format (8 kHz μ-law, or 16 kHz linear for a wideband
seat): the frame's level is measured once (an RMS in C, a logarithm), then the detector
decides:

- speech *starts* after :attr:`~sipgw.media.voice.vad.VadConfig.start_ms` (60 ms) of frames
  loud enough: at least -40 dBFS and 10 dB above the participant's noise floor (a click
  or one noisy frame is not speech);
- it *stops* after :attr:`~sipgw.media.voice.vad.VadConfig.hangover_ms` (300 ms) of quiet
  frames: the gaps between a speaker's words and syllables (150 ms and less) do not end
  it, a pause for breath between sentences may;
- the first 200 ms only learn the line's noise (``calibration_ms``): speech cannot start
  before.

So a start is decided 60 ms after the voice begins, a stop 300 ms after it ends (plus the
participant's jitter buffer, which the audio crossed before the room heard it).

The room runs detectors only while one of its participants asked for these events, and
only for participants that are heard (a muted or held participant has none: it is heard
by nobody). Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sipgw.media import g711
from sipgw.media.codecs.base import AudioFormat
from sipgw.media.voice.vad import SILENT_DBFS, VadConfig, VadEvent, VoiceActivityDetector

__all__ = ["SPEAKER_VAD", "SpeechWatch"]

SPEAKER_VAD: Final = VadConfig(start_ms=60, hangover_ms=300)
"""The detector's settings: the assistant's barge-in's (``min_level_dbfs`` -40,
``margin_db`` 10, ``calibration_ms`` 200, a noise window of 2 s)."""


class SpeechWatch:
    """One participant's voice detector (see the module docstring).

    Args:
        format: the participant's frames' format (its seat's).
        config: the detector's settings.
    """

    __slots__ = ("_level", "_vad")

    def __init__(self, format: AudioFormat, config: VadConfig = SPEAKER_VAD) -> None:  # noqa: A002
        self._vad = VoiceActivityDetector(config)
        self._level: Callable[[bytes], float] = (
            g711.rms_dbfs if format.encoding == "ulaw" else g711.linear_dbfs
        )

    @property
    def speaking(self) -> bool:
        """Whether the participant is speaking (started and not stopped yet)."""
        return self._vad.speaking

    def push(self, frame: bytes | None) -> VadEvent:
        """The participant's 20 ms (None: nothing heard): ``STARTED`` when its speech
        starts with this frame, ``ENDED`` when it stops, else ``NONE``."""
        if not frame:
            return self._vad.push_level(SILENT_DBFS)
        return self._vad.push_level(max(self._level(frame), SILENT_DBFS))
