"""Who may call, wired: settings, start-up resolution, the refusal log, the gateway."""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipgw.app.legs.settings import LegsSettings
from sipgw.app.operations.stats import gateway_stats
from sipgw.app.security.access import (
    CLOSED_BY_DEFAULT,
    LAB_LINE,
    AccessConfig,
    RefusalLog,
    access_config,
    account_upstreams,
    build_access_policy,
    startup_line,
    summary_level,
    upstream_hosts,
)
from sipgw.app.security.settings import AccessSection, allow_from
from sipgw.app.upstream.accounts import load_accounts
from sipgw.app.upstream.settings import AccountSection
from sipgw.foundation.settings import ConfigError, Sources, load
from sipgw.sip.access import Refusal
from sipgw.sip.addressing import Flow
from sipgw.sip.events import CallOffered, RequestRefused
from tests.sipgw.sip.builders import invite
from tests.sipgw.sip.ua_harness import Harness
from tests.toolkit.canaries import INBOUND_PASSWORD
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)


def config_of(environ: dict[str, str], upstreams: Sequence[str] = ()) -> AccessConfig:
    return access_config(load(AccessSection, Sources(environ)), upstreams)


DNS = {
    "pbx.example.com": ["203.0.113.7"],
    "proxy.example.net": ["198.51.100.2", "2001:db8::2"],
    "office.example.org": ["192.0.2.77"],
}


async def fake_dns(host: str) -> Sequence[str]:
    if host not in DNS:
        raise OSError(f"no such host {host}")
    return DNS[host]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", ()),
        ("any", ("any",)),
        (" ANY ", ("any",)),
        ("192.0.2.10", ("192.0.2.10",)),
        ("10.0.0.0/8, 2001:db8::/32,pbx.example.com", ("10.0.0.0/8", "2001:db8::/32",
                                                       "pbx.example.com")),
        ("192.0.2.10,,", ("192.0.2.10",)),
    ],
)  # fmt: skip
def test_allow_from_values(text: str, parsed: tuple[str, ...]) -> None:
    assert allow_from(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("any,192.0.2.10", "'any' admits everyone"),
        ("10.0.0.0/33", "is not an IP address, a CIDR"),
        ("pbx_example", "is not an IP address, a CIDR"),
        ("sip:pbx.example.com", "is not an IP address, a CIDR"),
    ],
)
def test_bad_allow_from_values_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allow_from(text)
    with pytest.raises(ConfigError, match=f"^--allow-from {re.escape(shlex.quote(text))}: "):
        load(AccessSection, Sources({}, {"--allow-from": text}))


def test_defaults_configure_nothing() -> None:
    assert config_of({}) == AccessConfig()


def test_inbound_users_from_settings_and_file(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# inbound users\n\nbob:pa:ss\n  carol : x y \n")
    config = config_of(
        {
            "SIPGW_INBOUND_USERNAME": "alice",
            "SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD,
            "SIPGW_INBOUND_USERS_FILE": str(users),
            "SIPGW_INBOUND_REALM": "pbx",
            "SIPGW_INBOUND_ALGORITHM": "sha-256",
        }
    )
    assert config.users == (("alice", INBOUND_PASSWORD), ("bob", "pa:ss"), ("carol", " x y "))
    assert config.realm == "pbx" and config.algorithm == "SHA-256"
    assert INBOUND_PASSWORD not in repr(config) and "pa:ss" not in repr(config)


@pytest.mark.parametrize(
    ("environ", "file_text", "message"),
    [
        ({"SIPGW_INBOUND_USERNAME": "alice"}, None,
         "^SIPGW_INBOUND_USERNAME=alice is set: --inbound-password/SIPGW_INBOUND_PASSWORD is "
         "needed"),
        ({"SIPGW_INBOUND_PASSWORD": INBOUND_PASSWORD}, None,
         "^SIPGW_INBOUND_PASSWORD is set: --inbound-username/SIPGW_INBOUND_USERNAME is needed"),
        ({}, "alice:one\nnopassword-s3cret\n", "line 2 is not name:password"),
        ({}, "alice:\n", "line 1 is not name:password"),
        ({"SIPGW_INBOUND_USERNAME": "alice", "SIPGW_INBOUND_PASSWORD": "x"}, "alice:y\n",
         "'alice' is defined twice"),
        ({"SIPGW_INBOUND_ALGORITHM": "SHA-1"}, None, "must be MD5 or SHA-256"),
    ],
)  # fmt: skip
def test_bad_inbound_credentials_are_named_without_the_password(
    tmp_path: Path, environ: dict[str, str], file_text: str | None, message: str
) -> None:
    if file_text is not None:
        users = tmp_path / "users"
        users.write_text(file_text)
        environ = {**environ, "SIPGW_INBOUND_USERS_FILE": str(users)}
    with pytest.raises(ConfigError, match=message) as error:
        config_of(environ)
    assert INBOUND_PASSWORD not in str(error.value)


def test_a_users_file_names_its_line(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice:one\n# nobody\nbob\n")
    with pytest.raises(ConfigError, match=f"^{users} line 3 is not name:password"):
        config_of({"SIPGW_INBOUND_USERS_FILE": str(users)})


def test_a_missing_users_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="^--inbound-users-file/SIPGW_INBOUND_USERS_FILE: "
                       f"cannot read {missing}: No such file or directory$"):  # fmt: skip
        config_of({"SIPGW_INBOUND_USERS_FILE": str(missing)})


@pytest.mark.parametrize(
    ("environ", "proxy", "hosts"),
    [
        ({}, "", ()),
        ({"SIPGW_REGISTER": "sip:1001@pbx.example.com"}, "", ("pbx.example.com",)),
        ({"SIPGW_REGISTER": "sip:1001@example.com", "SIPGW_REGISTRAR": "sip:pbx.example.com:5080"},
         "", ("pbx.example.com",)),
        ({}, "sip:proxy.example.net;transport=tcp", ("proxy.example.net",)),
        ({"SIPGW_REGISTER": "sip:1001@pbx.example.com"}, "proxy.example.net",
         ("pbx.example.com", "proxy.example.net")),
        ({"SIPGW_REGISTER": "sip:1001@192.0.2.5"}, "sip:192.0.2.5", ("192.0.2.5",)),
    ],
)  # fmt: skip
def test_upstreams_are_the_registrar_and_the_proxy(
    environ: dict[str, str], proxy: str, hosts: tuple[str, ...]
) -> None:
    accounts = load_accounts(load(AccountSection, Sources(environ)), proxy)
    assert upstream_hosts(accounts, proxy) == hosts
    assert config_of({}, upstream_hosts(accounts, proxy)).upstreams == hosts


def test_a_bad_upstream_uri_is_named() -> None:
    with pytest.raises(ConfigError, match="outbound proxy='sip:'"):
        upstream_hosts((), "sip:")
    with pytest.raises(ConfigError, match="outbound proxy='sip:'"):
        account_upstreams("sip:1001@pbx.example.com", outbound_proxy="sip:")


def test_an_accounts_upstreams_are_its_registrar_or_aor_host_and_its_proxy() -> None:
    assert account_upstreams("sip:1001@pbx.example.com") == ("pbx.example.com",)
    assert account_upstreams(
        "sip:1001@example.com", "sip:reg.example.com;transport=tls", "sip:proxy.example.net:5070"
    ) == ("reg.example.com", "proxy.example.net")


# --------------------------------------------------------------------------- start-up


async def policy_for(config: AccessConfig) -> tuple[str, list[str], list[str]]:
    """The start-up line, which of some sources are admitted, and the digest realm if any."""
    policy, line = await build_access_policy(config, fake_dns)
    sources = ["192.0.2.77", "203.0.113.7", "198.51.100.2", "2001:db8::2", "10.1.1.1"]
    admitted = [s for s in sources if s in policy.allow]
    digest = [] if policy.digest is None else [policy.digest.realm]
    return line, admitted, digest


async def test_nothing_configured_admits_nobody_and_says_what_to_add() -> None:
    """Issue 21: an agent that spends money answered everyone when nothing was configured."""
    config = AccessConfig()
    policy, line = await build_access_policy(config, fake_dns)
    assert config.closed_by_default and line == CLOSED_BY_DEFAULT
    assert not any(s in policy.allow for s in ("192.0.2.77", "127.0.0.1", "10.1.1.1"))
    assert policy.digest is None and summary_level(policy) == logging.WARNING
    assert "every SIP call is refused (403); no other leg takes calls" in line
    assert "--allow-from" in line and "--allow-from any" in line and "\n" not in line


async def test_closed_over_sip_the_line_names_the_legs_that_still_take_calls() -> None:
    """Issue 39: "every call is refused (403)" was logged while the Twilio and browser legs,
    which the SIP access policy does not judge, took calls."""
    policy, line = await build_access_policy(AccessConfig(), fake_dns)
    legs = LegsSettings(twilio_auth_token="t", public_url="https://gw.example.test")
    said = startup_line(policy, line, legs.taking_calls(admin=True))
    assert said.startswith(
        "access: no --allow-from, account, proxy or inbound credentials configured, and the "
        "agent costs money per call: every SIP call is refused (403); the Twilio leg (signed "
        "by Twilio; each stream with our webhook's one-time token) and the browser leg "
        "(/dashboard/phone, for whoever the admin server admits) take calls all the same. "
        "To take SIP calls, add --allow-from"
    ), said
    assert "no other leg" not in said and summary_level(policy) == logging.WARNING
    twilio_only = LegsSettings(twilio_auth_token="t", public_url="https://gw.example.test",
                               browser_calls=False, twilio_own_twiml=True)  # fmt: skip
    said = startup_line(policy, line, twilio_only.taking_calls(admin=True))
    assert (
        "refused (403); the Twilio leg (signed by Twilio; streams without our webhook's "
        "one-time token too: SIPGW_TWILIO_OWN_TWIML=on) takes calls all the same." in said
    )
    assert startup_line(policy, line, legs.taking_calls(admin=False)) == line == CLOSED_BY_DEFAULT
    # a policy that admits someone over SIP keeps its line
    open_policy, open_line = await build_access_policy(AccessConfig(allow_from=("any",)), fake_dns)
    assert startup_line(open_policy, open_line, legs.taking_calls(admin=True)) == open_line


async def test_a_lab_of_free_agents_admits_this_host_and_private_networks_only() -> None:
    """Issue 21 (audit): the echo agent with nothing configured (a default ``sipgw serve``)
    answered anyone, so one forged-source INVITE drew a 100, a 180, eleven 200s and three
    BYEs (17.2 times its bytes). Now a lab admits loopback and private networks only."""
    config = AccessConfig(free_agents=True)
    policy, line = await build_access_policy(config, fake_dns)
    assert line == LAB_LINE and not config.closed_by_default and policy.digest is None
    inside = ["127.0.0.1", "127.9.9.9", "::1", "10.1.1.1", "172.31.0.5", "192.168.1.23",
              "fd12:3456::7", "::ffff:192.168.1.23"]  # fmt: skip
    outside = ["192.0.2.77", "203.0.113.7", "198.51.100.2", "2001:db8::2", "8.8.8.8",
               "100.64.0.1", "169.254.1.1", "fe80::1", "172.32.0.1", "::ffff:8.8.8.8"]  # fmt: skip
    assert [s for s in inside if s not in policy.allow] == []
    assert [s for s in outside if s in policy.allow] == []
    assert not policy.trusts("192.168.1.23")  # nobody named it: no asserted identity believed
    assert summary_level(policy) == logging.INFO and "\n" not in line
    assert "this host and private networks only" in line and "--allow-from any" in line


async def test_a_lab_refuses_a_stranger_statelessly_and_answers_the_lan() -> None:
    """The lab's policy in the user agent core: a forged INVITE from the internet gets one
    403 no larger than itself and leaves no transaction; a phone on the LAN gets its call."""
    policy, _ = await build_access_policy(AccessConfig(free_agents=True), fake_dns)
    h = Harness(access=policy)
    data = invite(call_id="forged-1")
    h.feed(data, Flow("UDP", ("198.51.100.66", 5060)))
    ((_, response, _),) = h.sent
    assert response.startswith(b"SIP/2.0 403") and len(response) <= len(data)
    assert not h.ua._ctx.transactions.server and not h.of(CallOffered)
    h.advance(64.0)  # past Timer H: nothing more
    assert len(h.sent) == 1
    h.feed(invite(call_id="lan-1"), Flow("UDP", ("192.168.1.23", 5060)))
    assert len(h.of(CallOffered)) == 1


async def test_allow_from_any_admits_anyone_even_with_credentials() -> None:
    config = AccessConfig(("any",), users=(("alice", "x"),))
    line, admitted, _ = await policy_for(config)
    assert len(admitted) == 5 and "--allow-from any" in line and "paid session" in line
    policy, _ = await build_access_policy(config, fake_dns)
    assert summary_level(policy) == logging.WARNING


async def test_named_sources_are_said_at_info() -> None:
    policy, _ = await build_access_policy(AccessConfig(("203.0.113.7",)), fake_dns)
    assert summary_level(policy) == logging.INFO
    digest_only, _ = await build_access_policy(AccessConfig(users=(("a", "b"),)), fake_dns)
    assert summary_level(digest_only) == logging.INFO


async def test_allow_from_resolves_names_at_start() -> None:
    config = AccessConfig(("office.example.org", "10.0.0.0/8"), upstreams=("pbx.example.com",))
    line, admitted, digest = await policy_for(config)
    assert admitted == ["192.0.2.77", "10.1.1.1"]  # the registrar is not added to a set list
    assert digest == [] and line == "access: calls accepted from 192.0.2.77, 10.0.0.0/8"


async def test_an_allow_from_name_that_does_not_resolve_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="SIPGW_ALLOW_FROM: cannot resolve 'nowhere.invalid'"):
        await build_access_policy(AccessConfig(("nowhere.invalid",)), fake_dns)


async def test_names_are_resolved_at_the_same_time_and_kept_in_order() -> None:
    waiting: list[str] = []
    both = asyncio.Event()

    async def slow_dns(host: str) -> list[str]:
        waiting.append(host)
        if len(waiting) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 2.0)  # one after the other would time out here
        return {"b.example": ["192.0.2.2"], "a.example": ["192.0.2.1"]}[host]

    config = AccessConfig(("b.example", "10.0.0.0/8", "a.example"))
    policy, line = await build_access_policy(config, slow_dns)
    assert sorted(waiting) == ["a.example", "b.example"]
    assert line == "access: calls accepted from 192.0.2.2, 10.0.0.0/8, 192.0.2.1"


async def test_by_default_the_registrar_and_proxy_are_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = AccessConfig(upstreams=("pbx.example.com", "proxy.example.net", "gone.invalid"))
    with caplog.at_level(logging.WARNING):
        line, admitted, digest = await policy_for(config)
    assert admitted == ["203.0.113.7", "198.51.100.2", "2001:db8::2"] and digest == []
    assert "(the registrar/proxy: pbx.example.com, proxy.example.net, gone.invalid)" in line
    assert "cannot resolve gone.invalid" in caplog.text


async def test_credentials_alone_admit_nobody_without_them() -> None:
    line, admitted, digest = await policy_for(AccessConfig(users=(("alice", "x"),), realm="r"))
    assert admitted == [] and digest == ["r"]
    assert line == "access: calls accepted with digest credentials (realm 'r')"


async def test_credentials_and_an_upstream_admit_both() -> None:
    config = AccessConfig(upstreams=("pbx.example.com",), users=(("alice", "x"),))
    line, admitted, digest = await policy_for(config)
    assert admitted == ["203.0.113.7"] and digest == ["sip"]  # the default names no software
    assert line.startswith("access: calls accepted from 203.0.113.7 or with digest credentials")


# --------------------------------------------------------------------------- the refusal log


def refused(host: str, refusal: Refusal = Refusal.NOT_ALLOWED) -> RequestRefused:
    return RequestRefused((host, 5060), "INVITE", "sip:spam@example.com", refusal, None)


def test_refusals_are_logged_once_per_source_per_minute(caplog: pytest.LogCaptureFixture) -> None:
    log = RefusalLog(logging.getLogger("test.access"))
    with caplog.at_level(logging.DEBUG, "test.access"):
        log.record(refused("198.51.100.67"), 0.0)
        for second in range(0, 120, 2):  # a scanner, every 2 s for two minutes
            log.record(refused("198.51.100.66"), float(second))
        log.record(refused("198.51.100.68", Refusal.CHALLENGED), 6.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "access: refused INVITE from 198.51.100.67:5060 (From sip:spam@example.com): "
        "source not allowed, 403",
        "access: refused INVITE from 198.51.100.66:5060 (From sip:spam@example.com): "
        "source not allowed, 403",
        "access: refused INVITE from 198.51.100.66:5060 (From sip:spam@example.com): "
        "source not allowed, 403 (+29 more since the last line)",
    ]
    assert log.refused == 61 and log.challenged == 1


def test_with_nothing_configured_each_refusal_says_what_admits_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = RefusalLog(logging.getLogger("test.access"))
    log.hint = True
    with caplog.at_level(logging.WARNING, "test.access"):
        log.record(refused("192.168.1.23"), 0.0)
        log.record(refused("2001:db8::9", Refusal.BAD_CREDENTIALS), 0.0)
    assert [r.getMessage() for r in caplog.records] == [
        "access: refused INVITE from 192.168.1.23:5060 (From sip:spam@example.com): "
        "source not allowed, 403 (to take calls from there: --allow-from 192.168.1.23)",
        "access: refused INVITE from [2001:db8::9]:5060 (From sip:spam@example.com): "
        "wrong credentials, 403",
    ]


def test_a_scan_from_many_addresses_is_summed_up(caplog: pytest.LogCaptureFixture) -> None:
    log = RefusalLog(logging.getLogger("test.access"), max_sources=3)
    with caplog.at_level(logging.WARNING, "test.access"):
        for n in range(10):
            log.record(refused(f"2001:db8::{n}"), float(n))
        log.record(refused("2001:db8::100"), 70.0)  # a minute on: old entries make room
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 + 1 + 1, lines
    assert lines[0].startswith("access: refused INVITE from [2001:db8::0]:5060")
    assert lines[3] == "access: refused requests from more than 3 addresses (1 not logged)"
    assert lines[4].startswith("access: refused INVITE from [2001:db8::100]:5060")
    assert log.refused == 11


# --------------------------------------------------------------------------- the gateway


async def test_a_refused_invite_opens_nothing() -> None:
    async with running_gateway(access=AccessConfig(("192.0.2.1",))) as (gateway, new_phone):
        phone = await new_phone()
        final = await phone.invite()
        assert final.status == 403
        stats = gateway_stats(gateway)
        assert gateway.handles == {} and gateway.counters().calls_total == 0
        assert stats["rtp_ports_in_use"] == 0 and stats["refused"] == 1
        assert stats["stateless_answers"] == 1 and stats["stateless_withheld"] == 0
        assert not gateway.ua.busy


async def test_a_gateway_with_nothing_configured_refuses_and_hints(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``Gateway(config, factory)`` with no access: closed (the embedding default too)."""
    with caplog.at_level(logging.INFO):
        async with running_gateway(access=AccessConfig()) as (gateway, new_phone):
            phone = await new_phone()
            assert (await phone.invite()).status == 403
            assert gateway.handles == {} and gateway.refusals.hint
    startup = [r for r in caplog.records if r.getMessage().startswith("access: no --allow")]
    assert [r.levelno for r in startup] == [logging.WARNING]
    assert any("--allow-from 127.0.0.1)" in r.getMessage() for r in caplog.records)


async def test_an_allowed_source_gets_its_call() -> None:
    async with running_gateway(access=AccessConfig(("127.0.0.0/8",))) as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        assert gateway.counters().calls_total == 1 and gateway_stats(gateway)["refused"] == 0
        assert await phone.bye()
