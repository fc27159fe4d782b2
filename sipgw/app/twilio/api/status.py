"""Twilio's status callbacks of the calls created through the REST subset, and of every
call on a line with ``status_callback`` (:mod:`sipgw.app.twilio.api.linestatus`, asked at
each call's ``call_started``).

A call created with ``StatusCallback`` gets a form POST to that URL for each event its
``StatusCallbackEvent`` names (Twilio's call progress events; ``completed`` alone when it
names none): ``initiated`` (the INVITE went out), ``ringing`` (the far end's first 180 or
183), ``answered`` (the 2xx) and ``completed`` (the call is over, answered or not). Each
carries what Twilio's carry: ``AccountSid``, ``ApiVersion``, ``CallSid``, ``CallStatus``
(``initiated``, ``ringing``, ``in-progress``, then ``completed``, ``busy``, ``no-answer``,
``canceled`` or ``failed``), ``CallbackSource`` (``call-progress-events``), ``Called``,
``Caller``, ``Direction`` (``outbound-api``; ``inbound`` for a line's inbound call),
``From``, ``To``, ``SequenceNumber`` (0, 1, ... in order), ``Timestamp`` (RFC 2822)
and, on ``completed``, ``CallDuration`` (seconds from
the answer), ``Duration`` (minutes, rounded up) and ``SipResponseCode``. It is signed as
Twilio signs webhooks (``X-Twilio-Signature``: :func:`sipgw.twilio.signature.signature_for`
over the URL and the form, with the API's Auth Token), so the app's ``RequestValidator``
accepts it unchanged.

Delivery is the webhooks' (:class:`~sipgw.app.webhooks.delivery.WebhookDelivery`) on a table
of its own in the webhook outbox's SQLite file: queued without waiting (a call never waits on
a receiver), in order per call, retried with backoff (1 s doubling, at most
:data:`POLICY` ``.retry_max``), dropped after an hour or a 410, at most ``max_pending``
kept. Nothing here runs per packet: the call feed's setup and end events drive it.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from sipgw.app.calls.callfeed import CallEntry, CallFeed, FeedEvent
from sipgw.app.twilio.api.resource import API_VERSION, final_status, rfc2822
from sipgw.app.webhooks.delivery import DeliveryPolicy, WebhookDelivery
from sipgw.app.webhooks.outbox import NewEvent, PendingEvent
from sipgw.twilio.callprogress import EVENTS, parse_events
from sipgw.twilio.signature import signature_for

__all__ = [
    "EVENTS",
    "MAX_WATCHED",
    "POLICY",
    "StatusCallbacks",
    "Subscription",
    "callback_form",
    "parse_events",
]

log = logging.getLogger("sipgw.twilio_api")

MAX_WATCHED = 10000
"""Calls followed at most at once (a call is forgotten once ``completed`` is queued)."""
POLICY = DeliveryPolicy(timeout=15.0, retry_max=60.0, give_up=3600.0, concurrency=8, lease=45.0)
"""15 s an attempt (Twilio's own webhook timeout), waits doubling up to a minute, dropped
after an hour: a status callback is about a call, stale soon after."""
_CALL_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


@dataclass(slots=True)
class Subscription:
    """Where one call's status callbacks go, and what they say of it."""

    call_sid: str
    account_sid: str
    url: str
    events: frozenset[str]
    from_: str
    to: str
    direction: str = "outbound-api"
    """``Direction``: ``outbound-api`` (created through the API, or placed), ``inbound``."""
    sequence: int = field(default=0)
    """The next ``SequenceNumber``."""


def callback_form(
    sub: Subscription, event: str, call_status: str, now: float, extra: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The form of one status callback (``sub.sequence`` is its ``SequenceNumber``)."""
    return [
        ("AccountSid", sub.account_sid),
        ("ApiVersion", API_VERSION),
        ("CallSid", sub.call_sid),
        ("CallStatus", call_status),
        ("CallbackSource", "call-progress-events"),
        ("Called", sub.to),
        ("Caller", sub.from_),
        ("Direction", sub.direction),
        ("From", sub.from_),
        ("SequenceNumber", str(sub.sequence)),
        ("Timestamp", rfc2822(now) or ""),
        ("To", sub.to),
        *extra,
    ]


def completed_fields(entry: CallEntry) -> list[tuple[str, str]]:
    """``CallDuration`` (s), ``Duration`` (min, rounded up) and ``SipResponseCode``."""
    seconds = 0
    if entry.answered is not None and entry.ended is not None:
        seconds = max(0, round(entry.ended - entry.answered))
    fields = [("CallDuration", str(seconds)), ("Duration", str(math.ceil(seconds / 60)))]
    if entry.status is not None:
        fields.append(("SipResponseCode", str(entry.status)))
    return fields


class StatusCallbacks:
    """Follows the calls it is told to watch on the call feed and queues their callbacks.

    Args:
        feed: the gateway's call feed.
        delivery: posts the callbacks (its ``headers_for`` should be :meth:`headers_for`).
        auth_token: signs them (the REST subset's Auth Token).
        clock: wall time (Unix seconds).
        line_subscription: the subscription of a call its line asks callbacks for
            (:func:`sipgw.app.twilio.api.linestatus.line_subscriber`), asked at each
            ``call_started``; None = only the calls :meth:`watch` is told of.
    """

    def __init__(
        self,
        feed: CallFeed,
        delivery: WebhookDelivery,
        auth_token: str,
        clock: Callable[[], float] = time.time,
        line_subscription: Callable[[CallEntry], Subscription | None] | None = None,
    ) -> None:
        self.feed = feed
        self.line_subscription = line_subscription
        self.delivery = delivery
        self.auth_token = auth_token
        self.clock = clock
        self._watched: dict[str, Subscription] = {}
        self._unsubscribe = feed.subscribe(self.on_feed)

    def close(self) -> None:
        """Stop following the feed."""
        self._unsubscribe()

    def watch(self, log_id: str, sub: Subscription) -> None:
        """Follow the call ``log_id`` (just placed: ``initiated`` goes now, if asked for)."""
        if len(self._watched) >= MAX_WATCHED:
            log.error("status callbacks of %s not sent: %d calls followed already",
                      sub.call_sid, MAX_WATCHED)  # fmt: skip
            return
        self._watched[log_id] = sub
        self._send(sub, "initiated", "initiated", [])

    def on_feed(self, event: FeedEvent) -> None:
        """A call feed event: the callback it makes, if its call is watched (never waits)."""
        sub = self._watched.get(event.call)
        if sub is None:
            if event.kind == "call_started" and self.line_subscription is not None:
                entry = self.feed.live.get(event.call)
                line_sub = self.line_subscription(entry) if entry is not None else None
                if line_sub is not None:
                    self.watch(event.call, line_sub)
            return
        try:
            if event.kind == "call_ringing":
                self._send(sub, "ringing", "ringing", [])
            elif event.kind == "call_answered":
                self._send(sub, "answered", "in-progress", [])
            elif event.kind == "call_ended":
                del self._watched[event.call]
                entry = self.feed.find(event.call)
                if entry is None:
                    return
                status = final_status(entry.answered is not None, entry.outcome)
                self._send(sub, "completed", status, completed_fields(entry))
        except Exception:
            log.exception("status callback of %s not made", sub.call_sid)

    def _send(
        self, sub: Subscription, event: str, status: str, extra: list[tuple[str, str]]
    ) -> None:
        if event not in sub.events:
            return
        form = callback_form(sub, event, status, self.clock(), extra)
        sub.sequence += 1
        body = urlencode(form).encode()
        event_id = f"twilio_{secrets.token_hex(12)}"
        self.delivery.enqueue([NewEvent(event_id, sub.url, "", sub.call_sid, event, body)])

    def headers_for(self, event: PendingEvent, now: int) -> dict[str, str]:
        """Twilio's headers for a callback: the form's type and ``X-Twilio-Signature``."""
        params = parse_qsl(event.body.decode(), keep_blank_values=True)
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature_for(self.auth_token, event.url, params),
            "I-Twilio-Idempotency-Token": event.event_id,
        }
