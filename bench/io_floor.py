"""The floor under any Python RTP path: the CPU of moving the packets and nothing else.

Run ``python -m bench.io_floor`` (``--calls 200,400 --hold 10 --rounds 3``).

sipgw's echo call costs a few times SIPp's ``-rtp_echo`` CPU per call
(``bench.capacity --compare``). How much of that is the gateway's own work, and
how much any Python program pays to receive and send 50 packets a second per call
through an event loop? This script measures the second part: a server process
(pinned to ``--gateway-cpu``) binds one UDP socket per call, the way a gateway
gives each call its own RTP port, and does the least a gateway can do with the
packets:

* ``uvloop-echo`` / ``asyncio-echo``: ``datagram_received`` sends each packet
  straight back (what SIPp's ``-rtp_echo`` does, in Python);
* ``uvloop-paced``: each packet is queued, and one 20 ms ticker with absolute
  deadlines sends one queued packet per call (the shape of sipgw's media path:
  receive, hold, pace out on the tick) without parsing, jitter buffer or agent;
* ``rtpio-paced``: the same shape on the native path's I/O (``sipgw.media._rtpio``, built by
  ``scripts/build-native``): at each tick one ``epoll`` + ``recvmmsg`` drain of every
  socket, then one direct ``sendto`` per call: one wake-up per tick instead of one per
  packet.
* ``rtpio-shared``: as ``rtpio-paced``, but one socket for all the calls (SIPp's
  ``-rtp_echo`` shape): the drain reads it alone, each datagram is given to its call by
  its source address (a dictionary, as a gateway's demultiplexer would), and every call's
  packet goes out of that one socket with a direct ``sendto``. It measures what one RTP
  port for many calls would save on the I/O floor, before a gateway is built that way.

The load (in this process, pinned to ``--loadgen-cpu``) is the shape of
``bench.loadgen``'s: one ticker sends every call's 172-byte packet each 20 ms from
preallocated buffers and counts what comes back. The server's CPU (``/proc``,
all threads) over the hold window, divided by the calls, is the floor per call;
``us_per_packet`` divides it by the packets the server received and sent.
Compare with the gateway's and SIPp's figures of the same machine and day.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench._harness import (
    PYTHON,
    REPO,
    ProcSample,
    format_table,
    log,
    machine_info,
    percentile,
    pin_self,
    read_proc,
    write_json,
)

VARIANTS = ("uvloop-echo", "uvloop-paced", "asyncio-echo", "rtpio-paced", "rtpio-shared")
SHARED_RCVBUF = 4 << 20
"""The shared socket's receive buffer: a tick of every call's datagrams and bursts (the
default, 208 KiB, holds about 270 of them)."""
PACKET_BYTES = 172  # 12-byte RTP header + 160 bytes of 20 ms G.711
PTIME = 0.020

# -------------------------------------------------------------------- the server


class _Echo(asyncio.DatagramProtocol):
    """Sends every packet back to where it came from, at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(data, addr)


class _Held(asyncio.DatagramProtocol):
    """Queues every packet; the shared ticker sends one per tick."""

    def __init__(self) -> None:
        self.queue: collections.deque[bytes] = collections.deque(maxlen=10)
        self.peer: tuple[str | Any, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queue.append(data)
        self.peer = addr


class _PacedReader:
    """The native reader's shape: at each 20 ms tick every datagram waiting is drained, then
    one queued packet is sent per call (as ``uvloop-paced``)."""

    def __init__(self, calls: int) -> None:
        from sipgw.media import _rtpio  # the native build's extension (scripts/build-native)

        self.poller = _rtpio.Poller()
        self.sendto = _rtpio.sendto
        self.queues = [collections.deque[bytes](maxlen=10) for _ in range(calls)]
        self.peers: list[tuple[str, int] | None] = [None] * calls

    async def ticks(
        self,
    ) -> AsyncIterator[tuple[list[int], list[bytes], list[tuple[str, int]]]]:
        """At each tick, the datagrams drained, as columns (tokens, datas, sources); they
        are cleared once the caller's loop body is done with them."""
        loop = asyncio.get_running_loop()
        tokens: list[int] = []
        datas: list[bytes] = []
        sources: list[tuple[str, int]] = []
        arrivals: list[float] = []
        deadline = loop.time()
        while True:
            deadline += PTIME
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.poller.drain(time.monotonic(), tokens, datas, sources, arrivals)
            yield tokens, datas, sources
            for column in (tokens, datas, sources, arrivals):
                column.clear()

    def send_one_each(self, fds: Sequence[int]) -> None:
        """One queued packet to each call's peer, from that call's socket."""
        for call, queue in enumerate(self.queues):
            peer = self.peers[call]
            if queue and peer is not None:
                self.sendto(fds[call], queue.popleft(), peer[0], peer[1])


def _udp_socket(rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if rcvbuf:
        try:  # SO_RCVBUFFORCE: above net.core.rmem_max (needs CAP_NET_ADMIN)
            sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _serve_batched(calls: int) -> None:
    """``rtpio-paced``: drain every socket once per tick, send one packet per call."""
    reader = _PacedReader(calls)
    socks = [_udp_socket() for _ in range(calls)]
    for token, sock in enumerate(socks):
        reader.poller.add(sock.fileno(), token)
    print(json.dumps({"ports": [s.getsockname()[1] for s in socks]}), flush=True)
    fds = [s.fileno() for s in socks]
    queues, peers = reader.queues, reader.peers
    async for tokens, datas, sources in reader.ticks():
        for token, data, source in zip(tokens, datas, sources, strict=True):
            queues[token].append(data)
            peers[token] = source
        reader.send_one_each(fds)


async def _serve_shared(calls: int) -> None:
    """``rtpio-shared``: one socket for every call, its datagrams given to their calls by
    source address; one packet sent per call per tick, from that socket."""
    reader = _PacedReader(calls)
    sock = _udp_socket(SHARED_RCVBUF)
    reader.poller.add(sock.fileno(), 0)
    print(json.dumps({"ports": [sock.getsockname()[1]] * calls}), flush=True)
    fds = [sock.fileno()] * calls
    calls_by_source: dict[tuple[str, int], int] = {}
    queues, peers = reader.queues, reader.peers
    async for _, datas, sources in reader.ticks():
        for data, source in zip(datas, sources, strict=True):
            call = calls_by_source.get(source)
            if call is None:  # a gateway would know the address from the SDP
                if len(calls_by_source) >= calls:
                    continue
                call = calls_by_source[source] = len(calls_by_source)
                peers[call] = source
            queues[call].append(data)
        reader.send_one_each(fds)


async def _serve(variant: str, calls: int) -> None:
    if variant == "rtpio-paced":
        await _serve_batched(calls)
        return
    if variant == "rtpio-shared":
        await _serve_shared(calls)
        return
    loop = asyncio.get_running_loop()
    protocols: list[Any] = []
    for _ in range(calls):
        factory = _Held if variant.endswith("paced") else _Echo
        _, protocol = await loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))
        protocols.append(protocol)
    ports = [p.transport.get_extra_info("sockname")[1] for p in protocols]
    print(json.dumps({"ports": ports}), flush=True)
    if variant.endswith("paced"):
        deadline = loop.time()
        while True:
            deadline += PTIME
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            for protocol in protocols:
                if protocol.queue and protocol.peer is not None:
                    protocol.transport.sendto(protocol.queue.popleft(), protocol.peer)
    else:
        await asyncio.Event().wait()


def serve(variant: str, calls: int) -> None:
    """The server process: runs until killed."""
    if variant.startswith(("uvloop", "rtpio")):
        import uvloop

        uvloop.run(_serve(variant, calls))
    else:
        asyncio.run(_serve(variant, calls))


# -------------------------------------------------------------------- the load


class _Counter(asyncio.DatagramProtocol):
    def __init__(self, counts: list[int]) -> None:
        self.counts = counts

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.counts[0] += 1


async def _load(
    ports: Sequence[int], warmup: float, hold: float, server_pid: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    counts = [0]
    transports = []
    for port in ports:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Counter(counts), remote_addr=("127.0.0.1", port)
        )
        transports.append(transport)
    payload = bytearray(PACKET_BYTES)
    payload[0] = 0x80
    packet = bytes(payload)
    sent = 0
    late: list[float] = []
    start = loop.time()
    deadline = start
    # (server CPU sample, packets sent, packets echoed) where the measured window begins
    begin: tuple[ProcSample | None, int, int] | None = None
    while True:
        now = loop.time()
        if begin is None and now - start >= warmup:
            begin = (read_proc(server_pid), sent, counts[0])
        if now - start >= warmup + hold:
            break
        for transport in transports:
            transport.sendto(packet)
        sent += len(transports)
        late.append(max(0.0, loop.time() - deadline))
        deadline += PTIME
        await asyncio.sleep(max(0.0, deadline - loop.time()))
    last, sent_w, received_w = read_proc(server_pid), sent, counts[0]
    await asyncio.sleep(0.2)
    for transport in transports:
        transport.close()
    assert begin is not None  # warmup < warmup + hold
    first, sent_before, received_before = begin
    sent_w -= sent_before
    received_w -= received_before
    if first is None or last is None:
        raise RuntimeError("the server process ended during the run")
    cpu_s = last.cpu_s - first.cpu_s
    wall = last.t - first.t
    calls = len(ports)
    cpu_percent = 100.0 * cpu_s / wall
    return {
        "calls": calls,
        "cpu_percent": round(cpu_percent, 2),
        "cpu_per_call_percent": round(cpu_percent / calls, 4),
        "us_per_packet": round(1e6 * cpu_s / max(1, sent_w + received_w), 2),
        "sent": sent_w,
        "echoed": received_w,
        "echoed_share": round(received_w / sent_w, 4) if sent_w else None,
        "loadgen_late_p99_ms": round(1000 * (percentile(late, 99) or 0.0), 2),
    }


def measure(variant: str, calls: int, args: argparse.Namespace) -> dict[str, Any]:
    """One server process of ``variant`` with ``calls`` sockets under the load."""
    server = subprocess.Popen(
        ["taskset", "-c", str(args.gateway_cpu), PYTHON, "-m", "bench.io_floor",
         "--serve", variant, "--calls", str(calls)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())["ports"]
        pin_self(args.loadgen_cpu)
        import uvloop

        result = uvloop.run(_load(ports, args.warmup, args.hold, server.pid))
        return {"variant": variant, **result}
    finally:
        server.kill()
        server.wait()


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant and call count: the medians over the rounds, and the spread."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["variant"], r["calls"]), []).append(r)
    summary = []
    for (variant, calls), runs in groups.items():
        per_packet = [r["us_per_packet"] for r in runs]
        summary.append({
            "variant": variant, "calls": calls, "rounds": len(runs),
            "cpu_per_call_percent": statistics.median(r["cpu_per_call_percent"] for r in runs),
            "us_per_packet": statistics.median(per_packet),
            "us_per_packet_min": min(per_packet), "us_per_packet_max": max(per_packet),
            "echoed_share_min": min(r["echoed_share"] or 0.0 for r in runs),
            "loadgen_late_p99_ms": statistics.median(r["loadgen_late_p99_ms"] for r in runs),
        })  # fmt: skip
    return summary


def default_variants() -> list[str]:
    """Every variant; the ``rtpio`` ones only where the native path is in use."""
    from sipgw.media import _accel

    return [v for v in VARIANTS if _accel.PATH == "native" or not v.startswith("rtpio")]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.io_floor", description=__doc__.split("\n")[0])
    p.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--calls", default="200,400", help="comma-separated call counts")
    p.add_argument("--variants", default=",".join(default_variants()),
                   help="default: all, the rtpio ones only on the native path")  # fmt: skip
    p.add_argument("--hold", type=float, default=10.0, help="seconds measured per step")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=1,
                   help="runs of every variant, in turn; the table has their medians")  # fmt: skip
    p.add_argument("--gateway-cpu", type=int, default=0)
    p.add_argument("--loadgen-cpu", type=int, default=1)
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, int(args.calls))
        return 0
    counts = [int(c) for c in args.calls.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    info = machine_info()
    results = []
    for calls in counts:
        # the variants in turn within each round: a slow phase of a shared machine
        # falls on all of them alike
        for round_ in range(1, args.rounds + 1):
            for variant in variants:
                log(f"{variant}: {calls} calls, {args.hold:g} s, round {round_}")
                results.append({**measure(variant, calls, args), "round": round_})
                time.sleep(0.5)
    summary = summarize(results)
    headers = ["variant", "calls", "rounds", "CPU/call %", "us/packet", "[min..max]", "echoed",
               "LG late p99"]  # fmt: skip
    rows = [
        [s["variant"], str(s["calls"]), str(s["rounds"]), f"{s['cpu_per_call_percent']:.4f}",
         f"{s['us_per_packet']:.2f}",
         f"[{s['us_per_packet_min']:.2f}..{s['us_per_packet_max']:.2f}]",
         f"{s['echoed_share_min']:.4f}", f"{s['loadgen_late_p99_ms']:.2f}"]
        for s in summary
    ]  # fmt: skip
    print(f"CPU: {info['cpu_model']}; Python {info['python']}, uvloop {info['uvloop']}")
    print("medians over the rounds; echoed: the lowest share of any round")
    print(format_table(headers, rows))
    data = {
        "benchmark": "io_floor",
        "machine": info,
        "params": {"calls": counts, "variants": variants, "hold_s": args.hold,
                   "warmup_s": args.warmup, "packet_bytes": PACKET_BYTES,
                   "rounds": args.rounds},
        "results": results,
        "summary": summary,
    }  # fmt: skip
    print("JSON:", write_json(data, args.json, "io-floor"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
