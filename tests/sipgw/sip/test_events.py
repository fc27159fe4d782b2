"""Events the user agent core hands to the application (sipgw.sip.events): immutable, slotted,
each call's events naming it by its one read-only view."""

from __future__ import annotations

import dataclasses
import re
from enum import Enum
from typing import get_args

import pytest

import sipgw.sip.events
from sipgw.sip.call import CallInfo
from sipgw.sip.events import CallEnded, EndReason, RegistrationState, SipEvent, TransferStage
from sipgw.sip.headers import NameAddr

OURS = [
    value
    for value in vars(sipgw.sip.events).values()
    if getattr(value, "__module__", "") == "sipgw.sip.events"
]
EVENTS = sorted((cls for cls in OURS if dataclasses.is_dataclass(cls)), key=lambda c: c.__name__)
CALL = CallInfo(("id", "tag"), NameAddr.parse("<sip:a@b>"), NameAddr.parse("<sip:c@d>"))


def test_sip_event_is_every_event_and_all_are_exported() -> None:
    assert set(get_args(SipEvent)) == set(EVENTS)
    enums = {
        n for n, v in vars(sipgw.sip.events).items() if isinstance(v, type) and issubclass(v, Enum)
    }
    enums -= {"Enum", "Refusal"}  # imported, not ours
    assert set(sipgw.sip.events.__all__) == {cls.__name__ for cls in EVENTS} | enums | {"SipEvent"}


@pytest.mark.parametrize("event", EVENTS, ids=lambda cls: cls.__name__)
def test_every_event_is_frozen_and_slotted(event: type) -> None:
    params = event.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert vars(event).get("__slots__") == tuple(f.name for f in dataclasses.fields(event))


@pytest.mark.parametrize("event", EVENTS, ids=lambda cls: cls.__name__)
def test_an_event_about_a_call_names_it_first(event: type) -> None:
    fields = dataclasses.fields(event)
    about_a_call = event.__name__.startswith(("Call", "Media", "Dtmf", "Transfer", "Recording"))
    assert (fields[0].name == "call" and fields[0].type in (CallInfo, "CallInfo")) is about_a_call


def test_an_event_cannot_be_changed_and_compares_by_value() -> None:
    ended = CallEnded(CALL, EndReason.REMOTE_BYE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ended.reason = EndReason.LOCAL_BYE  # type: ignore[misc]
    assert ended == CallEnded(CALL, EndReason.REMOTE_BYE, None)
    assert ended != CallEnded(CALL, EndReason.REMOTE_BYE, 200)


@pytest.mark.parametrize("enum", [EndReason, TransferStage, RegistrationState])
def test_the_values_logs_show_are_distinct_lowercase_words(enum: type[Enum]) -> None:
    values = [member.value for member in enum]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", value) for value in values)
