"""Who talked when, and what the caller lived through: the figures of sipgw.agent.talk."""

from __future__ import annotations

from sipgw.agent.talk import DEAD_AIR, SPANS_KEPT, WENT_ON_WITHIN, TalkTally, talk_figures


def test_a_clean_exchange_has_no_talk_over_no_interruption_no_dead_air() -> None:
    # Greeting 0.5-2.5, the caller 3.0-5.0, the reply 5.8-8.0, the caller again 8.6-9.0.
    figures = talk_figures([(3.0, 5.0), (8.6, 9.0)], [(0.5, 2.5), (5.8, 8.0)], 0.0, 10.0)
    assert figures.record() == {
        "caller_talk_s": 2.4, "agent_talk_s": 4.2, "talk_over_s": 0.0,
        "agent_interrupted": 0, "caller_cut_off": 0, "dead_air": 0, "dead_air_s": 0.0,
        "first_word_s": 0.5,
    }  # fmt: skip


def test_a_caller_who_talks_into_the_reply_interrupts_the_agent() -> None:
    # The reply 5.8-8.0; the caller cuts in at 7.0 and the agent stops at 7.3.
    figures = talk_figures([(3.0, 5.0), (7.0, 8.5)], [(5.8, 7.3)], 0.0, 9.0)
    assert figures.agent_interrupted == 1 and figures.caller_cut_off == 0
    assert figures.talk_over_s == 0.3


def test_a_reply_begun_while_the_caller_still_spoke_cut_them_off() -> None:
    figures = talk_figures([(3.0, 5.5)], [(5.2, 7.0)], 0.0, 8.0)
    assert figures.caller_cut_off == 1 and figures.agent_interrupted == 0
    assert figures.talk_over_s == 0.3


def test_a_caller_who_goes_on_at_once_after_the_reply_began_was_cut_off_not_interrupting() -> None:
    # "My parcel was sent on Monday" ... pause ... "and it still has not arrived": the
    # reply came in the pause and the caller went on 0.3 s into it.
    figures = talk_figures([(3.0, 5.0), (5.7, 7.0)], [(5.4, 6.0)], 0.0, 8.0)
    assert figures.caller_cut_off == 1 and figures.agent_interrupted == 0


def test_a_caller_who_talks_into_the_greeting_at_once_interrupts_it_they_had_said_nothing() -> None:
    figures = talk_figures([(0.8, 2.0)], [(0.5, 1.0)], 0.0, 3.0)
    assert figures.caller_cut_off == 0 and figures.agent_interrupted == 1


def test_a_caller_who_answers_the_reply_later_interrupts_it() -> None:
    later = 5.4 + WENT_ON_WITHIN + 0.1
    figures = talk_figures([(3.0, 5.0), (later, 7.0)], [(5.4, 6.5)], 0.0, 8.0)
    assert figures.caller_cut_off == 0 and figures.agent_interrupted == 1


def test_a_reply_playing_on_ducked_over_the_caller_cuts_nobody_off() -> None:
    """The reply pauses at the caller's speech, plays on softer until the barge-in commits:
    the caller interrupted it; its softer part is talk-over, not a new reply."""
    tally = TalkTally()
    tally.answered(0.0)
    tally.agent_started(5.0)
    tally.reply_started(5.0)
    tally.caller_started(7.0)
    tally.agent_stopped(7.08)  # paused at the detector's start
    tally.agent_started(7.28)  # undecided: plays on ducked
    tally.agent_stopped(7.62)  # the barge-in committed
    tally.caller_stopped(8.2)
    figures = tally.figures(9.0)
    assert figures is not None
    assert (figures.agent_interrupted, figures.caller_cut_off) == (1, 0)
    assert figures.talk_over_s == 0.42  # 0.08 s before the pause, 0.34 s ducked


def test_silence_after_the_caller_is_dead_air_silence_after_the_agent_is_not() -> None:
    # The caller stops at 5.0, the reply comes at 7.5 (2.5 s of dead air); the reply ends
    # at 9.0 and the caller thinks for 3 s: their turn, not dead air.
    figures = talk_figures([(3.0, 5.0), (12.0, 13.0)], [(0.5, 2.0), (7.5, 9.0)], 0.0, 14.0)
    assert figures.dead_air == 1 and figures.dead_air_s == 2.5
    just_under = talk_figures([(3.0, 5.0)], [(5.0 + DEAD_AIR, 8.0)], 0.0, 9.0)
    assert just_under.dead_air == 0


def test_a_caller_left_waiting_until_the_call_ends_lived_through_dead_air() -> None:
    figures = talk_figures([(3.0, 5.0)], [(0.5, 2.0)], 0.0, 17.0)
    assert (figures.dead_air, figures.dead_air_s) == (1, 12.0)


def test_speech_before_the_answer_and_after_the_end_is_not_counted() -> None:
    figures = talk_figures([(-1.0, 0.5), (9.5, 11.0)], [(0.2, 1.0)], 0.0, 10.0)
    assert (figures.caller_talk_s, figures.agent_talk_s) == (1.0, 0.8)
    assert figures.first_word_s == 0.2


def test_the_tally_takes_the_callers_times_late_and_out_of_order() -> None:
    tally = TalkTally()
    tally.answered(10.0)
    tally.agent_started(10.4)
    tally.reply_started(10.4)
    tally.agent_stopped(12.0)
    tally.caller_started(12.9)  # known at 13.0: the detector's start after 100 ms
    # The reply starts at 15.3, before the detector's hangover ended the caller's speech
    # (at 15.5, their last loud frame at 15.2): no talk-over, nobody cut off.
    tally.agent_started(15.3)
    tally.reply_started(15.3)
    tally.caller_stopped(15.2)
    figures = tally.figures(17.0)
    assert figures is not None
    assert (figures.caller_cut_off, figures.talk_over_s, figures.first_word_s) == (0, 0.0, 0.4)
    assert figures.agent_talk_s == 3.3  # 1.6 s, and 1.7 s of a reply still going at the end


def test_speech_the_detector_had_not_ended_yet_ends_at_the_last_loud_frame() -> None:
    tally = TalkTally()
    tally.answered(0.0)
    tally.caller_started(1.0)
    tally.agent_started(2.1)  # a reply 100 ms after the caller's last word, the detector's
    tally.reply_started(2.1)  # hangover still running when the call ends
    figures = tally.figures(2.2, last_loud=2.0)
    assert figures is not None
    assert (figures.caller_talk_s, figures.caller_cut_off, figures.agent_talk_s) == (1.0, 0, 0.1)
    unknown = tally.figures(2.2)
    assert unknown is not None and unknown.caller_talk_s == 1.2


def test_a_call_never_answered_has_no_figures() -> None:
    tally = TalkTally()
    tally.caller_started(1.0)
    assert tally.figures(2.0) is None


def test_the_tally_keeps_a_bounded_number_of_spans() -> None:
    tally = TalkTally()
    tally.answered(0.0)
    for i in range(SPANS_KEPT + 10):
        tally.caller_started(i * 0.1)
        tally.caller_stopped(i * 0.1 + 0.05)
    figures = tally.figures(SPANS_KEPT * 0.1 + 5)
    assert figures is not None and round(figures.caller_talk_s / 0.05) == SPANS_KEPT
