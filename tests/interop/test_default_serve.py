"""A default ``sipgw serve`` met from the internet and from this host (issue 21, audit).

``sipgw serve`` with nothing configured answers with the echo agent, and the echo agent
answered anyone: one never-acknowledged INVITE from a forged source drew a 100, a 180, the
200 eleven times and the BYE eleven times (24 messages, 21 times its bytes; and, before the
media fixes, 1,501 RTP packets at the address its SDP named). Now the lab answers this
host and private networks only: a source on the internet gets one 403, no larger than its
INVITE, and its refusal's log line names the ``--allow-from`` that would admit it, while
the README's smoke test from this host still gets its call.

The internet is :data:`STRANGER` (RFC 5737 TEST-NET-2) on ``lo`` of the test's own network
namespace (``scripts/test`` runs the suite under ``unshare -n``); ``bench.attacks``
("default_serve") measures the same attack until the gateway is quiet.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import OVERLOAD_OFF, GatewayProcess
from sipgw.app.evaluation.process import child_env
from tests.toolkit.netns import in_initial_netns

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

STRANGER = "198.51.100.7"


def add_stranger_address() -> None:
    if in_initial_netns():
        pytest.skip("needs a network namespace of its own (unshare -n) to add 198.51.100.7")
    done = subprocess.run(
        ["ip", "addr", "add", f"{STRANGER}/32", "dev", "lo"], capture_output=True, text=True
    )
    assert done.returncode == 0 or "File exists" in done.stderr, done.stderr


def invite_with_sdp(source: tuple[str, int], target: tuple[str, int]) -> bytes:
    host, port = source
    body = (
        f"v=0\r\no=phone 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
    lines = [
        f"INVITE sip:echo@{target[0]}:{target[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKforged1;rport",
        "Max-Forwards: 70",
        f"From: <sip:100@{host}>;tag=forged",
        f"To: <sip:echo@{target[0]}>",
        f"Call-ID: forged-1@{host}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:100@{host}:{port}>",
        "Content-Type: application/sdp",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def test_a_default_serve_refuses_the_internet_once_and_answers_this_host(
    tmp_workdir: Path,
) -> None:
    add_stranger_address()
    with GatewayProcess(tmp_workdir, bind="0.0.0.0", extra_args=OVERLOAD_OFF) as gw:
        gw.wait_log(r"INFO +sipgw +access: .* answers calls from this host and private networks", 2)
        target = ("127.0.0.1", gw.sip_port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forged:
            forged.bind((STRANGER, 0))
            forged.settimeout(0.2)
            request = invite_with_sdp(forged.getsockname(), target)
            forged.sendto(request, target)
            got: list[bytes] = []
            deadline = time.monotonic() + 4.0  # Timer G would have resent a 403 by 0.5 s, 1.5 s
            while time.monotonic() < deadline:
                try:
                    got.append(forged.recv(65535))
                except TimeoutError:
                    pass
        assert [data.split(b"\r\n", 1)[0] for data in got] == [b"SIP/2.0 403 Forbidden"], got
        assert len(got[0]) <= len(request)
        refusal = gw.wait_log(r"access: refused INVITE from 198\.51\.100\.7:\d+ .*", 2)[0]
        assert refusal.endswith("(to take calls from there: --allow-from 198.51.100.7)")
        assert "incoming call" not in gw.log_text()
        # The README's smoke test, from this host: answered.
        call = subprocess.run(
            [sys.executable, "-m", "sipgw", "call", f"sip:echo@127.0.0.1:{gw.sip_port}",
             "--max-call-seconds", "1", *OVERLOAD_OFF],
            cwd=tmp_workdir, env=child_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert call.returncode == 0, call.stdout + call.stderr
        assert re.search(r": answered, 1\.\d s, ended by local-bye", call.stdout), call.stdout
        assert gw.stop() == 0
