"""Batched datagrams to their calls' sessions (sipgw.media.demux), as the per-socket readers do."""

from __future__ import annotations

from sipgw.media.demux import Demux, MediaPorts
from sipgw.media.rtcp import ReportBlock, build_rr
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams

PEER = ("192.0.2.7", 40000)
PEER_RTCP = ("192.0.2.7", 40001)


def audio(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 7, False, bytes(160)).serialize()


def ports_with_session() -> tuple[MediaPorts, MediaSession]:
    ports = MediaPorts()
    ports.session = MediaSession(StreamParams(remote=PEER), now=0.0)
    return ports, ports.session


def dispatch(demux: Demux, *datagrams: tuple[int, bytes, tuple[str, int], float]) -> None:
    demux.dispatch(
        [d[0] for d in datagrams], [d[1] for d in datagrams], [d[2] for d in datagrams],
        [d[3] for d in datagrams],
    )  # fmt: skip


def test_rtp_reaches_its_own_session_with_its_arrival_time() -> None:
    demux = Demux()
    first, one = ports_with_session()
    second, two = ports_with_session()
    a, b = demux.attach(first), demux.attach(second)
    assert (a, b) == (0, 2) and len(demux) == 2
    dispatch(demux, (b, audio(1), PEER, 1.25), (a, audio(5), PEER, 1.5), (b, audio(2), PEER, 1.75))
    assert (one.stats.packets_in, two.stats.packets_in) == (1, 2)
    assert two.latched == PEER and two.last_received == 1.75


def test_the_rtcp_port_counts_and_learns_where_the_reports_come_from() -> None:
    demux = Demux()
    ports, session = ports_with_session()
    token = demux.attach(ports)
    block = ReportBlock(session.sender.ssrc, 0, 0, 0, 0, 0, 0)
    foreign = ("198.51.100.9", 40001)
    dispatch(demux, (token + 1, build_rr(7, (block,)), foreign, 2.0))
    assert ports.rtcp_packets == 1 and ports.rtcp_remote is None  # another host: foreign
    dispatch(demux, (token + 1, build_rr(7, (block,)), PEER_RTCP, 2.5))
    assert ports.rtcp_packets == 2 and ports.rtcp_remote == PEER_RTCP
    assert session.stats.rtcp == 1 and session.stats.foreign == 1


def test_datagrams_for_a_freed_slot_or_no_session_are_dropped_and_slots_are_reused() -> None:
    demux = Demux()
    ports, session = ports_with_session()
    token = demux.attach(ports)
    idle = MediaPorts()  # answered, no session yet
    idle_token = demux.attach(idle)
    dispatch(demux, (idle_token, audio(1), PEER, 1.0), (idle_token + 1, b"\x80\xc9", PEER, 1.0))
    assert idle.rtcp_packets == 1  # counted on the port, taken by nobody
    demux.detach(token)
    demux.detach(token)  # twice: nothing more
    dispatch(demux, (token, audio(1), PEER, 1.0), (999, audio(2), PEER, 1.0))
    assert session.stats.packets_in == 0 and len(demux) == 1
    assert demux.attach(MediaPorts()) == token  # the freed slot again


def test_it_knows_whether_some_call_listens_at_arrival_and_which_changed() -> None:
    """The batched reader reads between ticks only when someone listens, and reads at
    the ticks only the sockets of the calls nobody listens to (media/aio/rtp_batch.py)."""
    demux = Demux()

    def look() -> tuple[bool, list[int]]:
        changed: list[int] = []
        return demux.update_listening(changed), changed

    assert look() == (False, [])
    quiet, _ = ports_with_session()
    listened, session = ports_with_session()
    bare = demux.attach(MediaPorts())  # no session yet
    echo = demux.attach(quiet)
    assert demux.listens(echo)  # not looked at yet: taken as listened to
    assert look() == (False, [bare, echo])  # audio only played at the ticks (an echo)
    assert not demux.listens(echo) and not demux.listens(bare)
    token = demux.attach(listened)
    session.on_audio = lambda frame: None  # a speech-to-text's tap
    assert look() == (True, [])  # new, taken as listened to, and it is
    assert look() == (True, [])  # nothing changed
    session.on_audio = None
    assert look() == (False, [token]) and not demux.listens(token)
    session.on_audio = lambda frame: None
    assert look() == (True, [token]) and demux.listens(token)
    demux.detach(token)
    assert look() == (False, [])  # its call ended
    assert demux.attach(listened) == token and demux.listens(token)  # the slot again, unknown
    assert not demux.listens(9999)


def test_a_datagram_tagged_with_a_shared_calls_token_reaches_its_claim() -> None:
    """The poller's route tagged it with the call's slot: it goes to SharedPort.deliver,
    so the shared port's tables follow the call's latch as for a datagram looked up."""
    from sipgw.media.shared_port import SharedPort

    demux = Demux()
    shared = SharedPort(30000)
    shared_token = demux.share(shared)
    ports = MediaPorts()
    token = demux.attach(ports)
    claim = shared.attach(ports, token)
    demux.claimed(token, claim)
    ports.session = session = MediaSession(StreamParams(remote=PEER), now=0.0)
    shared.rekey(claim)
    assert claim.version == session.latch.version
    dispatch(demux, (token, audio(1), PEER, 1.0))
    assert session.stats.packets_in == 1 and session.latched == PEER
    assert claim.version == session.latch.version  # keyed again after it latched
    demux.detach(token)
    again = demux.attach(MediaPorts())  # the slot reused by a call with its own ports
    assert again == token
    dispatch(demux, (again, audio(2), PEER, 1.02))
    assert session.stats.packets_in == 1  # no longer the claim's
    assert shared_token != token
