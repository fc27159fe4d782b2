"""Floods and scanners: per-source rate limits, call-rate limits, scanner User-Agents; sans-IO.

Theory of operation
-------------------
Every request that would start something - a new transaction - passes the
:class:`FloodGuard` before the transaction layer sees it (retransmissions of a
transaction that exists, and ACKs, never do: they create nothing). The guard

1. drops a request whose ``User-Agent`` contains one of the known scanner
   names (case-insensitive substring), silently: a scanner learns nothing;
2. takes one token from the source address's bucket for the request's kind
   (:class:`RequestKind`: INVITE, REGISTER, OPTIONS, everything else). With no
   token left the request is *limited*: answered ``503`` with ``Retry-After``
   (RFC 3261 §21.5.4) once per Retry-After period per source and dropped
   otherwise, or always dropped (:attr:`LimitAction.DROP`). A peer that honours
   Retry-After backs off; a flood gets at most one response per period. Over
   TCP and TLS (``reliable``), where the handshake proved the source and a
   dropped request would leave a real peer waiting, every limited request gets
   its 503 (with :attr:`LimitAction.DROP` the connection is closed instead).

Over UDP a request that step 2 would drop unanswered is dropped before it is parsed
(:meth:`FloodGuard.drops_unread`, on its start line's method alone): a flood then costs
a bucket lookup per datagram, not a parse, so the gateway keeps up with more of it and the
socket's buffer stays free for other peers' datagrams. Retransmissions from such a source
are dropped with the rest: its transactions' responses are not sent again until its bucket
refills (an INVITE's 2xx is retransmitted by the dialog anyway, RFC 3261 §13.3.1.4).

A *source* is a network, not an address (:func:`~sipgw.sip.sourcekey.source_key`):
an IPv4 address (:attr:`FloodConfig.ipv4_prefix`, /32 by default) or an IPv6 /64
(:attr:`FloodConfig.ipv6_prefix`), since one IPv6 host holds a /64 and would
otherwise get a fresh set of buckets per address.

Sources live in a table of at most :attr:`FloodConfig.max_sources` entries,
least recently seen evicted first, so a flood from forged addresses cannot grow
memory; an evicted source comes back with full buckets (forged sources are what
the global call-rate cap is for).

:class:`CallRateLimiter` caps admitted calls: new calls per second over the
whole gateway, and calls per minute per caller (the From URI's ``user@host``;
anonymous callers are left to the global cap, since behind a trunk they share
one From). It runs after the access check, so refused or challenged INVITEs
never use up the calls of legitimate callers. Calls that do not come over SIP
(a browser, a Twilio stream) draw from the same global bucket, with a caller
key of their own (:meth:`CallRateLimiter.admit_caller`), so the gateway's call
rate is one budget whatever the leg; a refusal says when a call may pass again
(:attr:`CallRateRefusal.retry_after`).

Each bucket holds ``burst`` tokens and refills at ``rate`` per second
(:class:`TokenBucket`); every method takes ``now`` (seconds, any monotonic
clock).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from sipgw.sip.message import SipRequest
from sipgw.sip.sourcekey import IPV4_PREFIX, IPV6_PREFIX, source_key

__all__ = [
    "SCANNER_USER_AGENTS",
    "CallRateConfig",
    "CallRateLimiter",
    "CallRateRefusal",
    "FloodConfig",
    "FloodGuard",
    "FloodVerdict",
    "LimitAction",
    "Rate",
    "RequestKind",
    "TokenBucket",
    "is_anonymous",
]

SCANNER_USER_AGENTS = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent",
    "pplsip",
    "sundayddr",
    "iwar",
    "sivus",
    "sipptk",
    "smap",
    "nmap",
)
"""User-Agent fragments of well-known SIP scanners and war-diallers (SIPVicious' svmap and
svwar announce themselves as ``friendly-scanner``; sippts as ``sipptk``)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's refill rate and size.

    Attributes:
        per_second: tokens added per second; 0 = no limit.
        burst: most tokens held (requests allowed at once after a quiet spell).
    """

    per_second: float
    burst: float

    @property
    def unlimited(self) -> bool:
        """Whether this rate limits nothing."""
        return self.per_second <= 0

    def __str__(self) -> str:
        if self.unlimited:
            return "0"
        return f"{self.per_second:g}:{self.burst:g}"


class TokenBucket:
    """``burst`` tokens, refilled continuously at ``per_second``; starts full."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, rate: Rate, now: float) -> None:
        self.tokens = rate.burst
        self.stamp = now

    def take(self, rate: Rate, now: float) -> bool:
        """Take one token if there is one; False when the bucket is empty."""
        if rate.unlimited:
            return True
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(rate.burst, self.tokens + elapsed * rate.per_second)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def wait(self, rate: Rate, now: float) -> float:
        """Seconds until the bucket holds a token again (0 when it holds one now)."""
        if rate.unlimited:
            return 0.0
        tokens = min(rate.burst, self.tokens + max(0.0, now - self.stamp) * rate.per_second)
        return max(0.0, (1.0 - tokens) / rate.per_second)


class RequestKind(Enum):
    """Which bucket a request draws from."""

    INVITE = "invite"
    REGISTER = "register"
    OPTIONS = "options"
    OTHER = "other"

    @classmethod
    def of(cls, method: str) -> RequestKind:
        """The kind of a request method."""
        try:
            return cls(method.lower())
        except ValueError:
            return cls.OTHER


class LimitAction(Enum):
    """What happens to a limited request."""

    REJECT = "503"
    """503 with Retry-After, at most once per Retry-After period per source; else dropped."""
    DROP = "drop"
    """Dropped: no response at all."""


class FloodVerdict(Enum):
    """The guard's decision on one request."""

    PASS = "pass"
    REJECT = "reject"
    """Answer 503 with Retry-After (statelessly: no transaction)."""
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class FloodConfig:
    """Per-source limits; the defaults are what ``sipgw serve`` uses."""

    invite: Rate = Rate(5, 10)
    """INVITEs (new calls, re-INVITEs) per source."""
    register: Rate = Rate(2, 5)
    """REGISTERs per source (we are no registrar: these are scanners or misdirected phones)."""
    options: Rate = Rate(5, 10)
    """OPTIONS per source (providers' and load balancers' probes are a few a minute)."""
    other: Rate = Rate(20, 40)
    """Everything else per source (BYE, CANCEL, INFO, ...), and unparsable requests."""
    action: LimitAction = LimitAction.REJECT
    """What a limited request gets."""
    retry_after: int = 5
    """Seconds in the 503's Retry-After, and between two 503s to one source."""
    max_sources: int = 10_000
    """Sources tracked at most (least recently seen evicted)."""
    ipv4_prefix: int = IPV4_PREFIX
    """IPv4 sources are counted per network of this prefix length (32 = per address)."""
    ipv6_prefix: int = IPV6_PREFIX
    """IPv6 sources are counted per network of this prefix length (64 = per /64)."""
    scanner_user_agents: tuple[str, ...] = SCANNER_USER_AGENTS
    """User-Agent fragments dropped silently (lower case); () = drop none."""

    def rate(self, kind: RequestKind) -> Rate:
        """The limit of one kind of request."""
        if kind is RequestKind.INVITE:
            return self.invite
        if kind is RequestKind.REGISTER:
            return self.register
        if kind is RequestKind.OPTIONS:
            return self.options
        return self.other


@dataclass(slots=True)
class _Source:
    buckets: dict[RequestKind, TokenBucket] = field(default_factory=dict)
    replied_until: float = float("-inf")


@dataclass(slots=True)
class FloodCounters:
    """What the guard did since start (the stats line shows these)."""

    rate_limited: int = 0
    """Requests over their source's limit (answered 503 or dropped)."""
    rate_limit_replies: int = 0
    """503s sent for them."""
    scanners_dropped: int = 0
    """Requests dropped for a scanner User-Agent."""
    sources_evicted: int = 0
    """Sources forgotten because the table was full."""


class FloodGuard:
    """Per-source token buckets and the scanner filter; see the module docstring."""

    def __init__(self, config: FloodConfig | None = None) -> None:
        self.config = config or FloodConfig()
        self.counters = FloodCounters()
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    @property
    def sources(self) -> int:
        """Sources (networks) in the table now."""
        return len(self._sources)

    def is_scanner(self, request: SipRequest) -> bool:
        """Whether the request's User-Agent names a known scanner."""
        fragments = self.config.scanner_user_agents
        if not fragments:
            return False
        agent = (request.headers.get("User-Agent") or "").lower()
        return bool(agent) and any(fragment in agent for fragment in fragments)

    def check(
        self, request: SipRequest, host: str, now: float, reliable: bool = False
    ) -> FloodVerdict:
        """The verdict on a request that would start a transaction, from ``host``.

        ``reliable``: it came over TCP or TLS (see the module docstring).
        """
        if self.is_scanner(request):
            self.counters.scanners_dropped += 1
            return FloodVerdict.DROP
        return self.take(RequestKind.of(request.method), host, now, reliable)

    def take(
        self, kind: RequestKind, host: str, now: float, reliable: bool = False
    ) -> FloodVerdict:
        """Charge one ``kind`` request to the bucket of ``host``'s network."""
        rate = self.config.rate(kind)
        if rate.unlimited:
            return FloodVerdict.PASS
        source = self._source(host)
        bucket = source.buckets.get(kind)
        if bucket is None:
            bucket = source.buckets[kind] = TokenBucket(rate, now)
        if bucket.take(rate, now):
            return FloodVerdict.PASS
        self.counters.rate_limited += 1
        if self.config.action is LimitAction.DROP:
            return FloodVerdict.DROP
        if now < source.replied_until and not reliable:
            return FloodVerdict.DROP
        source.replied_until = now + self.config.retry_after
        self.counters.rate_limit_replies += 1
        return FloodVerdict.REJECT

    def drops_unread(self, kind: RequestKind, host: str, now: float) -> bool:
        """Whether a ``kind`` request from ``host`` over UDP would be dropped unanswered now,
        so that it need not be parsed: its bucket holds no token and the source had its 503
        this Retry-After period (or limited requests are dropped). Such a request is counted
        as limited; nothing is charged (an empty bucket has nothing to take)."""
        rate = self.config.rate(kind)
        if rate.unlimited:
            return False
        key = source_key(host, self.config.ipv4_prefix, self.config.ipv6_prefix)
        source = self._sources.get(key)
        bucket = None if source is None else source.buckets.get(kind)
        if source is None or bucket is None or bucket.wait(rate, now) <= 0.0:
            return False
        if self.config.action is LimitAction.REJECT and now >= source.replied_until:
            return False  # its 503 is due: the request is parsed to answer it
        self.counters.rate_limited += 1
        return True

    def _source(self, host: str) -> _Source:
        sources = self._sources
        key = source_key(host, self.config.ipv4_prefix, self.config.ipv6_prefix)
        source = sources.get(key)
        if source is not None:
            sources.move_to_end(key)
            return source
        source = sources[key] = _Source()
        while len(sources) > self.config.max_sources:
            sources.popitem(last=False)
            self.counters.sources_evicted += 1
        return source


@dataclass(frozen=True, slots=True)
class CallRateConfig:
    """Limits on admitted calls; the defaults are what ``sipgw serve`` uses."""

    global_rate: Rate = Rate(10, 20)
    """New calls per second over the whole gateway."""
    per_caller_per_minute: Rate = Rate(10, 5)
    """Calls per minute (and burst) from one caller (From ``user@host``)."""
    max_callers: int = 10_000
    """Callers tracked at most (least recently seen evicted)."""


_ANONYMOUS = frozenset({"", "anonymous", "restricted", "unavailable", "unknown"})


def is_anonymous(user: str) -> bool:
    """Whether a caller's user part or number says the caller withheld who they are."""
    return user.strip().lower() in _ANONYMOUS


@dataclass(frozen=True, slots=True)
class CallRateRefusal:
    """Why a new call was refused by a call rate, and when one may pass again."""

    reason: str
    """``caller's call rate exceeded`` or ``call rate exceeded``."""
    retry_after: float
    """Seconds until the bucket that refused holds a token again."""
    per_caller: bool
    """The caller's own rate refused it (else the gateway's)."""


class CallRateLimiter:
    """Caps new calls per second, globally and per caller; see the module docstring."""

    def __init__(self, config: CallRateConfig | None = None, now: float = 0.0) -> None:
        self.config = config or CallRateConfig()
        self._global = TokenBucket(self.config.global_rate, now)
        self._per_second = Rate(
            self.config.per_caller_per_minute.per_second / 60,
            self.config.per_caller_per_minute.burst,
        )
        self._callers: OrderedDict[str, TokenBucket] = OrderedDict()
        self.limited_global = 0
        """Calls refused because of the global rate."""
        self.limited_caller = 0
        """Calls refused because of their caller's rate."""

    @staticmethod
    def caller_key(request: SipRequest) -> str | None:
        """``user@host`` of the From URI, lower case; None for an anonymous caller."""
        uri = request.from_.uri
        user = str(getattr(uri, "user", "") or "").lower()
        host = str(getattr(uri, "host", "") or "").lower()
        if is_anonymous(user) or host == "anonymous.invalid":
            return None  # RFC 3323 §4.1.1.3: behind a trunk, every anonymous caller looks alike
        return f"{user}@{host}"

    def admit(self, request: SipRequest, now: float) -> str | None:
        """None if a new call may start now, else why not (the caller's is charged first)."""
        refusal = self.admit_caller(self.caller_key(request), now)
        return None if refusal is None else refusal.reason

    def admit_caller(self, key: str | None, now: float) -> CallRateRefusal | None:
        """None if a new call from ``key`` may start now, else the refusal; the caller's
        bucket is charged first, then the gateway's.

        ``key`` names the caller on its leg (a SIP From's ``user@host``, a browser's
        address, a Twilio caller's number), distinct across legs; None = anonymous: only
        the gateway's rate applies.
        """
        if key is not None and not self._per_second.unlimited:
            bucket = self._callers.get(key)
            if bucket is None:
                bucket = self._callers[key] = TokenBucket(self._per_second, now)
                while len(self._callers) > self.config.max_callers:
                    self._callers.popitem(last=False)
            else:
                self._callers.move_to_end(key)
            if not bucket.take(self._per_second, now):
                self.limited_caller += 1
                wait = bucket.wait(self._per_second, now)
                return CallRateRefusal("caller's call rate exceeded", wait, per_caller=True)
        rate = self.config.global_rate
        if not self._global.take(rate, now):
            self.limited_global += 1
            wait = self._global.wait(rate, now)
            return CallRateRefusal("call rate exceeded", wait, per_caller=False)
        return None
