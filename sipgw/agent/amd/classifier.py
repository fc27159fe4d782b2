"""Who answered an outbound call: a person, a voicemail, an announcement or a call screener.

Theory of operation
-------------------
:class:`AnswerClassifier` is sans-IO. It is told when the call was answered,
then, each with the time ``now``: whether each 20 ms of the callee's audio is
voice (:meth:`~AnswerClassifier.receive_frame`, from a voice-activity
detector, tones left out), the beeps and special information tones heard
(:meth:`~AnswerClassifier.receive_tone`, from :mod:`sipgw.media.tones.beep`), and the
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

The classifier keeps the decisions; it measures the speech's stretches and greetings with
a :class:`~sipgw.agent.amd.cadence.Cadence`, keeps the recognizer's words in
:class:`~sipgw.agent.amd.transcripts.Transcripts`, and a
:class:`~sipgw.agent.amd.message_cue.MessageCue` finds when the message may start. What
it reports is :mod:`sipgw.agent.amd.events`'s (importable from here too).
"""

from __future__ import annotations

from sipgw.agent.amd.cadence import EPSILON as _EPSILON
from sipgw.agent.amd.cadence import Cadence
from sipgw.agent.amd.events import (
    AmdEvent,
    AnswerClassified,
    AnswerKind,
    Evidence,
    ReadyForMessage,
)
from sipgw.agent.amd.message_cue import MessageCue
from sipgw.agent.amd.phrases import CATEGORIES, Category, match, word_count
from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.amd.transcripts import Transcripts
from sipgw.media.tones.beep import BeepDetected, BeepEvent

__all__ = [
    "AmdEvent",
    "AnswerClassified",
    "AnswerClassifier",
    "AnswerKind",
    "Evidence",
    "ReadyForMessage",
]

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
    """

    def __init__(self, started_at: float, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self.started_at = started_at
        self.decision: AnswerClassified | None = None
        self._strength = (Evidence.DEADLINE, 0)  # of the current decision
        self.cadence = Cadence(self.config)
        """The callee's stretches and greetings (:mod:`sipgw.agent.amd.cadence`)."""
        self.words = Transcripts()
        """The recognizer's turns and sentences (:mod:`sipgw.agent.amd.transcripts`)."""
        self._machines_only = False  # greeted: only a machine's words or a tone revise
        self._held: str | None = None  # a length-only machine not decided yet: its reason
        self.cue = MessageCue(started_at, self.config, self.cadence, self.words)
        """When a voicemail or screener is ready for the message (agent/amd/message_cue.py)."""
        self._now = started_at

    @property
    def ready(self) -> ReadyForMessage | None:
        """The :class:`ReadyForMessage` reported, if any."""
        return self.cue.ready

    @property
    def evidence(self) -> Evidence | None:
        """The strongest evidence behind the current decision (None before the first):
        evidence that agrees with a decision strengthens it without a new event."""
        return None if self.decision is None else self._strength[0]

    @property
    def in_speech(self) -> bool:
        """The callee is speaking (a stretch has begun and not ended)."""
        return self.cadence.in_speech

    @property
    def last_voice(self) -> float | None:
        """End of the last voiced frame of speech heard (None before any)."""
        return self.cadence.last_voice

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
            self.cue.last_tone = now
        events: list[AmdEvent] = []
        config = self.config
        cadence = self.cadence
        if voice:
            if cadence.voiced(now):
                self.words.new_greeting()
            if (
                cadence.in_speech
                and cadence.greeting_length() > config.max_human_greeting + _EPSILON
            ):
                events += self._propose(
                    AnswerKind.VOICEMAIL, Evidence.LENGTH, 0, "long greeting", now, hold=True
                )
        elif (length := cadence.unvoiced(now)) is not None:
            if config.min_speech - _EPSILON <= length <= config.max_human_greeting + _EPSILON:
                events += self._propose(
                    AnswerKind.HUMAN, Evidence.CADENCE, 0, "short greeting", now
                )
            elif self.decision is None and self._held is not None and self.words.say_person():
                events += self._pause_after_a_long_greeting(now)
        events += self.handle_timer(now)
        return tuple(events)

    def receive_tone(self, tone: BeepEvent, now: float) -> tuple[AmdEvent, ...]:
        """A beep or a special information tone, as :mod:`sipgw.media.tones.beep` reports them."""
        self._now = now
        if not isinstance(tone, BeepDetected):
            return self._propose(
                AnswerKind.ANNOUNCEMENT, Evidence.TONE, 0, "special information tone", now
            )
        self.cue.beep = tone
        return self._propose(AnswerKind.VOICEMAIL, Evidence.TONE, 0, "beep", now) or (
            self.cue.check(self.decision, now)
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
        if self.cadence.in_speech or self.cadence.last_voice is None:
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
        words = self.words
        claim = words.receive(text, turn, final, self.cadence.greeting_before)
        full = words.full()
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
            elif self.decision is not None or not self.cadence.in_speech:
                self._held = None  # a person's turn: they wait for an answer
                if self.decision is None:
                    reason = _CLAIMS[claim]
                    events += self._propose(AnswerKind.HUMAN, Evidence.CADENCE, 0, reason, now)
            # else the stretch is ending: its pause decides (a person's, the claim made)
        elif final and claim is not None and self.decision is None and not self.cadence.in_speech:
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
            cadence = self.cadence
            if cadence.last_voice is None and not cadence.in_speech:
                kind, reason = AnswerKind.UNKNOWN, "silence"
            elif cadence.greeting_length() <= config.max_human_greeting + _EPSILON:
                kind, reason = AnswerKind.HUMAN, "short speech at the deadline"
            else:
                kind, reason = AnswerKind.VOICEMAIL, "long speech at the deadline"
            return self._propose(kind, Evidence.DEADLINE, 0, reason, now)
        return self.cue.check(self.decision, now)

    # -- decisions

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
        cadence = self.cadence
        if cadence.in_speech or cadence.last_voice is None:
            return limit
        return min(limit, cadence.last_voice + config.words_wait)

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
            and (self.words.mid_sentence() or self._went_on_briefly())
        )

    def _went_on_briefly(self) -> bool:
        """After a question, the greeting went on for no more than a person's pickup
        (``max_human_greeting``): a person unanswered asks again ("Hello? | Can you hear
        me?"); a recording's next sentence soon runs longer. (After a name, a greeting
        that goes on is a recording's: a person who said who they are waits.)"""
        words = self.words
        went_on = self.cadence.greeting_length() - words.went_on_from
        return words.turn_claim == "question" and went_on <= self.config.max_human_greeting

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
        if self.words.turn_claim is None or not self.words.sentence_ended:
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
        events += self.cue.check(self.decision, now)
        return tuple(events)
