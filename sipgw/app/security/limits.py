"""Bounds on what a hostile peer can make the gateway parse, buffer or hold open.

:class:`LimitsConfig` is the ``limits`` settings section; the SIP core applies the message bounds
(:class:`sipgw.sip.limits.MessageLimits`), the TCP/TLS adapter the rest
(:class:`sipgw.aio.stream.StreamPool`). See docs/security.md, "Hostile input".
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.sections import InvalidSettings, section, setting
from sipgw.agent.sections.parsers import int_at_least, int_range, non_negative, positive
from sipgw.sip.limits import MessageLimits

__all__ = ["LimitsConfig"]


@section(
    "limits",
    title="Limits",
    intro="Bounds on what one peer can make the gateway parse, buffer or hold open (hostile "
    "input; see docs/security.md). Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class LimitsConfig:
    """Message bounds (the SIP core) and connection bounds (the TCP/TLS adapter)."""

    max_message_size: int = setting(
        65535, env="SIPGW_MAX_MESSAGE_SIZE", flag="--max-message-size", metavar="N",
        parse=int_range(1024, 1 << 20),
        help="The largest SIP message parsed, in octets (1024-1048576); a larger request gets "
        "513 Message Too Large. UDP datagrams over 65535 octets are dropped unread.",
    )  # fmt: skip
    max_body_size: int = setting(
        32768, env="SIPGW_MAX_BODY_SIZE", flag="--max-body-size", metavar="N",
        parse=int_at_least(0),
        help="The largest SIP body, in octets; a request with a larger one gets 413 (over "
        "TCP/TLS the connection is then closed).",
    )  # fmt: skip
    max_header_fields: int = setting(
        256, env="SIPGW_MAX_HEADER_FIELDS", flag="--max-header-fields", metavar="N",
        parse=int_at_least(16),
        help="The most header lines in one SIP message; a request with more gets 513.",
    )  # fmt: skip
    tcp_message_timeout: float = setting(
        10.0, env="SIPGW_TCP_MESSAGE_TIMEOUT", flag="--tcp-message-timeout", metavar="S",
        parse=non_negative,
        help="Close a TCP or TLS connection whose message has not arrived whole this many "
        "seconds after its first octet (a slow sender); 0 = no limit.",
    )  # fmt: skip
    tls_handshake_timeout: float = setting(
        10.0, env="SIPGW_TLS_HANDSHAKE_TIMEOUT", flag="--tls-handshake-timeout", metavar="S",
        parse=positive,
        help="Close a TLS connection whose handshake has not finished after this many seconds.",
    )  # fmt: skip
    tcp_max_per_source: int = setting(
        32, env="SIPGW_TCP_MAX_PER_SOURCE", flag="--tcp-max-per-source", metavar="N",
        parse=int_at_least(0),
        help="TCP and TLS connections one IP address may have open to us; more are closed at "
        "once. 0 = no limit.",
    )  # fmt: skip
    tcp_max_connections: int = setting(
        1024, env="SIPGW_TCP_MAX_CONNECTIONS", flag="--tcp-max-connections", metavar="N",
        parse=int_at_least(0),
        help="TCP and TLS connections peers may have open to us in all; more are closed at "
        "once. 0 = no limit.",
    )  # fmt: skip

    tcp_reserved_for_allowed: int = setting(
        256, env="SIPGW_TCP_RESERVED_FOR_ALLOWED", flag="--tcp-reserved-for-allowed",
        metavar="N", parse=int_at_least(0),
        help="Of SIPGW_TCP_MAX_CONNECTIONS, how many only sources allowed by address (the "
        "trunk, the PBX, --allow-from) may take: strangers cannot lock them out.",
    )  # fmt: skip

    def check(self) -> None:
        """A body cannot be larger than the message that carries it, nor the reserve larger
        than the connections in all.

        Raises:
            InvalidSettings: it is.
        """
        if self.max_body_size > self.max_message_size:
            raise InvalidSettings("{max_body_size} must not exceed {max_message_size}")
        if self.tcp_max_connections and self.tcp_reserved_for_allowed > self.tcp_max_connections:
            raise InvalidSettings(
                "{tcp_reserved_for_allowed} must not exceed {tcp_max_connections}"
            )

    @property
    def message_limits(self) -> MessageLimits:
        """The bounds the SIP core parses with."""
        default = MessageLimits()
        return MessageLimits(
            max_message_size=self.max_message_size,
            max_header_size=min(default.max_header_size, self.max_message_size),
            max_header_fields=self.max_header_fields,
            max_line_length=default.max_line_length,
            max_uri_length=default.max_uri_length,
            max_body_size=self.max_body_size,
        )
