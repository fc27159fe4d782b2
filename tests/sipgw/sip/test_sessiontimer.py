"""Session timers as the UAS decides them (sipgw.sip.sessiontimer, RFC 4028): pure negotiation.

What the user agent does with the outcome (422, UPDATE refreshes, the BYE at
expiry) is tested in ``tests/sipgw/sip/usages/test_sessiontimer.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import Headers
from sipgw.sip.sessiontimer import SessionTimer, negotiate, parse_session_expires
from tests.sipgw.sip.builders import parse_request, request


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1800", (1800, None)),
        ("1800;refresher=uac", (1800, "uac")),
        (" 90 ; Refresher = UAS ", (90, "uas")),
        ("600;foo=bar;refresher=uac", (600, "uac")),
        ("600;refresher=", (600, None)),
    ],
)
def test_parse_session_expires(value: str, parsed: tuple[int, str | None]) -> None:
    assert parse_session_expires(value) == parsed


@pytest.mark.parametrize("value", ["", "soon", "1800s;refresher=uac", ";refresher=uac"])
def test_a_session_expires_that_is_no_delta_seconds_is_400(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as refused:
        parse_session_expires(value)
    assert refused.value.status_hint == 400


def headers(*lines: str) -> Headers:
    """The headers of an INVITE with these extra lines, as parsed (lists split at commas)."""
    return parse_request(request("INVITE", extra="\r\n".join(lines))).headers


UPDATE_ALLOWED = ["INVITE", "ACK", "BYE", "update"]


@pytest.mark.parametrize(
    ("request_lines", "allow", "timer"),
    [
        ((), UPDATE_ALLOWED, None),
        (("Session-Expires: 1800",), UPDATE_ALLOWED, None),  # no Supported: timer
        (("Session-Expires: 1800", "Supported: 100rel, Timer"), [], SessionTimer(1800, False)),
        (("Session-Expires: 1800;refresher=uac", "Supported: timer"), [],
         SessionTimer(1800, False)),
        (("Session-Expires: 1800;refresher=uas", "Supported: timer"), UPDATE_ALLOWED,
         SessionTimer(1800, True)),
        (("Session-Expires: 1800;refresher=uas", "Supported: timer"), ["INVITE", "BYE"], None),
    ],
    ids=["none", "unsupported", "uac-chooses-none", "uac", "uas", "uas-without-update"],
)  # fmt: skip
def test_who_refreshes(
    request_lines: tuple[str, ...], allow: list[str], timer: SessionTimer | None
) -> None:
    """RFC 4028 §9 Table 2; we refresh only with UPDATE, else no timer at all."""
    assert negotiate(headers(*request_lines), allow) == timer


def test_the_header_we_answer_with() -> None:
    assert SessionTimer(1800, we_refresh=True).header == "1800;refresher=uas"
    assert SessionTimer(90, we_refresh=False).header == "90;refresher=uac"


@pytest.mark.parametrize(
    ("interval", "expire"), [(90, 60.0), (96, 64.0), (97, 65.0), (1800, 1768.0)]
)
def test_the_deadlines(interval: int, expire: float) -> None:
    """§10: refresh at half the interval; expire ``min(32, N/3)`` seconds before its end."""
    timer = SessionTimer(interval, we_refresh=False)
    assert timer.refresh_after == interval / 2
    assert timer.expire_after == pytest.approx(expire, abs=0.34)


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_a_refresh_always_comes_before_the_session_is_given_up(interval: int) -> None:
    timer = SessionTimer(interval, we_refresh=True)
    assert 0 < timer.refresh_after < timer.expire_after < interval
