"""Answering-machine detection for one call: the callee's audio and transcripts in, decisions out.

:class:`AnsweringMachineDetector` is sans-IO and the one object an agent needs:
it runs the voice-activity detector (``sipgw.media.voice.vad``, with :data:`AMD_VAD`) and
the beep detector (``sipgw.media.tones.beep``) on each 20 ms frame, passes the speech
recognizer's events through, and feeds the facts to
:class:`~sipgw.agent.amd.classifier.AnswerClassifier`, whose events it returns. A
frame that is part of a steady tone is not voice, so a beep does not lengthen
the greeting.

Everything is judged on the callee's own timeline (:mod:`sipgw.agent.amd.heard_clock`):
each frame ends one frame after the one before, however late it arrived, so the gateway's
own stall is neither heard as the callee's silence nor does it swallow the silence heard
after it; a timer that fires before the frames a stall held back waits a frame for them.

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
from sipgw.agent.amd.heard_clock import HeardClock
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
        clock: the callee's timeline, on which the classifier is told the time.
    """

    def __init__(self, started_at: float, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self.classifier = AnswerClassifier(started_at, self.config)
        self.tones: list[BeepEvent] = []
        self._vad = VoiceActivityDetector(self.config.vad)
        self._beeps = BeepDetector(self.config.beep)
        self.clock = HeardClock()

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
        """The callee's next 20 ms of μ-law, arrived at ``now`` (None: nothing arrived)."""
        at = self.clock.frame(now)  # where it ends on the callee's timeline
        tones = self._beeps.receive_frame(frame, at)
        self._vad.push(frame)
        in_tone = self._beeps.in_tone
        events = self.classifier.receive_frame(at, self._vad.loud and not in_tone, in_tone)
        if in_tone:
            events += self.classifier.receive_tone_sounding(self._beeps.sounding, at)
        for tone in tones:
            self.tones.append(tone)
            events += self.classifier.receive_tone(tone, at)
        return events

    def receive_stt(self, event: SttEvent, now: float) -> tuple[AmdEvent, ...]:
        """A speech-to-text event; partial transcripts and finished turns count."""
        at = self.clock.at(now)
        if isinstance(event, SttPartialTranscript):
            return self.classifier.receive_transcript(event.text, at, turn=event.turn_order)
        if isinstance(event, SttTurnEnded):
            return self.classifier.receive_transcript(
                event.text, at, turn=event.turn_order, final=True
            )
        return ()

    def get_timer(self) -> float | None:
        """When (the loop's time) :meth:`handle_timer` must run if no frame comes first."""
        due = self.classifier.get_timer()
        if due is None:
            return None
        due = self.clock.wall(due)
        retry = self.clock.retry_at
        return due if retry is None else max(due, retry)

    def handle_timer(self, now: float) -> tuple[AmdEvent, ...]:
        """Apply the deadline and the greeting's time limit, at the loop's time ``now``;
        nothing yet when frames are overdue (:meth:`HeardClock.waits`)."""
        if self.clock.waits(now):
            return ()
        return self.classifier.handle_timer(self.clock.at(now))
