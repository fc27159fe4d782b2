"""Attacks on the SIP side: amplification by forged sources, their state, TCP over the limits."""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.attacks.common import Counter, count_udp, forged_request, gateway_on_loop, statuses
from sipgw.app.security.access import AccessConfig
from sipgw.sip.access import AccessPolicy, AllowList
from sipgw.sip.addressing import Flow
from sipgw.sip.ratelimit import FloodGuard
from sipgw.sip.useragent import UserAgent, UserAgentConfig

__all__ = ["amplification", "state", "tcp_limits"]

REPO = Path(__file__).resolve().parents[2]
VALID_RFC4475 = ("esc01", "lwsdisp", "escnull", "intmeth")
"""Valid torture messages (RFC 4475 §3.1.1), one of each rate-limit kind: INVITE, OPTIONS,
REGISTER, other (an unknown method)."""


def minimal_invite(source: tuple[str, int], target: tuple[str, int], n: int) -> bytes:
    """About the smallest INVITE a parser takes (no Contact, one-letter names), as a flood
    tool sends it: the smaller the request, the larger the factor of its responses, which
    carry a fixed part (status line, To tag, Allow, Server, a challenge) besides what they
    copy from it."""
    host, port = source
    return (
        f"INVITE sip:100@{target[0]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{n:x}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:1@{host}>;tag={n:x}\r\nTo: <sip:100@x>\r\n"
        f"Call-ID: {n:x}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def amplification(sources: int = 20, settle: float = 34.0) -> dict[str, Any]:
    """Forged-source INVITEs the access policy refuses: what comes back, per request.

    One INVITE from each of ``sources`` addresses (127.0.1.x, outside ``--allow-from
    127.0.0.1``), and one :func:`minimal_invite` from as many others (127.0.2.x, the
    ``_minimal`` figures), with digest users off (403) and on (401); responses are counted
    for ``settle`` seconds (Timer H is 32 s at the default T1).
    """
    results: dict[str, Any] = {}
    for label, users in (("403", ()), ("401_digest", (("alice", "pw-not-used"),))):
        access = AccessConfig(allow_from=("127.0.0.1",), users=users)
        async with gateway_on_loop(access=access) as gateway:
            target = ("127.0.0.1", gateway.ua.config.sip_port)
            kinds = {"": 1, "_minimal": 2}  # the scanner's INVITEs from 127.0.1.x, 127.0.2.x
            flows: dict[str, tuple[int, list[tuple[asyncio.DatagramTransport, Counter]]]] = {}
            for suffix, net in kinds.items():
                sockets = [await count_udp(f"127.0.{net}.{n + 1}") for n in range(sources)]
                sent = 0
                for n, (transport, _) in enumerate(sockets):
                    source = transport.get_extra_info("sockname")
                    if suffix:
                        data = minimal_invite(source, target, n + 1)
                    else:
                        data = forged_request("INVITE", source, target, n + 1)
                    sent += len(data)
                    transport.sendto(data, target)
                flows[suffix] = (sent, sockets)
            peak = 0
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                peak = max(peak, len(gateway.ua._ctx.transactions.server))
                await asyncio.sleep(0.05)
            for transport, _ in (pair for _, sockets in flows.values() for pair in sockets):
                transport.close()
        for suffix, (sent, sockets) in flows.items():
            counters = [counter for _, counter in sockets]
            received = sum(c.octets for c in counters)
            responses = sum(c.packets for c in counters)
            results[label + suffix] = {
                "requests": sources,
                "request_bytes": sent // sources,
                "responses": responses,
                "responses_per_request": round(responses / sources, 2),
                "response_bytes": received,
                "amplification_bytes": round(received / sent, 2),
                "largest_response": max(c.largest for c in counters),
                "server_transactions_peak": peak,
            }
    return results


def state(invites: int = 20_000, rate: float = 1000.0, after: float = 40.0) -> dict[str, Any]:
    """``invites`` forged-source INVITEs at ``rate`` a second into the sans-IO core.

    Each comes from its own address (10.x.y.z), outside the allow list 192.0.2.1, with the
    default per-source limits. Reports the server transactions alive at most, the memory
    (tracemalloc) the core holds at the end of the flood and ``after`` seconds later, and the
    responses and their bytes against the requests' (retransmissions included).
    """
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    ua = UserAgent(
        UserAgentConfig(public_host="192.0.2.10", sip_port=5060),
        access=AccessPolicy(AllowList.parse(["192.0.2.1"])),
        flood=FloodGuard(),
    )
    target = ("192.0.2.10", 5060)
    sent = received = responses = peak = 0
    step = 1.0 / rate
    now = 0.0

    def run_until(t: float) -> None:
        nonlocal received, responses
        while (deadline := ua.get_timer()) is not None and deadline <= t:
            ua.handle_timer(deadline)
            for data, _ in ua.datagrams_to_send():
                received += len(data)
                responses += 1
            while ua.next_event() is not None:
                pass

    for n in range(invites):
        now = n * step
        run_until(now)
        source = (f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", 5060)
        data = forged_request("INVITE", source, target, n + 1)
        sent += len(data)
        ua.receive_datagram(data, Flow("UDP", source), now)
        for out, _ in ua.datagrams_to_send():
            received += len(out)
            responses += 1
        while ua.next_event() is not None:
            pass
        peak = max(peak, len(ua._ctx.transactions.server))
    gc.collect()
    held_at_end = tracemalloc.get_traced_memory()[0] - baseline
    transactions_at_end = len(ua._ctx.transactions.server)
    run_until(now + after)
    gc.collect()
    held_after = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    flood = ua.flood
    return {
        "invites": invites,
        "rate_per_s": rate,
        "server_transactions_peak": peak,
        "server_transactions_at_end": transactions_at_end,
        "memory_at_end_kb": round(held_at_end / 1024),
        "memory_per_invite_b": round(held_at_end / invites),
        f"memory_{after:g}s_later_kb": round(held_after / 1024),
        "flood_sources": flood.sources if flood is not None else None,
        "responses": responses,
        "amplification_bytes": round(received / sent, 2),
    }


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.5", 0))


def rfc4475_dir() -> Path | None:
    """The RFC 4475 torture messages (not in this repository): ``$SIPGW_RFC4475_DIR``, else
    ``<repo>/../shared/conformance/rfc4475``; None when neither holds them."""
    env = os.environ.get("SIPGW_RFC4475_DIR")
    for candidate in (Path(env) if env else None, REPO.parent / "shared/conformance/rfc4475"):
        if candidate is not None and all(
            (candidate / f"{name}.dat").is_file() for name in VALID_RFC4475
        ):
            return candidate
    return None


async def tcp_limits() -> dict[str, Any]:
    """A source over every rate limit sends four valid RFC 4475 requests over TCP.

    127.0.0.5 sends 73 small requests on one connection (every kind past its burst), and
    at once the four valid messages, each on a connection of its own. Without the messages
    (:func:`rfc4475_dir`) the attack says what is missing instead of running.
    """
    rfc4475 = rfc4475_dir()
    if rfc4475 is None:
        return {
            "skipped": "RFC 4475 messages not found: set SIPGW_RFC4475_DIR to the directory "
            f"holding {', '.join(f'{n}.dat' for n in VALID_RFC4475)} (RFC 4475 appendix A), "
            f"or put them in {REPO.parent / 'shared/conformance/rfc4475'}"
        }
    async with gateway_on_loop(transports=("UDP", "TCP")) as gateway:
        port = gateway.ua.config.sip_port
        flooder = await _connect(port)
        source = flooder[1].get_extra_info("sockname")
        flood = b"".join(
            forged_request(method, source, ("127.0.0.1", port), n, transport="TCP")
            for method, count in (("OPTIONS", 12), ("INVITE", 12), ("REGISTER", 7), ("BYE", 42))
            for n in range(count)
        )
        valid = {name: await _connect(port) for name in VALID_RFC4475}
        flooder[1].write(flood)
        await flooder[1].drain()
        await asyncio.sleep(0.05)
        for name, (_, writer) in valid.items():
            writer.write((rfc4475 / f"{name}.dat").read_bytes())
        flood_statuses = await statuses(flooder[0])
        answers = {name: await statuses(reader, 0.3) for name, (reader, _) in valid.items()}
        for _, writer in (flooder, *valid.values()):
            writer.close()
    return {
        "flood_requests": 73,
        "flood_503s": flood_statuses.count("503"),
        "valid_requests": len(VALID_RFC4475),
        "valid_answered": sum(1 for got in answers.values() if got),
        "answers": answers,
    }
