"""Exceptions raised by the sans-IO SIP core.

The tree::

    SipError
    ├── ProtocolError              a SIP rule was broken; carries ``status_hint``
    │   ├── LocalProtocolError     we (the caller of the core) broke it
    │   └── RemoteProtocolError    the peer broke it
    │       ├── MessageParseError  bytes that are not a SIP message we can accept
    │       │   └── RequestParseError  (sipgw.sip.message) a bad request we can still answer
    │       └── SdpError           a body that is not usable SDP, or no codec matches
    └── InvalidState               an action that the current state does not allow

``status_hint`` is the response a UAS should send when the error comes from a
request (400 for syntax, 488 for an unusable offer, ...). Parsers raise only
these exceptions, never a bare ``ValueError`` or ``IndexError``.
"""

from __future__ import annotations

__all__ = [
    "InvalidState",
    "LocalProtocolError",
    "MessageParseError",
    "ProtocolError",
    "RemoteProtocolError",
    "SdpError",
    "SipError",
]


class SipError(Exception):
    """Base class of every error the SIP core raises."""


class ProtocolError(SipError):
    """A SIP rule was broken.

    Attributes:
        status_hint: the status code a UAS answers when a request caused this.
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class LocalProtocolError(ProtocolError):
    """We asked the core to do something SIP does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something SIP does not allow."""


class MessageParseError(RemoteProtocolError):
    """Bytes that cannot be accepted as a SIP message.

    When a response is still possible, the parser raises its subclass
    :class:`sipgw.sip.message.RequestParseError`, which carries the request as far
    as it was understood; a plain ``MessageParseError`` means the input can
    only be dropped.
    """


class SdpError(RemoteProtocolError):
    """An SDP body that cannot be parsed (400) or negotiated (488)."""


class InvalidState(SipError):
    """An input that the state machine does not accept in its current state."""
