"""The one-time stream token (sipgw/twilio/token.py), on an injected clock."""

from __future__ import annotations

import pytest

from sipgw.twilio.token import TOKEN_LIFETIME, StreamTokenRefused, StreamTokens

KEY = b"k" * 32
CALL = "CA" + "1" * 32
OTHER = "CA" + "1" * 22 + "2" * 10  # the same first 24 characters
PASSED = {"From": "+15551230001", "To": "+15557650002", "CallerName": "Ann"}


def test_a_token_opens_its_calls_stream_once() -> None:
    tokens = StreamTokens(KEY)
    token = tokens.issue(CALL, PASSED, now=100.0)
    assert token.startswith(CALL + ".100000.") and len(token) < 120
    tokens.check(token, CALL, PASSED, now=100.4)
    with pytest.raises(StreamTokenRefused, match="used already"):
        tokens.check(token, CALL, PASSED, now=100.5)
    assert len(tokens) == 1


@pytest.mark.parametrize(
    ("token", "call_sid", "parameters", "why"),
    [
        ("", CALL, PASSED, "no stream token"),
        ("garbage", CALL, PASSED, "malformed"),
        ("{token}", OTHER, PASSED, f"for call {CALL}, not this one"),
        ("{token}", CALL, {**PASSED, "From": "+15550000000"}, "parameters changed"),
        ("{token}", CALL, {**PASSED, "extra": "1"}, "parameters changed"),
        ("{token}", CALL, {"From": PASSED["From"]}, "parameters changed"),
        ("{other}", CALL, PASSED, "not ours"),
        ("{forged_time}", CALL, PASSED, "not ours"),
    ],
)
def test_a_token_that_does_not_bind_this_stream_is_refused(
    token: str, call_sid: str, parameters: dict[str, str], why: str
) -> None:
    tokens = StreamTokens(KEY)
    ours = tokens.issue(CALL, PASSED, now=10.0)
    sid, _, mac = ours.split(".")
    given = token.format(
        token=ours,
        other=StreamTokens(b"x" * 32).issue(CALL, PASSED, now=10.0),
        forged_time=f"{sid}.20000.{mac}",  # a later time on our MAC: not ours
    )
    with pytest.raises(StreamTokenRefused, match=why):
        tokens.check(given, call_sid, parameters, now=10.5)
    assert len(tokens) == 0  # nothing used: the real stream still gets in
    tokens.check(ours, CALL, PASSED, now=10.5)


def test_a_token_is_valid_for_its_lifetime_only() -> None:
    tokens = StreamTokens(KEY)
    late = tokens.issue(CALL, PASSED, now=0.0)
    with pytest.raises(StreamTokenRefused, match="expired 0.0 s ago"):
        tokens.check(late, CALL, PASSED, now=TOKEN_LIFETIME)
    early = tokens.issue(OTHER, PASSED, now=50.0)
    with pytest.raises(StreamTokenRefused, match="in the future"):
        tokens.check(early, OTHER, PASSED, now=45.0)  # another clock's
    tokens.check(early, OTHER, PASSED, now=50.0 + TOKEN_LIFETIME - 0.01)


def test_the_used_table_is_bounded_and_forgets_only_expired_tokens() -> None:
    tokens = StreamTokens(KEY, lifetime=30.0, most=3)
    for n in range(3):
        sid = f"CA{n:032d}"
        tokens.check(tokens.issue(sid, {}, now=float(n)), sid, {}, now=float(n))
    full = tokens.issue("CA9", {}, now=10.0)
    with pytest.raises(StreamTokenRefused, match="3 streams started in 30 s"):
        tokens.check(full, "CA9", {}, now=10.0)  # refused, not an unexpired one forgotten
    assert len(tokens) == 3
    tokens.check(full, "CA9", {}, now=30.0)  # the first one's token expired: it goes
    assert len(tokens) == 3
    with pytest.raises(StreamTokenRefused, match="used already"):  # the second is still known
        tokens.check(tokens.issue(f"CA{1:032d}", {}, now=30.0), f"CA{1:032d}", {}, now=30.0)
    # remembered past its token's lifetime: a new token (a replayed webhook's) for a Call
    # SID whose stream ran is refused too
    again = tokens.issue("CA9", {}, now=100.0)
    with pytest.raises(StreamTokenRefused, match="used already"):
        tokens.check(again, "CA9", {}, now=100.0)


def test_only_twilio_sids_and_real_keys() -> None:
    with pytest.raises(ValueError, match="not a Twilio SID"):
        StreamTokens(KEY).issue("CA1.2", {}, now=0.0)
    with pytest.raises(ValueError, match="8 bytes"):
        StreamTokens(b"12345678")
