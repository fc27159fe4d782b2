"""The gateway's one gate on what agents reach: a target read once, judged, then sent as judged.

Every REFER, DTMF string and call an agent asks for passes :meth:`DialGate.admit`
on its way out (``sipgw.app.calls.callhandle`` for REFER and DTMF, ``Gateway.place_call``
with ``for_agent`` for callbacks); DTMF passes :meth:`DialGate.admit_keyed`, which
judges it with everything the call keyed before. The gate judges the object the
gateway then sends, read by the SIP core's parser
(:func:`sipgw.sip.dialpolicy.parse_dial_target`): a REFER's ``Refer-To`` is that URI, a
call's Request-URI that URI (or the number, for a call to a number), DTMF those
digits. A refusal is logged, counted (``dial_refused``) and raised as
:class:`sipgw.agent.dialpolicy.DialRefused`, with the target as the agent gave it.
"""

from __future__ import annotations

import logging

from sipgw.agent.dialpolicy import REFUSED, DialRefused
from sipgw.app.operations.counters import CallCounters
from sipgw.sip.dialpolicy import DialPolicy, DialTarget, PhoneNumber, parse_dial_target

__all__ = ["DialGate"]


class DialGate:
    """Judges what agents reach with the operator's :class:`~sipgw.sip.dialpolicy.DialPolicy`.

    Args:
        policy: the allow-list (``SIPGW_DIAL_ALLOW`` and friends).
        counted: where refusals are counted.
    """

    def __init__(self, policy: DialPolicy, counted: CallCounters) -> None:
        self.policy = policy
        self._counted = counted

    def count_refused(self, targets: int = 1) -> None:
        """Count targets the policy refused elsewhere (a 3xx's Contacts, judged in the SIP
        core as the call follows it)."""
        for _ in range(targets):
            self._counted.refused_dial()

    def admit_keyed(
        self,
        so_far: str,
        given: str,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> PhoneNumber:
        """DTMF digits ``given`` to key after the call's ``so_far``, if the whole sequence is
        allowed or begins an allowed one (:meth:`DialPolicy.allows_keyed`).

        Raises:
            DialRefused: it is not (nothing is sent).
        """
        fresh = PhoneNumber.parse(given)
        if fresh is None or not self.policy.allows_keyed(so_far + fresh.digits):
            log.warning("refused the agent's dtmf %r after %r: not in the dial allow-list",
                        given, so_far)  # fmt: skip
            self._counted.refused_dial()
            raise DialRefused("dtmf", given, REFUSED)
        return fresh

    def admit(
        self,
        action: str,
        given: str,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        target: DialTarget | None = None,
    ) -> DialTarget:
        """``given`` read once (or ``target``, what the gateway made of it), if allowed.

        Returns the target to send: exactly the object the policy judged.

        Raises:
            DialRefused: the policy refuses it, or ``given`` is no target at all;
                nothing is sent.
        """
        if target is None:
            try:
                target = parse_dial_target(given)
            except ValueError:
                target = None
        if target is None or not self.policy.allows(action, target):
            log.warning("refused the agent's %s to %r: not in the dial allow-list", action, given)
            self._counted.refused_dial()
            raise DialRefused(action, given, REFUSED)
        return target
