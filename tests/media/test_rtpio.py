"""sipgw.media._rtpio (C): batched receive with kernel times, direct sends, on loopback sockets."""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Iterator

import pytest

from sipgw.media import _rtpio
from tests.media.stamps import wait_for_kernel_stamps


@pytest.fixture
def poller() -> Iterator[_rtpio.Poller]:
    """A poller, with kernel receive times switched on as BatchedRtp holds them on."""
    stamping = wait_for_kernel_stamps()
    p = _rtpio.Poller()
    yield p
    p.close()
    stamping.close()


def bound(family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def drain(
    poller: _rtpio.Poller, tick: bool = False, now: float | None = None
) -> list[tuple[int, bytes, tuple[str, int], float]]:
    tokens: list[int] = []
    datas: list[bytes] = []
    sources: list[tuple[str, int]] = []
    arrivals: list[float] = []
    now = time.monotonic() if now is None else now
    count = poller.drain(now, tokens, datas, sources, arrivals, tick)
    assert count == len(tokens) == len(datas) == len(sources) == len(arrivals)
    return list(zip(tokens, datas, sources, arrivals, strict=True))


def test_every_socket_is_read_in_one_drain_with_each_datagrams_kernel_time(
    poller: _rtpio.Poller,
) -> None:
    a, b, sender = bound(), bound(), bound()
    try:
        poller.add(a.fileno(), 4)
        poller.add(b.fileno(), 5)
        sent_at = time.monotonic()
        for n in range(40):  # more than one recvmmsg batch
            sender.sendto(bytes([n]) * 172, a.getsockname())
        sender.sendto(b"rtcp", b.getsockname())
        time.sleep(0.05)
        got = drain(poller)
        assert [t for t, *_ in got] == [4] * 40 + [5] or [t for t, *_ in got] == [5] + [4] * 40
        datas = [d for t, d, _, _ in got if t == 4]
        assert datas == [bytes([n]) * 172 for n in range(40)]  # in order, whole
        sources = {id(s) for t, _, s, _ in got if t == 4}
        assert len(sources) == 1  # one source of one socket: one tuple, reused
        assert got[0][2] == sender.getsockname()
        for _, _, _, arrival in got:  # when the kernel took it, not when we read it
            assert sent_at - 0.005 <= arrival <= sent_at + 0.03
        assert drain(poller) == []
        assert poller.stats()["datagrams"] == 41
    finally:
        for sock in (a, b, sender):
            sock.close()


def test_arrivals_are_on_the_loops_clock_whatever_it_is(poller: _rtpio.Poller) -> None:
    """Each arrival is ``now`` less the datagram's age: a loop whose clock is not
    CLOCK_MONOTONIC (a test's virtual clock, uvloop's millisecond one) gets arrivals on it."""
    a, sender = bound(), bound()
    try:
        poller.add(a.fileno(), 4)
        sender.sendto(b"x" * 172, a.getsockname())
        time.sleep(0.05)
        ((_, _, _, arrival),) = drain(poller, now=1000.0)  # a clock far from the machine's
        assert 1000.0 - 0.5 <= arrival <= 1000.0 - 0.04  # about 50 ms before the drain
    finally:
        for sock in (a, sender):
            sock.close()


def test_a_datagram_too_long_for_rtp_is_dropped_and_counted(poller: _rtpio.Poller) -> None:
    a, sender = bound(), bound()
    try:
        poller.add(a.fileno(), 0)
        sender.sendto(bytes(3000), a.getsockname())
        sender.sendto(b"short", a.getsockname())
        time.sleep(0.02)
        assert [d for _, d, _, _ in drain(poller)] == [b"short"]
        assert poller.stats()["truncated"] == 1
    finally:
        a.close()
        sender.close()


def test_ipv6_sources_and_sends() -> None:
    poller = _rtpio.Poller()
    a, b = bound(socket.AF_INET6), bound(socket.AF_INET6)
    try:
        poller.add(a.fileno(), 1)
        assert _rtpio.sendto(b.fileno(), b"v6", "::1", a.getsockname()[1]) == 0
        time.sleep(0.02)
        ((token, data, source, _),) = drain(poller)
        assert (token, data, source) == (1, b"v6", ("::1", b.getsockname()[1]))
    finally:
        poller.close()
        a.close()
        b.close()


def test_tokens_are_checked_and_a_removed_socket_is_not_read(poller: _rtpio.Poller) -> None:
    a, sender = bound(), bound()
    try:
        poller.add(a.fileno(), 2)
        with pytest.raises(ValueError, match="token 2 is in use"):
            poller.add(a.fileno(), 2)
        with pytest.raises(ValueError, match="token must be"):
            poller.add(a.fileno(), -1)
        poller.remove(2)
        poller.remove(2)  # twice: nothing
        sender.sendto(b"late", a.getsockname())
        time.sleep(0.02)
        assert drain(poller) == []
        poller.add(a.fileno(), 2)  # the token again, for the same socket
        assert [d for _, d, _, _ in drain(poller)] == [b"late"]
    finally:
        a.close()
        sender.close()


def test_sendto_reports_errors_as_errno_and_refuses_what_is_no_address() -> None:
    a = bound()
    try:
        assert _rtpio.sendto(a.fileno(), b"x", "127.0.0.1", 0) == errno.EINVAL
        with pytest.raises(ValueError, match="not an IP address: example.com"):
            _rtpio.sendto(a.fileno(), b"x", "example.com", 4000)
    finally:
        a.close()


def send_and_wait(sender: socket.socket, to: socket.socket, data: bytes) -> None:
    """One datagram, waited for until the socket holds it."""
    sender.sendto(data, to.getsockname())
    assert select.select([to], [], [], 2.0)[0] == [to]


def readable(poller: _rtpio.Poller) -> bool:
    """Whether the poller's epoll set says something waits."""
    return bool(select.select([poller.fileno()], [], [], 0.05)[0])


def test_a_socket_with_datagrams_at_three_ticks_is_read_directly_until_idle(
    poller: _rtpio.Poller,
) -> None:
    """Allowed (nobody listens between ticks), it leaves the epoll set after three ticks
    with datagrams: then only a tick reads it, in order; three ticks without datagrams and
    epoll watches it again."""
    a, sender = bound(), bound()
    try:
        poller.add(a.fileno(), 6)
        poller.allow_direct(6, True)
        for n in range(3):
            assert not poller.is_direct(6)
            send_and_wait(sender, a, bytes([n]))
            assert [d for _, d, _, _ in drain(poller, tick=True)] == [bytes([n])]
        assert poller.is_direct(6) and poller.stats()["promotions"] == 1
        send_and_wait(sender, a, b"x")
        send_and_wait(sender, a, b"y")
        assert not readable(poller)  # out of the epoll set
        assert drain(poller) == []  # a read between ticks leaves it
        assert [d for _, d, _, _ in drain(poller, tick=True)] == [b"x", b"y"]
        for _ in range(2):
            assert drain(poller, tick=True) == [] and poller.is_direct(6)
        assert drain(poller, tick=True) == [] and not poller.is_direct(6)
        assert poller.stats()["demotions"] == 1
        send_and_wait(sender, a, b"z")
        assert readable(poller)  # watched again
        assert [d for _, d, _, _ in drain(poller)] == [b"z"]
    finally:
        a.close()
        sender.close()


def test_a_socket_someone_listens_to_is_never_read_directly(poller: _rtpio.Poller) -> None:
    """Not allowed (the default, and a call's audio listened to): always in the epoll set;
    disallowed while direct, it is watched again at once; removed, it is not read."""
    a, b, sender = bound(), bound(), bound()
    try:
        poller.add(a.fileno(), 2)
        poller.add(b.fileno(), 4)
        poller.allow_direct(4, True)
        for n in range(5):
            send_and_wait(sender, a, bytes([n]))
            send_and_wait(sender, b, bytes([n]))
            assert len(drain(poller, tick=True)) == 2
        assert not poller.is_direct(2) and poller.is_direct(4)
        poller.allow_direct(4, False)  # someone listens now
        assert not poller.is_direct(4)
        send_and_wait(sender, b, b"heard")
        assert [d for _, d, _, _ in drain(poller)] == [b"heard"]  # between ticks, at once
        poller.allow_direct(4, True)
        for n in range(3):
            send_and_wait(sender, b, bytes([n]))
            drain(poller, tick=True)
        assert poller.is_direct(4)
        poller.remove(4)
        send_and_wait(sender, b, b"gone")
        assert drain(poller, tick=True) == [] and not poller.is_direct(4)
        poller.add(b.fileno(), 4)  # watched, not allowed: a new socket's defaults
        assert [d for _, d, _, _ in drain(poller)] == [b"gone"]
        poller.allow_direct(99, True)  # no such token: nothing
    finally:
        for sock in (a, b, sender):
            sock.close()


def test_each_read_gets_whole_addresses_and_kernel_times_whatever_the_one_before(
    poller: _rtpio.Poller,
) -> None:
    """The receive headers are made ready again after every read (the kernel writes the
    lengths back): an IPv6 source after an IPv4 one is not cut to the shorter length, and
    every datagram keeps its kernel time, over reads of one and of many."""
    v4, v6 = bound(), bound(socket.AF_INET6)
    to_v4, to_v6 = bound(), bound(socket.AF_INET6)
    try:
        poller.add(v4.fileno(), 2)
        poller.add(v6.fileno(), 4)
        for burst in (1, 20, 1, 3):
            for sock, to in ((to_v4, v4), (to_v6, v6), (to_v4, v4)):
                sent_at = time.monotonic()
                for n in range(burst):
                    send_and_wait(sock, to, bytes([n]))
                sent_by = time.monotonic()
                time.sleep(0.03)  # read well after: the drain's own time would show
                got = drain(poller)
                assert [d for _, d, _, _ in got] == [bytes([n]) for n in range(burst)]
                assert {s for _, _, s, _ in got} == {sock.getsockname()[:2]}
                for _, _, _, arrival in got:  # the kernel's time, not the drain's
                    assert sent_at - 0.005 <= arrival <= sent_by + 0.005
    finally:
        for sock in (v4, v6, to_v4, to_v6):
            sock.close()


def test_a_routed_source_comes_out_under_its_routes_token_with_one_tuple(
    poller: _rtpio.Poller,
) -> None:
    shared, caller, stranger = bound(), bound(), bound()
    try:
        poller.add(shared.fileno(), 6)
        assert poller.route(6, "127.0.0.1", caller.getsockname()[1], 40)
        assert not poller.route(6, "pbx.example.com", 4000, 42)  # no IP literal: not routed
        assert poller.routes() == 1
        for n in range(3):
            caller.sendto(bytes([n]) * 4, shared.getsockname())
            stranger.sendto(b"who", shared.getsockname())
        time.sleep(0.02)
        got = drain(poller)
        assert [(t, d) for t, d, _, _ in got if t == 40] == [(40, bytes([n]) * 4) for n in range(3)]
        assert [(t, d) for t, d, _, _ in got if t != 40] == [(6, b"who")] * 3
        routed = {id(s) for t, _, s, _ in got if t == 40}
        assert len(routed) == 1  # one tuple kept for the routed source
        assert next(s for t, _, s, _ in got if t == 40) == caller.getsockname()
        assert poller.stats()["routed"] == 3
        assert poller.unroute(6, "127.0.0.1", caller.getsockname()[1])
        assert not poller.unroute(6, "127.0.0.1", caller.getsockname()[1])  # gone already
        caller.sendto(b"after", shared.getsockname())
        time.sleep(0.02)
        assert [(t, d) for t, d, _, _ in drain(poller)] == [(6, b"after")]
        with pytest.raises(ValueError, match="token 9 is not in use"):
            poller.route(9, "127.0.0.1", 4000, 1)
    finally:
        for sock in (shared, caller, stranger):
            sock.close()


def test_an_ipv4_peer_of_a_dual_stack_socket_matches_its_ipv4_route(
    poller: _rtpio.Poller,
) -> None:
    shared = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    shared.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    shared.bind(("::", 0))
    caller = bound()
    try:
        poller.add(shared.fileno(), 2)
        poller.route(2, "127.0.0.1", caller.getsockname()[1], 8)
        caller.sendto(b"v4", ("127.0.0.1", shared.getsockname()[1]))
        time.sleep(0.02)
        ((token, data, source, _),) = drain(poller)
        # tagged by the route; the source as the socket spells it, as without a route
        assert (token, data, source) == (8, b"v4", ("::ffff:127.0.0.1", caller.getsockname()[1]))
    finally:
        shared.close()
        caller.close()


def test_routes_follow_a_model_through_growth_and_deletions(poller: _rtpio.Poller) -> None:
    """Open addressing with deletions that move the probe runs up: checked against a dict
    over many inserts and removals, then by datagrams from the survivors."""
    import random

    rng = random.Random(7)
    a, b = bound(), bound()
    senders = [bound() for _ in range(6)]
    try:
        poller.add(a.fileno(), 0)
        poller.add(b.fileno(), 2)
        model: dict[tuple[int, int], int] = {}
        for step in range(3000):
            socket_token = rng.choice((0, 2))
            port = rng.randrange(1000, 1400)
            if rng.random() < 0.55:
                assert poller.route(socket_token, "10.0.0.1", port, step)
                model[(socket_token, port)] = step
            else:
                assert poller.unroute(socket_token, "10.0.0.1", port) == (
                    model.pop((socket_token, port), None) is not None
                )
            assert poller.routes() == len(model)
        for socket_token, port in list(model):
            assert poller.unroute(socket_token, "10.0.0.1", port)
            del model[(socket_token, port)]
            assert poller.routes() == len(model)
        for n, sender in enumerate(senders):
            poller.route(0, "127.0.0.1", sender.getsockname()[1], 100 + n)
        poller.route(2, "127.0.0.1", senders[0].getsockname()[1], 99)
        for sender in senders:
            sender.sendto(b"x", a.getsockname())
        senders[0].sendto(b"y", b.getsockname())
        time.sleep(0.02)
        assert sorted(t for t, *_ in drain(poller)) == [99, 100, 101, 102, 103, 104, 105]
        poller.remove(0)  # a socket no longer read takes its routes with it
        assert poller.routes() == 1
    finally:
        for sock in (a, b, *senders):
            sock.close()


def test_held_sends_go_at_the_flush_in_order_and_a_refused_one_is_counted(
    poller: _rtpio.Poller,
) -> None:
    shared, peer = bound(), bound()
    try:  # room for 300 at once (about 1 KiB each): forced when root, else rmem_max
        peer.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
    except OSError:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    try:
        port = peer.getsockname()[1]
        assert poller.send(shared.fileno(), b"direct", "127.0.0.1", port) == 0  # not held
        assert select.select([peer], [], [], 2.0)[0] == [peer]
        assert peer.recv(100) == b"direct"
        poller.hold_sends()
        for n in range(300):  # more than one sendmmsg
            assert poller.send(shared.fileno(), b"%d" % n, "127.0.0.1", port) == 0
        assert poller.send(shared.fileno(), b"refused", "127.0.0.1", 0) == 0
        assert poller.send(shared.fileno(), b"last", "127.0.0.1", port) == 0
        time.sleep(0.02)
        assert select.select([peer], [], [], 0)[0] == []  # held
        assert poller.flush() == 1  # port 0: EINVAL, dropped; the rest went
        got = []
        while select.select([peer], [], [], 0.5)[0]:
            got.append(peer.recv(100))
            if got[-1] == b"last":
                break
        assert got == [b"%d" % n for n in range(300)] + [b"last"]
        stats = poller.stats()
        assert stats["batched"] == 301 and stats["send_errors"] == 1
        assert 2 <= stats["sendmmsgs"] <= 4
        assert poller.send(shared.fileno(), b"again", "127.0.0.1", port) == 0  # direct again
        assert select.select([peer], [], [], 2.0)[0] == [peer] and peer.recv(100) == b"again"
        with pytest.raises(ValueError, match="not an IP address: example.com"):
            poller.send(shared.fileno(), b"x", "example.com", port)
    finally:
        shared.close()
        peer.close()
