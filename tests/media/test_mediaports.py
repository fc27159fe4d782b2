"""One call's port pair as the readers see it (sipgw.media.mediaports)."""

from __future__ import annotations

from sipgw.media.mediaports import MediaPorts
from sipgw.media.rtcp import ReportBlock, build_rr
from sipgw.media.session import MediaSession, StreamParams

PEER = ("192.0.2.7", 40000)


def test_rtcp_is_counted_and_its_source_learned_only_when_the_session_takes_it() -> None:
    ports = MediaPorts()
    report = build_rr(7, ())
    ports.rtcp_received(report, 1.0, ("192.0.2.7", 40001))  # no session yet
    assert ports.rtcp_packets == 1 and ports.rtcp_remote is None
    ports.session = session = MediaSession(StreamParams(remote=PEER), now=0.0)
    ours = build_rr(7, (ReportBlock(session.sender.ssrc, 0, 0, 0, 0, 0, 0),))
    ports.rtcp_received(ours, 2.0, ("198.51.100.9", 40001))  # another host
    assert ports.rtcp_packets == 2 and ports.rtcp_remote is None
    ports.rtcp_received(ours, 2.5, ("192.0.2.7", 40001))
    assert ports.rtcp_packets == 3 and ports.rtcp_remote == ("192.0.2.7", 40001)
