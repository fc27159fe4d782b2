"""Capture RTP on the loopback interface, as seen on the wire (a tiny in-process tcpdump).

Linux only, needs CAP_NET_RAW (root, or a private network namespace as the interop tests use).
Every UDP datagram on ``lo`` that looks like RTP (version 2, not RTCP) between the given ports
is recorded with its arrival time (``time.monotonic()``), ports and parsed header; RTCP
(and SRTCP, whose first header is in the clear) is recorded apart, with its packet type.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

from sipgw.media.g711 import rms_dbfs
from sipgw.media.rtp import RtpPacket, RtpParseError

__all__ = ["RtcpOnWire", "RtpCapture", "WirePacket"]

_ETH_P_ALL = 0x0003
_ETH_HEADER = 14


@dataclass(frozen=True, slots=True)
class WirePacket:
    """One RTP packet seen on ``lo``."""

    at: float
    src_port: int
    dst_port: int
    packet: RtpPacket

    def level_dbfs(self, codec: str = "PCMU") -> float:
        """The payload's RMS level."""
        return rms_dbfs(self.packet.payload, codec)


@dataclass(frozen=True, slots=True)
class RtcpOnWire:
    """One RTCP (or SRTCP) compound packet seen on ``lo``: its first packet's type."""

    at: float
    src_port: int
    dst_port: int
    packet_type: int
    """200 SR, 201 RR, ... (RFC 3550 §12.1)."""


class RtpCapture:
    """Records RTP packets (and RTCP apart) on ``lo`` from a background thread (a context
    manager)."""

    def __init__(self, interface: str = "lo") -> None:
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        self._sock.bind((interface, 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._packets: list[WirePacket] = []
        self._rtcp: list[RtcpOnWire] = []
        self._thread = threading.Thread(target=self._run, name="rtp-capture", daemon=True)

    def __enter__(self) -> RtpCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._sock.close()

    def packets(self) -> list[WirePacket]:
        """What was captured so far, in arrival order."""
        with self._lock:
            return list(self._packets)

    def rtcp(self) -> list[RtcpOnWire]:
        """The RTCP packets captured so far, in arrival order."""
        with self._lock:
            return list(self._rtcp)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, meta = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if meta[2] == socket.PACKET_OUTGOING:
                continue  # lo shows every packet twice: keep the incoming copy
            parsed = _parse(frame)
            if isinstance(parsed, RtcpOnWire):
                with self._lock:
                    self._rtcp.append(parsed)
            elif parsed is not None:
                with self._lock:
                    self._packets.append(WirePacket(time.monotonic(), *parsed))


def _parse(frame: bytes) -> tuple[int, int, RtpPacket] | RtcpOnWire | None:
    ip = frame[_ETH_HEADER:]
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
        return None
    header = (ip[0] & 0x0F) * 4
    src_port, dst_port = struct.unpack_from("!HH", ip, header)
    data = ip[header + 8 :]
    if len(data) < 8 or data[0] >> 6 != 2:
        return None  # not RTP nor RTCP
    if 72 <= (data[1] & 0x7F) <= 76:  # RTCP (RFC 5761 §4)
        return RtcpOnWire(time.monotonic(), src_port, dst_port, data[1])
    if len(data) < 12:
        return None
    try:
        return src_port, dst_port, RtpPacket.parse(data)
    except RtpParseError:
        return None
