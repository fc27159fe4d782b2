"""The recognizer's words of a greeting (sipgw/agent/amd/transcripts.py)."""

from __future__ import annotations

from sipgw.agent.amd.transcripts import Transcripts


def test_partials_replace_each_other_and_turns_read_in_order() -> None:
    words = Transcripts()
    assert words.receive("world", 1, False, 0.0) is None
    words.receive("hel", 0, False, 0.0)
    words.receive("hello", 0, False, 0.0)
    assert words.full() == "hello world"
    assert words.open_turns == {0, 1}
    assert words.mid_sentence()


def test_a_final_closes_its_turn_and_may_claim_a_persons_turn() -> None:
    words = Transcripts()
    words.receive("Hello?", 0, False, 0.0)
    claim = words.receive("Hello?", 0, True, 1.5)
    assert claim == "question"
    assert (words.turn_claim, words.went_on_from, words.greeting_finals) == ("question", 1.5, 1)
    assert words.open_turns == set()
    assert not words.mid_sentence()
    assert words.say_person()
    words.new_greeting()
    assert (words.turn_claim, words.greeting_finals) == (None, 0)


def test_a_tone_announced_stays_announced() -> None:
    words = Transcripts()
    words.receive("please leave a message after the tone", 0, False, 0.0)
    assert words.tone_announced
    words.receive("the person you are calling cannot take your call right now", 1, True, 0.0)
    assert words.tone_announced
    assert words.turn_claim is None
    assert not words.say_person()
