"""The failure policy, rule by rule on a fake clock, and its silence bound under any events."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.policy import (
    LINE_START,
    MAX_SILENCE,
    Action,
    CallerHeld,
    CallerResumed,
    CallerStartedSpeaking,
    CallerStoppedSpeaking,
    CallerTurnEnded,
    Decision,
    FailureEvent,
    FailurePolicy,
    FailurePolicySettings,
    LlmAnswered,
    LlmFailed,
    ReplyAudible,
    ReplyCut,
    ReplyReady,
    SttGaveUp,
    SttLost,
    SttRestored,
    TransferFailed,
    TtsFailed,
    TtsSpoke,
)

SETTINGS = FailurePolicySettings(
    hold_line_after=1.5,
    hold_reminder_every=8.0,
    stt_notice_after=2.0,
    stt_give_up_after=20.0,
    tts_max_failures=2,
    llm_max_failures=3,
)
Script = list[tuple[float, FailureEvent]]


def run(
    script: Script, until: float, *, transfer: bool = False, policy_settings=SETTINGS
) -> list[tuple[float, str]]:
    """Drive the policy as an adapter would: events at their times, timers when due."""
    policy = FailurePolicy(policy_settings, transfer_available=transfer)
    decided: list[tuple[float, Decision]] = []
    pending = sorted(script, key=lambda item: item[0])
    for _ in range(10_000):
        timer = policy.get_timer()
        next_event = pending[0][0] if pending else math.inf
        if timer is not None and timer <= min(next_event, until):
            decided += [(timer, d) for d in policy.handle_timer(timer)]
        elif next_event <= until:
            now, event = pending.pop(0)
            decided += [(now, d) for d in policy.receive(event, now)]
        else:
            return [(round(t, 3), d.name) for t, d in decided]
    raise AssertionError("the policy's timer never settles")


CASES: dict[str, tuple[Script, float, bool, list[tuple[float, str]]]] = {
    "a reply in time: nothing to say": (
        [(0, CallerTurnEnded()), (1.0, ReplyAudible())], 30, False, []),
    "a slow reply: one moment at 1.5 s, then reminders": (
        [(0, CallerTurnEnded()), (12, ReplyAudible())], 30, False,
        [(1.5, "hold_line"), (9.5, "hold_reminder")]),
    "the wait counts from the caller's last speech, not the end of turn": (
        [(1.0, CallerTurnEnded(since=0.0)), (3.0, ReplyAudible())], 30, False,
        [(1.5, "hold_line")]),
    "an end of turn later than the deadline: one moment at once": (
        [(1.8, CallerTurnEnded(since=0.0)), (3.0, ReplyAudible())], 30, False,
        [(1.8, "hold_line")]),
    "a since in the future counts from the event": (
        [(1.0, CallerTurnEnded(since=2.0)), (3.0, ReplyAudible())], 30, False,
        [(2.5, "hold_line")]),
    "speech heard only after an outage counts from the recovery": (
        [(0, SttLost()), (3.0, SttRestored()), (3.1, CallerTurnEnded(since=0.2)),
         (5.0, ReplyAudible())], 30, False,
        [(0, "stt_lost"), (2.0, "stt_down_notice"), (3.0, "stt_recovered"),
         (4.5, "hold_line")]),
    "stt down while the caller waits: from their last loud frame": (
        [(0, SttLost()), (0.5, CallerStoppedSpeaking(since=0.2)), (6, SttRestored())], 30,
        False, [(0, "stt_lost"), (1.7, "stt_down_notice"), (6, "stt_recovered")]),
    "a reply ready in time but paused over the room's speech: nothing to say": (
        [(1.0, CallerTurnEnded(since=0.0)), (1.2, ReplyReady()), (4.0, ReplyAudible())], 30,
        False, []),
    "a slow reply still paused when ready: one moment at 1.5 s, no reminder after": (
        [(0, CallerTurnEnded()), (2.5, ReplyReady()), (20, ReplyAudible())], 30, False,
        [(1.5, "hold_line")]),
    "a reply cut off by a barge-in: nothing is coming, nothing to say": (
        [(0, CallerTurnEnded()), (0.5, ReplyCut())], 30, False, []),
    "a new turn after a cut waits from its own speech, not the first turn's": (
        [(0, CallerTurnEnded()), (1.0, ReplyCut()), (2.0, CallerTurnEnded(since=1.8)),
         (5.0, ReplyAudible())], 30, False, [(3.3, "hold_line")]),
    "the caller speaks again: no hold line over them": (
        [(0, CallerTurnEnded()), (1.0, CallerStartedSpeaking())], 30, False, []),
    "stt drops and comes back quickly": (
        [(0, SttLost()), (0.5, SttRestored())], 30, False,
        [(0, "stt_lost"), (0.5, "stt_recovered")]),
    "stt down for seconds: the notice at 2 s": (
        [(0, SttLost()), (5, SttRestored())], 30, False,
        [(0, "stt_lost"), (2.0, "stt_down_notice"), (5, "stt_recovered")]),
    "stt down while the caller waits: the notice at 1.5 s": (
        [(0, SttLost()), (0.2, CallerStoppedSpeaking()), (6, SttRestored())], 30, False,
        [(0, "stt_lost"), (1.7, "stt_down_notice"), (6, "stt_recovered")]),
    "stt down, the caller talks again, waits again": (
        [(0, SttLost()), (3, CallerStartedSpeaking()), (4, CallerStoppedSpeaking()),
         (7, SttRestored())], 30, False,
        [(0, "stt_lost"), (2.0, "stt_down_notice"), (5.5, "stt_down_hold"),
         (7, "stt_recovered")]),
    "stt down for good, no human target: goodbye at 20 s": (
        [(0, SttLost())], 60, False,
        [(0, "stt_lost"), (2.0, "stt_down_notice"), (10.0, "hold_reminder"),
         (18.0, "hold_reminder"), (20.0, "stt_down_goodbye")]),
    "stt down for good, a human target: transfer at 20 s": (
        [(0, SttLost())], 60, True,
        [(0, "stt_lost"), (2.0, "stt_down_notice"), (10.0, "hold_reminder"),
         (18.0, "hold_reminder"), (20.0, "stt_down_transfer")]),
    "the stt client gives up": (
        [(0, SttLost()), (1, SttGaveUp())], 60, True,
        [(0, "stt_lost"), (1, "stt_failed_transfer")]),
    "a transfer that fails ends with the goodbye": (
        [(0, SttGaveUp()), (3, TransferFailed()), (4, LlmFailed())], 60, True,
        [(0, "stt_failed_transfer"), (3, "transfer_failed_goodbye")]),
    "one tts failure: the cached apology": (
        [(0, TtsFailed())], 30, False, [(0, "tts_down_apology")]),
    "tts fails twice in a row: goodbye": (
        [(0, TtsFailed()), (5, TtsFailed()), (6, CallerTurnEnded())], 30, False,
        [(0, "tts_down_apology"), (5, "tts_down_goodbye")]),
    "tts recovers between failures": (
        [(0, TtsFailed()), (5, TtsSpoke()), (9, TtsFailed())], 30, True,
        [(0, "tts_down_apology"), (9, "tts_down_apology")]),
    "tts fails twice, a human target: transfer": (
        [(0, TtsFailed()), (5, TtsFailed())], 30, True,
        [(0, "tts_down_apology"), (5, "tts_down_transfer")]),
    "an llm failure: the apology, no hold line after it": (
        [(0, CallerTurnEnded()), (1.2, LlmFailed())], 30, False, [(1.2, "llm_apology")]),
    "a slow llm that fails: one moment, then the apology": (
        [(0, CallerTurnEnded()), (5.0, LlmFailed())], 30, False,
        [(1.5, "hold_line"), (5.0, "llm_apology")]),
    "three llm failures in a row: goodbye": (
        [(0, LlmFailed()), (10, LlmFailed()), (20, LlmFailed())], 60, False,
        [(0, "llm_apology"), (10, "llm_apology"), (20, "llm_down_goodbye")]),
    "the caller holds while waiting: no line on hold, the wait goes on after it": (
        [(0, CallerTurnEnded()), (1.0, CallerHeld()), (30, CallerResumed()),
         (45, ReplyAudible())], 60, False,
        [(30.5, "hold_line"), (38.5, "hold_reminder")]),
    "reminders stop while held and keep their interval after": (
        [(0, CallerTurnEnded()), (3.0, CallerHeld()), (13, CallerResumed()),
         (30, ReplyAudible())], 60, False,
        [(1.5, "hold_line"), (19.5, "hold_reminder"), (27.5, "hold_reminder")]),
    "stt down while held: no notice nor giving up meanwhile": (
        [(0, CallerHeld()), (1, SttLost()), (40, CallerResumed()), (41, SttRestored())], 60,
        False, [(1, "stt_lost"), (41, "stt_recovered")]),
    "an event still counts while held": (
        [(0, CallerHeld()), (1, SttGaveUp())], 60, True, [(1, "stt_failed_transfer")]),
    "an answer resets the llm count": (
        [(0, LlmFailed()), (10, LlmFailed()), (15, LlmAnswered()), (20, LlmFailed())], 60, False,
        [(0, "llm_apology"), (10, "llm_apology"), (20, "llm_apology")]),
}  # fmt: skip


@pytest.mark.parametrize(("script", "until", "transfer", "expected"), CASES.values(),
                         ids=CASES.keys())  # fmt: skip
def test_rules(
    script: Script, until: float, transfer: bool, expected: list[tuple[float, str]]
) -> None:
    assert run(script, until, transfer=transfer) == expected


def test_decisions_say_which_line() -> None:
    policy = FailurePolicy(SETTINGS, transfer_available=True)
    assert policy.receive(CallerTurnEnded(), 0) == ()
    assert policy.handle_timer(1.5) == (Decision("hold_line", Action.SAY, FallbackLine.ONE_MOMENT),)
    assert policy.receive(SttLost(), 2) == (Decision("stt_lost", Action.NOTE),)
    assert policy.receive(TtsFailed(), 3) == (
        Decision("tts_down_apology", Action.SAY, FallbackLine.APOLOGY),
    )
    assert policy.receive(SttGaveUp(), 3.5) == (
        Decision("stt_failed_transfer", Action.TRANSFER, FallbackLine.TRANSFER),
    )
    assert policy.ended and policy.get_timer() is None
    assert policy.receive(TransferFailed(), 9) == (
        Decision("transfer_failed_goodbye", Action.GOODBYE, FallbackLine.GOODBYE),
    )
    assert policy.receive(TransferFailed(), 9) == ()


def test_a_late_event_first_settles_the_deadlines_it_passed() -> None:
    policy = FailurePolicy(SETTINGS, transfer_available=False)
    policy.receive(CallerTurnEnded(), 0)
    decisions = policy.receive(ReplyAudible(), 1.6)  # the adapter's timer was late
    assert [d.name for d in decisions] == ["hold_line"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hold_line_after": 2.0}, "hold_line_after must be in"),
        ({"hold_line_after": 0}, "hold_line_after must be in"),
        ({"hold_reminder_every": 0}, "must be positive"),
        ({"stt_give_up_after": 1.0}, "stt_give_up_after must not be shorter"),
        ({"llm_max_failures": 0}, "at least 1"),
    ],
)
def test_settings_that_break_the_bound_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FailurePolicySettings(**changes)


# --------------------------------------------------------------------------- the bound

EVENTS = st.sampled_from(
    [SttLost(), SttRestored(), SttGaveUp(), TtsFailed(), TtsSpoke(), LlmFailed(),
     LlmAnswered(), CallerTurnEnded(), CallerStartedSpeaking(), CallerStoppedSpeaking(),
     ReplyReady(), ReplyCut(), ReplyAudible(), TransferFailed()]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(0.01, 6.0), EVENTS, st.floats(0.0, 3.0) | st.none()), max_size=40
    ),
    transfer=st.booleans(),
)
def test_no_caller_waits_in_silence_longer_than_the_bound(steps, transfer) -> None:
    """Whatever happens, a wait is explained within MAX_SILENCE (a line, a reply, or the
    caller speaking) of the caller's last speech, or at once when the wait is reported
    later than that; judged from the events alone, not from the policy's state."""
    policy = FailurePolicy(SETTINGS, transfer_available=transfer)
    now, script = 0.0, []
    for gap, event, lag in steps:
        now += gap
        if isinstance(event, CallerTurnEnded | CallerStoppedSpeaking) and lag is not None:
            event = type(event)(since=now - lag)  # the caller stopped ``lag`` s earlier
        script.append((now, event))
    end = now + 30
    waiting_since: float | None = None
    reported_at = 0.0
    restored_at: float | None = None
    stt_down = False
    ended = False

    def explain(at: float) -> None:
        nonlocal waiting_since
        if waiting_since is not None:
            due = max(waiting_since + MAX_SILENCE - LINE_START, reported_at)
            assert at <= due + 1e-9, (waiting_since, reported_at, at)
        waiting_since = None

    def decide(at: float, decisions: tuple[Decision, ...]) -> None:
        nonlocal ended
        for decision in decisions:
            if decision.action is not Action.NOTE:
                explain(at)
            ended = ended or decision.action in (Action.TRANSFER, Action.GOODBYE)

    pending = list(script)
    while True:
        timer = policy.get_timer()
        next_event = pending[0][0] if pending else math.inf
        if timer is not None and timer <= min(next_event, end):
            decide(timer, policy.handle_timer(timer))
            continue
        if next_event > end:
            break
        at, event = pending.pop(0)
        decide(at, policy.handle_timer(at))  # the deadlines passed, as receive() settles first
        if ended:
            decide(at, policy.receive(event, at))
            waiting_since = None
            continue
        if isinstance(event, SttLost):
            stt_down = True
        elif isinstance(event, SttRestored):
            restored_at = at if stt_down else restored_at
            stt_down = False
        if isinstance(event, ReplyReady | ReplyCut | ReplyAudible | CallerStartedSpeaking):
            explain(at)  # ready or cut: what plays (or not) is the turn-taking's, not a vendor's
        elif waiting_since is None and (
            isinstance(event, CallerTurnEnded)
            or (isinstance(event, CallerStoppedSpeaking) and stt_down)
        ):
            assert isinstance(event, CallerTurnEnded | CallerStoppedSpeaking)
            since = at if event.since is None else min(event.since, at)
            waiting_since = since if restored_at is None else max(since, restored_at)
            reported_at = at
        decide(at, policy.receive(event, at))
        if ended:
            waiting_since = None
    if waiting_since is not None and not ended:
        raise AssertionError(f"a wait since {waiting_since} was never explained")
