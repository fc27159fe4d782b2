"""One call's port pair as the datagrams' readers see it: its session and its RTCP port's
state, shared by the per-socket readers (media/aio/rtp_endpoint.py), the batched one
(media/demux.py) and the shared port (media/shared_port.py); sans-IO."""

from __future__ import annotations

from sipgw.media.session import MediaSession

__all__ = ["MediaPorts"]

Address = tuple[str, int]


class MediaPorts:
    """One call's port pair as the demultiplexer sees it.

    Attributes:
        session: where the datagrams go (None: none yet, or the call ended).
        rtcp_packets: datagrams on the RTCP port.
        rtcp_remote: where the peer's RTCP comes from, once a report was taken
            (our reports go back there: symmetric RTCP).
    """

    __slots__ = ("rtcp_packets", "rtcp_remote", "session")

    def __init__(self) -> None:
        self.session: MediaSession | None = None
        self.rtcp_packets = 0
        self.rtcp_remote: Address | None = None

    def rtcp_received(self, data: bytes, arrival: float, source: Address) -> None:
        """A datagram on the RTCP port: counted, and the peer's report to the session."""
        self.rtcp_packets += 1
        session = self.session
        # Only the host our RTP goes to may report on this call (the session checks); our
        # reports then go back to where its reports come from (symmetric RTCP).
        if session is not None and session.receive_rtcp(data, arrival, source):
            self.rtcp_remote = source
