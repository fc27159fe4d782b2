"""The application's read-only view of a call (sipgw.sip.call)."""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallInfo, CallState, Direction
from sipgw.sip.headers import NameAddr

CALLER = NameAddr.parse('"Caller" <sip:+15551234567@192.0.2.10>;tag=abc')
CALLED = NameAddr.parse("<sip:agent@192.0.2.1>")
KEY = ("a-call-id-that-is-longer-than-24-characters@192.0.2.10", "our-tag")


def test_a_new_call_starts_where_its_direction_says() -> None:
    inbound = CallInfo(KEY, CALLER, CALLED)
    outbound = CallInfo(KEY, CALLED, CALLER, Direction.OUTBOUND)
    assert (inbound.direction, inbound.state, inbound.outbound) == (
        Direction.INBOUND, CallState.INCOMING, False,
    )  # fmt: skip
    assert (outbound.direction, outbound.state, outbound.outbound) == (
        Direction.OUTBOUND, CallState.CALLING, True,
    )  # fmt: skip
    assert inbound.media is None and not inbound.established


def test_what_the_view_reports() -> None:
    call = CallInfo(KEY, CALLER, CALLED)
    assert call.key == KEY and call.call_id == KEY[0] and call.trusted_identity == ""
    assert CallInfo(KEY, CALLER, CALLED, trusted_identity="+15551234567").trusted_identity == (
        "+15551234567"
    )
    assert call.caller is CALLER and call.called is CALLED
    assert call.log_id == KEY[0]  # whole: issue 39, ids alike to 24 characters logged alike
    assert repr(call) == f"<CallInfo {KEY[0]} INCOMING>"


@pytest.mark.parametrize("state", list(CallState))
def test_media_may_flow_only_once_answered_and_until_ending(state: CallState) -> None:
    call = CallInfo(KEY, CALLER, CALLED)
    call.update_state(state)  # the user agent core's, as the call runs
    assert call.state is state
    assert call.established is (state in (CallState.ANSWERED, CallState.CONFIRMED))


@pytest.mark.parametrize(
    "attribute", ["key", "caller", "called", "direction", "state", "media", "established"]
)
def test_every_attribute_is_read_only(attribute: str) -> None:
    call = CallInfo(KEY, CALLER, CALLED)
    with pytest.raises(AttributeError):
        setattr(call, attribute, None)


def test_no_attribute_can_be_added_and_calls_hash_by_identity() -> None:
    """The application keys its own tables by the view; two calls are never equal."""
    first, second = CallInfo(KEY, CALLER, CALLED), CallInfo(KEY, CALLER, CALLED)
    with pytest.raises(AttributeError):
        first.agent = object()  # type: ignore[attr-defined]
    assert first != second and len({first, second, first}) == 2
    assert {first: 1}[first] == 1
