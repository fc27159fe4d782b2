"""Bounds on one SIP message, so a hostile peer cannot make the parser work or hold much.

:func:`sipgw.sip.message.parse_message` applies a :class:`MessageLimits` to every
message (a UDP datagram, or one message framed on a TCP/TLS stream by
:mod:`sipgw.sip.framing`, whose :class:`~sipgw.sip.framing.FramingLimits` bound what a
connection may buffer). What a peer gets back when it breaks one:

=====================  ==========================================================
limit                  answer to a request (a response or unreadable bytes: dropped)
=====================  ==========================================================
``max_message_size``   513 Message Too Large (RFC 3261 §21.5.9)
``max_header_size``    513 (the header section is part of the message's length)
``max_header_fields``  513
``max_line_length``    513 (one header line, before unfolding)
``max_uri_length``     414 Request-URI Too Long (RFC 3261 §21.4.12)
``max_body_size``      413 Request Entity Too Large (RFC 3261 §21.4.11)
=====================  ==========================================================

A request over a header bound is answered from its start line and its Via,
From, To, Call-ID and CSeq lines only (each within ``max_line_length``), so
the work stays linear in the message's size; without them it is dropped. The
blank line that ends the header section is looked for in the first
``max_header_size`` octets only: a header section running past them is read no
further (its later lines are not seen), so a 60 KB datagram costs what a 16 KB
one does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "MAX_DATAGRAM_SIZE", "MessageLimits", "head_violation"]

MAX_DATAGRAM_SIZE = 65535
"""The largest UDP payload the SIP socket accepts; larger reads are dropped unparsed."""


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """The largest SIP message the core parses.

    Attributes:
        max_message_size: a whole message, start line to end of body, octets.
        max_header_size: the start line and header fields, octets.
        max_header_fields: header lines (folded continuation lines count).
        max_line_length: one line of the header section, octets.
        max_uri_length: the Request-URI, characters.
        max_body_size: the body, octets.
    """

    max_message_size: int = 65535
    max_header_size: int = 16384
    max_header_fields: int = 256
    max_line_length: int = 8192
    max_uri_length: int = 4096
    max_body_size: int = 32768


DEFAULT_LIMITS = MessageLimits()
"""The limits :func:`sipgw.sip.message.parse_message` applies unless told otherwise."""


def head_violation(head: bytes, limits: MessageLimits) -> str | None:
    """What is wrong with a header section's size or shape, or None if it is within limits."""
    if len(head) > limits.max_header_size:
        return f"header section too large ({len(head)} octets)"
    lines = head.count(b"\n") + 1
    if lines > limits.max_header_fields + 1:  # + the start line
        return f"too many header lines ({lines - 1})"
    fields = head.partition(b"\n")[2]  # the start line is bounded by max_uri_length (414)
    if len(fields) > limits.max_line_length:
        longest = max(map(len, fields.split(b"\n")))
        if longest > limits.max_line_length:
            return f"header line too long ({longest} octets)"
    return None
