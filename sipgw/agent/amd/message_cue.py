"""When a voicemail or a call screener is ready for the agent to speak (sans-IO).

A voicemail is *ready for the message* at the beep's end (reported when the beep detector
is sure), or after ``greeting_end_silence`` of silence (a tone is no silence) once the
greeting ends, or ``max_greeting`` after the answer; a screener once its prompt is followed
by ``prompt_end_silence``. A greeting whose words promised a tone, or whose words are not
all known yet, waits ``announced_beep_wait`` of silence instead. The decision is
:class:`sipgw.agent.amd.classifier.AnswerClassifier`'s; this module finds the moment.
"""

from __future__ import annotations

import math

from sipgw.agent.amd.cadence import EPSILON, Cadence
from sipgw.agent.amd.events import AnswerClassified, AnswerKind, ReadyForMessage
from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.amd.transcripts import Transcripts
from sipgw.media.tones.beep import BeepDetected

__all__ = ["MessageCue"]


class MessageCue:
    """One answered call's cue for the message.

    Attributes:
        ready: the :class:`ReadyForMessage` reported, if any.
        beep: a beep heard, not yet the cue for a message.
        last_tone: end of the last frame of a tone.
    """

    def __init__(
        self, started_at: float, config: AmdConfig, cadence: Cadence, words: Transcripts
    ) -> None:
        self.started_at = started_at
        self.config = config
        self.cadence = cadence
        self.words = words
        self.ready: ReadyForMessage | None = None
        self.beep: BeepDetected | None = None
        self.last_tone = -math.inf

    def check(self, decision: AnswerClassified | None, now: float) -> tuple[ReadyForMessage, ...]:
        """The cue, if ``decision`` (a voicemail or a screener) is ready for it at ``now``."""
        if self.ready is not None or decision is None:
            return ()
        config = self.config
        if decision.kind is AnswerKind.VOICEMAIL:
            # "... after the tone": the message never starts before a tone it was promised,
            # unless none comes within announced_beep_wait
            # ... also while a turn's final words are still to come: they may promise one
            # (a recognizer ends a turn about a second after its speech, later on a loaded
            # machine; a silence-timer racing them started messages over the beep)
            wait = config.greeting_end_silence
            if self.words.tone_announced or self.words.open_turns:
                wait = config.announced_beep_wait
        elif decision.kind is AnswerKind.SCREENER:
            wait = config.prompt_end_silence
        else:
            return ()
        if decision.kind is AnswerKind.VOICEMAIL and self.beep is not None:
            return (self._make_ready(decision, "beep", now),)
        if now + EPSILON >= self.started_at + config.max_greeting:
            return (self._make_ready(decision, "timeout", now),)
        last_voice = self.cadence.last_voice
        if self.cadence.in_speech or last_voice is None:
            return ()
        if now - max(last_voice, self.last_tone) + EPSILON >= wait:
            return (self._make_ready(decision, "silence", now),)
        return ()

    def _make_ready(self, decision: AnswerClassified, cause: str, now: float) -> ReadyForMessage:
        beep = self.beep if cause == "beep" else None
        self.ready = ReadyForMessage(decision.kind, now, cause, self.cadence.last_voice, beep)
        return self.ready
