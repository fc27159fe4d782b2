"""Mutual TLS per account (sipgw.app.upstream.accounttls): each account's own profile, bound
to its servers; bad files stop the start naming the account."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.aio.tlsfiles import ClientTls, client_profile
from sipgw.app.upstream.accounts import Account, AccountTls
from sipgw.app.upstream.accounttls import AccountServers
from sipgw.foundation.settings import ConfigError
from sipgw.sip.addressing import Flow
from tests.toolkit.tls import make_ca, make_server_cert


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A CA, and an account certificate and key it signed."""
    where = tmp_path_factory.mktemp("pki")
    ca = make_ca(where)
    mine = make_server_cert(ca, where, "office", dns_names=("office.example.com",))
    return str(ca.cert), str(mine.cert), str(mine.key)


def account(name: str, aor: str, tls: AccountTls | None, outbound_proxy: str = "") -> Account:
    return Account(
        name, aor, outbound_proxy=outbound_proxy, transport="tls", tls=tls,
        origin=f"accounts.toml: account {name!r}",
    )  # fmt: skip


def test_each_account_with_tls_of_its_own_gets_a_profile_bound_to_its_next_hop(
    files: tuple[str, str, str],
) -> None:
    ca, cert, key = files
    office = account("office", "sip:1001@pbx.example.com",
                     AccountTls(cert=cert, key=key, ca=ca, peer_names=("sbc.example.com",)),
                     outbound_proxy="sip:edge.example.com:5081")  # fmt: skip
    lab = account("lab", "sip:7@10.0.0.9", AccountTls(ca=ca))
    plain = account("plain", "sip:1@other.example.com", None)
    servers = AccountServers((office, lab, plain), "", "", "")
    servers.load()
    default = client_profile("", "", "", what="SIPGW_TLS_CA")
    client = ClientTls(default)
    servers.attach(client)
    ours = servers.profiles[office.aor]
    assert ours.peer_names == ("sbc.example.com",)
    assert client.profile_for("edge.example.com", 5081) is ours  # the outbound proxy
    assert client.profile_for("pbx.example.com", 5061) is default  # not where it goes
    assert client.profile_for("10.0.0.9", 5061) is servers.profiles[lab.aor]
    assert client.profile_for("other.example.com", 5061) is default
    # DNS found more servers for the office's registrations: the TLS ones get its profile
    servers.targets(office.aor, (Flow("TLS", ("sbc2.example.com", 5061)), Flow("UDP", ("x", 5060))))
    assert client.profile_for("sbc2.example.com", 5061) is ours
    assert client.profile_for("x", 5060) is default
    assert servers.profiles.keys() == {office.aor, lab.aor}


def test_files_that_do_not_load_stop_the_start_naming_the_account(
    files: tuple[str, str, str], tmp_path: Path
) -> None:
    ca, cert, _ = files
    other_key = make_server_cert(make_ca(tmp_path, name="other-ca"), tmp_path, "other").key
    broken = account("office", "sip:1001@pbx.example.com",
                     AccountTls(cert=cert, key=str(other_key), ca=ca))  # fmt: skip
    with pytest.raises(
        ConfigError, match="accounts.toml: account 'office': its TLS files do not load"
    ):
        AccountServers((broken,), "", "", "").load()


def test_two_accounts_with_their_own_tls_for_one_server_are_refused(
    files: tuple[str, str, str],
) -> None:
    ca, cert, key = files
    one = account("one", "sip:1@pbx.example.com", AccountTls(cert=cert, key=key))
    two = account("two", "sip:2@pbx.example.com", AccountTls(ca=ca))
    with pytest.raises(ConfigError, match="accounts 'one' and 'two' both have TLS settings"):
        AccountServers((one, two), "", "", "").load()
