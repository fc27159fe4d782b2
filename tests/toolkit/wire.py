"""Capture packets on the loopback interface, as seen on the wire (a tiny in-process tcpdump).

Linux only, needs CAP_NET_RAW (root, or a private network namespace as the interop tests use).

:class:`RtpCapture`: every UDP datagram on ``lo`` that looks like RTP (version 2, not RTCP)
is recorded with the kernel's receive time (on ``time.monotonic()``'s clock), ports and
parsed header; RTCP (and SRTCP, whose first header is in the clear) is recorded apart, with
its packet type. Its times and order are the wire's however late the reading thread runs
(it shares the test's process, and the CPU, with in-process gateways and fakes): a large
receive buffer holds what it has not read yet.

:class:`UdpCapture`: the UDP datagrams to or from given ports (and to given port ranges),
chosen in the kernel by a socket filter (classic BPF), each with the kernel's receive time
(``SO_TIMESTAMPNS``): one ordered record of what several peers sent each other, however
late the reading thread runs on a loaded machine (a large receive buffer holds what it has
not read yet).
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from sipgw.media.g711 import rms_dbfs
from sipgw.media.rtp import RtpPacket, RtpParseError

__all__ = ["Datagram", "RtcpOnWire", "RtpCapture", "UdpCapture", "WirePacket", "lateness"]

_ETH_P_ALL = 0x0003
_ETH_HEADER = 14
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")


@dataclass(frozen=True, slots=True)
class WirePacket:
    """One RTP packet seen on ``lo``."""

    at: float
    """The kernel's receive time, on ``time.monotonic()``'s clock."""
    src_port: int
    dst_port: int
    packet: RtpPacket

    def level_dbfs(self, codec: str = "PCMU") -> float:
        """The payload's RMS level."""
        return rms_dbfs(self.packet.payload, codec)


def lateness(packets: Sequence[WirePacket], rate: int = 8000) -> list[float]:
    """How late each packet of one stream arrived, in seconds: its transit (arrival less its
    RTP timestamp's time) less the stream's shortest transit. A calm stream's packets arrive
    within its jitter of 0; a sender or relay that stalls shows as a run of late packets.

    Timestamps are read relative to the first packet's, modulo 2**32 (RFC 3550 §5.1), so a
    packet reordered ahead of it counts as earlier, not 2**32 later."""
    if not packets:
        return []
    first = packets[0].packet.timestamp

    def since_first(timestamp: int) -> int:
        ticks = (timestamp - first) & 0xFFFFFFFF
        return ticks - (1 << 32) if ticks >= 1 << 31 else ticks

    transits = [p.at - since_first(p.packet.timestamp) / rate for p in packets]
    shortest = min(transits)
    return [t - shortest for t in transits]


@dataclass(frozen=True, slots=True)
class RtcpOnWire:
    """One RTCP (or SRTCP) compound packet seen on ``lo``: its first packet's type."""

    at: float
    src_port: int
    dst_port: int
    packet_type: int
    """200 SR, 201 RR, ... (RFC 3550 §12.1)."""


class _Capture:
    """A raw socket on ``lo`` read by a background thread until :meth:`close` (a context
    manager); subclasses make the socket and read it in ``_run``."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self._sock = sock
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._sock.close()

    def _run(self) -> None:
        raise NotImplementedError


class RtpCapture(_Capture):
    """Records RTP packets (and RTCP apart) on ``lo`` from a background thread (a context
    manager)."""

    def __init__(self, interface: str = "lo") -> None:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((interface, 0))
        super().__init__(sock, "rtp-capture")
        self._packets: list[WirePacket] = []
        self._rtcp: list[RtcpOnWire] = []
        self._to_monotonic = time.monotonic() - time.time()  # the kernel stamps wall time

    def packets(self) -> list[WirePacket]:
        """What was captured so far, in arrival order."""
        with self._lock:
            return list(self._packets)

    def rtcp(self) -> list[RtcpOnWire]:
        """The RTCP packets captured so far, in arrival order."""
        with self._lock:
            return list(self._rtcp)

    def _run(self) -> None:
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while not self._stop.is_set():
            try:
                frame, ancillary, _, meta = self._sock.recvmsg(65535, space)
            except TimeoutError:
                continue
            except OSError:
                return
            if meta[2] == socket.PACKET_OUTGOING:
                continue  # lo shows every packet twice: keep the incoming copy
            at = _kernel_time(ancillary) + self._to_monotonic
            parsed = _parse(frame, at)
            if isinstance(parsed, RtcpOnWire):
                with self._lock:
                    self._rtcp.append(parsed)
            elif parsed is not None:
                with self._lock:
                    self._packets.append(WirePacket(at, *parsed))


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The receive time ``SO_TIMESTAMPNS`` gave a datagram (``time.time()``'s clock; the
    time it is read if there is none)."""
    for level, kind, cdata in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(cdata)
            return float(seconds + nanoseconds / 1e9)
    return time.time()


def _parse(frame: bytes, at: float) -> tuple[int, int, RtpPacket] | RtcpOnWire | None:
    ip = frame[_ETH_HEADER:]
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
        return None
    header = (ip[0] & 0x0F) * 4
    src_port, dst_port = struct.unpack_from("!HH", ip, header)
    data = ip[header + 8 :]
    if len(data) < 8 or data[0] >> 6 != 2:
        return None  # not RTP nor RTCP
    if 72 <= (data[1] & 0x7F) <= 76:  # RTCP (RFC 5761 §4)
        return RtcpOnWire(at, src_port, dst_port, data[1])
    if len(data) < 12:
        return None
    try:
        return src_port, dst_port, RtpPacket.parse(data)
    except RtpParseError:
        return None


# -- UdpCapture ---------------------------------------------------------------------------

SO_ATTACH_FILTER = 26
_PACKET_OUTGOING = 4
"""``sll_pkttype`` of the copy a sender's side of ``lo`` shows (each packet is seen twice)."""
_ANCILLARY_PKTTYPE = 0xFFFFF004
"""``SKF_AD_OFF + SKF_AD_PKTTYPE``: a filter's load of the packet's type (linux/filter.h)."""


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram seen on ``lo``."""

    at: float
    """The kernel's receive time (``time.time()``'s clock)."""
    src_port: int
    dst_port: int
    data: bytes


def _udp_filter(ports: Sequence[int], dst_ranges: Sequence[tuple[int, int]]) -> bytes:
    """A classic BPF program: IPv4 UDP datagrams (first fragments) from or to one of
    ``ports``, or to a port within one of ``dst_ranges``, each once (the incoming copy)."""
    program: list[tuple[int, int, int, int | str]] = []  # code, jt, jf, k (a label: "accept")
    accept, drop = "accept", "drop"

    def op(code: int, k: int = 0) -> None:
        program.append((code, 0, 0, k))

    def jump(code: int, k: int, true: str | None, false: str | None) -> None:
        program.append((code, 0, 0, k))
        jumps.append((len(program) - 1, true, false))

    jumps: list[tuple[int, str | None, str | None]] = []
    labels: dict[str, int] = {}
    ld_w, ld_h, ld_b = 0x20, 0x28, 0x30  # BPF_LD | size | BPF_ABS
    ldh_x, ldxb_msh, jeq, jgt, jge, jset, ret = 0x48, 0xB1, 0x15, 0x25, 0x35, 0x45, 0x06
    op(ld_w, _ANCILLARY_PKTTYPE)
    jump(jeq, _PACKET_OUTGOING, drop, None)
    op(ld_h, 12)  # the Ethernet type lo shows
    jump(jeq, 0x0800, None, drop)
    op(ld_b, 23)  # IPv4's protocol
    jump(jeq, socket.IPPROTO_UDP, None, drop)
    op(ld_h, 20)
    jump(jset, 0x1FFF, drop, None)  # a later fragment: no UDP header
    op(ldxb_msh, 14)  # X = the IPv4 header's length
    op(ldh_x, 14)  # the source port
    for port in ports:
        jump(jeq, port, accept, None)
    op(ldh_x, 16)  # the destination port
    for port in ports:
        jump(jeq, port, accept, None)
    for n, (low, high) in enumerate(dst_ranges):
        below = f"range-{n}"
        jump(jge, low, None, below)
        jump(jgt, high, below, accept)
        labels[below] = len(program)
    labels[drop] = len(program)
    op(ret, 0)
    labels[accept] = len(program)
    op(ret, 0x40000)
    code = bytearray()
    targets = {at: (true, false) for at, true, false in jumps}
    for at, (opcode, _, _, k) in enumerate(program):
        true, false = targets.get(at, (None, None))
        jt = 0 if true is None else labels[true] - at - 1
        jf = 0 if false is None else labels[false] - at - 1
        assert 0 <= jt < 256 and 0 <= jf < 256, "filter too long"
        code += struct.pack("HBBI", opcode, jt, jf, int(k))
    return bytes(code)


class UdpCapture(_Capture):
    """Records the UDP datagrams on ``lo`` from or to ``ports``, and to ports within
    ``dst_ranges`` (inclusive), in the order the kernel saw them (a context manager).

    The kernel filters them (nothing else reaches this process) and stamps each; a 16 MiB
    receive buffer holds them while the reading thread waits for the CPU.
    """

    def __init__(self, ports: Sequence[int], dst_ranges: Sequence[tuple[int, int]] = ()) -> None:
        # no protocol until the filter is on: nothing unfiltered is queued before it
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        program = _udp_filter(ports, dst_ranges)
        self._code = ctypes.create_string_buffer(program)  # alive while the kernel copies it
        fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(self._code))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind(("lo", _ETH_P_ALL))
        super().__init__(sock, "udp-capture")
        self._datagrams: list[Datagram] = []

    def datagrams(self) -> list[Datagram]:
        """What was captured so far, in the kernel's order."""
        with self._lock:
            return list(self._datagrams)

    def _run(self) -> None:
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while not self._stop.is_set():
            try:
                frame, ancillary, _, _ = self._sock.recvmsg(65535, space)
            except TimeoutError:
                continue
            except OSError:
                return
            at = _kernel_time(ancillary)
            ip = frame[_ETH_HEADER:]
            header = (ip[0] & 0x0F) * 4
            src_port, dst_port = struct.unpack_from("!HH", ip, header)
            datagram = Datagram(at, src_port, dst_port, bytes(ip[header + 8 :]))
            with self._lock:
                self._datagrams.append(datagram)
