"""What an agent may reach, as the agent layer sees it: a checker, and the refusal.

The allow-list itself (``SIPGW_DIAL_ALLOW``: its entries and how targets match)
is :class:`sipgw.sip.dialpolicy.DialPolicy`, in the SIP core, where it reads a
target with the same URI parser REFER and INVITE use. The agent layer does not
import the SIP core: the app hands agents that policy as a :class:`DialChecker`
(``BuiltinToolSettings.dial_policy``). A tool checks early, so the model hears
of a refusal before it promises a transfer or a callback; the gateway checks
again on the way out (REFER, INVITE, DTMF) and raises :class:`DialRefused`
through :class:`~sipgw.agent.base.CallControl`.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NOTHING_ALLOWED", "REFUSED", "DialChecker", "DialRefused", "check_dial"]

REFUSED = "not an allowed target (SIPGW_DIAL_ALLOW)"
"""The reason a target off the allow-list is refused with."""


class DialRefused(Exception):
    """An agent asked for a target the operator did not allow.

    Attributes:
        action: ``transfer``, ``call`` or ``dtmf``.
        target: what was asked for, as given.
        reason: why it was refused, for the model, the call record and the log.
    """

    def __init__(self, action: str, target: str, reason: str) -> None:
        super().__init__(f"{action} to {target!r} refused: {reason}")
        self.action = action
        self.target = target
        self.reason = reason


class DialChecker(Protocol):
    """The operator's allow-list (``sipgw.sip.dialpolicy.DialPolicy`` is one)."""

    def allows(self, action: str, target: str) -> bool:
        """Whether ``action`` (``transfer``, ``call``, ``dtmf``) may reach ``target``."""
        ...


class _NothingAllowed:
    """The checker of an agent nobody configured: every target is refused."""

    def allows(self, action: str, target: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOTHING_ALLOWED"


NOTHING_ALLOWED: DialChecker = _NothingAllowed()
"""Refuses every target (the default of ``BuiltinToolSettings.dial_policy``)."""


def check_dial(checker: DialChecker, action: str, target: str) -> None:
    """Return if ``checker`` allows ``action`` to ``target``.

    Raises:
        DialRefused: it does not (reason :data:`REFUSED`).
    """
    if not checker.allows(action, target):
        raise DialRefused(action, target, REFUSED)
