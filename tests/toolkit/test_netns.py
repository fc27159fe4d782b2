"""add_ice_address and ice_on_loopback_only (tests/toolkit/netns.py): an address for ICE, alone,
wherever only ``lo`` exists.

The commands it would run are captured; the namespace's interfaces are given.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from sipgw.app.evaluation.process import PeerError
from tests.toolkit import netns


def captured(monkeypatch: pytest.MonkeyPatch, interfaces: list[str], stderr: str = "") -> list[Any]:
    runs: list[Any] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 2 if stderr else 0, "", stderr)

    monkeypatch.setattr(netns, "foreign_interfaces", lambda: interfaces)
    monkeypatch.setattr(subprocess, "run", run)
    return runs


def test_where_only_lo_exists_ice_gets_127_0_0_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever PID 1 shares (a container without a network looks like the host's own
    namespace): aioice leaves 127.0.0.1 out, so without it a browser call had no candidate."""
    runs = captured(monkeypatch, [])
    netns.add_ice_address()
    assert runs == [["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"]]


def test_the_hosts_network_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = captured(monkeypatch, ["eth0"])
    netns.add_ice_address()
    assert runs == []


def test_an_address_there_already_is_fine_and_a_failure_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured(monkeypatch, [], "RTNETLINK answers: File exists")
    netns.add_ice_address()
    captured(monkeypatch, [], "RTNETLINK answers: Operation not permitted")
    with pytest.raises(PeerError, match="cannot add 127.0.0.2 to lo: .*not permitted"):
        netns.add_ice_address()


def test_where_only_lo_exists_aioice_gathers_on_127_0_0_2_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other tests' addresses in the shared namespace (100 IPv6 sources) are left out."""
    from aioice import ice

    runs = captured(monkeypatch, [])
    monkeypatch.setattr(ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["fd00::1"])
    netns.ice_on_loopback_only(monkeypatch)
    assert runs == [["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"]]
    assert ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.2"]
    assert ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []


def test_on_the_hosts_network_aioice_gathers_as_it_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from aioice import ice

    runs = captured(monkeypatch, ["eth0"])
    gather = ice.get_host_addresses
    netns.ice_on_loopback_only(monkeypatch)
    assert runs == [] and ice.get_host_addresses is gather
