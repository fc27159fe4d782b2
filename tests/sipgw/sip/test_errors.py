"""The exceptions of the sans-IO SIP core (sipgw.sip.errors): the tree its docstring draws,
and the status a UAS answers with."""

from __future__ import annotations

import re

import pytest

import sipgw.sip.errors
from sipgw.sip.errors import (
    InvalidState,
    LocalProtocolError,
    MessageParseError,
    ProtocolError,
    RemoteProtocolError,
    SdpError,
    SipError,
)
from sipgw.sip.message import RequestParseError, parse_message


def drawn_tree() -> dict[str, str]:
    """Each class of the module docstring's tree -> its parent, as drawn (by indentation)."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (column, name) of the branch we are in
    for line in (sipgw.sip.errors.__doc__ or "").splitlines():
        match = re.match(r"^[\s│├└─]*([A-Z]\w+Error|InvalidState)\b", line)
        if match is None:
            continue
        column, name = match.start(1), match[1]
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((column, name))
    return parents


def test_the_docstring_draws_the_real_tree() -> None:
    drawn = drawn_tree()
    classes = {**vars(sipgw.sip.errors), "RequestParseError": RequestParseError}
    real = {
        name: cls.__mro__[1].__name__
        for name, cls in classes.items()
        if isinstance(cls, type) and issubclass(cls, SipError) and cls is not SipError
    }
    assert drawn == real
    assert set(sipgw.sip.errors.__all__) == {"SipError", *real} - {"RequestParseError"}


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (ProtocolError("x"), 400),
        (LocalProtocolError("x"), 400),
        (RemoteProtocolError("x"), 400),
        (RemoteProtocolError("x", 481), 481),
        (MessageParseError("x"), 400),
        (SdpError("no common codec", 488), 488),
    ],
)
def test_a_protocol_error_carries_the_status_to_answer_with(
    error: ProtocolError, hint: int
) -> None:
    assert error.status_hint == hint and str(error) == error.args[0]


def test_an_invalid_state_is_no_protocol_error() -> None:
    """Asking for an action at the wrong time is our mistake, never answered to a peer."""
    assert not issubclass(InvalidState, ProtocolError)
    assert not hasattr(InvalidState("x"), "status_hint")


@pytest.mark.parametrize(
    ("data", "kind", "hint"),
    [
        (b"\x00\xff not sip\r\n\r\n", MessageParseError, 400),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
         RequestParseError, 400),
    ],
)  # fmt: skip
def test_the_parser_raises_only_the_documented_errors(
    data: bytes, kind: type[MessageParseError], hint: int
) -> None:
    with pytest.raises(MessageParseError) as raised:
        parse_message(data)
    assert type(raised.value) is kind and raised.value.status_hint == hint
    assert isinstance(raised.value, RemoteProtocolError)  # the peer's fault, never ours
