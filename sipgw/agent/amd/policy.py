"""What an outbound call does with the detector's answers: the ``amd`` modes as rules.

Theory of operation
-------------------
:class:`AnswerPolicy` is sans-IO. It is fed the detector's events
(:class:`~sipgw.agent.amd.classifier.AnswerClassified`,
:class:`~sipgw.agent.amd.classifier.ReadyForMessage`) together with the evidence the
current decision rests on, and says what the agent does, in order
(:data:`AnswerAction`): begin the conversation, stop speaking, leave the
message, answer a call screener, or hang up. The rules per mode
(:class:`~sipgw.agent.amd.settings.AmdMode`):

* ``detect``: nothing; the agent spoke from the answer, the result is only recorded.
* ``leave_message`` and ``hang_up``, a person (or silence until the deadline):
  begin at once. A person's "Hello?" is decided 240 ms after it ends, so that
  is all the wait a person gets. A person decided while still speaking (their
  "..., this is Kim speaking," arrives before their "how can I help you?")
  is begun on once they stop (the detector's stretch ends: 240 ms of silence),
  not over their words. A person who only paused ("Hi, | this is Ana.") and goes
  on while the agent begins is yielded to (:class:`YieldToCallee`): the agent
  stops, its opening starts over, and it begins again once they stop, at most
  :data:`MAX_YIELDS` times (then the assistant's barge-in takes it, as in the
  conversation), and only while the opening can start over (``can_start_over``:
  the agent's own state). That early decision is revised for about half
  the voicemail greetings ("Hi, it's Nina! ..."): the agent then stops speaking
  (:class:`StopSpeaking`) and goes on as for that machine. Beginning is cheap to
  undo; what cannot be undone (leaving the message, hanging up) waits for
  evidence that is not revised that way.
* ``leave_message``: a voicemail gets the message when the detector says it is
  ready (after its beep, or 2 s after its greeting ends), then the call ends; a
  screener gets an answer when its question is over (:class:`AnswerScreener`),
  and the agent listens again (a new round, ``after_screener``); an
  announcement is hung up on.
* ``hang_up``: every machine is hung up on, but only on the words or a tone:
  a greeting that is only *long* may be a person answering with one ("Hello,
  Doctor Smith's office, how can I help you?"), and is hung up on once its words
  or a beep say voicemail; if the greeting ends with neither, the agent begins
  (someone may be waiting for an answer).
* After a screener (``after_screener``), the screener's own "please stay on the
  line" is short, like a person's "Hello?": a person is begun on only once a
  finished transcript names no machine (:meth:`AnswerPolicy.person_confirmed`),
  or on the words.

Once the policy has left the message or hung up it is :attr:`~AnswerPolicy.finished`
and says nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from sipgw.agent.amd.events import (
    AmdEvent,
    AnswerClassified,
    AnswerKind,
    Evidence,
    ReadyForMessage,
)
from sipgw.agent.amd.settings import AmdMode

__all__ = [
    "AnswerAction",
    "AnswerPolicy",
    "AnswerScreener",
    "BeginConversation",
    "HangUp",
    "LeaveMessage",
    "StopSpeaking",
    "YieldToCallee",
]

MAX_YIELDS = 2
"""Times the agent yields to a callee who goes on after it began, in one round."""


@dataclass(frozen=True, slots=True)
class BeginConversation:
    """A person (it seems): the agent speaks now."""

    reason: str


@dataclass(frozen=True, slots=True)
class StopSpeaking:
    """The agent began on a person who turned out to be a machine: stop at once."""

    kind: AnswerKind


@dataclass(frozen=True, slots=True)
class YieldToCallee:
    """The agent began at a pause in the callee's greeting and they went on: it stops, its
    opening goes back to the start, and it begins again (:class:`BeginConversation`) once
    they stop."""


@dataclass(frozen=True, slots=True)
class LeaveMessage:
    """A voicemail records: say the message now, then hang up."""

    cause: str
    """What made it ready: "beep", "silence" or "timeout"."""


@dataclass(frozen=True, slots=True)
class AnswerScreener:
    """A call screener waits for the caller's name and reason: say them now."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """No one to talk to (or the mode hangs up on machines): end the call."""

    kind: AnswerKind


AnswerAction: TypeAlias = (
    BeginConversation | YieldToCallee | StopSpeaking | LeaveMessage | AnswerScreener | HangUp
)
"""What :class:`AnswerPolicy` asks the agent to do."""


class AnswerPolicy:
    """One round of detection's consequences for one call; see the module docstring.

    Args:
        mode: the call's ``amd`` mode (not ``off``: then nothing is detected).
        after_screener: this round listens after the agent answered a screener.

    Attributes:
        speaking: the conversation has begun (and was not stopped since).
        finished: the message was left or the call hung up: nothing more follows.
        yields: times the agent yielded to a callee who went on (:class:`YieldToCallee`).
    """

    __slots__ = (
        "_awaiting_words", "_begun_for", "_callee_speaking", "_deferred", "_machine",
        "after_screener", "finished", "mode", "speaking", "yields",
    )  # fmt: skip

    def __init__(self, mode: AmdMode, *, after_screener: bool = False) -> None:
        if mode is AmdMode.OFF:
            raise ValueError("AMD mode off detects nothing: no policy to run")
        self.mode = mode
        self.after_screener = after_screener
        self.speaking = mode is AmdMode.DETECT
        self.finished = False
        self._awaiting_words = False
        self._machine: AnswerKind | None = None  # the machine decided, while it stands
        self._callee_speaking = False
        self._deferred: str | None = None  # a begin's reason, waiting for the callee to stop
        self._begun_for = ""  # the reason the conversation began
        self.yields = 0

    def receive(
        self,
        events: tuple[AmdEvent, ...],
        evidence: Evidence | None,
        *,
        callee_speaking: bool = False,
        can_start_over: bool = False,
    ) -> tuple[AnswerAction, ...]:
        """The detector's ``events`` from one input, and the evidence its current
        decision rests on after them (evidence that agrees strengthens a decision
        without an event: a long greeting's words, a beep after them).

        ``callee_speaking``: the callee is in a stretch of speech after this input
        (:attr:`~sipgw.agent.amd.classifier.AnswerClassifier.in_speech`); a begin waits
        until an input after which they are not. Call it for every input, events
        or none. ``can_start_over``: the agent's opening, begun, can go back to its
        start (it has not played long, nor all of it): a callee who goes on over it
        then is yielded to.
        """
        if self.mode is AmdMode.DETECT:
            return ()
        went_on = callee_speaking and not self._callee_speaking
        self._callee_speaking = callee_speaking
        actions: list[AnswerAction] = []
        for event in events:
            if isinstance(event, AnswerClassified):
                actions += self._decided(event)
            else:
                actions += self._ready(event)
        if (
            self.mode is AmdMode.HANG_UP
            and not self.finished
            and evidence is not None
            and evidence >= Evidence.WORDS
            and self._machine is not None
        ):
            actions += self._hang_up(self._machine)
        if (
            went_on
            and can_start_over
            and self.speaking
            and not self.finished
            and self.yields < MAX_YIELDS
        ):
            actions += self._yield()
        if self._deferred is not None and not callee_speaking:
            actions += self._begin(self._deferred)
        return tuple(actions)

    @property
    def begin_waiting(self) -> bool:
        """A person was decided while speaking: the agent begins once they stop."""
        return self._deferred is not None

    @property
    def awaiting_words(self) -> bool:
        """After a screener, a person seems to speak: their words are waited for."""
        return self._awaiting_words

    def person_confirmed(self) -> tuple[AnswerAction, ...]:
        """After a screener: a finished transcript came and the decision is still a
        person (its words named no machine): begin."""
        if not self._awaiting_words or self.finished:
            return ()
        self._awaiting_words = False
        return self._begin("a person picked up after the screener")

    # -- rules

    def _decided(self, decision: AnswerClassified) -> list[AnswerAction]:
        if self.finished:
            return []
        kind = decision.kind
        if not kind.is_machine:
            self._machine = None
            if self.after_screener and decision.evidence is Evidence.CADENCE:
                self._awaiting_words = True  # "Please stay on the line." is short too
                return []
            return list(self._begin(decision.reason))
        self._machine = kind
        self._awaiting_words = False
        self._deferred = None
        actions: list[AnswerAction] = []
        if self.speaking:
            self.speaking = False
            actions.append(StopSpeaking(kind))
        if kind is AnswerKind.ANNOUNCEMENT:
            actions += self._hang_up(kind)  # decided on its words or its tone only
        return actions

    def _ready(self, ready: ReadyForMessage) -> list[AnswerAction]:
        if self.finished:
            return []
        if self.mode is AmdMode.HANG_UP:
            if ready.cause == "beep":
                return list(self._hang_up(AnswerKind.VOICEMAIL))
            # A long greeting that no word or tone called a machine: maybe a person
            # who answered with one, waiting now.
            return list(self._begin("a long greeting, then silence: maybe a person"))
        if ready.kind is AnswerKind.SCREENER:
            self.finished = True
            return [AnswerScreener()]
        self.finished = True
        return [LeaveMessage(ready.cause)]

    def _begin(self, reason: str) -> tuple[AnswerAction, ...]:
        if self.speaking or self.finished:
            self._deferred = None
            return ()
        if self._callee_speaking:
            self._deferred = reason
            return ()
        self._deferred = None
        self.speaking = True
        self._begun_for = reason
        return (BeginConversation(reason),)

    def _yield(self) -> tuple[AnswerAction, ...]:
        """The callee went on over the agent's beginning: stop, and begin again (for the
        same reason) once they stop."""
        self.yields += 1
        self.speaking = False
        self._deferred = self._begun_for
        return (YieldToCallee(),)

    def _hang_up(self, kind: AnswerKind) -> tuple[AnswerAction, ...]:
        self.finished = True
        return (HangUp(kind),)
