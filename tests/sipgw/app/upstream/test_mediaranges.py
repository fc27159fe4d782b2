"""Where each trunk's media may go (sipgw/app/upstream/mediaranges.py): the settings, the rules, the
SIP core's policy, and a call from a trunk whose SDP names another network."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from sipgw.app.security.access import AccessConfig, access_config
from sipgw.app.security.settings import AccessSection
from sipgw.app.upstream.accounts import Account
from sipgw.app.upstream.mediaranges import (
    TrunkMedia,
    build_media_targets,
    media_networks,
    trunk_media,
)
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)
LOG = logging.getLogger("test.media")


async def fake_dns(host: str) -> Sequence[str]:
    if host == "sip.trunk.example":
        return ["198.51.100.10", "198.51.100.11"]
    raise OSError("no such host")


def test_media_networks_are_ip_literals_and_cidrs() -> None:
    assert media_networks(" 203.0.113.0/24, 2001:db8::1 ,") == ("203.0.113.0/24", "2001:db8::1")
    assert media_networks("") == ()
    with pytest.raises(ValueError, match="'media.example.com' is not an IP address"):
        media_networks("media.example.com")


def test_the_setting_names_what_the_user_wrote() -> None:
    with pytest.raises(ConfigError, match="^--media-networks x.example: 'x.example' is not"):
        load(AccessSection, Sources({}, {"--media-networks": "x.example"}))


def test_accounts_rules_come_first_then_the_general_one_for_sources_admitted_by_address() -> None:
    rules = trunk_media(
        ("203.0.113.7",),
        ("sip.trunk.example",),
        ("192.0.2.0/24",),
        [("trunk", ("sip.trunk.example",), ("198.51.100.0/24",)), ("pbx", ("10.0.0.1",), ())],
    )
    assert rules == (
        TrunkMedia(("sip.trunk.example",), ("198.51.100.0/24",), "account 'trunk'"),
        TrunkMedia(("203.0.113.7", "sip.trunk.example"), ("192.0.2.0/24",),
                   "SIPGW_MEDIA_NETWORKS"),
    )  # fmt: skip
    assert trunk_media(("any",), (), ("192.0.2.0/24",))[0].signalling == ("0.0.0.0/0", "::/0")
    assert trunk_media((), (), ("192.0.2.0/24",)) == ()  # nothing admitted by address


def test_access_config_carries_them() -> None:
    env = {"SIPGW_ALLOW_FROM": "203.0.113.7", "SIPGW_MEDIA_NETWORKS": "203.0.113.128/25"}
    section = load(AccessSection, Sources(env))
    trunk = Account("trunk", "sip:1@sip.trunk.example", media_networks=("198.51.100.0/24",))
    config = access_config(section, ("sip.trunk.example",), accounts=[trunk])
    assert [rule.origin for rule in config.media_ranges] == [
        "account 'trunk'",
        "SIPGW_MEDIA_NETWORKS",
    ]


async def test_the_core_policy_resolves_the_signalling_hosts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = (
        TrunkMedia(("sip.trunk.example", "gone.example"), ("198.51.100.0/24",), "account 't'"),
    )
    with caplog.at_level(logging.INFO, "test.media"):
        policy = await build_media_targets(rules, fake_dns, LOG)
    assert policy.refusal("198.51.100.99", "198.51.100.11") is None
    assert policy.refusal("192.0.2.5", "198.51.100.10") == (
        "outside the media networks of the trunk at 198.51.100.10"
    )
    assert policy.refusal("192.0.2.5", "203.0.113.1") is None  # another source: not this rule
    lines = [r.getMessage() for r in caplog.records]
    assert "media: cannot resolve gone.example (no such host) for account 't'" in lines
    assert lines[-1] == (
        "media: calls from sip.trunk.example, gone.example (account 't') send their RTP "
        "only to 198.51.100.0/24"
    )


async def test_a_trunks_call_naming_another_network_gets_488() -> None:
    """An INVITE from the trunk whose ``c=`` is outside the networks the operator listed
    for it: refused before anything is sent there (488 with a Warning saying why)."""
    access = AccessConfig(
        ("127.0.0.1",),
        media_ranges=trunk_media(("127.0.0.1",), (), ("127.0.0.0/30",)),
    )
    async with running_gateway(access=access) as (gateway, new_phone):
        outside = await new_phone(sdp_address=("127.0.0.9", 40000))
        refused = await outside.invite()
        assert refused.status == 488 and gateway.handles == {}
        warning = refused.headers.get("Warning") or ""
        assert "outside the media networks of the trunk at 127.0.0.1" in warning
        inside = await new_phone()  # its RTP socket is on 127.0.0.1
        assert (await inside.invite()).status == 200
        await inside.hang_up()
