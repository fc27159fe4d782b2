"""A campaign's settings read from the API's fields, and read back from the store."""

from __future__ import annotations

import pytest

from sipgw.agent.amd.settings import AmdMode
from sipgw.app.campaigns.model import (
    CallingHours,
    CampaignLimits,
    Progress,
    campaign_spec,
    spec_from_json,
    time_zone,
)


def test_defaults_and_a_round_trip_through_the_store() -> None:
    spec = campaign_spec({"name": "spring"}, CampaignLimits())
    assert (spec.per_second, spec.concurrency, spec.hours, spec.time_zone) == (
        1.0, 2, CallingHours(), "UTC",
    )  # fmt: skip
    assert spec.retry.delays["voicemail"] is None and spec.retry.max_attempts == 3
    full = campaign_spec({
        "name": "full", "line": "sales", "agent": "echo", "caller_id": "+15550100",
        "amd": "leave_message", "amd_message": "Call us back", "ring_timeout": 25,
        "per_second": 0.5, "concurrency": 4, "hours": "08:30-21:00", "days": "mon,sat",
        "time_zone": "Europe/Paris", "retry": {"busy": 60, "voicemail": 3600},
        "max_attempts": 5, "ivr_goal": "reach billing",
    }, CampaignLimits())  # fmt: skip
    assert full.amd is not None and full.amd.mode is AmdMode.LEAVE_MESSAGE
    assert full.ivr_goal == "reach billing" and spec.ivr_goal is None
    assert full.hours == CallingHours(8 * 60 + 30, 21 * 60, frozenset({0, 5}))
    assert spec_from_json(full.as_json()) == full
    assert spec_from_json(spec.as_json()) == spec


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, '"name" is required'),
        ({"name": "x", "colour": 1}, 'unknown field "colour"'),
        ({"name": "x", "concurrency": 21}, '"concurrency" must be a whole number from 1 to 20'),
        ({"name": "x", "per_second": 0}, '"per_second" must be a number more than 0'),
        ({"name": "x", "per_second": True}, '"per_second" must be a number'),
        ({"name": "x", "hours": "09:00-09:00"}, '"hours": the window must not be empty'),
        ({"name": "x", "days": "mon,fun"}, "\"days\": 'fun' is not one of"),
        ({"name": "x", "time_zone": "../etc/passwd"}, '"time_zone":'),
        ({"name": "x", "max_attempts": 11}, '"max_attempts" must be a whole number from 1 to 10'),
        ({"name": "x", "caller_id": "a\nb"}, '"caller_id" must be one line'),
        ({"name": "x", "ring_timeout": 601}, '"ring_timeout" must be a number'),
    ],
)
def test_a_bad_field_is_named(fields: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError) as raised:
        campaign_spec(fields, CampaignLimits())
    assert error in str(raised.value)


def test_time_zones_are_iana_names_this_machine_knows() -> None:
    assert time_zone(" Asia/Tokyo ") == "Asia/Tokyo"
    for bad in ("", "Mars/Base", "/etc/localtime", "x" * 65):
        with pytest.raises(ValueError):
            time_zone(bad)


def test_progress_as_json_has_every_count() -> None:
    counts = "total dialled person machine completed failed dnc cancelled dialing left"
    assert set(Progress().as_json()) == set(counts.split())
