"""Twilio's status callbacks of every call on a line that asks for them.

A line of the routes file (or of the settings file) with ``status_callback`` (and
``status_callback_events``: docs/lines.md) gets, for every call on it, inbound or placed,
the status callbacks a call created through the REST subset gets
(:mod:`sipgw.app.twilio.api.status`): the same form, ``Direction`` ``inbound`` or
``outbound-api``, the same signature (the account's Auth Token), the same outbox.
:func:`line_subscriber` makes each call's :class:`~sipgw.app.twilio.api.status.Subscription`
from its line when the call starts. Its ``CallSid`` is the one the ``twiml`` agent's webhooks
and streams carry (:func:`sipgw.agent.twiml.webhook.call_sid_of`).

They are sent by the REST subset's status callbacks, which run on the admin server: a line
with ``status_callback`` on a gateway without the subset (``SIPGW_TWILIO_API=on`` and the
account) or without the admin server (``SIPGW_ADMIN_PORT``) is refused as it loads
(:func:`line_check`), never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sipgw.app.calls.callfeed import CallEntry
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.twilio.api.status import Subscription
from sipgw.foundation.settings import ConfigError

__all__ = ["line_check", "line_subscriber", "number_of"]

_SIP_USER = re.compile(r"^<?sips?:([^@;>]+)@")
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


def number_of(address: str) -> str:
    """The number of a SIP address (``sip:+15551230001@host`` -> ``+15551230001``), as
    Twilio's ``From`` and ``To`` give it; the address itself when its user is no number."""
    match = _SIP_USER.match(address.strip())
    if match is not None and _NUMBER.match(match.group(1)):
        return match.group(1)
    return address


def line_subscriber(
    lines: Lines | None, account_sid: str
) -> Callable[[CallEntry], Subscription | None]:
    """The subscription of a call whose line has ``status_callback`` (None: no line, or no
    callback on it). The lines are read at each call: a routes reload applies to the calls
    that start after it."""

    # here, not at the top: the twiml agent's webhook module loads aiohttp, which an echo
    # gateway checking its lines at start-up does not need (test_optional_imports.py)
    from sipgw.agent.twiml.webhook import call_sid_of

    def subscription(entry: CallEntry) -> Subscription | None:
        if lines is None or not entry.line:
            return None
        line = lines.table.lines.get(entry.line)
        spec = line.spec if line is not None else None
        if spec is None or not spec.status_callback:
            return None
        return Subscription(
            call_sid=call_sid_of(entry.call_id),
            account_sid=account_sid,
            url=spec.status_callback,
            events=spec.status_callback_events,
            from_=number_of(entry.caller),
            to=number_of(entry.called),
            direction="inbound" if entry.direction == "inbound" else "outbound-api",
        )

    return subscription


def line_check(api_on: bool, admin_on: bool, needs: str) -> Callable[[LineSpec], None]:
    """What a line must be about its status callbacks, checked as it is built (at start-up
    and on every reload): ``status_callback`` only where the REST subset (``api_on``) and the
    admin server (``admin_on``) run; ``needs`` names their settings for the message."""

    def check(line: LineSpec) -> None:
        if line.status_callback and not (api_on and admin_on):
            raise ConfigError(
                f"{line.where}: status_callback needs {needs} (the callbacks are signed with "
                "the account's Auth Token and posted by the admin server's Twilio API)"
            )

    return check
