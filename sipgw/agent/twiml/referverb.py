"""Twilio's ``<Refer>``: what its ``action`` gets, sans-IO.

The TwiML agent (:mod:`sipgw.agent.twiml.agent`) asks the caller's phone to transfer the call
(:meth:`~sipgw.agent.base.CallControl.transfer`: a SIP REFER, RFC 3515) and follows the
phone's NOTIFYs as it does for ``SIPGW_TWIML_DIAL=refer``; :class:`ReferResult` is the
outcome as Twilio's ``<Refer>`` page gives it:

- ``ReferCallStatus``: the new call's status from the NOTIFYs: ``in-progress`` once the
  target answered (the final NOTIFY's 200; the gateway then ends the caller's call, which
  the phone has replaced), ``busy``, ``no-answer`` or ``failed`` from the target's refusal
  (:func:`~sipgw.agent.twiml.dial.rules.refer_status`), ``failed`` when the phone refused the
  REFER, ``canceled`` when the caller hung up before it was over.
- ``ReferSipResponseCode``: the phone's final answer to the REFER: ``202`` once accepted, its
  refusal's code otherwise (403, 405, 501, 603...; 408 when the REFER got no answer, 503
  when it could not be sent). None
  when no REFER went out (the dial allow-list refused the target, or one was under way).
- ``NotifySipResponseCode``: the target's final answer as the last NOTIFY reported it (200,
  486...); none when no final NOTIFY came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipgw.agent.twiml.dial.rules import refer_status

__all__ = ["GATEWAY_HANGUP", "ReferResult"]

GATEWAY_HANGUP: Final = "local-bye"
"""The reason an agent's call closes with when the gateway hung up (``sipgw.sip.events.
EndReason.LOCAL_BYE``): during an accepted ``<Refer>``, what the target's answer leads to."""


@dataclass(frozen=True, slots=True)
class ReferResult:
    """How a ``<Refer>`` ended, as its ``action`` gets it."""

    status: str
    """``ReferCallStatus``."""
    accepted: bool = False
    """The phone accepted the REFER (202)."""
    notify: int | None = None
    """The target's final answer from the last NOTIFY (None: none came)."""
    refusal: int | None = None
    """The phone's refusal of the REFER, its final response's code (None: not refused, or
    no REFER went out)."""

    @classmethod
    def refused(cls, status: int | None = None) -> ReferResult:
        """The phone refused the REFER with ``status`` (None: it could not be sent)."""
        return cls("failed", refusal=status)

    @classmethod
    def answered(cls) -> ReferResult:
        """The target answered: the phone took the call over."""
        return cls("in-progress", True, 200)

    @classmethod
    def not_reached(cls, status: int) -> ReferResult:
        """The target answered ``status`` (its final NOTIFY): the caller is still here."""
        return cls(refer_status(status), True, status)

    @classmethod
    def canceled(cls, accepted: bool) -> ReferResult:
        """The caller hung up before the transfer was over."""
        return cls("canceled", accepted)

    def params(self) -> tuple[tuple[str, str], ...]:
        """The fields posted to ``action`` beside the call's."""
        fields = [("ReferCallStatus", self.status)]
        if self.accepted:
            fields.append(("ReferSipResponseCode", "202"))
        elif self.refusal is not None:
            fields.append(("ReferSipResponseCode", str(self.refusal)))
        if self.notify is not None:
            fields.append(("NotifySipResponseCode", str(self.notify)))
        return tuple(fields)
