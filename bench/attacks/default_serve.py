"""A default ``sipgw serve`` attacked from the internet: one INVITE, never acknowledged.

``sipgw serve`` with nothing configured answers with the echo agent. The attack is the one a
forged source makes: an INVITE with its SDP (as a phone sends it) whose source address is
someone else's, so nobody ever acknowledges what comes back. Counted until the gateway is
quiet: every SIP datagram and octet that reaches the forged address (and the media address
its SDP names), against the request's octets.

On loopback every address is a 127.x, which the lab admits (it is this host), so the
stranger's address is :data:`STRANGER`, a documentation address (RFC 5737 TEST-NET-2:
neither loopback nor private), put on ``lo`` of a network namespace of our own. From the
machine's own namespace the attack runs itself again under ``unshare -n`` (root, or
CAP_NET_ADMIN, is needed to add the address); nothing it does touches the host's network.
The same INVITE from :data:`LOCAL` (this host, which the lab admits) is sent alongside: what
a forged source inside the admitted networks still gets.

Uses only what the tree before the fixes offers too (``build_startup``, ``Gateway``), so
the same script measures it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

from bench.attacks.common import Counter, count_udp, forged_request
from sipgw.app.agents import find_agent
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.startup import build_startup
from sipgw.foundation.settings import Sources
from tests.toolkit.gateway_in_process import TEST_OVERLOAD
from tests.toolkit.netns import in_initial_netns

__all__ = ["LOCAL", "STRANGER", "default_serve"]

STRANGER = "198.51.100.7"
"""The forged source from the internet (RFC 5737 TEST-NET-2)."""
LOCAL = "127.0.0.5"
"""A forged source the lab admits (this host; a LAN address would do the same)."""
QUIET = 5.0
"""Seconds without a datagram after ``settle`` that end the count."""
LONGEST = 90.0
"""Seconds the count lasts at most (a BYE's retransmissions end by Timer F, 32 s on)."""


async def default_serve(settle: float = 34.0) -> dict[str, Any]:
    """The attack where it can run (see the module docstring), else why it cannot."""
    if not in_initial_netns():
        _ip("link", "set", "lo", "up")
        _ip("addr", "add", f"{STRANGER}/32", "dev", "lo")
        return await _measure(settle)
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return {
            "skipped": f"needs a source address outside loopback and private networks "
            f"({STRANGER}) on lo of a network namespace: run as root with unshare "
            "(util-linux) installed"
        }
    argv = [unshare, "-n", "--", sys.executable, "-m", __name__, "--settle", str(settle)]
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=LONGEST + 60
    )
    if done.returncode != 0 or not done.stdout.strip():
        return {"skipped": f"the run in a network namespace failed: {done.stderr[-500:]}"}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


async def _measure(settle: float) -> dict[str, Any]:
    startup = build_startup(find_agent("echo"), Sources({"SIPGW_BIND": "0.0.0.0"}))
    ports = free_port_range(10)
    config = dataclasses.replace(
        startup.config, sip_port=0, public_ip="127.0.0.1", rtp_ports=(ports.lo, ports.hi)
    )
    gateway = Gateway(
        config, startup.agent_factory, GatewayParts(access=startup.access, overload=TEST_OVERLOAD)
    )
    results: dict[str, Any] = {}
    try:
        _, port = await gateway.start()
        target = ("127.0.0.1", port)
        sent: dict[str, tuple[int, Counter, Counter]] = {}
        sockets = []
        for name, host in (("stranger", STRANGER), ("this_host", LOCAL)):
            sip, sip_got = await count_udp(host, keep=True)
            media, media_got = await count_udp(host)
            sockets += [sip, media]
            source = sip.get_extra_info("sockname")
            body = _sdp(host, media.get_extra_info("sockname")[1])
            data = forged_request("INVITE", source, target, len(sent) + 1, body=body)
            sip.sendto(data, target)
            sent[name] = (len(data), sip_got, media_got)
        start = time.monotonic()
        counters = [
            counter for _, sip_got, media_got in sent.values() for counter in (sip_got, media_got)
        ]
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            last = max((t for c in counters for t in c.times), default=start)
            if now - start >= LONGEST or (now - start >= settle and now - last >= QUIET):
                break
        for transport in sockets:
            transport.close()
        for name, (request, sip_got, media_got) in sent.items():
            results[name] = _figures(request, sip_got, media_got)
        results["counted_s"] = round(time.monotonic() - start, 1)
    finally:
        await gateway.stop(grace=1.0)
    return results


def _figures(request: int, sip: Counter, media: Counter) -> dict[str, Any]:
    kinds = collections.Counter(_kind(data) for data in sip.data)
    return {
        "request_octets": request,
        "messages": sip.packets,
        "octets": sip.octets,
        "amplification_bytes": round(sip.octets / request, 2),
        "what": dict(sorted(kinds.items())),
        "media_datagrams": media.packets,
        "media_octets": media.octets,
    }


def _kind(data: bytes) -> str:
    """A response's status code, or a request's method."""
    first = data.split(b"\r\n", 1)[0].split(b" ")
    return first[1].decode() if first[0] == b"SIP/2.0" and len(first) > 1 else first[0].decode()


def _sdp(host: str, port: int) -> str:
    return (
        f"v=0\r\no=phone 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def _ip(*args: str) -> None:
    """``ip ARGS`` in this (private) namespace; an address already there is fine."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0 and not any(
        there in done.stderr for there in ("File exists", "already assigned")
    ):
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def main() -> None:
    """In the namespace: run the attack, print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    parser.add_argument("--settle", type=float, default=34.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(default_serve(args.settle))))


if __name__ == "__main__":
    main()
