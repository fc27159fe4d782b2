"""Sources aggregated into networks (sipgw.sip.sourcekey)."""

from __future__ import annotations

import pytest

from sipgw.sip.sourcekey import source_key


@pytest.mark.parametrize(
    ("host", "prefixes", "key"),
    [
        ("2001:db8:a:b:c:d:e:f", {}, "2001:db8:a:b::/64"),
        ("[2001:db8::1]", {"ipv6_prefix": 48}, "2001:db8::/48"),
        ("2001:db8::1", {"ipv6_prefix": 128}, "2001:db8::1"),
        ("198.51.100.7", {}, "198.51.100.7"),
        ("198.51.100.7", {"ipv4_prefix": 24}, "198.51.100.0/24"),
        ("::ffff:198.51.100.7", {}, "198.51.100.7"),  # a dual-stack socket's IPv4 peer
        ("not-an-address", {}, "not-an-address"),
    ],
)
def test_source_keys(host: str, prefixes: dict[str, int], key: str) -> None:
    assert source_key(host, **prefixes) == key
