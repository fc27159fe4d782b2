"""``sipgw call`` against real peers: baresip answering, ringing, refusing; a dead port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.ports import free_port, free_port_range
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.sipp import scenario, start_sipp
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


def sipgw_call(
    workdir: Path,
    target: str,
    *args: str,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``sipgw call TARGET`` on loopback with the echo agent (``env`` added to ours);
    bounded."""
    low, high = free_port_range(20)
    argv: Sequence[str] = [
        sys.executable, "-m", "sipgw", "call", target,
        "--bind", "127.0.0.1", "--public-ip", "127.0.0.1", "--sip-port", "0",
        "--rtp-ports", f"{low}-{high}", "--agent", "echo", *args,
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    (workdir / "sipgw-call.log").write_text(result.stdout + result.stderr)
    return result


def test_call_answered_by_baresip_echo_both_ways(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    with Baresip(tmp_workdir, "b", user="b", answermode="auto", source_wav=source) as callee:
        result = sipgw_call(tmp_workdir, callee.uri, "--max-call-seconds", "4")
        callee.wait_event("CALL_CLOSED", 5)  # our BYE at the call's limit
        heard, sent = callee.recordings()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{callee.uri}: answered, " in result.stdout, output
    assert "ended by local-bye" in result.stdout, output
    # baresip's tone reached the agent and the agent's audio reached baresip: the echo
    report = analyse(heard)
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5, report
    assert report.active_seconds >= 2.0, report.describe()
    assert analyse(sent).active_seconds >= 3.0
    assert "media: PCMU/0" in output and "lost 0," in output, output


def test_far_end_hangs_up(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    source = tone_wav(440, 30, -12.0)
    with Baresip(tmp_workdir, "b", user="b", answermode="auto", source_wav=source) as callee:
        done: list[subprocess.CompletedProcess[str]] = []
        runner = threading.Thread(target=lambda: done.append(sipgw_call(tmp_workdir, callee.uri)))
        runner.start()
        callee.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(1.5)
        callee.hangup()
        runner.join(15)
    assert done, "sipgw call did not end after the far end's BYE"
    result = done[0]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ended by remote-bye" in result.stdout


def test_busy_callee(tmp_workdir: Path) -> None:
    with Baresip(tmp_workdir, "b", user="b") as callee:  # rings; the user refuses
        done: list[subprocess.CompletedProcess[str]] = []
        runner = threading.Thread(target=lambda: done.append(sipgw_call(tmp_workdir, callee.uri)))
        runner.start()
        callee.wait_event("CALL_INCOMING", 10)
        callee.hangup()
        runner.join(15)
    assert done, "sipgw call did not end after the refusal"
    result = done[0]
    assert result.returncode == 3, result.stdout + result.stderr
    # the reason phrase baresip sent, and the hint for a 486 (issue 22: refusals explained)
    assert f"{callee.uri}: busy (SIP 486 Rejected) - the callee is busy" in result.stdout


DECLINE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ring, then decline with 603">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]decline
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <pause milliseconds="300"/>
  <send><![CDATA[
SIP/2.0 603 Decline
[last_Via:]
[last_From:]
[last_To:];tag=[pid]decline
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
"""


def test_declining_callee(tmp_workdir: Path) -> None:
    scenario = tmp_workdir / "decline.xml"
    scenario.write_text(DECLINE)
    with start_sipp(["-sf", str(scenario), "-m", "1"], timeout=30, cwd=tmp_workdir) as sipp:
        sipp.wait_ready()
        result = sipgw_call(tmp_workdir, f"sip:b@{sipp.target}")
        sipp_result = sipp.wait(10)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "declined (SIP 603 Decline)" in result.stdout  # the scenario's reason phrase
    assert sipp_result.ok, sipp_result.describe()  # and it got its ACK


def test_ring_timeout_cancels(tmp_workdir: Path) -> None:
    with Baresip(tmp_workdir, "b", user="b") as callee:  # rings, nobody answers
        started = time.monotonic()
        result = sipgw_call(tmp_workdir, callee.uri, "--ring-timeout", "2")
        elapsed = time.monotonic() - started
        callee.wait_event("CALL_CLOSED", 5)
        wait_for(lambda: "CANCEL" in callee.log_text(), 10, callee.log_tail)  # its log may lag
    assert result.returncode == 5, result.stdout + result.stderr
    assert f"{callee.uri}: no answer (SIP 487 Request Terminated)" in result.stdout
    assert 2.0 <= elapsed < 10.0, elapsed


def test_nothing_listening_is_unreachable(tmp_workdir: Path) -> None:
    """The INVITE goes unanswered until Timer B (64*T1; T1 0.05 s here, not 0.5 s: 3.2 s)."""
    target = f"sip:nobody@127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = sipgw_call(tmp_workdir, target, "--sip-t1", "0.05", timeout=90.0)
    assert time.monotonic() - started >= 3.2
    assert result.returncode == 6, result.stdout + result.stderr
    assert f"{target}: unreachable (SIP " in result.stdout, result.stdout


def test_bad_target_is_a_failed_call(tmp_workdir: Path) -> None:
    result = sipgw_call(tmp_workdir, "+15551234567")  # a number, but no proxy or AOR
    assert result.returncode == 7, result.stdout + result.stderr
    assert "needs an outbound proxy" in result.stdout


def call_sipp_callee(tmp_workdir: Path, name: str) -> tuple[str, int]:
    """``sipgw call`` a SIPp callee playing scenario ``name`` for 2 s: the call succeeded and
    the scenario ran to its end; returns sipgw's output and the callee's media port."""
    with start_sipp(["-sf", scenario(name), "-m", "1"], timeout=30, cwd=tmp_workdir) as sipp:
        sipp.wait_ready()
        media_port = int(sipp.cmd[sipp.cmd.index("-mp") + 1])
        result = sipgw_call(tmp_workdir, f"sip:b@{sipp.target}", "--max-call-seconds", "2")
        sipp_result = sipp.wait(10)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert sipp_result.ok, sipp_result.describe()
    return output, media_port


def test_a_callee_that_moves_its_media_with_an_update_before_answering(
    tmp_workdir: Path,
) -> None:
    """RFC 3311 §5.1: a SIPp callee answers 183 with SDP, then sends an UPDATE in that early
    dialog moving its media two ports up, and answers 200 without SDP: the UPDATE gets its
    200 with our answer, and the call's media goes to the moved port."""
    output, media_port = call_sipp_callee(tmp_workdir, "uas_early_update.xml")
    # its UPDATE answered with SDP, its BYE came; the media went to the moved port
    assert f"to 127.0.0.1:{media_port + 2}," in output, output


def test_a_callee_that_sends_its_early_media_reliably_gets_its_prack(tmp_workdir: Path) -> None:
    """RFC 3262: a SIPp callee (an IMS core, an SBC) that sees our Supported: 100rel sends its
    183 with SDP reliably (Require: 100rel, RSeq 4711), retransmitted until PRACKed, and
    answers only once the PRACK (RAck 4711 <CSeq> INVITE) came: the call connects, its media
    to the 183's port."""
    output, media_port = call_sipp_callee(tmp_workdir, "uas_reliable_183.xml")
    # its PRACK came with the RAck, its BYE too; the media went to the 183's port
    assert f"to 127.0.0.1:{media_port}," in output, output
