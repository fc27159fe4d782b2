"""A NAT for tests: a private network namespace behind a masquerading NAT namespace.

::

    test's namespace ("public")        NAT namespace                 private namespace
    PUBLIC_IP 198.51.100.1/24 --veth-- NAT_PUBLIC_IP 198.51.100.2     (masquerade out of it)
                                       NAT_PRIVATE_IP 10.0.0.1/24 --veth-- PRIVATE_IP 10.0.0.2/24
                                                                            default via 10.0.0.1

The public side is the namespace the test runs in, so Kamailio and softphones started as usual
(listening on :attr:`NatHarness.public_ip`) are reachable by the test's own control channels;
the private side (the gateway) runs its programs through :meth:`NatHarness.wrap` (``nsenter``).
The public namespace has no route to the private network: only what the NAT lets through
arrives. The NAT is nftables ``masquerade`` on Linux conntrack: a private source is rewritten
to :attr:`nat_public_ip` (keeping the port when it is free) and only replies from the address
and port a packet went to come back in (address- and port-dependent filtering).

Namespaces are held open by ``unshare -n sleep`` processes (no names under /run/netns), so
killing them (``close()``, atexit, or the test runner dying: parent-death signal) removes the
namespaces and their veth pairs. Needs root (CAP_NET_ADMIN), ``nft`` (Debian ``nftables``)
and ``nsenter``; refuses to run in the machine's initial network namespace, so it never
changes the host's network (run tests under ``unshare -n``, as ``scripts/test`` does).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

from sipgw.app.evaluation.process import PeerError, require_binary

if TYPE_CHECKING:
    import pytest

__all__ = [
    "ICE_LOOPBACK",
    "WEBRTC_IP",
    "NatHarness",
    "add_ice_address",
    "foreign_interfaces",
    "ice_on_loopback_only",
    "in_initial_netns",
    "webrtc_interface",
]

_LIVE: set[NatHarness] = set()
# our veth ends: NatHarness's public ones, webrtc_interface()'s pair
_HARNESS_IF = re.compile(r"^(pub[0-9a-f]{6}|wrt[0-9a-f]{6}[ab])$")


ICE_LOOPBACK = "127.0.0.2"
"""A loopback address ICE gathers (aioice leaves 127.0.0.1 and ::1 out)."""


def add_ice_address() -> None:
    """Give aiortc's ICE an address where only ``lo`` exists (a test's private namespace, a
    container without a network): :data:`ICE_LOOPBACK` on ``lo``. Where the namespace has
    another interface (the host's network) nothing is changed: its addresses serve.

    Raises:
        PeerError: the address cannot be added (not root: run the test under
            ``unshare -n``, as scripts/test does).
    """
    if foreign_interfaces():
        return
    done = subprocess.run(
        ["ip", "addr", "add", f"{ICE_LOOPBACK}/8", "dev", "lo"], capture_output=True, text=True
    )
    there = ("File exists", "already assigned")
    if done.returncode != 0 and not any(reason in done.stderr for reason in there):
        raise PeerError(f"cannot add {ICE_LOOPBACK} to lo: {done.stderr.strip()}")


def ice_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where only ``lo`` exists (the suite's private namespace), :func:`add_ice_address` and
    this process's aioice gathering host candidates on :data:`ICE_LOOPBACK` alone; on the
    host's network nothing is changed (its addresses serve).

    The suite's tests share one namespace, and other tests' addresses appear in it while
    they run (the NAT harness's veths, the digest tests' 100 IPv6 sources): aioice pairs
    every local address with every remote one, each new pair looked up by a scan of the
    whole list, so two aiortc peers on 101 addresses took 24 s to connect on a loaded
    2-core machine, most of it in that scan; on one address, 0.1 s. Needs ``aiortc`` (the
    ``browser`` extra).
    """
    if foreign_interfaces():
        return
    add_ice_address()
    from aioice import ice

    def loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [ICE_LOOPBACK] if use_ipv4 else []

    monkeypatch.setattr(ice, "get_host_addresses", loopback)


WEBRTC_IP = "10.213.0.1"
"""The address :func:`webrtc_interface` gives a private namespace."""


@contextlib.contextmanager
def webrtc_interface() -> Iterator[str | None]:
    """An interface with an address and a default route for a browser's WebRTC where only
    ``lo`` exists; yields its address (None outside a private namespace: nothing changed).

    Firefox gathers no host candidate on ``lo`` (even with ``media.peerconnection.ice.
    loopback``) and fails ICE at once in a namespace without a default route: it gets a
    veth pair, :data:`WEBRTC_IP`/30 on one end and the default route through it (to nowhere:
    the other end has no address), removed on exit. Needs root (CAP_NET_ADMIN).
    """
    if foreign_interfaces():
        yield None
        return
    tag = secrets.token_hex(3)
    end, peer = f"wrt{tag}a", f"wrt{tag}b"
    _run(["ip", "link", "add", end, "type", "veth", "peer", "name", peer], "veth (WebRTC)")
    try:
        _run(["ip", "addr", "add", f"{WEBRTC_IP}/30", "dev", end], "WebRTC address")
        for name in (end, peer):
            _run(["ip", "link", "set", name, "up"], "WebRTC link up")
        _run(["ip", "route", "add", "default", "via", "10.213.0.2", "dev", end], "default route")
        yield WEBRTC_IP
    finally:
        with contextlib.suppress(PeerError, subprocess.TimeoutExpired):
            _run(["ip", "link", "del", end], "delete WebRTC veth")  # its peer and route too


def in_initial_netns() -> bool:
    """True unless this network namespace looks private (made by ``unshare -n``).

    PID 1's namespace cannot always be read (EACCES even for root in some containers), so
    the test is what the namespace holds: a private one has only ``lo`` and the public ends
    of NAT harnesses' veths; any other interface (``eth0``...) means the host's network.
    """
    with contextlib.suppress(OSError):
        if os.readlink("/proc/self/ns/net") == os.readlink("/proc/1/ns/net"):
            return True
    return bool(foreign_interfaces())


def foreign_interfaces() -> list[str]:
    """Interfaces of this namespace other than ``lo`` and NAT harnesses' own."""
    try:
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        return ["<unreadable /proc/self/net/dev>"]
    names = [line.split(":", 1)[0].strip() for line in lines]
    return [n for n in names if n != "lo" and not _HARNESS_IF.match(n)]


def _run(argv: Sequence[str], what: str) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise PeerError(f"NAT harness: {what} failed: {' '.join(argv)}\n{out.stderr}{out.stdout}")
    return out.stdout


class _Namespace:
    """A network namespace held open by ``unshare -n sleep``; ``run()`` executes inside it."""

    def __init__(self, label: str) -> None:
        self.label = label
        argv = ["unshare", "-n", "--", "sleep", "86400"]
        if shutil.which("setpriv"):
            argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
        # setpriv and unshare exec, so the child's PID is the holder inside the namespace
        self.proc = subprocess.Popen(argv, start_new_session=True)
        self.path = f"/proc/{self.proc.pid}/ns/net"
        for _ in range(200):
            with contextlib.suppress(OSError):
                if os.readlink(self.path) != os.readlink("/proc/self/ns/net"):
                    break
            if self.proc.poll() is not None:
                raise PeerError(
                    f"NAT harness: unshare -n for {label} exited {self.proc.returncode}"
                )
            time.sleep(0.01)
        self.prefix = ["nsenter", f"--net={self.path}", "--"]
        self.run("ip", "link", "set", "lo", "up")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(self, *argv: str) -> str:
        return _run([*self.prefix, *argv], f"{self.label}: {argv[0]}")

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class NatHarness:
    """The three-namespace NAT above (context manager; ``start()`` builds, ``close()`` removes)."""

    def __init__(
        self,
        *,
        public_ip: str = "198.51.100.1",
        nat_public_ip: str = "198.51.100.2",
        nat_private_ip: str = "10.0.0.1",
        private_ip: str = "10.0.0.2",
        public_prefix: int = 24,
        private_prefix: int = 24,
    ) -> None:
        self.public_ip = public_ip
        self.nat_public_ip = nat_public_ip
        self.nat_private_ip = nat_private_ip
        self.private_ip = private_ip
        self.public_prefix = public_prefix
        self.private_prefix = private_prefix
        tag = secrets.token_hex(3)
        self.public_if = f"pub{tag}"  # in the test's namespace
        self.nat_public_if = f"natp{tag}"
        self.nat_private_if = f"natq{tag}"
        self.private_if = f"prv{tag}"
        self.nat: _Namespace | None = None
        self.private: _Namespace | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        for program in ("ip", "nsenter", "unshare", "nft"):
            require_binary(program)
        if in_initial_netns():
            raise PeerError(
                "NAT harness: refusing to change what looks like the host's network namespace "
                f"(interfaces {foreign_interfaces()}); run the test in a private one "
                "(unshare -n, as scripts/test does)"
            )
        _LIVE.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        self.nat = nat = _Namespace("nat")
        self.private = private = _Namespace("private")
        # public side: a veth pair between this namespace and the NAT
        _run(["ip", "link", "add", self.public_if, "type", "veth", "peer", "name",
              self.nat_public_if], "veth (public)")  # fmt: skip
        _run(["ip", "link", "set", self.nat_public_if, "netns", str(nat.pid)], "move veth")
        _run(["ip", "addr", "add", f"{self.public_ip}/{self.public_prefix}", "dev",
              self.public_if], "public address")  # fmt: skip
        _run(["ip", "link", "set", self.public_if, "up"], "public link up")
        nat.run("ip", "addr", "add", f"{self.nat_public_ip}/{self.public_prefix}",
                "dev", self.nat_public_if)  # fmt: skip
        nat.run("ip", "link", "set", self.nat_public_if, "up")
        # private side: a veth pair between the NAT and the private namespace
        nat.run("ip", "link", "add", self.nat_private_if, "type", "veth", "peer", "name",
                self.private_if)  # fmt: skip
        nat.run("ip", "link", "set", self.private_if, "netns", str(private.pid))
        nat.run("ip", "addr", "add", f"{self.nat_private_ip}/{self.private_prefix}",
                "dev", self.nat_private_if)  # fmt: skip
        nat.run("ip", "link", "set", self.nat_private_if, "up")
        private.run("ip", "addr", "add", f"{self.private_ip}/{self.private_prefix}",
                    "dev", self.private_if)  # fmt: skip
        private.run("ip", "link", "set", self.private_if, "up")
        private.run("ip", "route", "add", "default", "via", self.nat_private_ip)
        # forwarding and masquerade in the NAT namespace (/proc/sys/net is per namespace)
        nat.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        ruleset = (
            "table ip sipgw_nat {\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{self.nat_public_if}" masquerade\n'
            "  }\n"
            "  chain forward {\n"
            "    type filter hook forward priority filter; policy drop;\n"
            f'    iifname "{self.nat_private_if}" oifname "{self.nat_public_if}" accept\n'
            "    ct state established,related accept\n"
            "  }\n"
            "}\n"
        )
        self._nft(ruleset)

    def _nft(self, ruleset: str) -> None:
        assert self.nat is not None
        out = subprocess.run(
            [*self.nat.prefix, "nft", "-f", "-"],
            input=ruleset,
            capture_output=True,
            text=True,
            timeout=20,
        )
        if out.returncode != 0:
            raise PeerError(
                f"NAT harness: nft masquerade failed (kernel without nf_tables NAT?):\n{out.stderr}"
            )

    def close(self) -> None:
        """Remove everything: the namespaces (and with them the veth pairs) and our address."""
        for ns in (self.private, self.nat):
            if ns is not None:
                ns.close()
        self.private = self.nat = None
        # the public veth end disappears with its peer; make sure of it
        with contextlib.suppress(PeerError, subprocess.TimeoutExpired):
            if Path(f"/sys/class/net/{self.public_if}").exists():
                _run(["ip", "link", "del", self.public_if], "delete public veth")
        _LIVE.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ use
    def wrap(self, argv: Sequence[str], *, side: str = "private") -> list[str]:
        """``argv`` run inside the ``private`` (default) or ``nat`` namespace via nsenter.

        Use it as a program prefix, e.g. ``GatewayProcess(program=nat.wrap([sys.executable,
        "-m", "sipgw"]), bind=nat.private_ip, ...)``.
        """
        ns = self.private if side == "private" else self.nat if side == "nat" else None
        if ns is None:
            raise PeerError(f"NAT harness: no {side!r} namespace (started? side private|nat)")
        return [*ns.prefix, *argv]

    def run_private(self, *argv: str) -> str:
        """Run a short command inside the private namespace and return its output."""
        if self.private is None:
            raise PeerError("NAT harness is not started")
        return self.private.run(*argv)

    def conntrack(self) -> str:
        """The NAT's connection-tracking table (``/proc/net/nf_conntrack`` when the kernel has it,
        else the nft ruleset with counters), for failure reports."""
        if self.nat is None:
            return ""
        try:
            return self.nat.run("cat", "/proc/net/nf_conntrack")
        except PeerError:
            return self.nat.run("nft", "list", "ruleset")


def _close_all() -> None:
    for harness in list(_LIVE):
        with contextlib.suppress(Exception):
            harness.close()


atexit.register(_close_all)
