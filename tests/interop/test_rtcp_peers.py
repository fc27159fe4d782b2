"""RTCP with a real baresip: it parses our reports and we parse its (RFC 3550 §6.4)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.waiting import wait_for
from tests.toolkit.wire import RtcpOnWire, RtpCapture

pytestmark = pytest.mark.timeout(90)

WITHIN = 30.0  # reports every 2.5-7.5 s from each side: two of ours, one back after
RTP_PACKETS = 520  # what the gateway must have received of baresip's stream (> 500 asserted)
TOKEN = "rtcp-test-admin-token"


def live_quality(admin_port: int) -> dict[str, object] | None:
    """The one active call's quality figures as the gateway has them now (its admin API)."""
    base = f"http://127.0.0.1:{admin_port}/api/calls"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with urllib.request.urlopen(urllib.request.Request(base, headers=headers), timeout=5) as r:
        calls = json.load(r)["calls"]
    if len(calls) != 1:
        return None
    url = f"{base}/{calls[0]['id']}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        quality: dict[str, object] | None = json.load(r).get("quality")
    return quality


def reports_exchanged(packets: list[RtcpOnWire], ours: set[int], theirs: set[int]) -> bool:
    """Two reports from the gateway's ports to baresip's and one back after the gateway's
    first. Both ends are checked: the capture sees the whole loopback, where other tests
    run (the CI failure: another test's traffic from a port in the gateway's range passed
    for its reports, and the call ended before the gateway had a round trip)."""
    sent = [p.at for p in packets if p.src_port in ours and p.dst_port in theirs]
    back = [p.at for p in packets if p.src_port in theirs and p.dst_port in ours]
    return len(sent) >= 2 and any(at > sent[0] for at in back)


def rtcp_summary_logged(caller: Baresip) -> bool:
    """baresip's log has its call summary: the RTCP figures and the rtcpsummary line."""
    log = caller.log_text()
    return (
        re.search(r"pkt\.report:\s+\d+\s+\d+", log) is not None
        and re.search(r"^EX=BareSip;.*PL=\d+,\d+;", log, re.MULTILINE) is not None
    )


@pytest.mark.parametrize(
    ("mux", "srtp"),
    [(False, False), (True, False), (False, True)],
    ids=["rtcp-port", "rtcp-mux", "srtcp"],
)
def test_reports_exchanged_with_baresip(
    tmp_workdir: Path, tone_wav: Callable[..., Path], mux: bool, srtp: bool
) -> None:
    admin_port = free_port()
    env = {"SIPGW_ADMIN_PORT": str(admin_port), "SIPGW_ADMIN_TOKEN": TOKEN}
    if srtp:
        env["SIPGW_SRTP"] = "allow-insecure"
    with (
        RtpCapture() as capture,
        GatewayProcess(tmp_workdir, extra_env=env) as gw,
        Baresip(
            tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 40, -9.0),
            modules=["rtcpsummary.so"], mediaenc="srtp-mand" if srtp else None,
            extra_config={"rtcp_mux": "yes" if mux else "no"},
        ) as caller,
    ):  # fmt: skip
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        # The call lasts until the wire has shown two reports of ours, one of baresip's after
        # our first (so it can carry a round trip) and RTP_PACKETS of its stream, and the
        # gateway has read them: its live figures have the round trip (the CI failure: a
        # fixed 0.5 s after the wire showed the report was not enough on a loaded machine).
        ours = set(gw.rtp_ports.ports())
        peer_rtp = int(gw.wait_log(r"media: PCMU/0 to [^ ]+:(\d+)", 5).group(1))
        theirs = {peer_rtp, peer_rtp + 1}  # its RTP port, and its RTCP port without mux
        deadline = time.monotonic() + WITHIN
        while not (
            reports_exchanged(capture.rtcp(), ours, theirs)
            and sum(p.dst_port in ours and p.src_port in theirs for p in capture.packets())
            >= RTP_PACKETS
        ):
            assert time.monotonic() < deadline, capture.rtcp()
            time.sleep(0.1)
        while (quality := live_quality(admin_port)) is None or quality.get("rtt_ms") is None:
            assert time.monotonic() < deadline, (quality, capture.rtcp())
            time.sleep(0.1)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        line = gw.wait_log(r"media quality: .*", 5).group(0)
        # baresip writes its call summary as the call closes, maybe after the event
        wait_for(lambda: rtcp_summary_logged(caller), 10, caller.log_tail)
        peer_log = caller.log_text()
        media_line = gw.wait_log(r"media: PCMU.*", 1).group(0)
    assert ("rtcp-mux" in media_line) is mux and ("SRTP" in media_line) is srtp, media_line
    figures = re.search(
        r"loss (\S+)% \((-?\d+)/(\d+)\), jitter (\S+) ms, peer loss (\S+)% jitter (\S+) ms, "
        r"rtt (\d+) ms, rtcp (\d+) out/(\d+) in, MOS (\S+)",
        line,
    )
    assert figures is not None, line
    assert float(figures[1]) == 0.0 and int(figures[3]) > 500, line  # we lost nothing
    assert float(figures[5]) == 0.0, line  # baresip lost nothing of ours (its report block)
    assert 0 <= int(figures[7]) < 50, line  # loopback: a few ms at most
    assert int(figures[8]) >= 2 and int(figures[9]) >= 1, line
    assert float(figures[10]) > 4.0, line
    # baresip's call summary: "pkt.report" is what the RTCP reports said, our RR about its
    # stream (transmit) and our SR's packet count (receive); rtcpsummary prints the same.
    reported = re.search(r"pkt\.report:\s+(\d+)\s+(\d+)", peer_log)
    assert reported is not None and int(reported[1]) > 0 and int(reported[2]) > 0, peer_log[-3000:]
    summary = re.search(r"^EX=BareSip;.*PL=(\d+),(\d+);", peer_log, re.MULTILINE)
    assert summary is not None and summary[1] == summary[2] == "0", peer_log[-3000:]
