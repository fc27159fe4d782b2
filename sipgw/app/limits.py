"""Bounds on what a hostile peer can make the gateway parse, buffer or hold open.

The ``LIMITS`` section of :mod:`sipgw.app.settings_registry`, loaded into a
:class:`LimitsConfig`; the SIP core applies the message bounds
(:class:`sipgw.limits.MessageLimits`), the TCP/TLS adapter the rest
(:class:`sipgw.aio.stream.StreamPool`). See docs/security.md, "Hostile input".
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.app.settings import ConfigError, SettingValues
from sipgw.limits import MessageLimits

__all__ = ["LimitsConfig", "load_limits_config"]


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """The resolved ``LIMITS`` settings."""

    max_message_size: int = 65535
    """The largest SIP message parsed, octets; larger requests get 513."""
    max_body_size: int = 32768
    """The largest SIP body, octets; larger requests get 413."""
    max_header_fields: int = 256
    """The most header lines in one message; more get 513."""
    tcp_message_timeout: float = 10.0
    """Seconds for one whole message over TCP/TLS after its first octet; 0 = no limit."""
    tls_handshake_timeout: float = 10.0
    """Seconds for a peer's TLS handshake."""
    tcp_max_per_source: int = 32
    """TCP/TLS connections one address may open to us; 0 = no limit."""
    tcp_max_connections: int = 1024
    """TCP/TLS connections peers may open to us in all; 0 = no limit."""

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


def load_limits_config(values: SettingValues) -> LimitsConfig:
    """The ``LIMITS`` settings.

    Raises:
        ConfigError: a value does not parse or is out of range.
    """
    config = LimitsConfig(
        max_message_size=values["SIPGW_MAX_MESSAGE_SIZE"],
        max_body_size=values["SIPGW_MAX_BODY_SIZE"],
        max_header_fields=values["SIPGW_MAX_HEADER_FIELDS"],
        tcp_message_timeout=values["SIPGW_TCP_MESSAGE_TIMEOUT"],
        tls_handshake_timeout=values["SIPGW_TLS_HANDSHAKE_TIMEOUT"],
        tcp_max_per_source=values["SIPGW_TCP_MAX_PER_SOURCE"],
        tcp_max_connections=values["SIPGW_TCP_MAX_CONNECTIONS"],
    )
    if config.max_body_size > config.max_message_size:
        raise ConfigError("SIPGW_MAX_BODY_SIZE must not exceed SIPGW_MAX_MESSAGE_SIZE")
    return config
