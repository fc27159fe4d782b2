"""media._rtpio (C): batched receive with kernel times, direct sends, on loopback sockets."""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Iterator

import pytest

from media import _rtpio
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
    poller: _rtpio.Poller, tick: bool = False
) -> list[tuple[int, bytes, tuple[str, int], float]]:
    tokens: list[int] = []
    datas: list[bytes] = []
    sources: list[tuple[str, int]] = []
    arrivals: list[float] = []
    count = poller.drain(time.monotonic(), tokens, datas, sources, arrivals, tick)
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
