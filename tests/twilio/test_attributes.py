"""The TwiML attribute values several elements share (sipgw.twilio.attributes)."""

from __future__ import annotations

import pytest

from sipgw.twilio.attributes import (
    RECORDING_EVENTS,
    TRACKS,
    post_or_get,
    recording_events,
    track_value,
    true_or_false,
)


@pytest.mark.parametrize(
    ("attrs", "default", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"bargeIn": ""}, True, True),
        ({"bargeIn": " TRUE "}, False, True),
        ({"bargeIn": "false"}, True, False),
        ({"bargeIn": "False"}, True, False),
    ],
)
def test_a_flag_is_true_or_false_and_its_default_when_absent(
    attrs: dict[str, str], default: bool, expected: bool
) -> None:
    assert true_or_false(attrs, "bargeIn", default, "Gather") is expected


def test_a_flag_of_another_value_names_the_element_and_attribute() -> None:
    with pytest.raises(ValueError, match=r"^<Gather bargeIn='yes'>: true or false$"):
        true_or_false({"bargeIn": "yes"}, "bargeIn", True, "Gather")


@pytest.mark.parametrize(
    ("value", "expected"), [("", "POST"), (" get ", "GET"), ("Post", "POST"), ("GET", "GET")]
)
def test_a_method_is_post_or_get_upper_cased(value: str, expected: str) -> None:
    assert post_or_get({"method": value}, "method", "Record") == expected
    assert post_or_get({}, "method", "Record") == "POST"


def test_another_method_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^<Record method='PUT'>: POST or GET$"):
        post_or_get({"method": "put"}, "method", "Record")


def test_a_track_is_one_of_the_three_its_default_when_absent() -> None:
    assert track_value({}, "Siprec") == "both_tracks"
    assert track_value({"track": " "}, "Stream", "inbound_track") == "inbound_track"
    for track in TRACKS:
        assert track_value({"track": track}, "Transcription") == track
    with pytest.raises(ValueError, match=r"^<Siprec track='both'>: one of inbound_track, "):
        track_value({"track": "both"}, "Siprec")


def test_recording_events_are_words_of_twilios_three_completed_by_default() -> None:
    assert recording_events({}, "Record") == frozenset({"completed"})
    given = {"recordingStatusCallbackEvent": "in-progress, completed absent"}
    assert recording_events(given, "Dial") == RECORDING_EVENTS
    with pytest.raises(
        ValueError,
        match=r"^<Conference recordingStatusCallbackEvent='done'>: in-progress, completed, absent$",
    ):
        recording_events({"recordingStatusCallbackEvent": "done"}, "Conference")
