"""The Call resource and Twilio's errors, written as Twilio's REST API writes them (JSON).

Field names, status values and date format are those of Twilio's Call resource (API
version 2010-04-01), as its SDKs read them: ``sid``, ``account_sid``, ``to``, ``from``,
``status`` (``queued``, ``ringing``, ``in-progress``, ``completed``, ``busy``, ``failed``,
``no-answer``, ``canceled``), ``date_created``/``start_time``/``end_time`` in RFC 2822
(``Wed, 25 Nov 2026 16:40:00 +0000``), ``duration`` in seconds as a string, ``direction``
``outbound-api``, ``uri``. What a gateway has no notion of (price, phone number SID, queue
time, trunk) is null, as Twilio leaves a field it has no value for. An error is Twilio's
``{"code", "message", "more_info", "status"}``; its SDKs raise it as
``TwilioRestException`` with that code. Pure: times are passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

__all__ = [
    "API_VERSION",
    "CallFacts",
    "TwilioError",
    "call_resource",
    "final_status",
    "not_found",
    "rfc2822",
]

API_VERSION = "2010-04-01"

_FINAL_UNANSWERED = {
    "busy": "busy",
    "declined": "busy",  # 603 Decline: Twilio reports a refused call as busy
    "no-answer": "no-answer",
    "cancelled": "canceled",
}
"""Why a placed call nobody answered ended (sipgw.sip.events.EndReason) -> Twilio's status;
any other reason is ``failed``."""


def rfc2822(seconds: float | None) -> str | None:
    """Unix seconds as Twilio writes dates: RFC 2822, UTC (``+0000``)."""
    if seconds is None:
        return None
    return format_datetime(datetime.fromtimestamp(int(seconds), UTC))


def final_status(answered: bool, outcome: str | None) -> str:
    """Twilio's status of an ended call: ``completed`` once answered, else why it was not."""
    if answered:
        return "completed"
    return _FINAL_UNANSWERED.get(outcome or "", "failed")


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the gateway knows of a call created through the API, for its resource."""

    sid: str
    account_sid: str
    to: str
    from_: str
    created: float
    """When it was created (Unix seconds)."""
    status: str
    answered: float | None = None
    ended: float | None = None
    updated: float | None = None
    """When its status last changed; None = when it was created."""

    @property
    def duration(self) -> str | None:
        """Seconds from the answer to the end, as Twilio gives them (a string), once over."""
        if self.ended is None:
            return None
        if self.answered is None:
            return "0"
        return str(max(0, math.ceil(self.ended - self.answered - 1e-9)))


def call_resource(facts: CallFacts) -> dict[str, Any]:
    """The Call resource's JSON."""
    uri = f"/{API_VERSION}/Accounts/{facts.account_sid}/Calls/{facts.sid}"
    return {
        "sid": facts.sid,
        "date_created": rfc2822(facts.created),
        "date_updated": rfc2822(facts.updated or facts.created),
        "parent_call_sid": None,
        "account_sid": facts.account_sid,
        "to": facts.to,
        "to_formatted": facts.to,
        "from": facts.from_,
        "from_formatted": facts.from_,
        "phone_number_sid": None,
        "status": facts.status,
        "start_time": rfc2822(facts.answered),
        "end_time": rfc2822(facts.ended),
        "duration": facts.duration,
        "price": None,
        "price_unit": "USD",
        "direction": "outbound-api",
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": uri + ".json",
        "subresource_uris": {},
    }


class TwilioError(Exception):
    """An error answer: HTTP ``status``, Twilio's error ``code`` and its ``message``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """``{"code", "message", "more_info", "status"}``, as Twilio answers errors."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    def __str__(self) -> str:
        return f"{self.status} ({self.code}): {self.message}"


def not_found(path: str) -> TwilioError:
    """Twilio's 404 (20404) for ``path``."""
    return TwilioError(404, 20404, f"The requested resource {path} was not found")
