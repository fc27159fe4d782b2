"""The ``amd`` modes as rules: decisions and readiness in, what the agent does out."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.events import AnswerClassified, AnswerKind, Evidence, ReadyForMessage
from sipgw.agent.amd.policy import (
    MAX_YIELDS,
    AnswerPolicy,
    AnswerScreener,
    BeginConversation,
    HangUp,
    LeaveMessage,
    StopSpeaking,
    YieldToCallee,
)
from sipgw.agent.amd.settings import AmdMode

H, V, A, S, U = (AnswerKind.HUMAN, AnswerKind.VOICEMAIL, AnswerKind.ANNOUNCEMENT,
                 AnswerKind.SCREENER, AnswerKind.UNKNOWN)  # fmt: skip


def decided(kind: AnswerKind, evidence: Evidence, revision: int = 0) -> AnswerClassified:
    return AnswerClassified(kind, 1.0, 1.0, "why", evidence, revision)


def ready(kind: AnswerKind = V, cause: str = "beep") -> ReadyForMessage:
    return ReadyForMessage(kind, 3.0, cause, 2.5, None)


def run(policy: AnswerPolicy, *steps: tuple[object, Evidence | None]) -> list[object]:
    """Feed (event or None, evidence after it) steps; every action, in order."""
    actions: list[object] = []
    for event, evidence in steps:
        events = () if event is None else (event,)
        actions += policy.receive(events, evidence)  # type: ignore[arg-type]
    return actions


def test_off_runs_no_policy() -> None:
    with pytest.raises(ValueError, match="off"):
        AnswerPolicy(AmdMode.OFF)


def test_detect_never_acts() -> None:
    policy = AnswerPolicy(AmdMode.DETECT)
    assert policy.speaking  # the agent spoke from the answer
    steps = [
        (decided(H, Evidence.CADENCE), Evidence.CADENCE),
        (decided(V, Evidence.LENGTH, 1), Evidence.LENGTH),
        (ready(), Evidence.TONE),
    ]
    assert run(policy, *steps) == []


@pytest.mark.parametrize("mode", [AmdMode.LEAVE_MESSAGE, AmdMode.HANG_UP])
@pytest.mark.parametrize("kind", [H, U])
def test_a_person_or_silence_begins_at_once(mode: AmdMode, kind: AnswerKind) -> None:
    policy = AnswerPolicy(mode)
    assert not policy.speaking
    evidence = Evidence.CADENCE if kind is H else Evidence.DEADLINE
    (action,) = run(policy, (decided(kind, evidence), evidence))
    assert isinstance(action, BeginConversation) and policy.speaking
    assert run(policy, (decided(kind, Evidence.WORDS), Evidence.WORDS)) == []  # once


def test_leave_message_a_revised_person_stops_then_the_message_after_the_beep() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    actions = run(
        policy,
        (decided(H, Evidence.CADENCE), Evidence.CADENCE),  # "Hi, it's Nina!"
        (decided(V, Evidence.LENGTH, 1), Evidence.LENGTH),  # ... the greeting goes on
        (None, Evidence.WORDS),  # "leave a message": still a voicemail, no hang-up
        (ready(V, "beep"), Evidence.TONE),
    )
    assert actions == [BeginConversation("why"), StopSpeaking(V), LeaveMessage("beep")]
    assert policy.finished
    assert run(policy, (decided(H, Evidence.WORDS, 2), Evidence.WORDS)) == []


def test_leave_message_answers_a_screener_when_its_question_is_over() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    actions = run(
        policy, (decided(S, Evidence.WORDS), Evidence.WORDS), (ready(S, "silence"), Evidence.WORDS)
    )
    assert actions == [AnswerScreener()]


@pytest.mark.parametrize("mode", [AmdMode.LEAVE_MESSAGE, AmdMode.HANG_UP])
def test_an_announcement_is_hung_up_on(mode: AmdMode) -> None:
    policy = AnswerPolicy(mode)
    actions = run(policy, (decided(A, Evidence.TONE), Evidence.TONE))
    assert actions == [HangUp(A)] and policy.finished


def test_hang_up_never_on_length_alone() -> None:
    """The hard case: "Hello, this is Doctor Smith's office, how can I help you?" is long,
    then its words make it a person: never hung up on meanwhile."""
    policy = AnswerPolicy(AmdMode.HANG_UP)
    actions = run(
        policy,
        (decided(V, Evidence.LENGTH), Evidence.LENGTH),
        (decided(H, Evidence.WORDS, 1), Evidence.WORDS),
    )
    assert actions == [BeginConversation("why")] and not policy.finished


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # the words of a greeting already long: the evidence grows without a new decision
        ([(decided(V, Evidence.LENGTH), Evidence.LENGTH), (None, Evidence.WORDS)], [HangUp(V)]),
        # a beep after a long greeting: ready, with the beep
        ([(decided(V, Evidence.LENGTH), Evidence.LENGTH), (ready(V, "beep"), Evidence.LENGTH)],
         [HangUp(V)]),
        # words at once
        ([(decided(S, Evidence.WORDS), Evidence.WORDS)], [HangUp(S)]),
        # a long greeting, then silence, no word or tone: maybe a person, waiting
        ([(decided(V, Evidence.LENGTH), Evidence.LENGTH), (ready(V, "silence"), Evidence.LENGTH)],
         [BeginConversation("a long greeting, then silence: maybe a person")]),
    ],
)  # fmt: skip
def test_hang_up_on_words_or_a_beep(
    steps: list[tuple[object, Evidence | None]], expected: list[object]
) -> None:
    assert run(AnswerPolicy(AmdMode.HANG_UP), *steps) == expected


def test_hang_up_stops_a_begun_conversation_before_hanging_up() -> None:
    policy = AnswerPolicy(AmdMode.HANG_UP)
    actions = run(
        policy,
        (decided(H, Evidence.CADENCE), Evidence.CADENCE),
        (decided(V, Evidence.WORDS, 1), Evidence.WORDS),
    )
    assert actions == [BeginConversation("why"), StopSpeaking(V), HangUp(V)]


def test_after_a_screener_a_short_greeting_waits_for_its_words() -> None:
    """ "Please stay on the line." is as short as "Hello?": begin only once a finished
    transcript names no machine."""
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE, after_screener=True)
    assert run(policy, (decided(H, Evidence.CADENCE), Evidence.CADENCE)) == []
    assert policy.person_confirmed() == (
        BeginConversation("a person picked up after the screener"),
    )
    assert policy.person_confirmed() == ()


def test_after_a_screener_its_words_cancel_the_wait() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE, after_screener=True)
    run(policy, (decided(H, Evidence.CADENCE), Evidence.CADENCE))
    run(policy, (decided(S, Evidence.WORDS, 1), Evidence.WORDS))  # "stay on the line"
    assert policy.person_confirmed() == ()
    # ... and a voicemail after the screener gets the message
    assert run(policy, (decided(V, Evidence.WORDS, 2), Evidence.WORDS),
               (ready(V, "beep"), Evidence.TONE)) == [LeaveMessage("beep")]  # fmt: skip


def test_after_a_screener_a_person_s_words_begin_at_once() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE, after_screener=True)
    (action,) = run(policy, (decided(H, Evidence.WORDS), Evidence.WORDS))  # "who is this?"
    assert isinstance(action, BeginConversation)


@pytest.mark.parametrize("mode", [AmdMode.LEAVE_MESSAGE, AmdMode.HANG_UP])
def test_a_person_decided_while_speaking_is_begun_on_once_they_stop(mode: AmdMode) -> None:
    """ "Good afternoon, Riverside Dental, this is Kim speaking, | how may I help you?": the
    partial that names a person comes while they still speak; the agent waits for them."""
    policy = AnswerPolicy(mode)
    words = decided(H, Evidence.WORDS)
    assert policy.receive((words,), Evidence.WORDS, callee_speaking=True) == ()
    assert policy.begin_waiting and not policy.speaking
    assert policy.receive((), Evidence.WORDS, callee_speaking=True) == ()  # still speaking
    assert policy.receive((), Evidence.WORDS, callee_speaking=False) == (BeginConversation("why"),)
    assert policy.speaking and not policy.begin_waiting
    assert policy.receive((), Evidence.WORDS, callee_speaking=False) == ()  # once


def test_a_machine_decided_meanwhile_cancels_the_waiting_begin() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    policy.receive((decided(H, Evidence.CADENCE),), Evidence.CADENCE, callee_speaking=True)
    assert policy.begin_waiting
    assert policy.receive((decided(V, Evidence.WORDS, 1),), Evidence.WORDS) == ()
    assert not policy.begin_waiting and not policy.speaking


def test_detect_ignores_whether_the_callee_speaks() -> None:
    policy = AnswerPolicy(AmdMode.DETECT)
    assert policy.receive((decided(H, Evidence.WORDS),), None, callee_speaking=True) == ()
    assert not policy.begin_waiting


@pytest.mark.parametrize("mode", [AmdMode.LEAVE_MESSAGE, AmdMode.HANG_UP])
def test_a_callee_who_goes_on_after_the_agent_began_is_yielded_to(mode: AmdMode) -> None:
    """ "Hi, | this is Ana.": begun at the pause after "Hi,"; they go on: the agent yields,
    and begins again (for the same reason) once they stop."""
    policy = AnswerPolicy(mode)
    began = policy.receive((decided(H, Evidence.CADENCE),), Evidence.CADENCE, can_start_over=True)
    assert began == (BeginConversation("why"),)
    went_on = policy.receive((), Evidence.CADENCE, callee_speaking=True, can_start_over=True)
    assert went_on == (YieldToCallee(),) and not policy.speaking and policy.begin_waiting
    assert policy.receive((), Evidence.CADENCE, callee_speaking=True, can_start_over=True) == ()
    again = policy.receive((), Evidence.CADENCE, callee_speaking=False, can_start_over=True)
    assert again == (BeginConversation("why"),) and policy.speaking and policy.yields == 1


def test_no_yield_when_the_opening_cannot_start_over() -> None:
    """Played too long, or whole: the callee's speech is the conversation's (the
    assistant's barge-in takes it)."""
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    policy.receive((decided(H, Evidence.CADENCE),), Evidence.CADENCE)
    assert policy.receive((), Evidence.CADENCE, callee_speaking=True, can_start_over=False) == ()
    assert policy.speaking and policy.yields == 0


def test_yields_are_counted_and_bounded() -> None:
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    policy.receive((decided(H, Evidence.CADENCE),), Evidence.CADENCE)
    actions: list[object] = []
    for _ in range(MAX_YIELDS + 2):
        actions += policy.receive((), Evidence.CADENCE, callee_speaking=True, can_start_over=True)
        actions += policy.receive((), Evidence.CADENCE, callee_speaking=False, can_start_over=True)
    assert actions.count(YieldToCallee()) == MAX_YIELDS == policy.yields
    assert policy.speaking  # the last time they went on, the agent went on too


def test_a_machine_decided_after_a_yield_is_not_begun_on() -> None:
    """ "Hi, it's Nina! | I'm out surfing.": begun at the pause, yielded to, then the
    greeting is a voicemail: nothing to stop (the agent is quiet), no begin."""
    policy = AnswerPolicy(AmdMode.LEAVE_MESSAGE)
    policy.receive((decided(H, Evidence.CADENCE),), Evidence.CADENCE)
    policy.receive((), Evidence.CADENCE, callee_speaking=True, can_start_over=True)
    revised = policy.receive(
        (decided(V, Evidence.LENGTH, 1),), Evidence.LENGTH, callee_speaking=True
    )
    assert revised == () and not policy.begin_waiting
    assert policy.receive((), Evidence.LENGTH, callee_speaking=False) == ()
    assert policy.receive((ready(),), Evidence.TONE) == (LeaveMessage("beep"),)


def test_detect_never_yields() -> None:
    policy = AnswerPolicy(AmdMode.DETECT)
    assert policy.receive((), None, callee_speaking=True, can_start_over=True) == ()
