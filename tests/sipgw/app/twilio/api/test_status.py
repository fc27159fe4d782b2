"""Twilio's status callbacks (sipgw/app/twilio/api/status.py): the forms, the signature the
official ``twilio`` SDK's validator accepts, delivery that retries and never waits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.app.calls.callfeed import CallEntry
from sipgw.app.twilio.api.status import (
    Subscription,
    callback_form,
    completed_fields,
    parse_events,
)
from sipgw.app.webhooks.delivery import DeliveryPolicy, WebhookDelivery
from sipgw.app.webhooks.outbox import Outbox
from tests.sipgw.app.twilio.api.receiver import status_receiver

pytestmark = pytest.mark.timeout(30)

TOKEN = "0123456789abcdef0123456789abcdef"
SID = "CA" + "3" * 32
ACCOUNT = "AC" + "4" * 32


def test_the_events_asked_for() -> None:
    assert parse_events([]) == {"completed"}  # Twilio's default
    assert parse_events(["initiated ringing", "answered", "completed"]) == {
        "initiated", "ringing", "answered", "completed",
    }  # fmt: skip
    with pytest.raises(ValueError, match="StatusCallbackEvent 'hangup': must be among"):
        parse_events(["answered", "hangup"])


def test_a_callbacks_form_has_twilios_fields() -> None:
    sub = Subscription(SID, ACCOUNT, "https://app.example/status", frozenset({"completed"}),
                       "+15551230001", "sip:bob@example.com", sequence=3)  # fmt: skip
    form = dict(callback_form(sub, "completed", "busy", 1_795_000_000.0, [("X", "1")]))
    assert form == {
        "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": SID, "CallStatus": "busy",
        "CallbackSource": "call-progress-events", "Called": "sip:bob@example.com",
        "Caller": "+15551230001", "Direction": "outbound-api", "From": "+15551230001",
        "SequenceNumber": "3", "Timestamp": "Wed, 18 Nov 2026 11:06:40 +0000",
        "To": "sip:bob@example.com", "X": "1",
    }  # fmt: skip
    entry = CallEntry("l", "c", "a", None, "b", "outbound", 0.0, answered=10.0, ended=71.4,
                      status=200)  # fmt: skip
    assert completed_fields(entry) == [
        ("CallDuration", "61"), ("Duration", "2"), ("SipResponseCode", "200"),
    ]  # fmt: skip


async def test_callbacks_are_signed_as_twilio_and_retried(tmp_path: Path) -> None:
    """A receiver that fails twice gets the callback on the third attempt, validated by the
    twilio SDK's RequestValidator; enqueueing never waits for it."""
    from sipgw.app.calls.callfeed import CallFeed
    from sipgw.app.twilio.api.status import StatusCallbacks

    async with status_receiver(TOKEN) as receiver:
        receiver.status = [500, 503]
        outbox = Outbox(tmp_path / "hooks.sqlite3", "test", table="twilio_status_outbox")
        holder: list[StatusCallbacks] = []
        delivery = WebhookDelivery(
            outbox, lambda line: None, DeliveryPolicy(timeout=2.0, retry_max=0.2, lease=5.0),
            headers_for=lambda event, now: holder[0].headers_for(event, now),
        )  # fmt: skip
        callbacks = StatusCallbacks(CallFeed(), delivery, TOKEN)
        holder.append(callbacks)
        delivery.start()
        try:
            sub = Subscription(SID, ACCOUNT, receiver.url, frozenset({"initiated"}),
                               "+15551230001", "+15557650002")  # fmt: skip
            loop = asyncio.get_running_loop()
            before = loop.time()
            callbacks.watch("log-1", sub)
            assert loop.time() - before < 0.05  # queued, not posted
            (form,) = await receiver.until(1)
        finally:
            await delivery.stop()
            callbacks.close()
    assert receiver.attempts == 3
    assert form["CallStatus"] == "initiated" and form["SequenceNumber"] == "0"
    assert form["CallSid"] == SID and form["AccountSid"] == ACCOUNT
