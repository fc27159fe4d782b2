"""Settings of the user agent core (sipgw.sip.config): our addresses per transport."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.sip.config import UserAgentConfig
from sipgw.sip.limits import MessageLimits
from sipgw.sip.sdes import SrtpPolicy
from sipgw.sip.timers import TimerValues

LISTENERS = (("UDP", 5060), ("TCP", 5070), ("TLS", 5061))


def test_defaults_are_the_documented_ones_and_the_settings_are_frozen() -> None:
    config = UserAgentConfig("192.0.2.1", 5060)
    assert (config.transport, config.listeners, tuple(c.name for c in config.codecs)) == (
        "UDP",
        (),
        ("PCMU", "PCMA"),
    )
    assert config.telephone_event and config.nat_fix and config.ptime == 20
    assert config.max_calls is None and config.min_session_expires == 90  # RFC 4028 §4 minimum
    assert config.user_agent == ""  # no Server / User-Agent header (issue 39)
    assert (config.sdp_username, config.sdp_session_name) == ("-", "-")  # RFC 4566 §5.2, §5.3
    assert config.timers == TimerValues() and config.limits == MessageLimits()
    assert config.srtp_policy is SrtpPolicy.TLS_ONLY
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sip_port = 5070  # type: ignore[misc]


@pytest.mark.parametrize(
    ("listeners", "transport", "port"),
    [
        (LISTENERS, "UDP", 5060),
        (LISTENERS, "tcp", 5070),
        (LISTENERS, "TLS", 5061),
        (LISTENERS, "WS", 5080),  # not listed: the SIP port
        ((), "TLS", 5080),
    ],
)
def test_our_port_per_transport(
    listeners: tuple[tuple[str, int], ...], transport: str, port: int
) -> None:
    assert UserAgentConfig("192.0.2.1", 5080, listeners=listeners).port_for(transport) == port


@pytest.mark.parametrize(
    ("host", "transport", "sent_by"),
    [
        ("192.0.2.1", "UDP", "192.0.2.1:5060"),
        ("192.0.2.1", "TCP", "192.0.2.1:5070"),
        ("sip.example.com", "TLS", "sip.example.com:5061"),
        ("2001:db8::1", "TCP", "[2001:db8::1]:5070"),  # RFC 3261 §25.1 IPv6reference
    ],
)
def test_via_sent_by_names_the_port_of_the_transport_it_goes_over(
    host: str, transport: str, sent_by: str
) -> None:
    """RFC 3261 §18.1.1: the sent-by of a message is where we listen on its transport."""
    config = UserAgentConfig(host, 5060, listeners=LISTENERS)
    assert config.sent_by_for(transport) == sent_by


def test_sent_by_is_the_default_transports() -> None:
    config = UserAgentConfig("192.0.2.1", 5060, transport="TCP", listeners=LISTENERS)
    assert config.sent_by == "192.0.2.1:5070"


@pytest.mark.parametrize(
    ("transport", "secure", "contact"),
    [
        ("UDP", False, "<sip:agent@192.0.2.1:5060>"),
        ("udp", True, "<sip:agent@192.0.2.1:5060>"),  # SIPS only over TLS
        ("TCP", False, "<sip:agent@192.0.2.1:5070;transport=tcp>"),
        ("TLS", False, "<sip:agent@192.0.2.1:5061;transport=tls>"),
        ("TLS", True, "<sips:agent@192.0.2.1:5061>"),  # RFC 3261 §12.1.1
    ],
)
def test_our_contact_brings_the_peer_back_over_the_same_transport(
    transport: str, secure: bool, contact: str
) -> None:
    """RFC 3261 §19.1.1: a non-UDP transport is named with ``;transport=``."""
    config = UserAgentConfig("192.0.2.1", 5060, listeners=LISTENERS)
    assert config.contact("agent", transport, secure) == contact
