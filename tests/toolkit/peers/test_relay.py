"""The impairment relay between a peer and the gateway: forwarding both ways, reordering,
duplication, seeded loss, delay and jitter (on loopback sockets, no peer program)."""

from __future__ import annotations

import contextlib
import socket
import time

from sipgw.app.evaluation.ports import free_port
from tests.toolkit.peers.relay import Impairment, UdpRelay


def _udp(host: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # room for a few hundred queued datagrams: the tests send in bursts before reading
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 1 << 21)
    s.bind((host, port))
    s.settimeout(2.0)
    return s


def _recv_all(sock: socket.socket, count: int, timeout: float = 2.0) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recv(2048))
        except TimeoutError:
            break
    return out


def _relay_pair(**kwargs: object) -> tuple[UdpRelay, socket.socket, socket.socket, int]:
    port = free_port()
    gw = _udp("127.0.0.1", port)  # the "gateway" side binds the private address
    relay = UdpRelay([port], **kwargs).start()  # type: ignore[arg-type]
    peer = _udp("127.0.0.1")
    return relay, gw, peer, port


def test_relay_forwards_exactly_both_ways() -> None:
    relay, gw, peer, port = _relay_pair()
    with relay, gw, peer:
        for i in range(50):
            peer.sendto(b"up%03d" % i, ("127.0.0.2", port))
        got = []
        for _ in range(50):
            data, src = gw.recvfrom(2048)
            got.append(data)
            assert src == ("127.0.0.2", port)
        assert got == [b"up%03d" % i for i in range(50)]
        assert relay.peer_address(port) == peer.getsockname()
        for i in range(50):
            gw.sendto(b"dn%03d" % i, ("127.0.0.2", port))
        assert _recv_all(peer, 50) == [b"dn%03d" % i for i in range(50)]
        assert relay.wait_until(lambda r: r.stats(port).to_peer.forwarded == 50, 2)
        st = relay.stats(port)
        up, down = st.to_gateway, st.to_peer
        assert (up.received, up.forwarded, up.dropped, up.errors) == (50, 50, 0, 0)
        assert (down.received, down.forwarded, down.dropped, down.unroutable) == (50, 50, 0, 0)
        assert relay.error is None


def test_relay_reorders_and_duplicates() -> None:
    relay, gw, peer, port = _relay_pair(to_gateway=Impairment(reorder=0.25, reorder_ms=100), seed=3)
    with relay, gw, peer:
        sent = [b"%03d" % i for i in range(40)]
        for data in sent:
            peer.sendto(data, ("127.0.0.2", port))
        got = _recv_all(gw, 40)
        st = relay.stats(port).to_gateway
        assert sorted(got) == sent and got != sent, got  # all arrive, some late
        assert 0 < st.reordered < 40
        late = got[len(got) - st.reordered :]
        assert late == sorted(late)  # the held-back ones arrive last, in order
        relay.set_impairment(port, to_gateway=Impairment(duplicate=1.0))
        for data in sent[:10]:
            peer.sendto(data, ("127.0.0.2", port))
        dup = _recv_all(gw, 20)
        assert dup == [d for d in sent[:10] for _ in (0, 1)]
        assert relay.stats(port).to_gateway.duplicated == 10


def _lost_ids(seed: int) -> set[int]:
    relay, gw, peer, port = _relay_pair(to_gateway=Impairment(loss=0.3), seed=seed)
    with relay, gw, peer:
        for i in range(200):
            peer.sendto(b"%d" % i, ("127.0.0.2", port))
        assert relay.wait_until(
            lambda r: r.stats(port).to_gateway.received == 200 and r.pending == 0, 3
        )
        st = relay.stats(port).to_gateway
        got = {int(d) for d in _recv_all(gw, st.forwarded)}
        assert st.forwarded == len(got) and st.dropped == 200 - len(got)
        return set(range(200)) - got


def test_relay_seeded_loss_is_deterministic() -> None:
    first, again, other = _lost_ids(7), _lost_ids(7), _lost_ids(8)
    assert first == again
    assert first != other
    assert 30 <= len(first) <= 90  # 30 % of 200, loosely


def test_relay_delay_and_jitter() -> None:
    relay, gw, peer, port = _relay_pair(
        to_gateway=Impairment(delay_ms=60, jitter_ms=20, distribution="gaussian"), seed=1
    )
    with relay, gw, peer:
        t0 = time.monotonic()
        for i in range(20):
            peer.sendto(b"%02d" % i, ("127.0.0.2", port))
        first = gw.recv(100)
        elapsed = time.monotonic() - t0
        rest = _recv_all(gw, 19)
        assert elapsed >= 0.02, elapsed  # 60 ms +- 20 ms (gaussian, clipped at 0)
        assert [first, *rest] == [b"%02d" % i for i in range(20)]  # preserve_order
