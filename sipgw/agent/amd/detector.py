"""Answering-machine detection for one call: the callee's audio and transcripts in, decisions out.

:class:`AnsweringMachineDetector` is sans-IO and the one object an agent needs:
it runs the voice-activity detector (``sipgw.media.voice.vad``, with :data:`AMD_VAD`) and
the beep detector (``sipgw.media.tones.beep``) on each 20 ms frame, passes the speech
recognizer's events through, and feeds the facts to
:class:`~sipgw.agent.amd.classifier.AnswerClassifier`, whose events it returns. A
frame that is part of a steady tone is not voice, so a beep does not lengthen
the greeting.

::

    detector = AnsweringMachineDetector(started_at=loop.time())
    # per frame of the callee's audio (on_caller_audio), and per STT event:
    for event in detector.receive_audio(frame, loop.time()): ...
    for event in detector.receive_stt(stt_event, loop.time()): ...
    # when no frame comes, at detector.get_timer(): detector.handle_timer(loop.time())

Stop feeding it once :attr:`done` is true.
"""

from __future__ import annotations

from sipgw.agent.amd.classifier import AnswerClassifier
from sipgw.agent.amd.events import AmdEvent, AnswerClassified, ReadyForMessage
from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.services.stt.base import SttEvent, SttPartialTranscript, SttTurnEnded
from sipgw.media.tones.beep import BeepDetector, BeepEvent
from sipgw.media.voice.vad import VoiceActivityDetector

__all__ = ["AnsweringMachineDetector"]


class AnsweringMachineDetector:
    """Voice activity, tones and transcripts of one answered call, classified.

    Attributes:
        classifier: the decision rules (its state is readable).
        tones: every beep and special information tone heard so far.
    """

    def __init__(self, started_at: float, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self.classifier = AnswerClassifier(started_at, self.config)
        self.tones: list[BeepEvent] = []
        self._vad = VoiceActivityDetector(self.config.vad)
        self._beeps = BeepDetector(self.config.beep)

    @property
    def decision(self) -> AnswerClassified | None:
        """The current decision (None until the first)."""
        return self.classifier.decision

    @property
    def ready(self) -> ReadyForMessage | None:
        """Set once a voicemail or a screener waits for the agent to speak."""
        return self.classifier.ready

    @property
    def done(self) -> bool:
        """Nothing more will be reported."""
        return self.classifier.done

    def receive_audio(self, frame: bytes | None, now: float) -> tuple[AmdEvent, ...]:
        """The callee's 20 ms of μ-law that end at ``now`` (None: nothing arrived)."""
        tones = self._beeps.receive_frame(frame, now)
        self._vad.push(frame)
        in_tone = self._beeps.in_tone
        events = self.classifier.receive_frame(now, self._vad.loud and not in_tone, in_tone)
        if in_tone:
            events += self.classifier.receive_tone_sounding(self._beeps.sounding, now)
        for tone in tones:
            self.tones.append(tone)
            events += self.classifier.receive_tone(tone, now)
        return events

    def receive_stt(self, event: SttEvent, now: float) -> tuple[AmdEvent, ...]:
        """A speech-to-text event; partial transcripts and finished turns count."""
        if isinstance(event, SttPartialTranscript):
            return self.classifier.receive_transcript(event.text, now, turn=event.turn_order)
        if isinstance(event, SttTurnEnded):
            return self.classifier.receive_transcript(
                event.text, now, turn=event.turn_order, final=True
            )
        return ()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run if no frame comes first."""
        return self.classifier.get_timer()

    def handle_timer(self, now: float) -> tuple[AmdEvent, ...]:
        """Apply the deadline and the greeting's time limit."""
        return self.classifier.handle_timer(now)
