"""client_address: X-Forwarded-For only from a trusted proxy, the right-most untrusted hop."""

from __future__ import annotations

import pytest

from sipgw.app.admin.forwarded import client_address, networks, trusted_proxies

PROXIES = networks(("10.0.0.5", "192.168.1.0/24", "::1"))


def test_the_header_of_a_source_that_is_no_trusted_proxy_is_ignored() -> None:
    """Issue 39: an attacker writing X-Forwarded-For must not pick its address per guess."""
    assert client_address("198.51.100.7", ["203.0.113.1"], PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", ["203.0.113.1"], ()) == "198.51.100.7"
    assert client_address("10.0.0.5", ["203.0.113.1"], ()) == "10.0.0.5"  # none trusted


def test_from_a_trusted_proxy_the_right_most_address_not_a_proxy_is_the_client() -> None:
    assert client_address("10.0.0.5", ["203.0.113.1"], PROXIES) == "203.0.113.1"
    # The client wrote the left part; the proxies appended the rest.
    forged = ["1.2.3.4, 5.6.7.8", "203.0.113.1, 192.168.1.20"]
    assert client_address("10.0.0.5", forged, PROXIES) == "203.0.113.1"
    assert client_address("::1", ["[2001:db8::7]:4711"], PROXIES) == "2001:db8::7"
    assert client_address("10.0.0.5", ["203.0.113.1:4711"], PROXIES) == "203.0.113.1"
    assert client_address("::ffff:10.0.0.5", ["203.0.113.1"], PROXIES) == "203.0.113.1"


def test_a_walk_that_finds_no_client_stops_at_the_last_trusted_hop() -> None:
    assert client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"  # the proxy's own request
    assert client_address("10.0.0.5", ["192.168.1.9"], PROXIES) == "192.168.1.9"
    assert client_address("10.0.0.5", ["1.2.3.4, unknown, 192.168.1.9"], PROXIES) == ("192.168.1.9")
    assert client_address(None, ["1.2.3.4"], PROXIES) == "?"


def test_the_setting_takes_addresses_and_cidrs_and_names_a_bad_entry() -> None:
    assert trusted_proxies(" 10.0.0.5, 192.168.1.0/24 ,::1,") == (
        "10.0.0.5", "192.168.1.0/24", "::1",
    )  # fmt: skip
    assert trusted_proxies("") == ()
    with pytest.raises(ValueError, match="'proxy.example' is not an IP address or a CIDR"):
        trusted_proxies("10.0.0.5, proxy.example")
