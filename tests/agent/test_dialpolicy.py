"""The agent layer's side of the allow-list (agent/dialpolicy.py): the checker and the refusal.

The allow-list itself is tested in tests/sipgw/sip/test_dialpolicy.py; here: what a tool sees.
"""

from __future__ import annotations

import pytest

from sipgw.agent.dialpolicy import NOTHING_ALLOWED, REFUSED, DialChecker, DialRefused, check_dial
from sipgw.agent.tools.builtin import callback_allowed
from sipgw.sip.dialpolicy import DialPolicy


def test_nothing_allowed_refuses_every_target() -> None:
    for action, target in [("transfer", "sip:a@b"), ("call", "+15550100"), ("dtmf", "1")]:
        assert not NOTHING_ALLOWED.allows(action, target)
        with pytest.raises(DialRefused) as refused:
            check_dial(NOTHING_ALLOWED, action, target)
        assert (refused.value.action, refused.value.target) == (action, target)
        assert refused.value.reason == REFUSED
        assert str(refused.value) == f"{action} to {target!r} refused: {REFUSED}"


def test_the_operators_policy_is_a_checker() -> None:
    """The app hands tools the SIP core's DialPolicy; the agent layer knows only the Protocol."""
    checker: DialChecker = DialPolicy.parse("+1*,sip:desk@pbx.example")
    check_dial(checker, "call", "+1 555 0100")  # allowed: no exception
    check_dial(checker, "transfer", "<sip:desk@pbx.example>")
    with pytest.raises(DialRefused, match="'sip:desk@pbx.example;maddr=evil'"):
        check_dial(checker, "transfer", "sip:desk@pbx.example;maddr=evil")


def test_callbacks_need_a_prefix_or_the_policy() -> None:
    assert callback_allowed("+15550100", ("+1",), NOTHING_ALLOWED)
    assert not callback_allowed("+445550100", ("+1",), NOTHING_ALLOWED)
    assert callback_allowed("+445550100", (), DialPolicy.parse("+44*"))
    assert not callback_allowed("+15550100", (), NOTHING_ALLOWED)  # nothing configured
