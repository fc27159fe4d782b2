"""Floods and scanners: token buckets, the flood guard, call-rate limits, in the core too."""

from __future__ import annotations

import pytest

from sipgw.app.security.floods import FloodSettings
from sipgw.app.security.settings import limit_action, rate, user_agent_fragments
from sipgw.sip.addressing import Flow
from sipgw.sip.events import CallOffered
from sipgw.sip.ratelimit import (
    CallRateConfig,
    CallRateLimiter,
    CallRateRefusal,
    FloodConfig,
    FloodGuard,
    FloodVerdict,
    LimitAction,
    Rate,
    RequestKind,
    TokenBucket,
    is_anonymous,
)
from tests.sipgw.sip.builders import invite, parse_request, request
from tests.sipgw.sip.ua_harness import Harness

FLOOD = Flow("UDP", ("198.51.100.66", 5060))


def offered(h: Harness) -> list[CallOffered]:
    return [e for e in h.events if isinstance(e, CallOffered)]


# --------------------------------------------------------------------------- token buckets


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    r = Rate(2, 3)
    bucket = TokenBucket(r, now=0.0)
    assert [bucket.take(r, 0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(r, 0.4)  # 0.8 token
    assert bucket.take(r, 0.5)  # 1.0
    assert not bucket.take(r, 0.5)
    assert [bucket.take(r, 100.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_a_clock_going_back_adds_nothing() -> None:
    r = Rate(1, 1)
    bucket = TokenBucket(r, now=10.0)
    assert bucket.take(r, 10.0)
    assert not bucket.take(r, 5.0) and not bucket.take(r, 5.5)


def test_a_bucket_says_when_it_holds_a_token_again() -> None:
    r = Rate(0.5, 1)  # one token per 2 s
    bucket = TokenBucket(r, now=0.0)
    assert bucket.wait(r, 0.0) == 0.0 and bucket.take(r, 0.0)
    assert bucket.wait(r, 0.0) == pytest.approx(2.0)
    assert bucket.wait(r, 1.5) == pytest.approx(0.5)  # asking takes nothing
    assert not bucket.take(r, 1.5) and bucket.take(r, 2.0)
    assert TokenBucket(Rate(0, 0), 0.0).wait(Rate(0, 0), 0.0) == 0.0


def test_request_kinds() -> None:
    assert RequestKind.of("INVITE") is RequestKind.INVITE
    assert RequestKind.of("REGISTER") is RequestKind.REGISTER
    assert RequestKind.of("OPTIONS") is RequestKind.OPTIONS
    assert RequestKind.of("BYE") is RequestKind.OTHER
    assert RequestKind.of("FOO") is RequestKind.OTHER


# --------------------------------------------------------------------------- the guard alone


def test_limited_requests_get_one_503_per_retry_after_period_then_drops() -> None:
    guard = FloodGuard(FloodConfig(invite=Rate(1, 2), retry_after=5))
    req = parse_request(invite())
    verdicts = [guard.check(req, "198.51.100.66", 0.0) for _ in range(5)]
    assert verdicts == [FloodVerdict.PASS] * 2 + [FloodVerdict.REJECT] + [FloodVerdict.DROP] * 2
    assert guard.check(req, "198.51.100.66", 4.9) is FloodVerdict.PASS  # refilled
    assert guard.check(req, "198.51.100.66", 4.9) is FloodVerdict.PASS
    assert guard.check(req, "198.51.100.66", 4.9) is FloodVerdict.DROP  # 503 sent at 0.0
    assert guard.check(req, "198.51.100.66", 5.0) is FloodVerdict.REJECT  # a new period
    c = guard.counters
    assert (c.rate_limited, c.rate_limit_replies, c.scanners_dropped) == (5, 2, 0)


def test_a_request_is_dropped_unread_only_once_its_source_had_its_503() -> None:
    guard = FloodGuard(FloodConfig(invite=Rate(1, 2), retry_after=5))
    req, host = parse_request(invite()), "198.51.100.66"
    assert not guard.drops_unread(RequestKind.INVITE, host, 0.0)  # a source not seen yet
    assert [guard.check(req, host, 0.0) for _ in range(2)] == [FloodVerdict.PASS] * 2
    assert not guard.drops_unread(RequestKind.INVITE, host, 0.0)  # empty, but its 503 is due
    assert guard.check(req, host, 0.0) is FloodVerdict.REJECT
    assert guard.drops_unread(RequestKind.INVITE, host, 0.5)  # empty and answered
    assert not guard.drops_unread(RequestKind.OPTIONS, host, 0.5)  # its own bucket
    assert not guard.drops_unread(RequestKind.INVITE, host, 1.0)  # a token again
    assert guard.check(req, host, 1.0) is FloodVerdict.PASS
    assert guard.drops_unread(RequestKind.INVITE, host, 1.5)
    assert not guard.drops_unread(RequestKind.INVITE, host, 5.0)  # a new 503 period
    assert guard.counters.rate_limited == 3  # the REJECT and the two dropped unread


def test_with_the_drop_action_an_empty_bucket_drops_unread() -> None:
    guard = FloodGuard(FloodConfig(options=Rate(1, 1), action=LimitAction.DROP))
    assert guard.check(parse_request(request("OPTIONS")), "192.0.2.9", 0.0) is FloodVerdict.PASS
    assert guard.drops_unread(RequestKind.OPTIONS, "192.0.2.9", 0.0)


def test_the_drop_action_never_answers() -> None:
    guard = FloodGuard(FloodConfig(options=Rate(1, 1), action=LimitAction.DROP))
    req = parse_request(request("OPTIONS"))
    assert guard.check(req, "192.0.2.9", 0.0) is FloodVerdict.PASS
    assert {guard.check(req, "192.0.2.9", 0.0) for _ in range(10)} == {FloodVerdict.DROP}
    assert guard.counters.rate_limit_replies == 0 and guard.counters.rate_limited == 10


def test_sources_and_kinds_have_buckets_of_their_own() -> None:
    guard = FloodGuard(FloodConfig(invite=Rate(1, 1), options=Rate(1, 1)))
    inv, opt = parse_request(invite()), parse_request(request("OPTIONS"))
    assert guard.check(inv, "192.0.2.1", 0.0) is FloodVerdict.PASS
    assert guard.check(inv, "192.0.2.1", 0.0) is not FloodVerdict.PASS
    assert guard.check(opt, "192.0.2.1", 0.0) is FloodVerdict.PASS  # another kind
    assert guard.check(inv, "192.0.2.2", 0.0) is FloodVerdict.PASS  # another source


def test_an_ipv6_64_is_one_source() -> None:
    """Issue 39: one IPv6 host holds a /64; each of its addresses got fresh buckets."""
    guard = FloodGuard(FloodConfig(invite=Rate(1, 10)))
    inv = parse_request(invite())
    verdicts = [guard.check(inv, f"2001:db8:1:2::{i:x}", 0.0) for i in range(1, 21)]
    assert verdicts.count(FloodVerdict.PASS) == 10 and guard.sources == 1
    assert guard.check(inv, "2001:db8:1:3::1", 0.0) is FloodVerdict.PASS  # the next /64
    assert guard.check(inv, "[2001:db8:1:2:ffff::1]", 0.0) is not FloodVerdict.PASS


def test_the_prefixes_are_configurable() -> None:
    guard = FloodGuard(FloodConfig(invite=Rate(1, 1), ipv4_prefix=24, ipv6_prefix=128))
    inv = parse_request(invite())
    assert guard.check(inv, "192.0.2.1", 0.0) is FloodVerdict.PASS
    assert guard.check(inv, "192.0.2.77", 0.0) is not FloodVerdict.PASS  # the same /24
    assert guard.check(inv, "2001:db8::1", 0.0) is FloodVerdict.PASS
    assert guard.check(inv, "2001:db8::2", 0.0) is FloodVerdict.PASS  # /128: each its own
    # IPv4 by default one address each; an IPv4-mapped address is the IPv4 source
    guard = FloodGuard(FloodConfig(invite=Rate(1, 1)))
    assert guard.check(inv, "192.0.2.1", 0.0) is FloodVerdict.PASS
    assert guard.check(inv, "192.0.2.2", 0.0) is FloodVerdict.PASS
    assert guard.check(inv, "::ffff:192.0.2.1", 0.0) is not FloodVerdict.PASS


def test_an_unlimited_kind_keeps_no_state() -> None:
    guard = FloodGuard(FloodConfig(other=Rate(0, 0)))
    bye = parse_request(request("BYE", to_tag="x"))
    assert all(guard.check(bye, f"10.0.{i // 256}.{i % 256}", 0.0) is FloodVerdict.PASS
               for i in range(1000))  # fmt: skip
    assert guard.sources == 0


def test_the_source_table_stays_bounded_under_forged_sources() -> None:
    guard = FloodGuard(FloodConfig(max_sources=100))
    req = parse_request(request("OPTIONS"))
    guard.check(req, "192.0.2.1", 0.0)
    for i in range(10_000):
        guard.check(req, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 0.0)
        if i % 50 == 0:
            guard.check(req, "192.0.2.1", 0.0)  # a peer seen often stays in the table
    assert guard.sources == 100
    assert guard.counters.sources_evicted == 10_001 - 100
    assert "192.0.2.1" in guard._sources


@pytest.mark.parametrize(
    "agent",
    ["friendly-scanner", "sipvicious 0.3.4", "SIPCLI/v1.8", "VaxSIPUserAgent/3.1", "pplsip",
     "Friendly-Scanner", "sipptk", "mega sip-scan tool"],
)  # fmt: skip
def test_scanner_user_agents_are_dropped(agent: str) -> None:
    guard = FloodGuard()
    req = parse_request(request("OPTIONS", extra=f"User-Agent: {agent}"))
    assert guard.check(req, "192.0.2.9", 0.0) is FloodVerdict.DROP
    assert guard.counters.scanners_dropped == 1 and guard.sources == 0


@pytest.mark.parametrize("agent", ["baresip v3.10.1", "Linphone/5.2", "Zoiper rv2.10", "", "sipp"])
def test_ordinary_user_agents_pass(agent: str) -> None:
    extra = f"User-Agent: {agent}" if agent else ""
    req = parse_request(request("OPTIONS", extra=extra))
    assert FloodGuard().check(req, "192.0.2.9", 0.0) is FloodVerdict.PASS


def test_the_scanner_list_is_extendable_and_can_be_off() -> None:
    req = parse_request(request("OPTIONS", extra="User-Agent: WarDialer 2000"))
    assert FloodGuard().check(req, "192.0.2.9", 0.0) is FloodVerdict.PASS
    extended = FloodGuard(FloodConfig(scanner_user_agents=("wardialer",)))
    assert extended.check(req, "192.0.2.9", 0.0) is FloodVerdict.DROP
    scanner = parse_request(request("OPTIONS", extra="User-Agent: friendly-scanner"))
    assert (
        FloodGuard(FloodConfig(scanner_user_agents=())).check(scanner, "192.0.2.9", 0.0)
        is FloodVerdict.PASS
    )


# --------------------------------------------------------------------------- call rates


def from_(user: str, host: str = "192.0.2.10") -> bytes:
    return invite(extra="").replace(b"sip:+15551234567@192.0.2.10", f"sip:{user}@{host}".encode())


def test_calls_per_caller_per_minute() -> None:
    limiter = CallRateLimiter(CallRateConfig(Rate(0, 0), Rate(6, 2)))  # 6/min = 1 per 10 s
    alice, bob = parse_request(from_("alice")), parse_request(from_("bob"))
    assert limiter.admit(alice, 0.0) is None and limiter.admit(alice, 0.0) is None
    assert limiter.admit(alice, 0.0) == "caller's call rate exceeded"
    assert limiter.admit(bob, 0.0) is None
    assert limiter.admit(alice, 9.0) is not None and limiter.admit(alice, 10.5) is None
    assert limiter.limited_caller == 2 and limiter.limited_global == 0


def test_anonymous_callers_only_count_globally() -> None:
    limiter = CallRateLimiter(CallRateConfig(Rate(1, 3), Rate(1, 1)))
    anonymous = parse_request(from_("anonymous", "anonymous.invalid"))
    assert CallRateLimiter.caller_key(anonymous) is None
    assert [limiter.admit(anonymous, 0.0) for _ in range(4)] == [None, None, None,
                                                                "call rate exceeded"]  # fmt: skip
    assert limiter.limited_global == 1


def test_callers_of_other_legs_share_the_gateways_rate_with_their_own_keys() -> None:
    limiter = CallRateLimiter(CallRateConfig(Rate(1, 3), Rate(6, 1)))  # caller: 1 per 10 s
    sip = parse_request(from_("alice"))
    assert limiter.admit(sip, 0.0) is None
    assert limiter.admit_caller("browser:192.0.2.7", 0.0) is None
    refused = limiter.admit_caller("browser:192.0.2.7", 1.0)
    assert refused is not None and refused.retry_after == pytest.approx(9.0)
    assert refused == CallRateRefusal("caller's call rate exceeded", refused.retry_after, True)
    assert limiter.admit_caller("twilio:+15551234567", 1.0) is None
    assert limiter.admit_caller(None, 1.0) is None  # anonymous: the gateway's rate only
    refused = limiter.admit_caller(None, 1.0)  # the gateway's bucket is empty now
    assert refused is not None and refused.retry_after == pytest.approx(1.0)
    assert refused == CallRateRefusal("call rate exceeded", refused.retry_after, False)
    assert limiter.admit(parse_request(from_("bob")), 1.5) == "call rate exceeded"
    assert (limiter.limited_caller, limiter.limited_global) == (1, 2)


@pytest.mark.parametrize("user", ["anonymous", "Anonymous", "RESTRICTED", "unknown", "", " "])
def test_withheld_callers_are_anonymous(user: str) -> None:
    assert is_anonymous(user)
    assert not is_anonymous("+15551234567") and not is_anonymous("client:alice")


def test_the_caller_table_stays_bounded() -> None:
    limiter = CallRateLimiter(CallRateConfig(Rate(0, 0), Rate(1, 1), max_callers=10))
    for i in range(100):
        limiter.admit(parse_request(from_(f"u{i}")), 0.0)
    assert len(limiter._callers) == 10


# --------------------------------------------------------------------------- inside the core


def guarded(flood: FloodConfig | None = None, calls: CallRateConfig | None = None) -> Harness:
    h = Harness()
    h.ua.flood = FloodGuard(flood or FloodConfig())
    h.ua.call_rate = CallRateLimiter(calls or CallRateConfig(Rate(0, 0), Rate(0, 0)))
    return h


def test_an_invite_flood_creates_no_transaction_and_gets_one_503() -> None:
    h = guarded(FloodConfig(invite=Rate(1, 2), retry_after=7))
    for i in range(50):
        h.feed(invite(call_id=f"flood-{i}", from_tag=f"t{i}"), FLOOD)
    responses = h.responses()
    assert [r.status for r in responses].count(100) == 2  # the burst became calls
    (busy,) = [r for r in responses if r.status == 503]
    assert busy.headers.get("Retry-After") == "7"
    assert busy.reason == "Service Unavailable"  # nothing on our defences (issue 39)
    assert len(offered(h)) == 2 and len(h.ua._ctx.transactions.server) == 2
    assert h.ua.flood is not None and h.ua.flood.counters.rate_limited == 48


def test_a_retransmission_of_an_admitted_invite_is_not_charged() -> None:
    h = guarded(FloodConfig(invite=Rate(1, 1)))
    data = invite(via_branch="z9hG4bKonce")
    for _ in range(5):
        h.feed(data)  # the INVITE, then its retransmissions: 100 each time (§17.2.1)
    assert h.statuses() == [100] * 5
    assert h.ua.flood is not None and h.ua.flood.counters.rate_limited == 0


def test_a_scanner_gets_nothing_and_no_transaction() -> None:
    h = guarded()
    h.feed(request("OPTIONS", extra="User-Agent: friendly-scanner"), FLOOD)
    h.feed(invite(extra="User-Agent: sipvicious"), FLOOD)
    assert h.take() == [] and h.ua._ctx.transactions.server == {} and offered(h) == []


def test_garbage_answers_are_limited_too() -> None:
    h = guarded(FloodConfig(other=Rate(1, 3)))
    bad = invite().replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    for _ in range(20):
        h.feed(bad, FLOOD)
    assert [data.split(b"\r\n")[0] for _, data, _ in h.sent] == [
        b"SIP/2.0 400 Bad Request (invalid CSeq 'one INVITE')"
    ] * 3


def test_a_flooding_sources_requests_are_dropped_before_they_are_parsed() -> None:
    h = guarded(FloodConfig(invite=Rate(1, 1)))
    for i in range(3):
        h.feed(invite(call_id=f"flood-{i}", from_tag=f"t{i}"), FLOOD)
    assert [r.status for r in h.responses()] == [100, 503]  # the third dropped unread
    # A broken INVITE would be parsed and answered 400 (its own "other" bucket is full);
    # from a source over its INVITE limit it is dropped before the parser sees it.
    bad = invite(call_id="bad").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    h.feed(b"\r\n" + bad, FLOOD)
    assert h.take() == []
    assert h.ua.flood is not None and h.ua.flood.counters.rate_limited == 3
    # Its other requests, its responses and ACKs, and other sources go on.
    h.feed(request("OPTIONS", call_id="o"), FLOOD)
    h.feed(invite(call_id="quiet"))
    assert sorted(h.statuses()) == [100, 200]


def test_over_tcp_a_flooding_sources_requests_are_parsed_and_answered() -> None:
    h = guarded(FloodConfig(invite=Rate(1, 1)))
    tcp = Flow("TCP", FLOOD.address, connection_id=7)
    for i in range(3):
        h.feed(invite(call_id=f"flood-{i}", from_tag=f"t{i}"), tcp)
    assert [r.status for r in h.responses()] == [100, 503, 503]  # each one answered


def test_options_keep_working_for_a_quiet_peer_while_another_floods() -> None:
    h = guarded()
    for i in range(200):
        h.feed(request("OPTIONS", call_id=f"f{i}"), FLOOD)
    h.take()
    h.feed(request("OPTIONS", call_id="probe"))
    assert h.statuses() == [200]


def test_the_call_rate_limit_answers_503_after_the_access_check() -> None:
    h = guarded(calls=CallRateConfig(Rate(1, 1), Rate(0, 0)))
    h.feed(invite(call_id="a", from_tag="a"))
    h.feed(invite(call_id="b", from_tag="b"))
    responses = h.responses()
    assert [r.status for r in responses] == [100, 503]
    assert responses[1].headers.get("Retry-After") == "30"  # as every 503 of the core
    assert len(offered(h)) == 1 and h.ua.call_rate is not None
    assert h.ua.call_rate.limited_global == 1


def test_in_dialog_requests_are_not_charged_to_the_call_rate() -> None:
    h = guarded(calls=CallRateConfig(Rate(1, 1), Rate(0, 0)))
    h.feed(invite())
    call = h.offered()
    h.act(h.ua.ring, call)
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    h.feed(request("ACK", to_tag=ok.to.tag, cseq_method="ACK"))
    h.feed(invite(to_tag=ok.to.tag, cseq=2))  # a re-INVITE
    assert 200 in h.statuses()
    assert h.ua.call_rate is not None and h.ua.call_rate.limited_global == 0


# --------------------------------------------------------------------------- settings


def test_rate_setting_parses() -> None:
    assert rate("5:10") == Rate(5, 10)
    assert rate("0.5") == Rate(0.5, 1)
    assert rate("0").unlimited and rate("0:99").unlimited
    for bad in ("x", "5:", "-1:2", "1:0.5", "nan:3"):
        with pytest.raises(ValueError):
            rate(bad)
    assert limit_action(" DROP ") is LimitAction.DROP and limit_action("503") is LimitAction.REJECT
    with pytest.raises(ValueError):
        limit_action("reject")
    assert user_agent_fragments("Foo, bar,,foo") == ("foo", "bar")


def test_the_prefix_settings_reach_the_guard() -> None:
    from sipgw.app.security.settings import RateLimitSection

    section = RateLimitSection(rate_ipv4_prefix=24, rate_ipv6_prefix=56)
    flood = FloodSettings.of(section).flood
    assert (flood.ipv4_prefix, flood.ipv6_prefix) == (24, 56)
    assert "IPv4 /24, IPv6 /56" in FloodSettings.of(section).describe()
    assert (FloodConfig().ipv4_prefix, FloodConfig().ipv6_prefix) == (32, 64)


def test_the_defaults_limit_and_off_lifts_everything() -> None:
    on, off = FloodSettings(), FloodSettings.off()
    assert on.flood.invite == Rate(5, 10) and on.flood.scanner_user_agents
    assert on.calls.global_rate == Rate(10, 20)
    assert "INVITE 5:10" in on.describe() and "scanner User-Agents dropped" in on.describe()
    guard, calls = off.build(0.0)
    scanner = parse_request(invite(extra="User-Agent: friendly-scanner"))
    assert all(guard.check(scanner, "192.0.2.1", 0.0) is FloodVerdict.PASS for _ in range(100))
    assert all(calls.admit(scanner, 0.0) is None for _ in range(100))
