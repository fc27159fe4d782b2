"""Tentative ends of turn: a forced end's final answered only when its words are whole.

The rules are :mod:`sipgw.agent.turns.machine`' ("Tentative ends"): the final that answers a
forced end (``early_end`` in ``words`` mode) is answered when its words end a sentence and
the caller has not gone on; otherwise its words are held for the caller's next turn, or
answered on their own after :data:`HELD_TURN_MS` of quiet. A reply to a tentative end that
the caller talks over is paused at once. :class:`TentativeEnds` keeps that state;
:class:`~sipgw.agent.turns.machine.TurnTaker` tells it of the forced ends, the finals and the
caller going on.
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.turns.actions import NOTHING, AgentState, TurnAction
from sipgw.agent.turns.pause import BargeInPause
from sipgw.agent.turns.text import AfterAgent
from sipgw.media.voice.vad import FRAME_MS

__all__ = ["HELD_TURN_MS", "TAIL_MAX_MS", "TAIL_MIN_MS", "TentativeEnds"]

HELD_TURN_MS: Final = 1000
"""A tentative turn held for its unfinished words (``early_end`` ``words``) is answered
after this much quiet since the caller's last loud frame if they say nothing more (the
service's own wait for an unfinished sentence, ``max_turn_silence``)."""

TAIL_MIN_MS: Final = 100
"""The shortest time from a forced end to the end of a tail's words (:data:`TAIL_MAX_MS`):
a word said after the force, not the end of one said before it."""
TAIL_MAX_MS: Final = 1000
"""A tail of a sentence the early end split ("please?", "you."): the next final after a
tentative end whose reply is still queued (or whose words are held), when the words of that
end reached the forced end (the caller was talking when the detector's silence ended the
turn) and the final's own words end :data:`TAIL_MIN_MS` to this long after it (said straight
on: :meth:`TentativeEnds.tail`). A caller's tail ends a few hundred ms after the force; a
room's turn right after a caller who had finished follows words that ended before it."""


class TentativeEnds:
    """One call's tentative ends of turn.

    Args:
        agent: the agent's side (is the reply to a tentative end started, heard).
        words: whether a tentative end's words end the turn.

    Attributes:
        forced: a forced end that is tentative awaits its final.
        resumed: the caller went on since that forced end.
        held: the words held for the caller's next turn, if any.
        reply: the active reply answers a tentative end.
        unsure: the words held include a forced end's the room gate took for the room's.
    """

    __slots__ = (
        "_final_ms",
        "_forced_ms",
        "_reply_ms",
        "agent",
        "forced",
        "held",
        "reply",
        "resumed",
        "unsure",
        "words",
    )

    def __init__(self, agent: AgentState, words: AfterAgent) -> None:
        self.agent = agent
        self.words = words
        self.forced = False
        self.resumed = False
        self.held: str | None = None
        self.reply = False
        self.unsure = False
        self._forced_ms = 0  # the stream's position at the latest forced end (ms)
        self._reply_ms: int | None = None  # at the forced end the active reply answers
        self._final_ms: int | None = None  # where the latest final's words end

    def forced_end(self, tentative: bool, stream_frames: int = 0) -> None:
        """The machine just forced an end of turn (tentative or not), ``stream_frames`` into
        the audio stream the STT hears."""
        self.forced = tentative
        self.resumed = False
        self._forced_ms = stream_frames * FRAME_MS

    def tail(self, event: SttTurnEnded) -> bool:
        """Whether the STT's final ``event`` is the tail of the sentence whose first part the
        active tentative reply answers, or whose first part is held (:data:`TAIL_MAX_MS`):
        the caller's, whatever the room gate counted of it (held words open it). Each final
        is given here before it is settled."""
        start, end = self._reply_ms, event.audio_end_ms
        self._final_ms = end
        if not (self.reply or self.held is not None) or start is None or end is None:
            return False
        return TAIL_MIN_MS <= end - start <= TAIL_MAX_MS

    def held_turn(self, quiet_frames: int) -> str | None:
        """The held words, to answer now after ``quiet_frames`` of quiet (nothing more
        came); None while they wait, or when none are held."""
        held = self.held
        if held is None or self.unsure or quiet_frames * FRAME_MS < HELD_TURN_MS:
            return None  # words the gate took for the room's wait for the next final
        self.held = None
        self.reply = True  # still tentative: the caller may go on
        self._reply_ms = None  # no forced end just before: nothing is its tail
        return held

    def went_on(
        self,
        now: float,
        loud_frames: int,
        resumed_frames: int,
        pause: BargeInPause,
        run_ms: int = 0,
        went: int | None = None,
    ) -> tuple[TurnAction, ...]:
        """The caller talks again after a tentative end (``resumed_frames`` loud frames
        in a row; any loud frame while its reply is not heard yet): its final, still to
        come, is held; a reply to it that has started is paused. ``run_ms``: the
        detector's speech in its current run (0 when it hears none), which may have begun
        before the reply (its hangover after the turn the reply answers): only the
        ``loud_frames`` since the pause's onset are the speech paused. ``went``: of those
        loud frames in a row, the ones that are the caller's (with the room gate, near their
        level: the room's voices after a forced end are not the caller going on; None: all);
        ``resumed_frames`` of them say the caller went on."""
        if (loud_frames if went is None else went) >= resumed_frames:
            self.resumed = self.forced
        if (
            self.reply
            and pause.paused_at is None
            and self.agent.active_reply_started_at() is not None
        ):
            onset = now - loud_frames * FRAME_MS / 1000
            before = max(0, run_ms - loud_frames * FRAME_MS)
            return pause.pause(now, onset, unheard=not self.agent.audible, speech_before_ms=before)
        return NOTHING

    def reads_finished(self, text: str) -> bool:
        """Whether a forced end's final of ``text`` (a partial's words: the held ones open
        it) would read finished now, as :meth:`final` scores it."""
        held = self.held
        if held is not None and text.strip():
            text = f"{held} {text.strip()}"
        return bool(text.strip()) and self.words.finished(text)

    def settle(self, text: str, room: bool, piece: bool = True) -> tuple[str | None, str | None]:
        """The STT's final ``text`` with the room gate's verdict (``room``): the words to
        answer and those to record as the room's (None: none). Not the room's: :meth:`final`.
        The room's, the answer to a forced end, with some of the caller's speech in it
        (``piece``): :meth:`final` too, its words held as the caller's would be (a piece of
        a sentence the early end split off holds little of the caller's speech; the next
        final decides for the words joined) or, answered, the room's. The room's otherwise:
        the words held are answered on their own (:meth:`room_final`), unless such a piece
        of the room's is among them: then they are the room's too."""
        if not room:
            words = self.final(text)
            self.unsure = self.unsure and self.held is not None
            return words, None
        if self.forced and piece:
            words = self.final(text)
            self.unsure = words is None  # held, though the gate took them for the room's
            self.reply = False  # no reply: answered, they are the room's
            return None, words
        if self.unsure and self.held is not None:
            held, self.held, self.unsure = self.held, None, False
            self.forced = self.reply = False
            return None, f"{held} {text.strip()}"
        return self.room_final(), text

    def room_final(self) -> str | None:
        """The STT's final was the room's (``room_gate``): the words held for the caller's
        next turn, to answer now (taken from the hold), or None. They were held because
        the room's sound looked like the caller going on, or read unfinished: either way
        the caller has not said more since. Their reply is no tentative one: the room's
        sound that goes on would pause it as the caller going on."""
        held, self.held = self.held, None
        self.forced = self.reply = False
        return held

    def final(self, text: str) -> str | None:
        """The STT's final ``text``: the words to answer (the held ones first), or None:
        nothing to answer, or held (the caller goes on, or will)."""
        forced, self.forced = self.forced, False
        self.reply = False
        held = self.held
        if held is not None and text.strip():
            text = f"{held} {text.strip()}"  # the held words open this turn
        if not text.strip():
            return None
        if forced:
            end = self._final_ms  # the words reached the force: it split the caller's speech
            self._reply_ms = self._forced_ms if end is not None and end >= self._forced_ms else None
            if self.resumed or not self.words.finished(text):
                self.held = text  # the caller goes on (or will): no reply yet
                return None
            self.reply = True
        self.held = None
        return text
