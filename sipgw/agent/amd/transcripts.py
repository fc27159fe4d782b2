"""What a speech recognizer heard of the callee's greeting: turns, sentences, claims (sans-IO).

Partials of a turn replace each other; the text judged is every turn's latest, in order.
A turn's final is a finished sentence, which may be a person's turn
(:func:`~sipgw.agent.amd.phrases.persons_turn`: a question, a name, a greeting's short
first sentence). :class:`sipgw.agent.amd.classifier.AnswerClassifier` decides what the
words mean; this module keeps them.
"""

from __future__ import annotations

from sipgw.agent.amd.phrases import announces_tone, names_speaker, persons_turn

__all__ = ["Transcripts"]


class Transcripts:
    """One answered call's transcripts.

    Attributes:
        turns: each turn's latest text, by turn number.
        open_turns: turns heard in part, their final words not yet.
        sentence_ended: a turn's final has come: a sentence was finished.
        greeting_finals: finished sentences of the current greeting.
        turn_claim: the last finished sentence was a person's turn: its kind (None: not).
        went_on_from: the greeting's length when its last sentence finished.
        tone_announced: the words said a tone would come.
    """

    def __init__(self) -> None:
        self.turns: dict[int, str] = {}
        self.open_turns: set[int] = set()
        self.sentence_ended = False
        self.greeting_finals = 0
        self.turn_claim: str | None = None
        self.went_on_from = 0.0
        self.tone_announced = False

    def receive(self, text: str, turn: int, final: bool, greeting_before: float) -> str | None:
        """Turn ``turn``'s text so far (a partial) or whole (``final``); ``greeting_before``:
        the length of the greeting's finished stretches. Returns the person's turn a final
        claims (None: none, or a partial)."""
        self.turns[turn] = text
        if final:
            self.open_turns.discard(turn)
        else:
            self.open_turns.add(turn)
        claim = None
        if final:
            self.sentence_ended = True
            claim = persons_turn(text, first=self.greeting_finals == 0)
            self.greeting_finals += 1
            self.turn_claim = claim
            self.went_on_from = greeting_before  # what goes on after it is measured
        self.tone_announced = self.tone_announced or announces_tone(self.full())
        return claim

    def new_greeting(self) -> None:
        """A new greeting began: its sentences are counted afresh."""
        self.greeting_finals, self.turn_claim = 0, None

    def full(self) -> str:
        """Every turn's latest text, in order."""
        return " ".join(self.turns[k] for k in sorted(self.turns))

    def mid_sentence(self) -> bool:
        """The recognizer has sent words, and no turn's final yet: the callee's first
        sentence goes on (without words, nothing tells a sentence from a recording)."""
        return bool(self.turns) and not self.sentence_ended

    def say_person(self) -> bool:
        """The words so far introduce the speaker ("..., this is Joe,"), or the finished
        sentence is a person's turn (a question, a name): a person's long pickup says who
        they are or asks; a recording's long sentence, or a screener's question before its
        words come, says neither yet."""
        if self.sentence_ended and self.turn_claim is not None:
            return True
        return names_speaker(self.full())
