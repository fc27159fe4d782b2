"""A ``<Dial>``'s rules: ``DialCallStatus`` from how the leg ended (and from a REFER's
NOTIFY), the action's form, which ``callerId`` may go out, the ring tone."""

from __future__ import annotations

import math
import struct

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.twiml.dial.rules import (
    RING_TONES,
    DialCallStatus,
    DialResult,
    dial_status,
    refer_status,
    ringback_frame,
    sip_fields,
    usable_caller_id,
)
from sipgw.media.g711 import rms_dbfs, ulaw_to_linear
from sipgw.twilio.document import DialTarget


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
        ("DialCallStatus", "busy"), ("DialCallSid", "CA1"), ("DialBridged", "false"),
    )  # fmt: skip
    assert DialResult("failed").params() == (
        ("DialCallStatus", "failed"), ("DialBridged", "false"),
    )  # fmt: skip
    recorded = DialResult("completed", "CA2", 0, (("RecordingSid", "RE1"),))
    assert recorded.params() == (
        ("DialCallStatus", "completed"), ("DialCallSid", "CA2"), ("DialCallDuration", "0"),
        ("DialBridged", "true"), ("RecordingSid", "RE1"),
    )  # fmt: skip
    # a conference joined: Twilio's `answered`, bridged, no DialCallSid nor DialCallDuration
    assert DialResult("answered").params() == (
        ("DialCallStatus", "answered"), ("DialBridged", "true"),
    )  # fmt: skip
    sip = (("DialSipCallId", "abc@host"), ("DialSipResponseCode", "486"))
    assert DialResult("busy", "CA3", sip=sip).params() == (
        ("DialCallStatus", "busy"), ("DialCallSid", "CA3"), ("DialBridged", "false"), *sip,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "bridged"),
    [("completed", True), ("answered", True), ("busy", False), ("no-answer", False),
     ("failed", False), ("canceled", False)],
)  # fmt: skip
def test_dial_bridged_says_whether_the_caller_was_connected(
    status: DialCallStatus, bridged: bool
) -> None:
    assert DialResult(status).bridged is bridged


SIP = DialTarget("sip", "sip:agent@pbx.example.com")


def test_sip_fields_are_the_legs_call_id_and_final_response() -> None:
    assert sip_fields(SIP, "abc@host", 486, False) == (
        ("DialSipCallId", "abc@host"), ("DialSipResponseCode", "486"),
    )  # fmt: skip
    # answered: the INVITE's 2xx, whatever status the end carried
    assert sip_fields(SIP, "abc@host", None, True) == (
        ("DialSipCallId", "abc@host"), ("DialSipResponseCode", "200"),
    )  # fmt: skip
    # no INVITE went out (refused before sending) and no response came
    assert sip_fields(SIP, "", None, False) == ()
    # a <Number> gets none of them
    assert sip_fields(DialTarget("number", "+15551234567"), "abc@host", 486, False) == ()


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


@pytest.mark.parametrize(
    ("country", "freqs", "cadence"),
    [("uk", (400, 450), (0.4, 0.2, 0.4, 2.0)), ("de", (425,), (1.0, 4.0)),
     ("fr", (440,), (1.5, 3.5)), ("jp", (400,), (1.0, 2.0))],
)  # fmt: skip
def test_a_countrys_ring_tone_has_its_frequencies_and_cadence(
    country: str, freqs: tuple[int, ...], cadence: tuple[float, ...]
) -> None:
    assert RING_TONES[country] == (freqs, cadence)
    cycle = round(sum(cadence) / 0.02)
    frames = [ringback_frame(n, country) for n in range(2 * cycle)]
    assert frames[cycle:] == frames[:cycle]  # loops on its cadence
    expected: list[bool] = []
    for i, seconds in enumerate(cadence):
        expected += [i % 2 == 0] * round(seconds / 0.02)
    assert [rms_dbfs(f) > -40 for f in frames[:cycle]] == expected
    pcm = ulaw_to_linear(b"".join(frames[:10]))  # the first 0.2 s: ringing
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    strength = {hz: _magnitude(samples, hz) for hz in range(300, 600, 5)}
    loudest = sorted(sorted(strength, key=strength.__getitem__)[-len(freqs) :])
    assert tuple(loudest) == freqs


def _magnitude(samples: tuple[int, ...], hz: float) -> float:
    """How much of ``hz`` the 8 kHz ``samples`` hold (one bin of a DFT)."""
    w = 2 * math.pi * hz / 8000
    re = sum(s * math.cos(w * n) for n, s in enumerate(samples))
    im = sum(s * math.sin(w * n) for n, s in enumerate(samples))
    return math.hypot(re, im)


def test_an_unknown_ring_tone_code_rings_as_the_us() -> None:
    assert ringback_frame(3, "xx") == ringback_frame(3) == ringback_frame(3, "us")
