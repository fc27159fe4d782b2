"""Tentative ends of turn (agent/turns/tentative.py)."""

from __future__ import annotations

from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.turns.actions import PAUSE
from sipgw.agent.turns.pause import BargeInPause
from sipgw.agent.turns.tentative import HELD_TURN_MS, TAIL_MAX_MS, TAIL_MIN_MS, TentativeEnds
from sipgw.agent.turns.text import AfterAgent
from sipgw.media.voice.vad import FRAME_MS


class Agent:
    def __init__(self, started_at: float | None = None, audible: bool = False) -> None:
        self.started_at = started_at
        self.audible = audible
        self.pending = audible

    def active_reply_started_at(self) -> float | None:
        return self.started_at


def test_a_final_not_forced_is_answered_as_it_is() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    assert ends.final("I want to") == "I want to"
    assert ends.final("  ") is None
    assert not ends.reply


def test_a_forced_final_is_answered_only_when_its_words_end_a_sentence() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.final("My order number is 42.") == "My order number is 42."
    assert ends.reply and not ends.forced
    ends.forced_end(True)
    assert ends.final("I want to") is None  # unfinished: held
    assert ends.held == "I want to" and not ends.reply
    assert ends.final("change my order.") == "I want to change my order."  # it opens the next
    assert ends.held is None


def test_a_forced_final_the_caller_talked_over_is_held() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.went_on(1.0, 3, 3, BargeInPause(None)) == ()  # no reply to pause
    assert ends.resumed
    assert ends.final("My order number is 42.") is None
    assert ends.held == "My order number is 42."


def test_held_words_are_answered_after_enough_quiet() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    assert ends.held_turn(10_000) is None  # nothing held
    ends.forced_end(True)
    ends.final("I want to")
    frames = HELD_TURN_MS // FRAME_MS
    assert ends.held_turn(frames - 1) is None
    assert ends.held_turn(frames) == "I want to"
    assert ends.held is None and ends.reply  # still tentative: the caller may go on


def test_a_started_reply_to_a_tentative_end_pauses_when_the_caller_goes_on() -> None:
    ends = TentativeEnds(Agent(started_at=1.0, audible=False), AfterAgent(str))
    ends.forced_end(True)
    ends.final("My order number is 42.")
    pause = BargeInPause(400)
    assert ends.went_on(2.0, 1, 3, pause) == PAUSE  # one frame is enough before it is heard
    assert pause.paused_at == 2.0 and pause.onset_at == 2.0 - FRAME_MS / 1000
    assert pause.unheard  # never ducked
    assert not ends.resumed  # fewer loud frames than the VAD's start: the final is not held
    assert ends.went_on(2.1, 3, 3, pause) == ()  # paused already


def test_a_pause_within_the_detectors_run_counts_only_the_speech_since_its_onset() -> None:
    ends = TentativeEnds(Agent(started_at=1.0, audible=False), AfterAgent(str))
    ends.forced_end(True)
    ends.final("My order number is 42.")
    pause = BargeInPause(None)
    ends.went_on(2.0, 2, 3, pause, run_ms=640)  # the run over the turn, and 2 loud frames
    assert pause.speech_before_ms == 640 - 2 * FRAME_MS
    pause.clear()
    ends.went_on(3.0, 0, 3, pause, run_ms=600)  # a soft frame in the run's hangover
    assert pause.speech_before_ms == 600 and pause.onset_at == 3.0
    pause.clear()
    ends.went_on(4.0, 3, 3, pause, run_ms=40)  # a run begun with these frames: all of it
    assert pause.speech_before_ms == 0


def test_the_rooms_final_answers_the_callers_held_words_alone() -> None:
    """Words held because the room's sound after the forced end looked like the caller going
    on: the room's final (the gate's verdict) is recorded, the held words answered alone."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    ends.went_on(1.0, 3, 3, BargeInPause(None))
    assert ends.settle("My order number is 42.", room=False) == (None, None)  # held
    assert ends.settle("Good evening.", room=True) == ("My order number is 42.", "Good evening.")
    assert ends.held is None and not ends.reply and not ends.forced


def test_a_forced_piece_the_gate_doubts_is_held_and_decided_with_the_next_final() -> None:
    """A piece the early end split off holds little of the caller's speech: it is held as
    ever; the caller's next final answers the words joined."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.settle("Wait, that", room=True) == (None, None)
    assert ends.held == "Wait, that" and ends.unsure
    assert ends.held_turn(10_000) is None  # not answered on its own after the quiet
    assert ends.settle("is not the address I gave you.", room=False) == (
        "Wait, that is not the address I gave you.",
        None,
    )
    assert ends.held is None and not ends.unsure


def test_a_doubted_piece_goes_with_the_rooms_next_final() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.settle("So I told him that the", room=True) == (None, None)
    assert ends.settle("meeting had moved.", room=True) == (
        None,
        "So I told him that the meeting had moved.",
    )
    assert ends.held is None and not ends.unsure


def test_a_forced_final_of_finished_words_the_gate_takes_for_the_rooms_is_recorded() -> None:
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.settle("Good evening.", room=True) == (None, "Good evening.")
    assert ends.held is None and not ends.reply


def test_a_forced_final_with_none_of_the_callers_speech_is_the_rooms() -> None:
    """A forced end's final of the room's with none of the caller's speech near their level
    (``piece`` false: a piece of the café's line) is recorded, not held: held, it was
    answered in front of the caller's next sentence."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True)
    assert ends.settle("So I told him that the", room=True, piece=False) == (
        None,
        "So I told him that the",
    )
    assert ends.held is None and not ends.unsure and not ends.forced
    assert ends.settle("Wait, that is not the address I gave you.", room=False) == (
        "Wait, that is not the address I gave you.",
        None,
    )


FORCED_AT = 100  # frames into the stream: the forced end, 2000 ms
FORCED_MS = FORCED_AT * FRAME_MS


def final(text: str, end_ms: int | None) -> SttTurnEnded:
    return SttTurnEnded(text, 0, (), 0.0, end_ms)


def tentative_reply(ends: TentativeEnds, words_end_ms: int | None) -> None:
    """A forced end at :data:`FORCED_MS`, its final (words ending at ``words_end_ms``)
    answered tentatively."""
    ends.forced_end(True, FORCED_AT)
    first = final("Hold on, can you repeat the last part.", words_end_ms)
    assert not ends.tail(first)
    assert ends.final(first.text) == first.text and ends.reply


def test_a_tail_after_a_split_sentence_is_the_rest_of_it() -> None:
    """The words the tentative reply answers reached the forced end (the caller was talking
    at it); the next final's words end soon after the force: the sentence's tail."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    tentative_reply(ends, FORCED_MS)
    ends.forced_end(True, FORCED_AT + 20)  # the tail's own forced end changes nothing
    assert ends.tail(final("please?", FORCED_MS + 340))
    for end_ms in (FORCED_MS + TAIL_MIN_MS - 20, FORCED_MS + TAIL_MAX_MS + 20, None):
        ends = TentativeEnds(Agent(), AfterAgent(str))
        tentative_reply(ends, FORCED_MS)
        assert not ends.tail(final("please?", end_ms))


def test_no_tail_after_a_caller_who_had_finished_before_the_force() -> None:
    """The TV's "Good evening." right after a finished sentence: the words answered ended
    before the forced end, so nothing after it is their tail."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    tentative_reply(ends, FORCED_MS - FRAME_MS)
    assert not ends.tail(final("Good evening.", FORCED_MS + 300))
    ends = TentativeEnds(Agent(), AfterAgent(str))
    tentative_reply(ends, None)  # no word timings: no tail either
    assert not ends.tail(final("please?", FORCED_MS + 300))


def test_no_tail_once_the_tentative_reply_is_settled() -> None:
    """Only the next final after the tentative reply may be its tail; nor is there one after
    held words answered on their own (no forced end just before)."""
    ends = TentativeEnds(Agent(), AfterAgent(str))
    tentative_reply(ends, FORCED_MS)
    assert ends.final("Yes.") == "Yes."
    assert not ends.tail(final("please?", FORCED_MS + 300))
    ends = TentativeEnds(Agent(), AfterAgent(str))
    ends.forced_end(True, FORCED_AT)
    assert not ends.tail(final("I want to", FORCED_MS))
    assert ends.final("I want to") is None
    assert ends.held_turn(HELD_TURN_MS // FRAME_MS) == "I want to" and ends.reply
    assert not ends.tail(final("change it.", FORCED_MS + 300))


def test_a_tail_after_held_words_joins_them() -> None:
    """The caller went on after the forced end, so its words were held ("Wait, that is not
    the address I gave"); the next final ends soon after the force ("you."): their tail,
    joined to them whatever the gate counted. After held words that ended before the force,
    the next final is judged on its own."""
    for words_end_ms, joined in ((FORCED_MS, True), (FORCED_MS - FRAME_MS, False)):
        ends = TentativeEnds(Agent(), AfterAgent(str))
        ends.forced_end(True, FORCED_AT)
        assert not ends.tail(final("I want to", words_end_ms))
        assert ends.final("I want to") is None and ends.held == "I want to"
        ends.forced_end(True, FORCED_AT + 15)  # the tail's own forced end
        assert ends.tail(final("change it.", FORCED_MS + 300)) is joined
