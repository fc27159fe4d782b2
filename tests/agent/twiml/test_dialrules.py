"""A ``<Dial>``'s rules: ``DialCallStatus`` from how the leg ended (and from a REFER's
NOTIFY), the action's form, which ``callerId`` may go out, the ring tone."""

from __future__ import annotations

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.twiml.dialrules import (
    DialResult,
    dial_status,
    refer_status,
    ringback_frame,
    usable_caller_id,
)
from sipgw.media.g711 import rms_dbfs


@pytest.mark.parametrize(
    ("kind", "answered", "caller_left", "status"),
    [
        ("answered", True, False, "completed"),
        ("answered", True, True, "completed"),  # talked, then the caller hung up
        (None, True, True, "completed"),
        ("busy", False, False, "busy"),
        ("declined", False, False, "busy"),  # 603 Decline, as a refusal
        ("no-answer", False, False, "no-answer"),
        ("unreachable", False, False, "failed"),
        ("failed", False, False, "failed"),
        (None, False, False, "failed"),  # never went out
        (None, False, True, "canceled"),  # the caller hung up while it rang
        ("no-answer", False, True, "canceled"),
    ],
)
def test_dial_status(kind: str | None, answered: bool, caller_left: bool, status: str) -> None:
    assert dial_status(kind, answered, caller_left) == status


@pytest.mark.parametrize(
    ("sip", "status"),
    [(486, "busy"), (600, "busy"), (603, "busy"), (408, "no-answer"), (480, "no-answer"),
     (487, "no-answer"), (404, "failed"), (503, "failed")],
)  # fmt: skip
def test_refer_status(sip: int, status: str) -> None:
    assert refer_status(sip) == status


def test_the_action_form() -> None:
    assert DialResult("busy", "CA1").params() == (
        ("DialCallStatus", "busy"), ("DialCallSid", "CA1"),
    )  # fmt: skip
    assert DialResult("failed").params() == (("DialCallStatus", "failed"),)
    recorded = DialResult("completed", "CA2", 0, (("RecordingSid", "RE1"),))
    assert recorded.params() == (
        ("DialCallStatus", "completed"), ("DialCallSid", "CA2"), ("DialCallDuration", "0"),
        ("RecordingSid", "RE1"),
    )  # fmt: skip


DETAILS = CallDetails(caller_number="+15551234567", called_number="+15557654321")


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("+15551234567", "+15551234567"),  # the caller's own number, passed through
        ("+1 (555) 765-4321", "+15557654321"),  # the number called, as the call has it
        ("+15559999999", ""),  # a number the call does not own
        ("15551234567x", "+15551234567"),
        ("", ""),
        ("anonymous", ""),
    ],
)
def test_usable_caller_id(asked: str, used: str) -> None:
    assert usable_caller_id(asked, DETAILS) == used


def test_no_caller_id_is_usable_on_a_call_without_numbers() -> None:
    assert usable_caller_id("+15551234567", CallDetails()) == ""


def test_ring_tone_is_two_seconds_on_four_off_looping() -> None:
    frames = [ringback_frame(n) for n in range(600)]
    assert all(len(f) == 160 for f in frames)
    on = [rms_dbfs(f) > -40 for f in frames]
    assert on[:100] == [True] * 100 and on[100:300] == [False] * 200  # 2 s, then 4 s
    assert frames[300:] == frames[:300]  # a 6 s cycle
    assert -30 < rms_dbfs(frames[10]) < -15
