"""The upstream settings sections (sipgw/app/upstream/settings.py): dns here; accounts and
outbound through tests/sipgw/app/upstream/test_accounts.py."""

from __future__ import annotations

import pytest

from sipgw.app.upstream.settings import DnsSection
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_systems_servers_unless_some_are_named() -> None:
    assert load(DnsSection, Sources({})).dns_servers == ()
    loaded = load(DnsSection, Sources({}, {"--dns-servers": "127.0.0.1:5353,10.0.0.2"}))
    assert loaded.dns_servers == (("127.0.0.1", 5353), ("10.0.0.2", 53))
    with pytest.raises(ConfigError, match="SIPGW_DNS_SERVERS=dns.example: 'dns.example' is not"):
        load(DnsSection, Sources({"SIPGW_DNS_SERVERS": "dns.example"}))
