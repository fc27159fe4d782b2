"""The NAT harness (tests.toolkit.netns): masquerade from a private namespace to this one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toolkit.netns import NatHarness
from tests.toolkit.peers.kamailio import Kamailio

pytestmark = pytest.mark.timeout(60)

# Runs inside the private namespace: send one datagram, then print what comes back for 1.5 s.
INSIDE = """
import json, socket, sys, time
dest = (sys.argv[1], int(sys.argv[2]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
print(json.dumps({"bound": s.getsockname()}), flush=True)
s.sendto(b"from-inside", dest)
s.settimeout(0.1)
end = time.monotonic() + 1.5
while time.monotonic() < end:
    try:
        data, src = s.recvfrom(100)
    except TimeoutError:
        continue
    print(json.dumps({"data": data.decode(), "src": list(src)}), flush=True)
"""


def test_udp_goes_out_through_the_nat_and_only_replies_come_back() -> None:
    with (
        NatHarness() as nat,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger,
    ):
        server.bind((nat.public_ip, 0))
        server.settimeout(5)
        stranger.bind((nat.public_ip, 0))
        inside = subprocess.Popen(
            nat.wrap([sys.executable, "-c", INSIDE, nat.public_ip, str(server.getsockname()[1])]),
            stdout=subprocess.PIPE,
            text=True,
        )
        data, src = server.recvfrom(100)
        # it arrives from the NAT's public address, not the private one
        assert data == b"from-inside"
        assert src[0] == nat.nat_public_ip
        server.sendto(b"reply", src)  # the reply goes back through the mapping
        stranger.sendto(b"unsolicited", src)  # another port: filtered by the NAT
        out, _ = inside.communicate(timeout=10)
        lines = [json.loads(line) for line in out.splitlines()]
        bound_port = lines[0]["bound"][1]
        received = [(m["data"], tuple(m["src"])) for m in lines[1:]]
        assert received == [("reply", server.getsockname())], (received, nat.conntrack())
        assert src[1] == bound_port  # masquerade kept the port (it was free)
        # the public side has no route into the private network
        with pytest.raises(OSError):
            server.sendto(b"direct", (nat.private_ip, bound_port))
        holders = [ns.pid for ns in (nat.nat, nat.private) if ns is not None]
        public_if = nat.public_if
    # torn down: the namespaces' holder processes are gone, and so is our veth end
    for pid in holders:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid
    assert not Path(f"/sys/class/net/{public_if}").exists()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_programs_run_inside_the_private_namespace() -> None:
    with NatHarness(private_ip="10.9.0.2", nat_private_ip="10.9.0.1") as nat:
        addrs = nat.run_private("ip", "-4", "-o", "addr", "show")
        assert "10.9.0.2/24" in addrs
        assert nat.public_ip not in addrs
        route = subprocess.run(
            nat.wrap(["ip", "route", "show", "default"]), capture_output=True, text=True
        ).stdout
        assert "via 10.9.0.1" in route
        assert (
            os.readlink("/proc/self/ns/net")
            != subprocess.run(
                nat.wrap(["readlink", "/proc/self/ns/net"]), capture_output=True, text=True
            ).stdout.strip()
        )


REGISTER_INSIDE = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
s.settimeout(5)
me = f"10.0.0.2:{s.getsockname()[1]}"
msg = (
    f"REGISTER sip:{host}:{port} SIP/2.0\\r\\n"
    f"Via: SIP/2.0/UDP {me};branch=z9hG4bKnat1;rport\\r\\n"
    "Max-Forwards: 70\\r\\n"
    f"From: <sip:alice@{host}:{port}>;tag=n1\\r\\nTo: <sip:alice@{host}:{port}>\\r\\n"
    "Call-ID: nat-1\\r\\nCSeq: 1 REGISTER\\r\\n"
    f"Contact: <sip:alice@{me}>\\r\\nContent-Length: 0\\r\\n\\r\\n"
)
s.sendto(msg.encode(), (host, port))
print(s.recvfrom(65535)[0].decode())
"""


def test_kamailio_on_the_public_side_answers_through_the_nat(tmp_path: Path) -> None:
    """Kamailio listening on the public address hears a REGISTER from the private namespace
    as coming from the NAT (Via received/rport), and its 401 finds the way back."""
    with (
        NatHarness() as nat,
        Kamailio(tmp_path, users={"alice": "pw"}, host=nat.public_ip, transports=("udp",)) as kam,
    ):
        out = subprocess.run(
            nat.wrap([sys.executable, "-c", REGISTER_INSIDE, kam.host, str(kam.sip_port)]),
            capture_output=True,
            text=True,
            timeout=15,
        )
        assert out.stdout.startswith("SIP/2.0 401"), out.stdout + out.stderr
        assert f"received={nat.nat_public_ip}" in out.stdout, out.stdout
        kam.wait_events(f"udp from {nat.nat_public_ip}:")  # its log may lag its answer
