"""The human's side of a warm transfer: the call's summary said, their answer heard.

:class:`ConsultAgent` is the agent of the consultation call the gateway places to
the person who should take the caller (:mod:`sipgw.agent.transfer.warm`). Once they
answer it says who is calling and why (``intro``, the summary the assistant wrote,
``prompt``) and listens: a key (1 accepts, 2 declines) or a word
(:func:`spoken_answer`) decides, and :attr:`ConsultAgent.decision` resolves with
it. Without an answer ``answer_timeout`` after the prompt was heard, it is
:attr:`ConsultDecision.NO_ANSWER`; a call that ends first is ``HUNG_UP``. After
that it says nothing: the gateway joins the two calls, or hangs this one up.

Who answered is detected first (:mod:`sipgw.agent.amd`, with the rules of the
``hang_up`` mode, :class:`~sipgw.agent.amd.policy.AnswerPolicy`): the brief, synthesized
meanwhile, is held until a person is decided (240 ms after their "Hello?"; 4 s of
silence counts as a person too), and a voicemail or another machine, known by its
words or its beep, is :attr:`ConsultDecision.VOICEMAIL` at once: the caller is
back with the assistant without waiting for a summary nobody hears. A greeting
that is only long holds the brief until its words or its end say more. The
person's words count as an answer only once the brief has begun.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.events import AmdEvent, AnswerClassified, AnswerKind
from sipgw.agent.amd.policy import AnswerPolicy, BeginConversation, HangUp, StopSpeaking
from sipgw.agent.amd.settings import AmdConfig, AmdMode
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.playout import Playout
from sipgw.agent.services.stt.base import SpeechToText, SttEvent, SttPartialTranscript, SttTurnEnded
from sipgw.agent.services.tts.base import TextToSpeech, TtsError

__all__ = ["ConsultAgent", "ConsultBrief", "ConsultDecision", "keyed_answer", "spoken_answer"]

log = logging.getLogger("sipgw.agent")

_YES = re.compile(
    r"\b(yes|yeah|yep|yup|sure|ok|okay|accept|connect (me|them|it)|put (them|it|me) through|"
    r"go ahead|i will take it|i'll take it|send (them|it) through)\b"
)
_NO = re.compile(
    r"\b(no|nope|decline|not now|can't|cannot|can not|busy|later|reject|don't|do not)\b"
)


def spoken_answer(text: str) -> bool | None:
    """True for an acceptance ("Yes, put them through"), False for a refusal ("No, not
    now"), None when the words say neither, or both."""
    words = " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())
    words = words.replace("no problem", "sure")
    yes, no = _YES.search(words) is not None, _NO.search(words) is not None
    return None if yes == no else yes


def keyed_answer(digit: str) -> bool | None:
    """1 accepts, 2 declines, anything else says nothing."""
    return {"1": True, "2": False}.get(digit)


class ConsultDecision(Enum):
    """What the person asked to take the call did."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    NO_ANSWER = "no answer"
    """They answered the call but said nothing that decides, in time."""
    HUNG_UP = "hung up"
    """The consultation call ended before a decision."""
    FAILED = "failed"
    """The summary could not be said (text-to-speech failed)."""
    VOICEMAIL = "voicemail"
    """A voicemail (or another machine) answered: nobody took the call."""


@dataclass(frozen=True, slots=True)
class ConsultBrief:
    """What the person hears, and how long they have to answer.

    Attributes:
        intro: who is calling them ("Hello, this is the assistant with a call for you.").
        summary: the call so far, in a sentence or two (the assistant's words).
        prompt: how to answer ("Press 1 or say yes to take the call ...").
        answer_timeout: seconds after the prompt was heard before it is ``NO_ANSWER``.
    """

    intro: str
    summary: str
    prompt: str
    answer_timeout: float = 20.0

    @property
    def parts(self) -> tuple[str, ...]:
        """What is said, in order: the intro, the summary, the prompt (each a sentence or
        more, sent to text-to-speech on its own)."""
        return tuple(p.strip() for p in (self.intro, self.summary, self.prompt) if p.strip())

    @property
    def text(self) -> str:
        """Everything said, in order."""
        return " ".join(self.parts)


class ConsultAgent(Agent):
    """The consultation call's agent (see the module docstring).

    Args:
        call: the consultation call.
        brief: what it says.
        tts: its own text-to-speech client (not connected yet).
        stt: its own speech-to-text session (not connected yet), for spoken answers.
        decision: resolved with the person's decision (made by the warm transfer).
        record: where its lines go (the caller's call record).
        detection: the detector's thresholds (who answered: the module docstring).
    """

    def __init__(
        self,
        call: CallControl,
        brief: ConsultBrief,
        tts: TextToSpeech,
        stt: SpeechToText,
        decision: asyncio.Future[ConsultDecision],
        record: Callable[[dict[str, Any]], None],
        detection: AmdConfig | None = None,
    ) -> None:
        self.call = call
        self.brief = brief
        self.tts = tts
        self.stt = stt
        self.decision = decision
        self._record = record
        self.loop = asyncio.get_running_loop()
        self.playout = Playout(on_ready=call.audio_ready)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._hearing = False
        self._answered = False
        self.begun = False
        """A person was decided: the brief plays (it was held until then)."""
        # built when the call is answered: its audio counts from now
        self.detector: AnsweringMachineDetector | None = AnsweringMachineDetector(
            self.loop.time(), detection
        )
        self._policy = AnswerPolicy(AmdMode.HANG_UP)
        self._detection_timer: asyncio.TimerHandle | None = None
        self._arm_detection()

    async def prepare(self) -> None:
        """Connect text-to-speech (needed) and speech-to-text (without it, keys only)."""
        hearing = asyncio.ensure_future(self.stt.connect())
        await self.tts.connect()
        try:
            await hearing
        except Exception as exc:  # keys still work
            log.warning("consultation call: speech-to-text unavailable (%s): keys only", exc)
        else:
            self._hearing = True
            self._spawn(self._listen())

    def on_answered(self) -> None:
        """The call is answered and the agent ready: the brief is synthesized, and plays
        once a person is decided (at once if they were already)."""
        self._answered = True
        self.playout.held = not self.begun
        self._record({"type": "consult", "stage": "answered", "text": self.brief.text})
        self._spawn(self._say(self.brief.parts))

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: it listens at arrival."""

    def on_caller_audio(self, frame: bytes) -> None:
        """The person's audio, to detection and speech-to-text."""
        detector = self.detector
        if detector is not None:
            now = self.loop.time()
            self._detected(detector.receive_audio(frame, now), now)
        if self._hearing and not self.decision.done():
            self.stt.send_audio(frame)

    def next_frame(self) -> bytes | None:
        """The brief's audio, then silence."""
        return self.playout.next_frame(self.loop.time())

    def on_dtmf(self, digit: str) -> None:
        """1 accepts, 2 declines."""
        answer = keyed_answer(digit)
        if answer is not None:
            self._decide(ConsultDecision.ACCEPTED if answer else ConsultDecision.DECLINED,
                         f"key {digit}")  # fmt: skip

    async def close(self, reason: str = "") -> None:
        """The consultation call ended (or was joined): stop listening and speaking."""
        self._decide(ConsultDecision.HUNG_UP, reason or "ended")
        self._stop_detecting()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.stt.close(), self.tts.close(), return_exceptions=True)

    # -- inside

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _decide(self, decision: ConsultDecision, why: str) -> None:
        if self.decision.done():
            return
        self.decision.set_result(decision)
        self._record({"type": "consult", "stage": "decided", "decision": decision.value,
                      "by": why})  # fmt: skip
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _say(self, parts: tuple[str, ...]) -> None:
        reply = self.tts.start_reply()
        playout = self.playout
        playout.begin(reply.id)
        try:
            for part in parts:
                playout.add_text(reply.id, part)
                await reply.send_text(part)
            await reply.finish()
            async for chunk in reply.audio():
                playout.push_audio(reply.id, chunk.audio, chunk.text, reply.format)
        except TtsError as exc:
            log.warning("consultation call: the summary could not be said: %s", exc)
            self._decide(ConsultDecision.FAILED, "text-to-speech failed")
            return
        finally:
            playout.finish(reply.id)
        playout.when_played(reply.id, self._prompt_heard)

    def _prompt_heard(self, complete: bool) -> None:
        self._record({"type": "consult", "stage": "asked", "heard": complete})
        if not self.decision.done():
            self._timer = self.loop.call_later(self.brief.answer_timeout, self._decide,
                                               ConsultDecision.NO_ANSWER, "timeout")  # fmt: skip

    # -- who answered

    def _detected(self, events: tuple[AmdEvent, ...], now: float) -> None:
        """The detector's events: recorded, then what the policy makes of them."""
        detector = self.detector
        if detector is None:
            return
        for event in events:
            if isinstance(event, AnswerClassified):
                self._record({"type": "consult", "stage": "answered_by",
                              "kind": event.kind.value, "reason": event.reason,
                              "elapsed_ms": round(event.elapsed * 1000)})  # fmt: skip
        classifier = detector.classifier
        speaking = classifier.in_speech  # a person decided mid-sentence is begun on after it
        for action in self._policy.receive(events, classifier.evidence, callee_speaking=speaking):
            if isinstance(action, BeginConversation):
                self._begin()
            elif isinstance(action, StopSpeaking):
                self.begun = False
                self.playout.held = True  # it may be a machine after all: wait
            elif isinstance(action, HangUp):
                self._machine(action.kind)
        if self.detector is None:
            return
        last = classifier.last_voice
        greeting_over = not classifier.in_speech and (
            last is None or now - last >= detector.config.greeting_gap
        )
        if detector.done or self._policy.finished or (self.begun and greeting_over):
            self._stop_detecting()  # what they say now answers the question
        elif any(isinstance(event, AnswerClassified) for event in events):
            self._arm_detection()

    def _begin(self) -> None:
        self.begun = True
        if not self._answered:
            return  # the brief plays once the call is answered
        self.playout.release()

    def _machine(self, kind: AnswerKind) -> None:
        self._stop_detecting()
        self.playout.held = True
        self._decide(ConsultDecision.VOICEMAIL, f"answered by {kind.value}")

    def _arm_detection(self) -> None:
        if self._detection_timer is not None:
            self._detection_timer.cancel()
            self._detection_timer = None
        due = self.detector.get_timer() if self.detector is not None else None
        if due is not None:
            self._detection_timer = self.loop.call_at(due, self._detection_due)

    def _detection_due(self) -> None:
        self._detection_timer = None
        detector = self.detector
        if detector is not None:
            now = self.loop.time()
            self._detected(detector.handle_timer(now), now)
            if self.detector is not None and self._detection_timer is None:
                self._arm_detection()

    def _stop_detecting(self) -> None:
        if self._detection_timer is not None:
            self._detection_timer.cancel()
            self._detection_timer = None
        self.detector = None

    def _heard(self, event: SttEvent) -> None:
        """A transcript, to detection while it runs (its words tell machines)."""
        detector = self.detector
        if detector is not None and isinstance(event, SttPartialTranscript | SttTurnEnded):
            now = self.loop.time()
            self._detected(detector.receive_stt(event, now), now)

    async def _listen(self) -> None:
        with contextlib.suppress(Exception):
            async for event in self.stt.events():
                # words said before the brief began answer nothing, even when they are
                # what decides a person (a quiet "Hello?" known by its transcript)
                begun = self.begun
                self._heard(event)
                if isinstance(event, SttTurnEnded) and begun and not self.decision.done():
                    answer = spoken_answer(event.text)
                    self._record({"type": "consult", "stage": "heard", "text": event.text})
                    if answer is not None:
                        decision = ConsultDecision.ACCEPTED if answer else ConsultDecision.DECLINED
                        self._decide(decision, "words")
