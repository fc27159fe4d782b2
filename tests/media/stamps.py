"""Wait until the kernel stamps datagrams on arrival (tests of the batched reader).

Linux switches receive stamping on for the whole machine once a socket asks for it, in
deferred work that can take a while on a VM; until then a datagram is stamped when read.
"""

from __future__ import annotations

import socket
import struct
import time

from sipgw.media.aio.rtp_batch import stamping_socket


def wait_for_kernel_stamps(within: float = 3.0) -> socket.socket:
    """A socket asking for stamps (keep it open), once a datagram's stamp is its arrival."""
    sock = stamping_socket()
    sock.bind(("127.0.0.1", 0))
    deadline = time.monotonic() + within
    while True:
        sent = time.time()
        sock.sendto(b"x", sock.getsockname())
        time.sleep(0.03)
        _, ancillary, _, _ = sock.recvmsg(16, 64)
        for level, _kind, data in ancillary:
            if level == socket.SOL_SOCKET and len(data) >= 16:
                seconds, micros = struct.unpack("qq", data[:16])
                if seconds + micros / 1e6 - sent < 0.02:  # not the read, 30 ms later
                    return sock
        if time.monotonic() > deadline:
            sock.close()
            raise TimeoutError("the kernel does not stamp datagrams on arrival")
