"""The session timer usage (sipgw.sip.usages.sessiontimer, RFC 4028): refresh, or end the call.

Through the user agent core on a fake clock: 422 below our Min-SE, the
Session-Expires our 2xx announces, our UPDATE refreshes at half the interval,
the BYE when no refresh comes, and what a failed refresh of ours means (§10).
The negotiation alone is tested in ``tests/sipgw/sip/test_sessiontimer.py``.
"""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallState
from sipgw.sip.events import EndReason
from sipgw.sip.message import SipRequest, make_response
from tests.sipgw.sip.builders import ack_for, invite, request
from tests.sipgw.sip.ua_harness import Harness, answered_call, confirmed_call

WE_REFRESH = (
    "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE"
)


def our_first_refresh(h: Harness) -> SipRequest:
    """Confirm a call where we refresh, run to our first UPDATE (at 60 s) and return it."""
    confirmed_call(h, extra=WE_REFRESH)
    h.advance(60.0)
    (update,) = h.requests()
    assert update.method == "UPDATE"
    return update


def test_session_timer_too_small() -> None:
    h = Harness()
    h.feed(invite(extra="Session-Expires: 30\r\nSupported: timer"))
    (response,) = h.responses()
    assert response.status == 422 and response.headers.get("Min-SE") == "90"


def test_session_timer_expiry_and_refresh() -> None:
    h = Harness()
    call, ok = answered_call(h, extra="Session-Expires: 120;refresher=uac\r\nSupported: timer")
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert "timer" in ok.headers.get_all("Require")
    h.feed(ack_for(ok))
    h.advance(60.0)
    h.feed(request("UPDATE", cseq=2, to_tag=ok.to.tag, content_type=None,
                   extra="Session-Expires: 120;refresher=uac\r\nSupported: timer"))  # fmt: skip
    h.take()
    h.advance(60.0 + 119.0 - 32.0)
    assert h.take() == []  # refreshed at 60 s: nothing yet
    h.advance(60.0 + 120.0)
    byes = {m.top_via.branch for m in h.take() if isinstance(m, SipRequest) and m.method == "BYE"}
    assert len(byes) == 1
    assert h.ended()[0].reason is EndReason.SESSION_EXPIRED


def test_reinvite_refresh_resets_the_session_timer() -> None:
    """A peer that refreshes with re-INVITE must not be cut off at the first deadline."""
    h = Harness()
    timer = "Session-Expires: 120;refresher=uac\r\nSupported: timer"
    call, ok = answered_call(h, extra=timer)
    h.feed(ack_for(ok))
    h.advance(60.0)
    h.feed(invite(cseq=2, to_tag=ok.to.tag, extra=timer))
    refresh_ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(ack_for(refresh_ok, cseq=2))
    h.advance(60.0 + 119.0 - 32.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    assert call.state is CallState.CONFIRMED


def test_refresher_uas_makes_us_refresh_with_update() -> None:
    h = Harness()
    extra = (
        "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE"
    )
    call, ok = answered_call(h, extra=extra)
    assert ok.headers.get("Session-Expires") == "120;refresher=uas"  # RFC 4028 §9 Table 2
    assert "timer" not in ok.headers.get_all("Require")
    h.feed(ack_for(ok))
    h.advance(59.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    h.advance(61.0)  # half the interval: our UPDATE
    (update,) = {m.top_via.branch: m for m in h.take() if isinstance(m, SipRequest)}.values()
    assert update.method == "UPDATE" and not update.body
    assert update.headers.get("Session-Expires") == "120;refresher=uac"
    h.feed(make_response(update, 200).serialize())
    h.advance(61.0 + 59.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    h.advance(61.0 + 61.0)  # and again
    refreshes = [m for m in h.take() if isinstance(m, SipRequest)]
    assert refreshes and refreshes[0].method == "UPDATE"
    # A 481 to a refresh: the dialog is gone (§10) - BYE and end.
    h.feed(make_response(refreshes[0], 481).serialize())
    assert [m.method for m in h.take() if isinstance(m, SipRequest)] == ["BYE"]
    assert h.ended()[-1].reason is EndReason.SESSION_EXPIRED


def test_refresher_uas_without_update_support_means_no_timer() -> None:
    h = Harness()
    extra = "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE"
    call, ok = answered_call(h, extra=extra)
    assert ok.headers.get("Session-Expires") is None
    h.feed(ack_for(ok))
    h.advance(600.0)
    assert not [m for m in h.take() if isinstance(m, SipRequest)]
    assert call.state is CallState.CONFIRMED


@pytest.mark.parametrize(("interval", "bye_at"), [(90, 60.0), (120, 88.0), (1800, 1768.0)])
def test_without_a_refresh_the_bye_goes_min_32_or_a_third_before_expiry(
    interval: int, bye_at: float
) -> None:
    """§10: the side that does not refresh ends the session ``min(32, N/3)`` s before it expires."""
    h = Harness()
    call, _ = confirmed_call(h, extra=f"Session-Expires: {interval}\r\nSupported: timer")
    h.advance(bye_at - 0.001)
    assert h.requests() == [] and call.state is CallState.CONFIRMED
    h.advance(bye_at)
    assert [m.method for m in h.requests()] == ["BYE"]
    (ended,) = h.ended()
    assert ended.reason is EndReason.SESSION_EXPIRED


def test_our_min_se_is_a_setting_and_applies_to_update_too() -> None:
    h = Harness(min_session_expires=300)
    h.feed(request("INVITE", body="", extra="Session-Expires: 120\r\nSupported: timer"))
    (too_small,) = h.responses()
    assert too_small.status == 422 and too_small.headers.get("Min-SE") == "300"
    assert h.events == []
    call, ok = confirmed_call(h, call_id="second")
    h.feed(request("UPDATE", call_id="second", cseq=2, to_tag=ok.to.tag, content_type=None,
                   extra="Session-Expires: 200\r\nSupported: timer"))  # fmt: skip
    assert h.statuses() == [422]
    assert call.state is CallState.CONFIRMED


def test_a_caller_that_does_not_support_timers_gets_none() -> None:
    """§9: without ``Supported: timer`` in the request, no Session-Expires in our 2xx."""
    h = Harness()
    call, ok = answered_call(h, extra="Session-Expires: 120;refresher=uac")
    assert ok.headers.get("Session-Expires") is None and "timer" not in ok.headers.get_all(
        "Require"
    )
    h.feed(ack_for(ok))
    h.advance(3600.0)
    assert [m for m in h.take() if isinstance(m, SipRequest)] == []
    assert call.state is CallState.CONFIRMED


def test_a_refresh_that_gets_no_response_ends_the_call() -> None:
    """§10: a refresh timing out means the session is gone: BYE, reported as 408."""
    h = Harness()
    update = our_first_refresh(h)
    assert update.headers.get_all("Supported") == ["timer"] and update.contacts
    h.advance(60.0 + 32.0)  # Timer F: 64·T1 (the UPDATE resent meanwhile)
    assert [m.method for m in h.requests() if m.method != "UPDATE"] == ["BYE"]
    (ended,) = h.ended()
    assert (ended.reason, ended.status) == (EndReason.SESSION_EXPIRED, 408)


def test_a_refresh_refused_otherwise_stops_the_refreshes_and_the_call_goes_on() -> None:
    """§10: only 408 and 481 end the session; e.g. 405 leaves it without refreshes."""
    h = Harness()
    update = our_first_refresh(h)
    h.feed(make_response(update, 405).serialize())
    h.advance(3600.0)
    assert h.requests() == [] and h.ended() == []
