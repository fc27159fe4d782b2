"""The dial allow-list syntax (agent/dialpolicy.py): one row per entry and target."""

from __future__ import annotations

import pytest

from agent.dialpolicy import DialPolicy, DialRefused

CASES = [
    # entry, action, target, allowed
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com", True),
    ("sip:support@pbx.example.com", "transfer", "<sip:support@PBX.example.com>", True),
    ("sip:support@pbx.example.com", "transfer", "sip:Support@pbx.example.com", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com:5080", False),
    ("sip:support@pbx.example.com", "transfer", "sips:support@pbx.example.com", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@evil.example", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com;maddr=evil", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com?Route=x", False),
    ("sip:support@pbx.example.com", "transfer", "sip:support@pbx.example.com;transport=tcp", True),
    ("sip:*@pbx.example.com", "transfer", "sip:anyone@pbx.example.com", True),
    ("sip:*@pbx.example.com", "transfer", "sip:anyone@pbx.example.com.evil", False),
    ("sip:+1800*@pbx.example.com", "call", "sip:+18005550100@pbx.example.com", True),
    ("sip:+1800*@pbx.example.com", "call", "sip:+19005550100@pbx.example.com", False),
    ("+1800*", "call", "+1 (800) 555-0100", True),
    ("+1800*", "call", "tel:+18005550100", True),
    ("+1800*", "call", "0018005550100", True),
    ("+1800*", "call", "+19005550100", False),
    ("+1800*", "call", "sip:+18005550100@evil.example", False),  # a number entry is no host
    ("+1555010[0-9]", "call", "+15550105", True),
    ("+1555010[0-9]", "call", "+155501050", False),
    ("+1555010[13]", "call", "+15550102", False),
    ("+15550100", "call", "+15550100", True),
    ("+15550100", "call", "+155501001", False),
    ("1#", "dtmf", "1#", True),
    ("1#", "dtmf", "1#9", False),
    ("*72", "dtmf", "*72", True),
    ("9*", "dtmf", "9001234#", True),
]


@pytest.mark.parametrize(("entry", "action", "target", "allowed"), CASES)
def test_entry_matches(entry: str, action: str, target: str, allowed: bool) -> None:
    assert DialPolicy.parse(entry).allows(action, target) is allowed


def test_empty_allows_nothing() -> None:
    policy = DialPolicy.parse("")
    for action, target in [("transfer", "sip:a@b"), ("call", "+15550100"), ("dtmf", "1")]:
        assert not policy.allows(action, target)
        with pytest.raises(DialRefused) as refused:
            policy.check(action, target)
        assert refused.value.action == action and refused.value.target == target


def test_per_action_entries_apply_to_that_action_only() -> None:
    policy = DialPolicy(
        per_action={"transfer": ["sip:desk@pbx.example"], "call": ["+1*"]},
        call_templates=["sip:{number}@pbx.example"],
    )
    assert policy.allows("transfer", "sip:desk@pbx.example")
    assert not policy.allows("call", "sip:desk@pbx.example")
    assert policy.allows("call", "+15550100") and not policy.allows("dtmf", "15550100")
    assert not policy.allows("transfer", "+15550100")
    # the operator's callback template filled with an allowed number
    assert policy.allows("call", "sip:+15550100@pbx.example")
    assert not policy.allows("call", "sip:+44207946@pbx.example")
    assert not policy.allows("call", "sip:+15550100@pbx.example;maddr=evil.example")


@pytest.mark.parametrize("bad", ["sip:nohost", "+1[a-z]", "+1-800-x", "1+2", "sip:x@h, ", "[]"])
def test_bad_entries_are_named(bad: str) -> None:
    text = bad.split(",")[0]
    if text == "sip:x@h":
        DialPolicy.parse(bad)  # a trailing comma is fine
        return
    with pytest.raises(ValueError, match="'"):
        DialPolicy.parse(bad)
