"""The navigator's rules on a fake clock (agent/ivr/navigator.py): prompts and answers in,
questions, digits, words and the outcome out."""

from __future__ import annotations

from sipgw.agent.ivr.navigator import (
    DecisionWanted,
    MenuNavigator,
    NavigationEnded,
    NavigatorConfig,
    NavigatorState,
    SayWords,
    SendDigits,
    Step,
)
from sipgw.agent.ivr.steps import Decision, Outcome, Press, Reached, Say, Stuck, Voicemail, Wait

GOAL = "reach billing and ask for the balance"
MAIN = "For billing, press 1. For support, press 2."
BILLING = "To hear your balance, press 1."


def navigator(**config: float) -> MenuNavigator:
    return MenuNavigator(GOAL, 100.0, NavigatorConfig(**config))  # type: ignore[arg-type]


def test_a_prompt_asks_a_question_and_its_answer_keys_the_digits() -> None:
    nav = navigator()
    (wanted,) = nav.receive_prompt(MAIN, 101.0)
    assert wanted == DecisionWanted(MAIN, (Step("heard", MAIN),))
    assert nav.state is NavigatorState.DECIDING
    assert nav.decided(Press("1"), 101.5) == (SendDigits("1"),)
    (wanted,) = nav.receive_prompt(BILLING, 103.0)
    assert isinstance(wanted, DecisionWanted) and wanted.heard == BILLING
    assert wanted.steps == (Step("heard", MAIN), Step("pressed", "1"), Step("heard", BILLING))
    assert nav.decided(Press("1"), 103.2) == (SendDigits("1"),)
    nav.receive_prompt("Billing, this is Sam speaking. How can I help?", 105.0)
    (ended,) = nav.decided(Reached("a person"), 105.5)
    assert ended == NavigationEnded(Outcome.REACHED, "a person")
    assert nav.outcome is Outcome.REACHED and nav.digits == "11" and nav.presses == 2
    assert nav.get_timer() is None
    assert nav.receive_prompt(MAIN, 106.0) == () and nav.hung_up() == ()


def test_prompts_heard_while_deciding_wait_and_are_asked_about_after_a_wait() -> None:
    nav = navigator()
    nav.receive_prompt("Welcome to Acme.", 101.0)
    assert nav.receive_prompt(MAIN, 102.0) == ()  # one question open at a time
    (again,) = nav.decided(Wait("not finished"), 102.1)
    assert isinstance(again, DecisionWanted) and again.heard == f"Welcome to Acme. {MAIN}"
    assert nav.decided(Wait(), 102.3) == ()  # nothing new: listen on
    assert nav.state is NavigatorState.LISTENING


def test_a_step_forgets_what_was_heard_before_it() -> None:
    nav = navigator()
    nav.receive_prompt(MAIN, 101.0)
    nav.receive_prompt("For sales, press 3.", 101.5)  # heard while deciding
    assert nav.decided(Say("billing"), 102.0) == (SayWords("billing"),)
    (wanted,) = nav.receive_prompt(BILLING, 104.0)
    assert isinstance(wanted, DecisionWanted) and wanted.heard == BILLING


def test_the_same_prompt_three_times_is_stuck() -> None:
    nav = navigator()
    for n in range(2):
        nav.receive_prompt(MAIN, 101.0 + n * 5)
        nav.decided(Press("9"), 102.0 + n * 5)
    # case and punctuation aside, it is the same prompt
    (ended,) = nav.receive_prompt(MAIN.upper().replace(",", ""), 111.0)
    assert isinstance(ended, NavigationEnded) and ended.outcome is Outcome.STUCK
    assert "the same prompt 3 times" in ended.reason
    assert nav.decided(Press("1"), 112.0) == ()  # the question's late answer: nothing


def test_a_loop_between_two_menus_is_stuck_on_its_third_round() -> None:
    nav = navigator()
    sales = "Sales is closed. Press star for the main menu."
    ends: list[object] = []
    t = 101.0
    for prompt in [MAIN, sales, MAIN, sales, MAIN]:
        ends += nav.receive_prompt(prompt, t)
        ends += nav.decided(Press("3" if prompt == MAIN else "*"), t + 0.5)
        t += 4
    assert nav.outcome is Outcome.STUCK and nav.digits == "3*3*"
    assert isinstance(ends[-1], NavigationEnded)


def test_silence_after_the_last_thing_heard_is_stuck() -> None:
    nav = navigator(silence=8.0)
    assert nav.get_timer() == 108.0  # from the answer
    nav.receive_prompt("Sorry, our sales office is closed.", 103.0)
    assert nav.get_timer() == 100.0 + 180.0  # deciding: only the deadline runs
    nav.decided(Wait(), 103.4)
    assert nav.get_timer() == 111.4
    nav.receive_voice(110.0)  # it speaks again (words to come)
    assert nav.handle_timer(111.4) == ()
    assert nav.get_timer() == 118.0
    (ended,) = nav.handle_timer(118.0)
    assert ended == NavigationEnded(Outcome.STUCK, "silence for 8 s")


def test_too_many_steps_or_too_long_is_stuck() -> None:
    nav = navigator(max_steps=2, max_repeats=99)
    for n in range(2):
        nav.receive_prompt(f"Menu {n}. Press 1 for more.", 101.0 + n)
        assert nav.decided(Press("1"), 101.5 + n) == (SendDigits("1"),)
    nav.receive_prompt("Menu 3. Press 1 for more.", 104.0)
    (ended,) = nav.decided(Press("1"), 104.5)
    assert ended == NavigationEnded(Outcome.STUCK, "more than 2 steps")
    slow = navigator(deadline=30.0, silence=100.0)
    slow.receive_voice(125.0)
    assert slow.get_timer() == 130.0
    (ended,) = slow.handle_timer(130.0)
    assert ended == NavigationEnded(Outcome.STUCK, "no goal after 30 s")


def test_the_decider_s_own_ends_and_the_call_s() -> None:
    ends: list[tuple[Decision, Outcome]] = [
        (Stuck("no billing option"), Outcome.STUCK),
        (Voicemail("leave a message"), Outcome.VOICEMAIL),
    ]
    for decision, outcome in ends:
        nav = navigator()
        nav.receive_prompt(MAIN, 101.0)
        assert nav.decided(decision, 102.0) == (NavigationEnded(outcome, decision.reason),)
    nav = navigator()
    assert nav.hung_up() == (NavigationEnded(Outcome.HUNG_UP, "the call ended before the goal"),)
    nav = navigator()
    nav.receive_prompt(MAIN, 101.0)
    nav.decided(Press("1"), 101.2)
    (ended,) = nav.refused("not in SIPGW_DIAL_ALLOW")
    assert ended.outcome is Outcome.STUCK and "refused" in ended.reason


def test_an_empty_transcript_is_nothing_and_an_unasked_answer_is_ignored() -> None:
    nav = navigator()
    assert nav.receive_prompt("  ", 101.0) == ()
    assert nav.decided(Press("1"), 101.0) == ()
    assert nav.steps == [] and nav.digits == ""
