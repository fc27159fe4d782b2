"""Ending the caller's turn early on the voice detector's silence, sans-IO.

Theory of operation
-------------------
The speech-to-text service ends a turn on its own: AssemblyAI's Universal-3 Pro after
``min_turn_silence`` when the words end a sentence, else after ``max_turn_silence``, and
its final transcript comes a model latency later. The gateway's own detector hears the
caller go quiet at once, frame by frame. :class:`EarlyTurnEnd` decides, for the
turn-taking machine (``agent/turns/machine.py``), when that silence is enough to ask the service
to finalize now (AssemblyAI's ``ForceEndpoint``: the turn ends with the words heard so
far, docs/cloud-apis.md); the service's own end of turn stays the fallback whenever it
asks nothing.

Modes (:class:`EarlyEndMode`):

* ``off``: never (the service decides alone).
* ``vad``: after ``silence_ms`` of the detector's silence following speech in the turn.
* ``vad+text``: the same, unless the turn's latest partial transcript leaves the sentence
  open (:func:`sentence_open`: it ends in a conjunction, a preposition, an article, a
  filler, or a comma or dash): "I'd like a table for ..." is a pause in a sentence, not
  its end; or unless a partial came in this quiet spell without a sentence end: that is
  the service's own verdict (Universal-3 Pro sends a partial after ``min_turn_silence``
  exactly when the words end no sentence, and ends the turn when they do). Without a
  partial it decides as ``vad``.
* ``model``: after ``silence_ms`` of silence the turn model
  (:mod:`sipgw.media.voice.turn_model`) is asked, from the audio before the pause (the pitch,
  the level's fall, final lengthening) and, when the service sent a partial in the turn,
  its words; its probability that the caller is finished sets how long the pause must
  last (the weights' graded wait, :meth:`~sipgw.media.voice.turn_model.TurnModel.wait_ms`: a
  likely end after 200-300 ms, a middling one after 500-700 ms, an unlikely one never,
  left to the service). Speech within the wait goes on with the turn (the next pause is
  asked anew), and so does the service's end of turn; a partial that came in this quiet
  spell without a sentence end, before the question or within the wait, is the service's
  verdict, as in ``vad+text``: nothing is asked. A partial that ends a sentence, later in
  the same quiet spell, is weighed anew: the pause's audio features are kept, so only its
  words are new (a few microseconds), and its wait counts from the pause's start: the turn
  ends at once (:meth:`EarlyTurnEnd.partial` says so) when the pause is already that long,
  at the wait's frame when not, never when the new words say "not yet". The call's last
  1.6 s of audio are kept
  (:class:`~sipgw.media.voice.turn_tail.TurnTail`), and the quiet frames before the decision
  measure the pitch it will read, a share each, so no frame costs much over a millisecond
  of CPU (the model asked from scratch: 10 ms; docs/quality.md has the figures).

* ``words``: after ``silence_ms`` of silence in a turn, unless a partial came in this quiet
  spell without a sentence end (the service's verdict, as in ``vad+text``) and its words
  (after any held ones) read unfinished to :mod:`sipgw.agent.turns.text`'s scorer, the turn
  ends *tentatively*: the final the service sends back carries every word said so far, and
  the turn-taking machine answers it only when those words end a sentence (the same
  scorer); otherwise it holds them and joins them to the caller's next words
  (``agent/turns/machine.py``). The partials the service sends while the caller talks are a model
  latency old and say little at a pause; the forced final says it all, 100-200 ms later.

A partial in a quiet spell is the service's verdict only when it is news of the caller:
words that are new (not the turn's previous partial's words, nor fewer of them) after the
detector heard speech since that partial. Any other describes audio from before the pause
(the early partial of the caller's last words, a model latency late, landing in the first
quiet frames; the same words sent again) and leaves the quiet spell as it was: the decision
is the one it would be without it. In ``words`` mode a verdict that came before the service
can have heard its ``min_turn_silence`` (``verdict_after_ms``, less
:data:`DETECTOR_SLACK_MS`) is weighed by the text scorer: it may be the early partial of
the caller's last words come late, so finished words force the end all the same; one that
came after it is the service's verdict on the silence and stands, whatever the scorer
reads (Universal-3 Pro sent it because its own words end no sentence there).

It asks once per quiet spell (and again on such a partial), and only in a turn: after the
detector heard speech (``speaking`` and a loud frame) since the service's last end of turn.
An end of turn that arrives while the caller talks again (a forced one, a model latency
late) leaves the new speech armed. Frames are counted as time (one per 20 ms), so the decision is
exact on an injected clock and costs one comparison per frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Final

from sipgw.agent.turns.words import extends, normalized_words
from sipgw.media.voice.turn_model import TurnModel
from sipgw.media.voice.turn_tail import TurnTail
from sipgw.media.voice.vad import FRAME_MS

__all__ = [
    "DETECTOR_SLACK_MS",
    "OPEN_ENDINGS",
    "SERVICE_MIN_TURN_SILENCE_MS",
    "EarlyEndMode",
    "EarlyTurnEnd",
    "early_turn_end",
    "sentence_open",
]

SERVICE_MIN_TURN_SILENCE_MS: Final = 100
"""Universal-3 Pro's ``min_turn_silence`` when the client sets none: its partial of a pause
(the verdict that the words end no sentence) comes no sooner."""
DETECTOR_SLACK_MS: Final = 40
"""How much sooner the service's silence may begin than the gateway detector's (the two
disagree by a frame or two where a last syllable fades)."""


class EarlyEndMode(Enum):
    """When the gateway ends a turn before the speech-to-text service would."""

    OFF = "off"
    VAD = "vad"
    VAD_TEXT = "vad+text"
    MODEL = "model"
    WORDS = "words"


OPEN_ENDINGS: Final = frozenset(
    {
        "and", "but", "or", "so", "because", "if", "then", "than", "that", "which", "who",
        "when", "while", "where", "although", "though", "unless", "until", "since",
        "the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "these",
        "to", "of", "for", "with", "in", "on", "at", "from", "by", "about", "into", "like",
        "um", "uh", "er", "erm", "hmm", "mm", "uhm", "ah", "is", "are", "was", "i", "i'm",
        "we", "you", "it's", "i'd", "i'll", "can", "could", "would", "will", "want",
    }
)  # fmt: skip
"""Last words after which a sentence goes on (a pause there is the caller thinking)."""

_OPEN_MARKS: Final = (",", ";", ":", "-", "\u2014", "\u2013", "...", "\u2026")
_WORD: Final = re.compile(r"[\w']+")
_ENDS: Final = (".", "?", "!")


def sentence_open(text: str) -> bool:
    """Whether a transcript's words leave the sentence open ("a table for", "so, um,")."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped.endswith(_OPEN_MARKS):
        return True
    if stripped.endswith(_ENDS):
        return False
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] in OPEN_ENDINGS


class EarlyTurnEnd:
    """One call's early end-of-turn policy; see the module docstring.

    Args:
        mode: off, vad, vad+text, model or words.
        silence_ms: the detector's silence after which the turn ends.
        model: the turn model's weights (``model`` mode); the shipped ones by default.
        verdict_after_ms: the service's ``min_turn_silence``: a partial in a quiet spell
            shorter than this (less :data:`DETECTOR_SLACK_MS`) cannot be its verdict on
            the silence (``words`` mode weighs its words).
        bar: ``model`` mode: the turn ends at the decision when the model is at least this
            sure, else it is left to the service, instead of the weights' graded wait
            (ConversationRelay's ``eotThreshold``); None: the graded wait.
    """

    __slots__ = (
        "_armed", "_audio", "_due", "_fresh", "_quiet", "_silence_frames", "_spoke", "_tail",
        "_verdict_frames", "_words", "bar", "last_probability", "last_wait_ms", "mode",
    )  # fmt: skip

    def __init__(
        self, mode: EarlyEndMode = EarlyEndMode.OFF, silence_ms: int = 200,
        model: TurnModel | None = None, verdict_after_ms: int = SERVICE_MIN_TURN_SILENCE_MS,
        bar: float | None = None,
    ) -> None:  # fmt: skip
        self.mode = mode
        self.bar = bar
        self._silence_frames = max(1, silence_ms // FRAME_MS)
        # the quiet frames before which a partial cannot be the service's verdict
        self._verdict_frames = max(0, verdict_after_ms - DETECTOR_SLACK_MS) // FRAME_MS
        self._armed = False  # speech in the turn, no end asked for since
        self._words: str | None = None  # the turn's latest partial transcript
        self._fresh = False  # a partial of the current quiet spell said the sentence goes on
        self._spoke = False  # the detector heard speech since the latest partial
        # model mode: the call's recent audio, and the latest decision's probability
        self._tail = TurnTail(model) if mode is EarlyEndMode.MODEL else None
        self.last_probability: float | None = None
        self.last_wait_ms: int | None = None  # ... and the wait it set (None: none)
        self._due: int | None = None  # model: the quiet frame that ends the turn
        self._audio: list[float] | None = None  # model: this quiet spell's audio features
        self._quiet = 0  # the latest quiet frame's count

    def _wait(self, model: TurnModel, probability: float, with_text: bool) -> int | None:
        """The pause (ms) after which the turn ends at ``probability``; None: never early."""
        if self.bar is None:
            return model.wait_ms(probability, with_text)
        return 0 if probability >= self.bar else None

    @property
    def tentative(self) -> bool:
        """The turn it ends is tentative (``words``): the final's words decide whether it
        is answered (:mod:`sipgw.agent.turns.machine` holds it when they go on)."""
        return self.mode is EarlyEndMode.WORDS

    @property
    def silence_ms(self) -> int:
        """The silence that ends a turn, in whole frames."""
        return self._silence_frames * FRAME_MS

    def hear(self, frame: bytes) -> None:
        """Every frame of the caller's audio (μ-law, 20 ms), before :meth:`speech` or
        :meth:`quiet` for it: kept for the turn model (``model`` mode; else nothing)."""
        if self._tail is not None:
            self._tail.push(frame)

    def speech(self) -> None:
        """A loud frame while the detector says speech: the caller speaks in a turn."""
        self._armed = True
        self._fresh = False
        self._spoke = True
        self._due = None
        self._audio = None

    def partial(
        self, text: str, *, quiet: bool, finished: Callable[[str], bool] | None = None
    ) -> bool:
        """A partial transcript of the current turn; ``quiet``: the caller's latest frame
        was quiet (a partial of the silence that follows their words); ``finished``: the
        turn's text scorer (``words`` mode: whether the words, as the forced end's final
        would carry them, end the turn). True when the turn must end now (``model`` mode:
        a partial after this quiet spell's decision is weighed anew, and its graded wait
        is already over)."""
        said_open = self._goes_on(text, quiet, finished)
        audio = self._audio
        tail = self._tail
        if audio is None or tail is None or not quiet:
            return False
        if not text.rstrip().endswith(_ENDS):
            if said_open:  # the service heard the silence: open
                self._armed = False
                self._due = self._audio = None
            return False  # else words of the audio before the pause: the decision stands
        self.last_probability = probability = tail.model.probability(audio, text)
        wait = self._wait(tail.model, probability, bool(text.strip()))
        self.last_wait_ms = wait
        if wait is None:
            self._armed = False
            self._due = None
            return False
        due = -(-wait // FRAME_MS)
        if due <= self._quiet:
            self._armed = False
            self._due = self._audio = None
            return True
        self._armed = True
        self._due = due
        return False

    def turn_ended(self, caller_loud: bool) -> None:
        """The service ended a turn; ``caller_loud``: the caller's latest frame was loud
        (they went on after a forced end: their new speech stays a turn)."""
        self._words = None
        self._fresh = False
        self._due = self._audio = None
        if not caller_loud:
            self._armed = self._spoke = False

    def quiet(self, quiet_frames: int) -> bool:
        """A quiet frame, the ``quiet_frames``-th since the last loud one: True when the
        turn must end now (once per quiet spell)."""
        self._quiet = quiet_frames
        if not self._armed:
            return False
        tail = self._tail
        if quiet_frames != self._silence_frames:
            if quiet_frames == self._due:  # model: the graded wait is over
                self._armed = False
                self._due = None
                if self._service_said_open():
                    return False
                self._audio = None
                return True
            if tail is not None and quiet_frames < self._silence_frames:
                tail.prepare(quiet_frames, self._silence_frames - quiet_frames)
            return False
        mode = self.mode
        if mode is EarlyEndMode.OFF:
            return False
        words = self._words
        if tail is not None:
            if self._service_said_open():
                self._armed = False
                return False
            self._audio = audio = tail.features(quiet_frames)
            self.last_probability = probability = tail.model.probability(audio, words)
            wait = self._wait(tail.model, probability, bool(words and words.strip()))
            self.last_wait_ms = wait
            due = None if wait is None else max(quiet_frames, -(-wait // FRAME_MS))
            if due is None or due == quiet_frames:
                self._armed = False  # a later partial in this quiet spell asks again
                if due is not None:
                    self._audio = None
                return due is not None
            self._due = due
            return False
        if mode is EarlyEndMode.WORDS and self._service_said_open():
            self._armed = False
            return False
        if mode is EarlyEndMode.VAD_TEXT and words is not None:
            if sentence_open(words):
                return False
            if self._fresh:
                return False  # the service heard the silence and ended no sentence
        self._armed = False
        return True

    def _service_said_open(self) -> bool:
        """A partial came in this quiet spell and ends no sentence: the service heard the
        silence and goes on listening (Universal-3 Pro's verdict), see :meth:`_goes_on`."""
        return self._fresh

    def _goes_on(self, text: str, quiet: bool, finished: Callable[[str], bool] | None) -> bool:
        """Take in a partial: whether it is this quiet spell's verdict that the sentence
        goes on. Only a partial with new words (not those of the turn's previous partial,
        nor fewer) after the detector heard speech since that one is news of the caller:
        any other came late with words of the audio before the pause (the early partial of
        the caller's last words landing in the first quiet frames, the same words sent
        again) and leaves the quiet spell's verdict as it was. New words that end no
        sentence are the verdict, unless (``words`` mode) they came before the service can
        have heard its ``min_turn_silence`` (the early partial of the caller's last words,
        late) and the scorer reads them finished: the caller has not gone on since the pause
        began, and the words say finished. After it the service's verdict stands."""
        previous, self._words = self._words, text
        spoke, self._spoke = self._spoke, False
        if not quiet:
            self._fresh = False
            return False
        words = normalized_words(text)
        if (
            not words
            or not spoke
            or (previous is not None and extends(normalized_words(previous), words))
        ):
            return False
        self._fresh = not text.rstrip().endswith(_ENDS) and not (
            self.mode is EarlyEndMode.WORDS
            and finished is not None
            and self._quiet < self._verdict_frames
            and finished(text)
        )
        return self._fresh


def early_turn_end(
    mode: EarlyEndMode,
    silence_ms: int,
    service_check_s: float | None = None,
    bar: float | None = None,
) -> EarlyTurnEnd | None:
    """The policy for one call; None when off (the machine's frames skip it altogether).

    ``service_check_s``: the STT's ``turn_check_silence`` (None: unknown, taken as
    :data:`SERVICE_MIN_TURN_SILENCE_MS`); ``bar``: :class:`EarlyTurnEnd`'s."""
    if mode is EarlyEndMode.OFF:
        return None
    verdict_after_ms = (
        SERVICE_MIN_TURN_SILENCE_MS if service_check_s is None else round(service_check_s * 1000)
    )
    return EarlyTurnEnd(mode, silence_ms, verdict_after_ms=verdict_after_ms, bar=bar)
