"""A dialled leg's call progress events and its screening request, sans-IO: the forms Twilio
posts for a ``<Number>``'s or ``<Sip>``'s ``statusCallback`` and fetches its ``url`` with.

Theory of operation
-------------------
Twilio's ``<Number>`` page (https://www.twilio.com/docs/voice/twiml/number, ``statusCallbackEvent``,
``url``; ``<Sip>``'s page alike): a ``<Dial>``'s leg is a call of its own, a child of the
caller's, whose progress events ``initiated`` (the INVITE went out), ``ringing`` (its first
180 or 183), ``answered`` (its 2xx) and ``completed`` (it is over) go to the noun's
``statusCallback`` when its ``statusCallbackEvent`` names them (``completed`` alone by
default). :class:`LegStatus` is one leg: :meth:`LegStatus.form` gives the form of one event,
or None when it is not asked for. Each form carries the leg's own parameters: ``CallSid`` (the
leg's, the ``DialCallSid`` its ``<Dial action>`` gets), ``ParentCallSid`` (the caller's call),
``CallStatus`` (``initiated``, ``ringing``, ``in-progress``, then ``completed``, ``busy``,
``no-answer``, ``failed`` or ``canceled``), ``Direction`` (``outbound-dial``), ``From``,
``To``, ``Caller``, ``Called``, ``AccountSid``, ``ApiVersion``, ``CallbackSource``
(``call-progress-events``), ``SequenceNumber`` (0, 1, ... in the order posted),
``Timestamp`` (RFC 2822) and, on ``completed``, ``CallDuration`` (seconds from its answer) and
``SipResponseCode`` when the leg was refused with one.

:meth:`LegStatus.screen_params` is what the screening document (the noun's ``url``) is
fetched with: the same leg parameters, ``CallStatus`` ``in-progress``.

Nothing here reads a clock: times are passed in.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sipgw.twilio.document import DialTarget

__all__ = ["API_VERSION", "LegStatus", "leg_call_status"]

API_VERSION: Final = "2010-04-01"
_IN_PROGRESS: Final = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
_NUMBER: Final = re.compile(r"^(?:sips?|tel):(\+?[0-9]+)(?:[@;]|$)")


def _number_or_uri(address: str) -> str:
    """Twilio's ``From``/``To`` of a leg: the number when the URI carries one, else the URI."""
    found = _NUMBER.match(address)
    return found.group(1) if found else address


def leg_call_status(answered: bool, kind: str | None, ended_by: str) -> str:
    """The leg's own final ``CallStatus``: ``completed`` once answered (whoever hung up, a
    screening that refused the bridge too), ``canceled`` when the gateway stopped it ringing
    (the caller hung up, another target answered), else how the far end ended it
    (``busy``, ``no-answer``, ``failed``)."""
    if answered:
        return "completed"
    if ended_by in ("caller", "lost"):
        return "canceled"
    if kind in ("busy", "declined"):
        return "busy"
    if kind == "no-answer":
        return "no-answer"
    return "failed"


@dataclass(slots=True)
class LegStatus:
    """One dialled leg, as its status callbacks and its screening fetch name it.

    Attributes:
        target: the ``<Number>`` or ``<Sip>`` dialled.
        sid: the leg's ``CallSid`` (its ``DialCallSid``).
        parent_sid: the caller's ``CallSid``.
        account_sid: the account's.
        caller: the leg's From ("" until its INVITE went out).
        sequence: the next ``SequenceNumber``.
        answered_at: when it was answered (seconds, the caller's clock), None until then.
    """

    target: DialTarget
    sid: str
    parent_sid: str
    account_sid: str
    caller: str = ""
    sequence: int = 0
    answered_at: float | None = None
    answered_by: tuple[tuple[str, str], ...] = ()
    """``AnsweredBy`` and ``MachineDetectionDuration`` once detected (``<Number
    machineDetection>``): its screening request carries them."""

    @property
    def called(self) -> str:
        """The leg's ``To``: the number dialled (blanks and separators dropped), or the
        ``<Sip>`` URI as written."""
        address = self.target.address
        if self.target.kind == "sip":
            return address
        return "".join(c for c in address if c.isdigit() or c == "+")

    def params(self, call_status: str) -> dict[str, str]:
        """The leg's request parameters with ``CallStatus`` ``call_status``."""
        caller = _number_or_uri(self.caller)
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "ParentCallSid": self.parent_sid,
            "CallStatus": call_status,
            "Direction": "outbound-dial",
            "From": caller,
            "Caller": caller,
            "To": self.called,
            "Called": self.called,
        }

    def screen_params(self) -> tuple[tuple[str, str], ...]:
        """What the screening document is fetched with (the leg answered: ``in-progress``)."""
        return (*self.params("in-progress").items(), *self.answered_by)

    def wants(self, event: str) -> bool:
        """``event`` is posted: the noun has a ``statusCallback`` and names it."""
        return bool(self.target.status_callback) and event in self.target.status_callback_events

    def form(
        self, event: str, now: float, final: str = "", extra: Iterable[tuple[str, str]] = ()
    ) -> dict[str, str] | None:
        """The form of ``event`` (``initiated``, ``ringing``, ``answered``, ``completed``,
        whose ``CallStatus`` is ``final``) at ``now`` (Unix seconds), or None when it is not
        posted; each form posted takes the next ``SequenceNumber``."""
        if not self.wants(event):
            return None
        form = self.params(_IN_PROGRESS.get(event, final or "completed"))
        form["CallbackSource"] = "call-progress-events"
        form["SequenceNumber"] = str(self.sequence)
        form["Timestamp"] = email.utils.formatdate(now, usegmt=False).replace("-0000", "+0000")
        form.update(extra)
        self.sequence += 1
        return form
