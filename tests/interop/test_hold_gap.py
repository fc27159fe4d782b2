"""A baresip caller puts an echo call on hold and resumes: the echo is back on time.

baresip's hold (re-INVITE a=sendonly) stops its RTP; on resume its sequence numbers continue
without a gap, its timestamps jump by the hold's length and no marker bit is set. Measured on
the wire (``tests.toolkit.wire``), each stream on its own RTP clock: the echo of the caller's
first audio after the resume must come within the echo delay plus the jitter buffer's target,
a tick, and what the gateway's own timing added (ticks skipped, frames inserted, late caller
packets waited for). Before the fix it came 4.5 s late: the hold's length.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.wire import RtpCapture, WirePacket, lateness

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

ECHO_DELAY = 0.5  # the echo agent's default
JITTER_TARGET = 0.04  # the jitter buffer's target on a clean loopback (its min_delay)
FRAME = 0.020  # a tick
TIMER = 0.002  # the ticker's timer granularity (whole milliseconds) and a packet's way out
HOLD = 4.0
LOUD_DBFS = -30.0  # the caller's tone is at -9 dBFS; the gateway's silence is far below


def _flows(packets: list[WirePacket], caller_port: int) -> tuple[list[WirePacket], ...]:
    sent = [p for p in packets if p.src_port == caller_port and p.packet.payload_type == 0]
    echoed = [p for p in packets if p.dst_port == caller_port and p.packet.payload_type == 0]
    return sent, echoed


def test_echo_returns_on_time_after_baresip_hold(tmp_workdir: Path) -> None:
    source = write_pattern(tmp_workdir / "tone.wav", [(1000, 40.0)])
    with (
        RtpCapture() as capture,
        GatewayProcess(tmp_workdir) as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=source) as caller,
    ):
        caller.dial(gw.uri())
        caller.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(2.0)
        caller.command("hold")
        time.sleep(HOLD)
        caller.command("resume")
        time.sleep(2.5)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended: remote-bye", 5)
        stats = gw.wait_log(r"media stats: .*adjusted \+(\d+)/-(\d+)", 10)
        assert gw.stop() == 0
        packets = capture.packets()
    # this call's: from the caller's ports to the gateway's (other workers' calls share lo)
    gateway_ports, caller_ports = set(gw.rtp_ports.ports()), caller.rtp_port_range
    caller_port = next(
        p.src_port for p in packets if p.dst_port in gateway_ports and p.src_port in caller_ports
    )
    sent, echoed = _flows(packets, caller_port)
    assert sent and echoed, (len(packets), caller_port)
    # The hold, as the caller sent it: a pause, timestamps jump, sequence numbers do not.
    gaps = [(a, b) for a, b in zip(sent, sent[1:], strict=False) if b.at - a.at > 1.0]
    assert len(gaps) == 1, [(round(b.at - a.at, 3)) for a, b in gaps]
    before, after = gaps[0]
    # About HOLD: baresip takes its hold and resume commands late on a loaded machine (a CI
    # run: 4.64 s), so the gap may run over; its timestamps jump by the gap it made.
    gap = after.at - before.at
    assert HOLD - 0.5 <= gap <= HOLD + 1.5, gap
    assert (after.packet.sequence_number - before.packet.sequence_number) & 0xFFFF == 1
    ts_jump = (after.packet.timestamp - before.packet.timestamp) & 0xFFFFFFFF
    assert ts_jump == pytest.approx(gap * 8000, abs=0.5 * 8000)
    assert not after.packet.marker
    resumed = after.at
    # The echo of the audio sent after the resume: the first run of loud packets lasting a
    # second on the echo's RTP clock (a shorter run right after the resume would be audio
    # from before the hold). Timed on each stream's own RTP clock, anchored by its least
    # delayed packet's arrival (the kernel's time): a stall of the caller or of the gateway
    # moves a packet's arrival, not its place on its sender's clock.
    sent_after = sent[sent.index(after) :]
    echo_after = [p for p in echoed if p.at > resumed]
    runs = _loud_runs(echo_after, LOUD_DBFS, resumed)
    fresh = [i for i, (start, end) in runs if end - start >= 1.0]
    assert fresh, f"no echo lasting 1 s within 2.5 s of the resume: runs {runs}"
    first = fresh[0]
    delay = meant(echo_after, first) - meant(sent_after, 0)
    # What the gateway's own timing may add: a tick skipped after a stall of its own (the
    # wire shows it), a frame inserted (its log), the buffer waiting for late caller packets.
    inserted = int(stats[1])
    skipped = skipped_ticks(echo_after[: first + 1])
    waited = max(lateness(sent_after[:5]))
    most = ECHO_DELAY + JITTER_TARGET + FRAME * (1 + inserted + skipped) + waited + TIMER
    print(f"echo after resume: {delay:.3f} s, at most {most:.3f} (runs after it: {runs})")
    assert ECHO_DELAY - 0.05 <= delay <= most, (delay, inserted, skipped, waited, runs)


def meant(packets: list[WirePacket], index: int) -> float:
    """When a stream's packet would have arrived had it been as prompt as the stream's least
    delayed one: its place on the sender's own RTP clock, on the kernel's time."""
    return packets[index].at - lateness(packets)[index]


def skipped_ticks(packets: list[WirePacket]) -> int:
    """Ticks the gateway's clock passed without a packet (its ticker after a stall)."""
    return sum(
        ((b.packet.timestamp - a.packet.timestamp) & 0xFFFFFFFF) // 160
        - ((b.packet.sequence_number - a.packet.sequence_number) & 0xFFFF)
        for a, b in zip(packets, packets[1:], strict=False)
    )


def _loud_runs(
    packets: list[WirePacket], dbfs: float, since: float
) -> list[tuple[int, tuple[float, float]]]:
    """Runs of loud packets: each run's first packet's index, and its (start, end) in seconds
    after ``since`` (its first arrival, plus the span of its RTP timestamps at 8 kHz).

    A run breaks where the timestamps of two loud packets are over 100 ms apart (audio
    missing or quiet on the stream's own clock). Arrival times do not break a run: after a
    stall of the gateway's process its pacer sends the frames it owes back to back
    (media/pacer.py), and their arrival shows a gap the audio does not have.
    """
    runs: list[tuple[int, float, int, int]] = []  # (index, first arrival, first ts, last ts)
    for i, p in enumerate(packets):
        if p.level_dbfs() <= dbfs:
            continue
        timestamp = p.packet.timestamp
        if runs and (timestamp - runs[-1][3]) & 0xFFFFFFFF <= 0.1 * 8000:
            runs[-1] = (*runs[-1][:3], timestamp)
        else:
            runs.append((i, p.at, timestamp, timestamp))
    return [
        (i, (round(at - since, 3), round(at - since + ((last - first) & 0xFFFFFFFF) / 8000, 3)))
        for i, at, first, last in runs
    ]
