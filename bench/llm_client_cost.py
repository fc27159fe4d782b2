"""Event-loop CPU per streamed LLM request, by HTTP client: what one assistant reply costs.

    python -m bench.llm_client_cost [--requests 200] [--rounds 5] [--chunks 40] [--loop uvloop]

One request is a streamed Chat Completions ``POST`` to the OpenAI fake
(``sipgw.app.evaluation.fakes.openai``, aiohttp, over real loopback sockets, in a process
of its own), the server-sent events split into lines and each ``data:`` payload parsed
as JSON, up to ``[DONE]`` and the body's end, the connection kept alive for the next.
The cost is the CPU time of the client's thread (``time.thread_time``), ``--requests``
requests one after the other per round; the clients take turns, ``--rounds`` rounds.
Reported per client: the median of the rounds per request, and the median over the
rounds of its ratio to ``httpx2`` in the same round (the ratio holds better than the
figures when other work shares the cores), ``httpx2`` being the client
agent/services/openai/chat_wire.py sent through until 2026-11-27:

- ``httpx2``: ``AsyncClient.send(stream=True)`` and ``Response.aiter_lines`` (anyio
  under it), with the SDK's connection limits, as the client had it;
- ``aiohttp``: ``ClientSession.post`` and ``StreamReader`` lines (llhttp's C parser);
- ``http1``: sipgw's own (agent/services/openai/http1_client.py: an ``asyncio.Protocol`` and a
  sans-IO parser), the bytes split into lines here;
- ``OpenAIChatLLM``: the whole client as the assistant runs it (``stream()``: the
  request body, the budget's timeouts, the chunks into events), on ``http1`` today.

Each client is measured twice (:data:`MODES`): read to the end, the connection kept for
the next request; and cut after the first chunk, as a third of the assistant's replies are
(docs/performance.md, "Where a noisy call's CPU goes"), its connection closed, the next
request opening one.

The fake sends ``--chunks`` content chunks (one word each, one write each), the finish
and usage chunks and ``[DONE]``, chunked. ``--loop`` is the event loop: ``uvloop`` (the
gateway's, when installed) or ``asyncio``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import aiohttp
import httpx2

from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings
from sipgw.agent.services.openai.http1_client import HttpClient, Url
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse

KEY = "sk-bench"
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {KEY}",
}
MESSAGES = [{"role": "user", "content": "Tell me about the opening hours."}]
BODY = {"model": "gpt-4.1-mini", "messages": MESSAGES, "stream": True,
        "stream_options": {"include_usage": True}}  # fmt: skip


def _payloads(lines: list[str]) -> int:
    """JSON chunks parsed from SSE lines (as openai_wire.chunks does); -1 at ``[DONE]``."""
    count = 0
    for line in lines:
        if line.startswith("data:"):
            value = line[5:].lstrip(" ")
            if value.startswith("[DONE]"):
                return -1 - count
            json.loads(value)
            count += 1
    return count


class _Httpx2:
    def __init__(self, base: str) -> None:
        self.url = httpx2.URL(f"{base}/chat/completions")
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        self.client = httpx2.AsyncClient(timeout=30.0, limits=limits, follow_redirects=True)

    async def request(self, cut: bool) -> int:
        content = json.dumps(BODY, separators=(",", ":"))
        request = self.client.build_request("POST", self.url, headers=HEADERS, content=content)
        response = await self.client.send(request, stream=True)
        count = 0
        try:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    value = line[5:].lstrip(" ")
                    if not value.startswith("[DONE]"):
                        json.loads(value)
                        count += 1
                        if cut:
                            break
        finally:
            await response.aclose()
        return count

    async def close(self) -> None:
        await self.client.aclose()


class _Aiohttp:
    def __init__(self, base: str) -> None:
        self.url = f"{base}/chat/completions"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000), auto_decompress=True
        )

    async def request(self, cut: bool) -> int:
        content = json.dumps(BODY, separators=(",", ":")).encode()
        count = 0
        async with self.session.post(self.url, data=content, headers=HEADERS) as response:
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    value = line[5:].lstrip(" ")
                    if not value.startswith("[DONE]"):
                        json.loads(value)
                        count += 1
                        if cut:
                            response.close()  # the connection with it
                            break
        return count

    async def close(self) -> None:
        await self.session.close()


class _Http1:
    def __init__(self, base: str) -> None:
        self.url = Url.parse(f"{base}/chat/completions")
        self.client = HttpClient()
        self.headers = list(HEADERS.items())

    async def request(self, cut: bool) -> int:
        content = json.dumps(BODY, separators=(",", ":")).encode()
        response = await self.client.post(self.url, self.headers, content)
        count = 0
        pending = b""
        try:
            while not (cut and count) and (data := await response.read_chunk()):
                *lines, pending = (pending + data).split(b"\n")
                for raw in lines:
                    if raw.startswith(b"data:"):
                        value = raw[5:].strip()
                        if not value.startswith(b"[DONE]"):
                            json.loads(value)
                            count += 1
                            if cut:
                                break
        finally:
            response.close()
        return count

    async def close(self) -> None:
        await self.client.aclose()


class _Whole:
    def __init__(self, base: str) -> None:
        self.llm = OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=base))

    async def request(self, cut: bool) -> int:
        count = 0
        async with aclosing(self.llm.stream(MESSAGES, [])) as events:
            async for _ in events:
                count += 1
                if cut:
                    break
        return count

    async def close(self) -> None:
        await self.llm.close()


CLIENTS: dict[str, Callable[[str], Any]] = {
    "httpx2": _Httpx2,
    "aiohttp": _Aiohttp,
    "http1": _Http1,
    "OpenAIChatLLM": _Whole,
}


def serve(chunks: int) -> None:
    """The fake, in this process: prints its base URL, serves until stdin closes."""
    fake = FakeOpenAI(api_key=KEY)
    words = " ".join(f"word{i}" for i in range(chunks))
    fake.responder = lambda body: FakeResponse(text=words)

    async def run() -> None:
        async with fake:
            print(fake.base_url, flush=True)
            while True:
                await asyncio.sleep(5)
                fake.forget_finished()

    loop = asyncio.new_event_loop()
    task = loop.create_task(run())
    loop.add_reader(sys.stdin.fileno(), task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass


MODES = {"read to the end": False, "cut after the first chunk": True}
"""How each request ends: ``[DONE]`` and the body's end (the connection kept), or the
response closed after its first chunk (a reply cut at its start: the connection closed, the
next request opens one)."""


async def _run(args: argparse.Namespace, base: str) -> dict[str, dict[str, list[float]]]:
    clients = {name: make(base) for name, make in CLIENTS.items()}
    cpu: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in clients} for mode in MODES
    }
    try:
        for client in clients.values():  # warm up: connections, imports, caches
            prepare: Callable[[], Awaitable[None]] | None = getattr(
                getattr(client, "llm", None), "prepare", None
            )
            if prepare is not None:
                await prepare()
            for cut in (False, True, False):
                await client.request(cut)
        for round_number in range(args.rounds):
            for mode, cut in MODES.items():
                for name, client in clients.items():
                    started = time.thread_time()
                    for _ in range(args.requests):
                        got = await client.request(cut)
                        if got < (1 if cut else args.chunks):
                            raise RuntimeError(f"{name}: {got} chunks, expected {args.chunks}")
                    cpu[mode][name].append((time.thread_time() - started) / args.requests * 1e6)
                done = ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in cpu[mode].items())
                log(f"round {round_number + 1}, {mode}: {done}")
    finally:
        for client in clients.values():
            await client.close()
    return cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per client a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=40, help="content chunks per response")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.chunks)
        return
    machine = machine_info()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.llm_client_cost", "--serve", "--chunks", str(args.chunks)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    base = server.stdout.readline().strip()
    runner: Callable[[Coroutine[Any, Any, Any]], dict[str, dict[str, list[float]]]]
    runner = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    log(f"{len(CLIENTS)} clients x {args.rounds} rounds x {args.requests} requests, "
        f"{args.chunks} chunks each, {args.loop}")  # fmt: skip
    try:
        cpu = runner(_run(args, base))
    finally:
        server.stdin.close()
        server.wait(10)
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for mode, by_client in cpu.items():
        before = by_client["httpx2"]
        figures[mode] = {
            name: {
                "us_per_request_runs": [round(v, 1) for v in values],
                "us_per_request_median": round(statistics.median(values), 1),
                "ratio_to_httpx2": round(
                    statistics.median(v / b for v, b in zip(values, before, strict=True)), 3
                ),
                "ratio_of_medians": round(statistics.median(values) / statistics.median(before), 3),
            }
            for name, values in by_client.items()
        }
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    data = {"machine": machine, "params": vars(args), "figures": figures}
    print(f"CPU: {machine['cpu_model']}; load average {machine['loadavg_at_start']} at start, "
          f"{machine['loadavg_at_end']} at end; loop {args.loop}")  # fmt: skip
    for mode, by_name in figures.items():
        print(format_table(
            [f"client, {mode}", f"µs CPU per request ({args.chunks} chunks), median",
             "ratio to httpx2 (median of rounds)", "rounds"],
            [[name, fmt(f["us_per_request_median"], ".0f"), fmt(f["ratio_to_httpx2"], ".2f"),
              " ".join(f"{v:.0f}" for v in f["us_per_request_runs"])]
             for name, f in by_name.items()],
        ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'llm_client_cost')}")


if __name__ == "__main__":
    main()
