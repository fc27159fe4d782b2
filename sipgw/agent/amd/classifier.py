"""Who answered an outbound call: a person, a voicemail, an announcement or a call screener.

Theory of operation
-------------------
:class:`AnswerClassifier` is sans-IO. It is told when the call was answered,
then, each with the time ``now``: whether each 20 ms of the callee's audio is
voice (:meth:`~AnswerClassifier.receive_frame`, from a voice-activity
detector, tones left out), the beeps and special information tones heard
(:meth:`~AnswerClassifier.receive_tone`, from :mod:`sipgw.media.beep`), and the
speech recognizer's transcripts (:meth:`~AnswerClassifier.receive_transcript`).
Each call returns the events it caused: :class:`AnswerClassified` (the first
decision, then any revision) and, for a voicemail or a screener,
:class:`ReadyForMessage` (the agent may speak now).

The evidence, weakest first (:class:`Evidence`):

* ``DEADLINE``: nothing decided ``deadline`` after the answer: no speech at
  all is ``unknown``; a little speech a person; more a voicemail.
* ``CADENCE``: a *stretch* is speech with pauses shorter than ``human_silence``
  (its length runs from its first voiced frame to its last, pauses included);
  a *greeting* is stretches with pauses shorter than ``greeting_gap`` (its
  length is its stretches'). A stretch that ends with its greeting no longer
  than ``max_human_greeting`` is a person's "Hello?": decided at once, no added
  wait. A finished sentence that is a person's turn (below) when the voice
  detector heard nothing (a quiet "Hello?") is one too.
* ``LENGTH``: a greeting with more than ``max_human_greeting`` of speech, or
  ``machine_words`` words without a person's phrase, or a phrase only machines
  say but that does not tell which (:attr:`~sipgw.agent.amd.phrases.Category.MACHINE`:
  "is not available", "has been forwarded", a number read digit by digit),
  or a steady tone sounding ``tone_onset`` once the greeting has paused (a beep
  before it ends: :meth:`~AnswerClassifier.receive_tone_sounding`), is a
  recorded greeting. Before anything is decided, length alone (not the
  phrase) is *held*: a person may answer with a long greeting whose last words
  name them ("Hello, Doctor Smith's office, how can I help you?"), and those
  words come from the recognizer after the speech ends. A held decision is made
  ``words_wait`` after the voice stops, when the greeting goes on after a pause,
  at the deadline, or before a weaker one; words that come first decide instead.
  A held greeting that pauses once its words say who speaks ("..., this is
  Joe,") or its finished sentence is a person's turn is a person ("pause after
  a long greeting"): the length stays held until its finished sentence comes.
  Words that say neither (a recording's long sentence, a screener's question
  before its phrase arrives) keep it held: the pause alone is no person's.
* *A person's turn*: a finished sentence that is a question, introduces the
  speaker, or is a greeting's short first sentence
  (:func:`~sipgw.agent.amd.phrases.persons_turn`) is one a person stops after
  and waits: the silence after it is their turn, not a greeting's pause. It
  drops the held length (the person stands), and a greeting that goes on after
  it is revised on length only once the next sentence's words come and are no
  such turn ("Hi, it's Nina! | I'm out surfing.": a machine; "Hello? | Is this
  a good time?": a person).
* ``WORDS``: the transcript's phrases (:mod:`sipgw.agent.amd.phrases`), categories
  in order of precedence.
* ``TONE``: a beep is a voicemail; a special information tone an announcement.

A decision is revised when stronger evidence says otherwise, or, among
phrases, one of higher precedence does. "Hi, it's Nina! I'm out surfing." is
first a person (the pause after "Nina!" comes before anything else is known),
then a voicemail once the next sentence makes the greeting too long, a second
later, or once its words arrive. Otherwise a decision is never revised by
evidence of its own strength or less. Revisions stop ``settle`` after the
answer, or once a voicemail is ready for the message; but a machine's words
(a voicemail's, an announcement's, a screener's phrase) and tones revise a
person until ``max_greeting`` after the answer, and once :meth:`~AnswerClassifier.greeted`
(the conversation began and the greeting is over) they are the only evidence
that still does.

A voicemail is *ready for the message* at the beep's end (reported when the
beep detector is sure, about 120 ms later), or after ``greeting_end_silence``
of silence (a tone is no silence) once the greeting ends, or ``max_greeting``
after the answer; a screener once its prompt is followed by
``prompt_end_silence``. A greeting whose words promised a tone ("... after the
tone") waits ``announced_beep_wait`` of silence instead: the message never
starts before a beep it was told of, unless none comes by then. So does one
whose words are not all known yet (a recognizer's turn heard in part, its
final transcript still to come): the silence starts the message once they
come and promise no tone, or after ``announced_beep_wait``.

The frames are counted as time: one call per 20 ms, in order; ``now`` is the
end of the frame's audio. Nothing reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TypeAlias

from sipgw.agent.amd.phrases import (
    CATEGORIES,
    Category,
    announces_tone,
    match,
    names_speaker,
    persons_turn,
    word_count,
)
from sipgw.agent.amd.settings import AmdConfig
from sipgw.media.beep import BeepDetected, BeepEvent

__all__ = [
    "AmdEvent",
    "AnswerClassified",
    "AnswerClassifier",
    "AnswerKind",
    "Evidence",
    "ReadyForMessage",
]

FRAME = 0.02
_EPSILON = 1e-6  # frame times are sums of 0.02: compare them with slack


class AnswerKind(Enum):
    """Who or what answered."""

    HUMAN = "human"
    VOICEMAIL = "voicemail"
    """A greeting after which a message can be left."""
    ANNOUNCEMENT = "announcement"
    """A carrier's or a system's message: no one to talk to, no message to leave."""
    SCREENER = "screener"
    """A phone's call screening asks who is calling and why (iOS, Google Call Screen)."""
    UNKNOWN = "unknown"
    """Silence until the deadline."""

    @property
    def is_machine(self) -> bool:
        """Voicemail, announcement or screener."""
        return self in (AnswerKind.VOICEMAIL, AnswerKind.ANNOUNCEMENT, AnswerKind.SCREENER)


class Evidence(IntEnum):
    """What a decision rests on, weakest first."""

    DEADLINE = 0
    CADENCE = 1
    LENGTH = 2
    WORDS = 3
    TONE = 4


@dataclass(frozen=True, slots=True)
class AnswerClassified:
    """A decision: the first one (``revision`` 0) or a revision of the one before."""

    kind: AnswerKind
    at: float
    """When it was decided (the time of the input that decided it)."""
    elapsed: float
    """Seconds after the answer."""
    reason: str
    """In words: "short greeting", "phrase 'leave a message'", "beep", ..."""
    evidence: Evidence
    revision: int


@dataclass(frozen=True, slots=True)
class ReadyForMessage:
    """A voicemail is recording, or a screener waits for an answer: the agent may speak."""

    kind: AnswerKind
    at: float
    cause: str
    """"beep", "silence" (the greeting or prompt ended) or "timeout" (``max_greeting``)."""
    greeting_end: float | None
    """End of the last speech heard before (None if there was none)."""
    beep: BeepDetected | None


AmdEvent: TypeAlias = AnswerClassified | ReadyForMessage
"""Everything the classifier reports."""

_KINDS: dict[Category, AnswerKind] = {
    Category.SCREENER: AnswerKind.SCREENER,
    Category.ANNOUNCEMENT: AnswerKind.ANNOUNCEMENT,
    Category.VOICEMAIL: AnswerKind.VOICEMAIL,
    Category.HUMAN: AnswerKind.HUMAN,
    Category.GREETING: AnswerKind.VOICEMAIL,
    Category.UNREACHABLE: AnswerKind.ANNOUNCEMENT,
    Category.MACHINE: AnswerKind.VOICEMAIL,
}
_PRECEDENCE: dict[Category, int] = {c: len(CATEGORIES) - i for i, c in enumerate(CATEGORIES)}
_CLAIMS = {"question": "a question, then silence", "name": "a name, then silence",
           "short": "a short sentence, then silence"}  # fmt: skip


class AnswerClassifier:
    """One answered call's classification; see the module docstring.

    Attributes:
        started_at: when the call was answered.
        decision: the current decision (None until the first).
        ready: the :class:`ReadyForMessage` reported, if any.
    """

    def __init__(self, started_at: float, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self.started_at = started_at
        self.decision: AnswerClassified | None = None
        self.ready: ReadyForMessage | None = None
        self._strength = (Evidence.DEADLINE, 0)  # of the current decision
        self._onset_frames = max(1, round(self.config.onset / FRAME))
        self._run = 0  # voiced frames in a row
        self._in_speech = False  # in a stretch
        self._stretch_start = 0.0
        self._greeting_before = 0.0  # length of the current greeting's finished stretches
        self._last_voice: float | None = None  # end of the last voiced frame of speech
        self._turns: dict[int, str] = {}
        self._sentence_ended = False  # a turn's final has come: a sentence was finished
        self._greeting_finals = 0  # finished sentences of the current greeting
        self._turn_claim: str | None = None  # the last one was a person's turn: its kind
        self._machines_only = False  # greeted: only a machine's words or a tone revise
        self._went_on_from = 0.0  # the greeting's length when its last sentence finished
        self._held: str | None = None  # a length-only machine not decided yet: its reason
        self._beep: BeepDetected | None = None  # heard, not yet the cue for a message
        self._tone_announced = False  # the words said a tone would come: it is waited for
        self._open_turns: set[int] = set()  # turns heard in part, their final words not yet
        self._last_tone = -math.inf  # end of the last frame of a tone
        self._now = started_at

    @property
    def evidence(self) -> Evidence | None:
        """The strongest evidence behind the current decision (None before the first):
        evidence that agrees with a decision strengthens it without a new event."""
        return None if self.decision is None else self._strength[0]

    @property
    def in_speech(self) -> bool:
        """The callee is speaking (a stretch has begun and not ended)."""
        return self._in_speech

    @property
    def last_voice(self) -> float | None:
        """End of the last voiced frame of speech heard (None before any)."""
        return self._last_voice

    @property
    def done(self) -> bool:
        """Nothing more will be reported: a voicemail or screener is ready for the message,
        or another decision is past ``settle``."""
        if self.ready is not None:
            return True
        decision = self.decision
        if decision is None or decision.kind in (AnswerKind.VOICEMAIL, AnswerKind.SCREENER):
            return False
        if decision.kind is AnswerKind.ANNOUNCEMENT:
            return self._settled(self._now)
        # a person (or silence): a machine's words or a beep may still revise it
        return self._now + _EPSILON >= self.started_at + self.config.max_greeting

    # -- inputs

    def receive_frame(self, now: float, voice: bool, tone: bool = False) -> tuple[AmdEvent, ...]:
        """The 20 ms of the callee's audio that end at ``now``: voice or not, tone or not.

        ``tone``: the frame is part of a steady tone (``BeepDetector.in_tone``); the
        silence that makes a voicemail ready is counted from its end, so the message
        never starts on a beep the beep detector has not confirmed yet.
        """
        self._now = now
        if tone:
            self._last_tone = now
        events: list[AmdEvent] = []
        config = self.config
        if voice:
            self._run += 1
            if self._in_speech:
                self._last_voice = now
            elif self._run >= self._onset_frames:
                self._in_speech = True
                onset = now - self._run * FRAME
                if self._last_voice is None or onset - self._last_voice >= config.greeting_gap:
                    self._greeting_before = 0.0  # a new greeting
                    self._greeting_finals, self._turn_claim = 0, None
                self._stretch_start = onset
                self._last_voice = now
            if self._in_speech and self._greeting_length() > config.max_human_greeting + _EPSILON:
                events += self._propose(
                    AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, "long greeting", now, hold=True
                )
        else:
            self._run = 0
            if (
                self._in_speech
                and self._last_voice is not None
                and now - self._last_voice + _EPSILON >= config.human_silence
            ):
                length = self._greeting_length()
                self._greeting_before = length
                self._in_speech = False
                if config.min_speech - _EPSILON <= length <= config.max_human_greeting + _EPSILON:
                    events += self._propose(
                        AnswerKind.HUMAN, Evidence.CADENCE, 0, "short greeting", now
                    )
                elif self.decision is None and self._held is not None and self._words_say_person():
                    events += self._pause_after_a_long_greeting(now)
        events += self.handle_timer(now)
        return tuple(events)

    def receive_tone(self, tone: BeepEvent, now: float) -> tuple[AmdEvent, ...]:
        """A beep or a special information tone, as :mod:`sipgw.media.beep` reports them."""
        self._now = now
        if not isinstance(tone, BeepDetected):
            return self._propose(
                AnswerKind.ANNOUNCEMENT, Evidence.TONE, 0, "special information tone", now
            )
        self._beep = tone
        return self._propose(AnswerKind.VOICEMAIL, Evidence.TONE, 0, "beep", now) or (
            self._check_ready(now)
        )

    def receive_tone_sounding(self, seconds: float, now: float) -> tuple[AmdEvent, ...]:
        """A steady tone has sounded for ``seconds`` up to ``now`` (``BeepDetector.sounding``):
        once that reaches ``tone_onset`` after the callee's voice paused, a beep is most
        likely sounding (speech holds no tone that long): a voicemail, decided as a long
        greeting is (a person's words still revise it), before the beep ends; the message
        waits for the beep itself (:meth:`receive_tone`)."""
        self._now = now
        if seconds + _EPSILON < self.config.tone_onset:
            return ()
        if self._in_speech or self._last_voice is None:
            return ()  # a tone before any greeting: a special information tone, perhaps
        return self._propose(AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, "a tone sounding", now)

    def receive_transcript(
        self, text: str, now: float, *, turn: int = 0, final: bool = False
    ) -> tuple[AmdEvent, ...]:
        """A speech recognizer's transcript of turn ``turn`` so far (a partial) or whole.

        Partials of a turn replace each other; the text judged is every turn's
        latest, in order; a partial's words count as much as a final's. A ``final`` (a
        finished sentence, formatted) may also be a person's turn
        (:func:`~sipgw.agent.amd.phrases.persons_turn`: a question, a name, a greeting's
        short first sentence): the silence after it is theirs, so a long greeting held
        for its words is a person, not a machine, and its revision on length waits for
        the next sentence.
        """
        self._now = now
        self._turns[turn] = text
        if final:
            self._open_turns.discard(turn)
        else:
            self._open_turns.add(turn)
        claim = None
        if final:
            self._sentence_ended = True
            claim = persons_turn(text, first=self._greeting_finals == 0)
            self._greeting_finals += 1
            self._turn_claim = claim
            self._went_on_from = self._greeting_before  # what goes on after it is measured
        full = " ".join(self._turns[k] for k in sorted(self._turns))
        self._tone_announced = self._tone_announced or announces_tone(full)
        found = match(full)
        if found is not None and found.category is not Category.MACHINE:
            kind = _KINDS[found.category]
            reason = f"phrase '{found.phrase}'"
            return self._propose(kind, Evidence.WORDS, _PRECEDENCE[found.category], reason, now)
        if found is not None:
            reason = f"phrase '{found.phrase}'"
            return self._propose(AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, reason, now)
        events: tuple[AmdEvent, ...] = ()
        if claim is None and word_count(full) >= self.config.machine_words:
            events = self._propose(
                AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, "many words", now, hold=not final
            )
        if final and self._held is not None:
            if claim is None:
                events += self._release_held(now)  # a finished sentence named no person
            elif self.decision is not None or not self._in_speech:
                self._held = None  # a person's turn: they wait for an answer
                if self.decision is None:
                    reason = _CLAIMS[claim]
                    events += self._propose(AnswerKind.HUMAN, Evidence.CADENCE, 0, reason, now)
            # else the stretch is ending: its pause decides (a person's, the claim made)
        elif final and claim is not None and self.decision is None and not self._in_speech:
            # words, and no voice heard (a quiet "Hello?" under the VAD's threshold)
            events += self._propose(AnswerKind.HUMAN, Evidence.CADENCE, 0, _CLAIMS[claim], now)
        return events

    def greeted(self) -> None:
        """The conversation began on a person and their greeting is over: from now on
        only a machine's words (a voicemail's, an announcement's, a screener's) or a
        tone revise the decision, until ``max_greeting`` after the answer; what the
        person says in the conversation is never taken for a long greeting."""
        self._machines_only = True
        self._held = None

    @property
    def machines_only(self) -> bool:
        """:meth:`greeted` was called."""
        return self._machines_only

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run if no frame comes first (None: never)."""
        held = self._held_until()
        if self.decision is None:
            deadline = self.started_at + self.config.deadline
            return deadline if held is None else held
        if held is not None:
            return held
        if self.ready is None and self.decision.kind in (AnswerKind.VOICEMAIL, AnswerKind.SCREENER):
            return self.started_at + self.config.max_greeting
        return None

    def handle_timer(self, now: float) -> tuple[AmdEvent, ...]:
        """The deadline and the greeting's time limit (also checked on every frame)."""
        self._now = max(self._now, now)
        config = self.config
        held = self._held_until()
        if held is not None:
            if now + _EPSILON >= held:
                return self._release_held(now)  # no words named a person in time
            return ()
        if self.decision is None:
            if now + _EPSILON < self.started_at + config.deadline:
                return ()
            if self._last_voice is None and not self._in_speech:
                kind, reason = AnswerKind.UNKNOWN, "silence"
            elif self._greeting_length() <= config.max_human_greeting + _EPSILON:
                kind, reason = AnswerKind.HUMAN, "short speech at the deadline"
            else:
                kind, reason = AnswerKind.VOICEMAIL, "long speech at the deadline"
            return self._propose(kind, Evidence.DEADLINE, 0, reason, now)
        return self._check_ready(now)

    # -- decisions

    def _greeting_length(self) -> float:
        """The current greeting's stretches, the one going on included."""
        if not self._in_speech or self._last_voice is None:
            return self._greeting_before
        return self._greeting_before + self._last_voice - self._stretch_start

    def _settled(self, now: float) -> bool:
        return now + _EPSILON >= self.started_at + self.config.settle

    def _held_until(self) -> float | None:
        """When the held length-only decision is made if no words come first (None:
        none held): ``words_wait`` after the voice stops; while the callee still
        speaks, ``hold_past_deadline`` after the deadline."""
        if self._held is None:
            return None
        config = self.config
        limit = self.started_at + config.deadline + config.hold_past_deadline
        if self._in_speech or self._last_voice is None:
            return limit
        return min(limit, self._last_voice + config.words_wait)

    def _holds_revision(self) -> bool:
        """A person decided on cadence is not revised on length alone while their first
        sentence goes on (its last words may name them: "..., how can I help you?"), nor
        after a question until the next sentence's words come: "Hello? | Is this a good
        time?" is a person."""
        return (
            self.config.words_wait > 0
            and self.decision is not None
            and self.decision.kind is AnswerKind.HUMAN
            and self._strength[0] < Evidence.LENGTH
            and (self._mid_sentence() or self._went_on_briefly())
        )

    def _went_on_briefly(self) -> bool:
        """After a question, the greeting went on for no more than a person's pickup
        (``max_human_greeting``): a person unanswered asks again ("Hello? | Can you hear
        me?"); a recording's next sentence soon runs longer. (After a name, a greeting
        that goes on is a recording's: a person who said who they are waits.)"""
        went_on = self._greeting_length() - self._went_on_from
        return self._turn_claim == "question" and went_on <= self.config.max_human_greeting

    def _mid_sentence(self) -> bool:
        """The recognizer has sent words, and no turn's final yet: the callee's first
        sentence goes on (without words, nothing tells a sentence from a recording)."""
        return bool(self._turns) and not self._sentence_ended

    def _words_say_person(self) -> bool:
        """The recognizer's words so far introduce the speaker ("..., this is Joe,"), or
        its finished sentence is a person's turn (a question, a name): a person's long
        pickup says who they are or asks; a recording's long sentence, or a screener's
        question before its words come, says neither yet."""
        if self._sentence_ended and self._turn_claim is not None:
            return True
        return names_speaker(" ".join(self._turns[k] for k in sorted(self._turns)))

    def _pause_after_a_long_greeting(self, now: float) -> tuple[AmdEvent, ...]:
        """A held long greeting pauses (its words have started to come): a person who has
        finished ("Hello, this is Doctor Smith's office, how can I help you?", "Hi, this is
        Ana Lopez from accounts.") waits now, and their last words come only 0.2-0.4 s
        later; a recording goes on (the length, still held, is made at once then), or its
        finished sentence names no person's turn, or no words come for ``words_wait``:
        then it is a machine again."""
        held, self._held = self._held, None
        events = self._propose(
            AnswerKind.HUMAN, Evidence.CADENCE, 0, "pause after a long greeting", now
        )
        if self._turn_claim is None or not self._sentence_ended:
            self._held = held  # else its sentence, finished, was a person's turn
        return events

    def _release_held(self, now: float) -> tuple[AmdEvent, ...]:
        """Make the held length-only decision."""
        reason, self._held = self._held, None
        if reason is None:
            return ()
        return self._propose(AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, reason, now)

    def _propose(
        self,
        kind: AnswerKind,
        evidence: Evidence,
        precedence: int,
        reason: str,
        now: float,
        *,
        hold: bool = False,
    ) -> tuple[AmdEvent, ...]:
        """Decide (or revise); ``hold``: a length-only machine, held while nothing is
        decided yet (see the module docstring)."""
        current = self.decision
        if current is None:
            if hold and self.config.words_wait > 0:
                self._held = self._held or reason
                return ()
            if self._held is not None and evidence < Evidence.LENGTH:
                # a weaker answer (a short stretch) after a held length: the length
                kind, evidence, precedence, reason = (
                    AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, self._held,
                )  # fmt: skip
            self._held = None
            revision = 0
        else:
            strong = kind.is_machine and (
                evidence is Evidence.TONE
                or (evidence is Evidence.WORDS and precedence > _PRECEDENCE[Category.HUMAN])
            )
            weak_closed = self._settled(now) or self._machines_only
            if self.ready is not None or (not strong and weak_closed):
                return ()
            if now + _EPSILON >= self.started_at + self.config.max_greeting:
                return ()
            if hold and self._holds_revision():
                self._held = self._held or reason
                return ()
            if kind is current.kind:
                self._strength = max(self._strength, (evidence, precedence))
                if evidence > Evidence.LENGTH:
                    self._held = None  # words or a tone confirm it: nothing left to hold
                return ()
            stronger = evidence > self._strength[0] or (
                evidence == self._strength[0] == Evidence.WORDS and precedence > self._strength[1]
            )
            if not stronger:
                return ()
            revision = current.revision + 1
            self._held = None
        self._strength = (evidence, precedence)
        self.decision = AnswerClassified(
            kind, now, now - self.started_at, reason, evidence, revision
        )
        events: list[AmdEvent] = [self.decision]
        events += self._check_ready(now)
        return tuple(events)

    def _check_ready(self, now: float) -> tuple[AmdEvent, ...]:
        decision = self.decision
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
            if self._tone_announced or self._open_turns:
                wait = config.announced_beep_wait
        elif decision.kind is AnswerKind.SCREENER:
            wait = config.prompt_end_silence
        else:
            return ()
        if decision.kind is AnswerKind.VOICEMAIL and self._beep is not None:
            return (self._make_ready("beep", now),)
        if now + _EPSILON >= self.started_at + config.max_greeting:
            return (self._make_ready("timeout", now),)
        if self._in_speech or self._last_voice is None:
            return ()
        if now - max(self._last_voice, self._last_tone) + _EPSILON >= wait:
            return (self._make_ready("silence", now),)
        return ()

    def _make_ready(self, cause: str, now: float) -> ReadyForMessage:
        assert self.decision is not None
        beep = self._beep if cause == "beep" else None
        self.ready = ReadyForMessage(self.decision.kind, now, cause, self._last_voice, beep)
        return self.ready
