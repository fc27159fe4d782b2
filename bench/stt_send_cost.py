"""CPU per speech-to-text audio message, by way of sending: what one uplink message costs.

    python -m bench.stt_send_cost [--messages 20000] [--rounds 5] [--size 800] [--loop uvloop]

One message is ``--size`` bytes of binary (800: 100 ms of μ-law, the AssemblyAI client's
default chunk), sent by a ``websockets`` client connection (the clients' own
:class:`~sipgw.agent.services.websocket_client.VendorConnection`, ``compression=None``, as the
AssemblyAI client connects) to a ``websockets`` server in a process of its own over real
loopback sockets, which reads and counts them (checked at the end of every run). The cost
is the CPU time of the client's thread (``time.thread_time``) per message, ``--messages``
messages a run, ten at a time with a 2 ms sleep after each ten (about 5,000 a second, so the
server keeps up and the kernel's buffer stays empty, as a call's 10 a second do); the ways
take turns, ``--rounds`` rounds. ``idle`` is the sleeps alone, the floor under the others.
Reported per way: the median of the rounds, less ``idle``'s median, in µs a message, and
the median over the rounds of its ratio to ``task + send()`` in the same round (before the
idle share is taken off).

- ``send()``: ``await ClientConnection.send(message)``, the library's asyncio send (its
  ``send_context``, ``Frame.serialize``, a ``getrandom`` for the mask, the write);
- ``sans-io``: the library's public Sans-I/O protocol, ``ws.protocol.send_binary`` then
  ``data_to_send()`` written to the transport (the mask's ``getrandom`` still each);
- ``frames``: :meth:`VendorConnection.send_binary_now` (a frame from
  :class:`~sipgw.agent.services.websocket_frames.ClientFrames`, its key cut from a 1 KiB draw,
  written to the transport);
- ``task + send()``: the way the AssemblyAI client's sender went until 2026-11-27: a task
  woken by an ``asyncio.Event`` per message (``send_audio`` set it) that pops the message and
  awaits ``send()``;
- ``inline frames``: the way it goes now, while the sender task waits: ``send_audio``
  writes the message with ``send_binary_now``, no task step.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.agent.services.websocket_client import VendorConnection

BATCH = 10
"""Messages between two sleeps."""
PAUSE = 0.002
"""Seconds of each sleep."""
BASELINE = "task + send()"


def serve_counting() -> None:
    """The server, in this process: prints its port, counts each connection's binary messages
    and answers the text ``count`` with the count; serves until stdin closes."""

    async def count(ws: ServerConnection) -> None:
        received = 0
        async for message in ws:
            if isinstance(message, bytes):
                received += 1
            else:
                await ws.send(str(received))
                received = 0

    async def run() -> None:
        async with serve(count, "127.0.0.1", 0, compression=None) as server:
            print(next(iter(server.sockets)).getsockname()[1], flush=True)
            await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    task = loop.create_task(run())
    loop.add_reader(sys.stdin.fileno(), task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass


Way = Callable[[VendorConnection, bytes, int], Awaitable[None]]


async def _idle(ws: VendorConnection, message: bytes, n: int) -> None:
    for i in range(n):
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(PAUSE)


async def _send(ws: VendorConnection, message: bytes, n: int) -> None:
    for i in range(n):
        await ws.send(message)
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(PAUSE)


async def _sans_io(ws: VendorConnection, message: bytes, n: int) -> None:
    protocol, transport = ws.protocol, ws.transport
    for i in range(n):
        protocol.send_binary(message)
        for data in protocol.data_to_send():
            transport.write(data)
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(PAUSE)


async def _frames(ws: VendorConnection, message: bytes, n: int) -> None:
    for i in range(n):
        if not ws.send_binary_now(message):
            await ws.send(message)
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(PAUSE)


async def _task_send(ws: VendorConnection, message: bytes, n: int) -> None:
    ready = asyncio.Event()
    drained = asyncio.Event()
    queue: deque[bytes] = deque()

    async def sender() -> None:
        while True:
            if not queue:
                drained.set()
                ready.clear()
                await ready.wait()
                continue
            await ws.send(queue.popleft())

    task = asyncio.get_running_loop().create_task(sender())
    await asyncio.sleep(0)
    try:
        for i in range(n):
            queue.append(message)
            ready.set()
            await asyncio.sleep(0)  # the producer's frame path returns to the loop
            if i % BATCH == BATCH - 1:
                await asyncio.sleep(PAUSE)
        drained.clear()
        if queue:
            await drained.wait()
    finally:
        task.cancel()
        await asyncio.wait({task})


async def _inline_frames(ws: VendorConnection, message: bytes, n: int) -> None:
    queue: deque[bytes] = deque()
    for i in range(n):
        queue.append(message)
        while queue:
            chunk = queue.popleft()
            if not ws.send_binary_now(chunk):
                await ws.send(chunk)
        await asyncio.sleep(0)  # as in task + send()
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(PAUSE)


WAYS: dict[str, Way] = {
    "idle": _idle,
    "send()": _send,
    "sans-io": _sans_io,
    "frames": _frames,
    BASELINE: _task_send,
    "inline frames": _inline_frames,
}


async def _run(args: argparse.Namespace, port: int) -> dict[str, list[float]]:
    ws = await connect(
        f"ws://127.0.0.1:{port}/", create_connection=VendorConnection, compression=None
    )
    assert isinstance(ws, VendorConnection)
    message = os.urandom(args.size)
    cpu: dict[str, list[float]] = {name: [] for name in WAYS}

    async def one(name: str, way: Way, n: int) -> float:
        started = time.thread_time()
        await way(ws, message, n)
        spent = time.thread_time() - started
        await ws.send("count")
        got = int(await ws.recv())
        expected = 0 if name == "idle" else n
        assert got == expected, f"{name}: the server counted {got} of {expected}"
        return spent

    try:
        for name, way in WAYS.items():  # warm up
            await one(name, way, 200)
        for round_number in range(args.rounds):
            for name, way in WAYS.items():
                spent = await one(name, way, args.messages)
                cpu[name].append(spent / args.messages * 1e6)
            log(f"round {round_number + 1}: "
                + ", ".join(f"{n} {v[-1]:.1f}" for n, v in cpu.items()))  # fmt: skip
    finally:
        await ws.close()
    return cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="messages a way a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=800, help="bytes a message")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_counting()
        return
    machine = machine_info()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.stt_send_cost", "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    runner: Callable[[Coroutine[Any, Any, Any]], dict[str, list[float]]] = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    log(f"{len(WAYS)} ways x {args.rounds} rounds x {args.messages} messages of "
        f"{args.size} bytes, {args.loop}")  # fmt: skip
    try:
        cpu = runner(_run(args, port))
    finally:
        server.stdin.close()
        server.wait(10)
    idle = statistics.median(cpu["idle"])
    before = cpu[BASELINE]
    figures: dict[str, dict[str, Any]] = {
        name: {
            "us_per_message_runs": [round(v, 2) for v in values],
            "us_per_message_median": round(statistics.median(values), 2),
            "us_per_message_less_idle": round(statistics.median(values) - idle, 2),
            "ratio_to_task_send": round(
                statistics.median(v / b for v, b in zip(values, before, strict=True)), 3
            ),
        }
        for name, values in cpu.items()
    }
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    data = {"machine": machine, "params": vars(args), "figures": figures}
    print(f"CPU: {machine['cpu_model']}; load average {machine['loadavg_at_start']} at start, "
          f"{machine['loadavg_at_end']} at end; loop {args.loop}")  # fmt: skip
    print(format_table(
        ["way", "µs CPU a message, median", "less idle", f"ratio to {BASELINE}", "rounds"],
        [[name, fmt(f["us_per_message_median"], ".2f"), fmt(f["us_per_message_less_idle"], ".2f"),
          fmt(f["ratio_to_task_send"], ".3f"),
          " ".join(f"{v:.1f}" for v in f["us_per_message_runs"])]
         for name, f in figures.items()],
    ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'stt_send_cost')}")


if __name__ == "__main__":
    main()
