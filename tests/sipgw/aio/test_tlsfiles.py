"""TLS contexts that follow their files, and the client profile per server (sipgw.aio.tlsfiles)."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import pytest

from sipgw.aio.tls import server_context
from sipgw.aio.tlsfiles import ClientTls, ReloadingContext, TlsClientProfile, client_profile
from tests.toolkit.tls import make_ca, make_server_cert


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def touch_later(path: Path, content: str) -> None:
    """Rewrite ``path`` with a modification time surely unlike the one before."""
    before = path.stat().st_mtime_ns
    path.write_text(content)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


class Renewal:
    """A listener's certificate files (the first of two pairs in place) and their context."""

    def __init__(self, directory: Path) -> None:
        ca = make_ca(directory / "pki")
        self.first = make_server_cert(ca, directory / "one", "gw")
        self.second = make_server_cert(ca, directory / "two", "gw")
        self.cert, self.key = directory / "gw.crt", directory / "gw.key"
        self.cert.write_text(self.first.cert.read_text())
        self.key.write_text(self.first.key.read_text())
        self.clock = Clock()
        files = (str(self.cert), str(self.key))
        self.reloading = ReloadingContext(
            lambda: server_context(*files), files, "SIPGW_TLS_CERT", every=1.0, clock=self.clock
        )


def test_a_changed_file_is_loaded_at_the_next_look_and_not_before(tmp_path: Path) -> None:
    renewal = Renewal(tmp_path)
    cert, key, second, clock = renewal.cert, renewal.key, renewal.second, renewal.clock
    reloading = renewal.reloading
    context = reloading.get()
    assert reloading.get() is context and reloading.loads == 1
    touch_later(cert, second.cert.read_text())
    touch_later(key, second.key.read_text())
    clock.now += 0.5
    assert reloading.get() is context  # not looked at yet
    clock.now += 0.6
    renewed = reloading.get()
    assert renewed is not context and reloading.loads == 2
    clock.now += 5
    assert reloading.get() is renewed  # unchanged files: no rebuild


def test_a_renewal_caught_half_written_keeps_the_old_context_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    renewal = Renewal(tmp_path)
    cert, key, second, clock = renewal.cert, renewal.key, renewal.second, renewal.clock
    reloading = renewal.reloading
    context = reloading.get()
    touch_later(cert, second.cert.read_text())  # the new certificate, the old key
    with caplog.at_level(logging.WARNING, logger="sipgw.sip"):
        for _ in range(3):
            clock.now += 2
            assert reloading.get() is context
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "SIPGW_TLS_CERT" in warnings[0], warnings
    touch_later(key, second.key.read_text())  # the key arrives
    clock.now += 2
    assert reloading.get() is not context and reloading.loads == 2


def test_the_first_build_failing_raises(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.crt")
    reloading = ReloadingContext(lambda: server_context(missing, missing), (missing,), "x")
    with pytest.raises(OSError):
        reloading.get()


def test_a_server_gets_the_profile_bound_to_its_host_else_the_default() -> None:
    default = client_profile("", "", "", what="SIPGW_TLS_CA")
    office = client_profile("", "", "", what="account 'office'", peer_names=("sbc.example.com",))
    lab = client_profile("", "", "", what="account 'lab'")
    client = ClientTls(default)
    client.bind("SBC.example.com", None, office)
    client.bind("10.0.0.7", 5081, lab)
    assert client.profile_for("sbc.example.com", 5061) is office
    assert client.profile_for("10.0.0.7", 5081) is lab
    assert client.profile_for("10.0.0.7", 5061) is default
    assert client.profile_for("other.example.com", 5061) is default


def test_a_profile_with_names_of_its_own_leaves_the_host_check_to_them() -> None:
    named = client_profile("", "", "", what="a", peer_names=("sbc.example.com",))
    plain = client_profile("", "", "", what="b")
    assert not named.context.get().check_hostname and named.peer_names == ("sbc.example.com",)
    assert plain.context.get().check_hostname
    assert named.context.get().verify_mode is ssl.CERT_REQUIRED  # the chain is still verified
    assert isinstance(named, TlsClientProfile)
