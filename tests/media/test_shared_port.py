"""Every call's RTP on one port (sipgw.media.shared_port): each datagram to its call, by source
address, else by the SSRC of a stream a call latched; nobody else's datagrams get in."""

from __future__ import annotations

from dataclasses import replace

from sipgw.media.demux import MediaPorts
from sipgw.media.latching import RELATCH_WINDOW
from sipgw.media.rtcp import ReportBlock, build_rr
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.shared_port import Claim, SharedPort

TRUNK_A = ("192.0.2.7", 40000)
TRUNK_B = ("192.0.2.7", 40002)  # the same media server, another call's port
STRANGER = ("203.0.113.66", 40000)


def audio(seq: int, ssrc: int = 7, payload_type: int = 0) -> bytes:
    return RtpPacket(payload_type, seq, seq * 160, ssrc, False, bytes(160)).serialize()


def claimed(shared: SharedPort, remote: tuple[str, int]) -> tuple[Claim, MediaPorts, MediaSession]:
    """A call on the shared port with its session, keyed as RtpEndpoint's setter does."""
    ports = MediaPorts()
    claim = shared.attach(ports)
    ports.session = session = MediaSession(StreamParams(remote=remote), now=0.0)
    shared.rekey(claim)
    return claim, ports, session


def call(shared: SharedPort, remote: tuple[str, int]) -> tuple[MediaPorts, MediaSession]:
    _, ports, session = claimed(shared, remote)
    return ports, session


def test_each_call_gets_the_datagrams_from_the_address_its_sdp_named() -> None:
    shared = SharedPort(30000)
    _, one = call(shared, TRUNK_A)
    _, two = call(shared, TRUNK_B)
    shared.receive(audio(1, ssrc=11), TRUNK_B, 1.0)
    shared.receive(audio(1, ssrc=22), TRUNK_A, 1.0)
    shared.receive(audio(2, ssrc=11), TRUNK_B, 1.02)
    assert (one.stats.packets_in, two.stats.packets_in) == (1, 2)
    assert one.latched == TRUNK_A and two.latched == TRUNK_B
    assert one.stats.foreign == two.stats.foreign == 0 and shared.unknown == 0


def test_a_first_packet_from_an_address_no_sdp_named_is_nobodys() -> None:
    """Latching rule 2 (a NAT'd caller's first audio from another address) has no safe
    form on a shared port: the datagram is dropped and counted, not latched."""
    shared = SharedPort(30000)
    _, session = call(shared, TRUNK_A)
    shared.receive(audio(1), STRANGER, 1.0)
    assert shared.unknown == 1 and session.stats.packets_in == 0 and session.latched is None


def test_a_stream_that_moves_is_followed_by_its_ssrc_and_then_by_its_new_address() -> None:
    """Rule 3 on the shared port: the caller's NAT mapping changed; the packet continues
    the latched stream (same SSRC, sequence just ahead), so it reaches the call, whose
    latch checks it as on its own port; from then on its new address is the call's."""
    shared = SharedPort(30000)
    _, session = call(shared, TRUNK_A)
    shared.receive(audio(100, ssrc=0xABC), TRUNK_A, 1.0)
    moved = ("192.0.2.7", 41234)
    shared.receive(audio(103, ssrc=0xABC), moved, 1.06)
    assert session.latched == moved and session.latch.relatches == 1
    assert shared.holder(moved) is shared.holder(TRUNK_A) is not None
    shared.receive(audio(104, ssrc=0xABC), moved, 1.08)
    assert session.stats.packets_in == 3 and session.stats.foreign == 0 and shared.unknown == 0


def test_a_guessed_ssrc_far_from_the_streams_sequence_does_not_take_the_call() -> None:
    shared = SharedPort(30000)
    _, session = call(shared, TRUNK_A)
    shared.receive(audio(100, ssrc=0xABC), TRUNK_A, 1.0)
    shared.receive(audio(100 + RELATCH_WINDOW + 5, ssrc=0xABC), STRANGER, 1.02)
    assert session.latched == TRUNK_A and session.stats.foreign == 1
    shared.receive(audio(101, ssrc=0xABD), STRANGER, 1.04)  # no stream of that SSRC
    assert shared.unknown == 1 and session.stats.packets_in == 2


def test_a_second_call_naming_an_address_a_running_call_holds_does_not_take_it() -> None:
    shared = SharedPort(30000)
    _, first = call(shared, TRUNK_A)
    _, second = call(shared, TRUNK_A)
    assert shared.collisions == 1
    shared.receive(audio(1), TRUNK_A, 1.0)
    assert (first.stats.packets_in, second.stats.packets_in) == (1, 0)


def test_an_address_freed_by_its_call_goes_to_the_call_waiting_for_it() -> None:
    """A trunk reuses a media port for a new call before the old call's BYE came."""
    shared = SharedPort(30000)
    old_claim, old_ports, _ = claimed(shared, TRUNK_A)
    new_ports, new = call(shared, TRUNK_A)
    assert shared.collisions == 1 and shared.holder(TRUNK_A) is old_ports
    shared.detach(old_claim)  # the old call's BYE
    assert shared.holder(TRUNK_A) is new_ports
    shared.receive(audio(1), TRUNK_A, 1.0)
    assert new.stats.packets_in == 1 and shared.unknown == 0


def test_an_ended_call_frees_its_address_and_ssrc() -> None:
    shared = SharedPort(30000)
    claim, _, _ = claimed(shared, TRUNK_A)
    shared.receive(audio(1, ssrc=5), TRUNK_A, 1.0)
    shared.detach(claim)
    assert len(shared) == 0 and shared.holder(TRUNK_A) is None
    _, successor = call(shared, TRUNK_A)  # the trunk reuses the port for a new call
    assert shared.collisions == 0
    shared.receive(audio(2, ssrc=5), ("192.0.2.7", 50000), 1.1)  # the old stream's SSRC
    assert shared.unknown == 1 and successor.stats.packets_in == 0


def test_a_reinvite_to_a_new_address_is_followed_once_the_endpoint_says_so() -> None:
    shared = SharedPort(30000)
    claim, _, session = claimed(shared, TRUNK_A)
    shared.receive(audio(1), TRUNK_A, 1.0)
    new = ("198.51.100.4", 42000)
    session.update(replace(session.params, remote=new), 2.0)
    shared.rekey(claim)  # RtpEndpoint.session_changed, after the re-INVITE
    assert shared.holder(new) is not None and shared.holder(TRUNK_A) is None
    shared.receive(audio(2, ssrc=8), new, 2.1)
    assert session.latched == new and session.stats.packets_in == 2


def test_hold_at_0_0_0_0_holds_no_address() -> None:
    shared = SharedPort(30000)
    _, on_hold = call(shared, ("0.0.0.0", 40000))
    assert shared.holder(("0.0.0.0", 40000)) is None and on_hold.latched is None


def test_an_ipv4_mapped_source_finds_the_call_its_sdp_spelled_in_ipv4() -> None:
    shared = SharedPort(30000)
    _, session = call(shared, TRUNK_A)
    shared.receive(audio(1), ("::ffff:192.0.2.7", 40000), 1.0)
    assert session.stats.packets_in == 1 and shared.unknown == 0


def test_rtcp_goes_to_the_call_whose_peer_sent_it_and_the_host_is_checked() -> None:
    shared = SharedPort(30000)
    one_ports, one = call(shared, TRUNK_A)
    two_ports, two = call(shared, TRUNK_B)
    # Before any RTP: by the report's source port minus one (the peer's RTP port).
    report = build_rr(0x22, (ReportBlock(two.sender.ssrc, 0, 0, 0, 0, 0, 0),))
    shared.receive_rtcp(report, 1.0, ("192.0.2.7", 40003))
    assert (one_ports.rtcp_packets, two_ports.rtcp_packets) == (0, 1)
    assert two_ports.rtcp_remote == ("192.0.2.7", 40003)
    # After RTP: by the sender's SSRC, whatever port the report comes from.
    shared.receive(audio(1, ssrc=0x11), TRUNK_A, 1.1)
    report = build_rr(0x11, (ReportBlock(one.sender.ssrc, 0, 0, 0, 0, 0, 0),))
    shared.receive_rtcp(report, 1.2, ("192.0.2.7", 45555))
    assert one_ports.rtcp_packets == 1 and one_ports.rtcp_remote == ("192.0.2.7", 45555)
    # Another host with that SSRC reaches the call and is refused by its host check.
    shared.receive_rtcp(report, 1.3, ("203.0.113.66", 45555))
    assert one_ports.rtcp_packets == 2 and one_ports.rtcp_remote == ("192.0.2.7", 45555)
    assert one.stats.foreign == 1
    # Nobody's report: counted.
    shared.receive_rtcp(build_rr(0x99, ()), 1.4, STRANGER)
    assert shared.rtcp_unknown == 1


def test_a_session_set_later_is_keyed_when_the_endpoint_says_so() -> None:
    shared = SharedPort(30000)
    ports = MediaPorts()
    claim = shared.attach(ports)  # answered, no session yet
    shared.receive(audio(1), TRUNK_A, 1.0)
    assert shared.unknown == 1
    ports.session = MediaSession(StreamParams(remote=TRUNK_A), now=0.0)
    shared.rekey(claim)
    shared.receive(audio(2), TRUNK_A, 1.02)
    assert ports.session.stats.packets_in == 1
    ports.session = None
    shared.rekey(claim)
    assert shared.holder(TRUNK_A) is None


def test_each_change_of_the_address_table_is_reported_for_the_readers_copy() -> None:
    """on_route: the native reader's routes follow the table (taken, freed, handed over)."""
    shared = SharedPort(30000)
    routes: dict[tuple[str, int], int] = {}

    def on_route(address: tuple[str, int], token: int) -> None:
        if token >= 0:
            routes[address] = token
        else:
            del routes[address]

    shared.on_route = on_route
    one = MediaPorts()
    first = shared.attach(one, token=4)
    one.session = MediaSession(StreamParams(remote=TRUNK_A), now=0.0)
    shared.rekey(first)
    assert routes == {TRUNK_A: 4}
    two = MediaPorts()
    second = shared.attach(two, token=6)
    two.session = MediaSession(StreamParams(remote=TRUNK_A), now=0.0)
    shared.rekey(second)  # the address is the first call's: the second waits
    assert routes == {TRUNK_A: 4}
    shared.detach(first)  # handed over: the route now tags the second call
    assert routes == {TRUNK_A: 6}
    # a routed datagram delivered as the reader tags it: the latch moves, the table follows
    shared.deliver(second, audio(1, ssrc=9), TRUNK_A, 1.0)
    assert two.session.latched == TRUNK_A and routes == {TRUNK_A: 6}
    shared.receive(audio(2, ssrc=9), TRUNK_B, 1.02)  # rule 3: the stream moved to B
    assert two.session.latched == TRUNK_B and routes == {TRUNK_A: 6, TRUNK_B: 6}
    shared.detach(second)
    assert routes == {}
